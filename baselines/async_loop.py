"""The asynchronous rollout loop: generation runs ahead of learning, results are consumed in
completion order, staleness is bounded by admission control. No torch here: the same loop
drives the TRL trainer (``baselines/async_grpo.py``), the softmax learner of the
reproduction on real env steps, and its replay on a virtual clock.

* **Lanes.** There are ``lanes`` worker lanes (one per pool worker); a lane runs one program
  at a time. When a lane is free and admission allows, the loop asks the policy for a sample
  (``generate(lane, version, new_episode)``) and submits it. So the pool is kept full while the
  learner learns: generation never waits for a batch to finish.
* **Completion order.** ``next_batch()`` takes finished samples as the backend reports them,
  fastest first, and returns at least ``batch_size`` of them.
* **Admission control, never discarding.** Let ``version`` be the learner's policy version and
  a sample's lag ``version - sample.version``. No new generation is admitted while any
  outstanding (submitted, not yet consumed) sample has lag >= ``max_staleness`` (k), and a batch
  is not closed while such a sample is outstanding: the learner waits for it and learns from it
  in this update. Hence every sample is consumed at lag <= k and no finished sample is ever
  dropped (dropping late samples is what starves slow programs: the late ones are the slow ones).
* **Regimes.** ``"resample"``: every job is a fresh draw from the current policy.
  ``"episodes"``: a lane starts an episode with a fresh draw and then keeps improving its own
  last program (``new_episode=False``) until ``episode_seconds`` have passed, the way an agent
  refines its solution within a time budget; then a lane's share of worker time follows the
  policy, the paper's premise for the 1/dt bias (see ``baselines/async_grpo.py``).

Backends: :class:`PoolBackend` runs real env steps through ``mle_gym.pool.RolloutPool``;
:class:`ReplayBackend` draws each program's (duration, reward) from measured outcomes and runs
them on a virtual clock, so many seeds cost no machine time.
"""

from __future__ import annotations

import heapq
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

REGIMES = ("resample", "episodes")


@dataclass
class Sample:
    """One generated action and, once finished, its outcome."""

    id: int
    version: int  # the behaviour policy's version when it was generated
    lane: int
    program: str
    action: Any = None  # what the policy chose, when it is a discrete choice
    payload: Any = None  # the trainer's data (token ids, behaviour log-probabilities)
    generated_at: float = 0.0
    finished_at: float | None = None
    consumed_at: float | None = None
    consumed_version: int | None = None
    reward: float | None = None  # None: no result (the sandbox broke), no learning signal
    duration: float = 0.0
    failed: bool = True  # timed out, crashed or wrote no valid submission
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def staleness(self) -> int | None:
        """Policy versions between generation and consumption."""
        return None if self.consumed_version is None else self.consumed_version - self.version


@dataclass
class Lane:
    index: int
    busy: bool = False
    episode_start: float | None = None
    last: Sample | None = None  # the lane's last finished sample in its current episode


class Backend(Protocol):
    """Where samples run: ``submit`` starts one; ``next_finished`` blocks for the next to
    finish (completion order) and fills in its outcome; ``now`` is the backend's clock."""

    def submit(self, sample: Sample) -> None: ...

    def next_finished(self) -> Sample: ...

    def now(self) -> float: ...

    def close(self) -> None: ...


# generate(lane, version, new_episode) -> Sample (id, lane, version are set by the loop)
Generate = Callable[[Lane, int, bool], Sample]


class AsyncLoop:
    """Keeps ``lanes`` programs running; hands out batches in completion order."""

    def __init__(
        self,
        backend: Backend,
        generate: Generate,
        lanes: int,
        batch_size: int,
        max_staleness: int = 2,
        regime: str = "resample",
        episode_seconds: float = math.inf,
    ) -> None:
        if max_staleness < 1:
            raise ValueError("max_staleness must be at least 1 (0 would be lockstep: use the sync trainer)")
        if regime not in REGIMES:
            raise ValueError(f"unknown regime {regime!r}; choose one of {', '.join(REGIMES)}")
        if lanes < 1 or batch_size < 1:
            raise ValueError("lanes and batch_size must be at least 1")
        self.backend = backend
        self.generate = generate
        self.lanes = [Lane(i) for i in range(lanes)]
        self.batch_size = batch_size
        self.max_staleness = max_staleness
        self.regime = regime
        self.episode_seconds = episode_seconds
        self.version = 0
        self.outstanding: dict[int, Sample] = {}
        self.consumed: list[Sample] = []  # every sample consumed, in consumption order
        self.generated = 0
        self.blocked = 0  # times a free lane was refused a new generation
        self._next_id = 0

    # -- admission ---------------------------------------------------------------------------

    def lag(self) -> int:
        """How many versions the oldest outstanding sample is behind the learner."""
        if not self.outstanding:
            return 0
        return self.version - min(s.version for s in self.outstanding.values())

    def admissible(self) -> bool:
        return self.lag() < self.max_staleness

    def fill(self) -> None:
        """Start a generation on every free lane, while admission allows."""
        for lane in self.lanes:
            if lane.busy:
                continue
            if not self.admissible():
                self.blocked += 1
                return
            now = self.backend.now()
            new_episode = (
                self.regime == "resample"
                or lane.last is None
                or lane.episode_start is None
                or now - lane.episode_start >= self.episode_seconds
            )
            if new_episode:
                lane.episode_start, lane.last = now, None
            sample = self.generate(lane, self.version, new_episode)
            # A sample may come from an earlier version (generated ahead, in a group): it keeps
            # that version, so its lag counts from when it was really generated.
            sample.id, sample.lane = self._next_id, lane.index
            sample.version = min(sample.version, self.version)
            sample.generated_at = now
            self._next_id += 1
            self.generated += 1
            self.outstanding[sample.id] = sample
            lane.busy = True
            self.backend.submit(sample)

    # -- consumption -------------------------------------------------------------------------

    def overdue(self) -> list[Sample]:
        """Outstanding samples that would be more than k behind after the next update."""
        return [s for s in self.outstanding.values() if self.version - s.version >= self.max_staleness]

    def next_batch(self) -> list[Sample]:
        """At least ``batch_size`` finished samples in completion order, plus any overdue one
        (waited for, never dropped)."""
        self.fill()
        batch: list[Sample] = []
        while len(batch) < self.batch_size or self.overdue():
            if not self.outstanding:
                raise RuntimeError("nothing is running and nothing can be admitted: a loop bug")
            sample = self.backend.next_finished()
            self.outstanding.pop(sample.id)
            lane = self.lanes[sample.lane]
            lane.busy = False
            lane.last = sample if sample.error is None else lane.last
            sample.consumed_at = self.backend.now()
            sample.consumed_version = self.version
            batch.append(sample)
            self.consumed.append(sample)
            self.fill()
        return batch

    def advance(self) -> None:
        """The learner applied an update: the policy is one version newer."""
        self.version += 1

    def close(self) -> None:
        self.backend.close()


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------


class PoolBackend:
    """Real env steps through a RolloutPool; only this run's results are taken."""

    def __init__(self, pool: Any, task: str, options: Any) -> None:
        self.pool = pool
        self.task = task
        self.options = options
        self.run_id = uuid.uuid4().hex
        self.start = time.monotonic()
        self.handles: dict[int, Any] = {}

    def now(self) -> float:
        return time.monotonic() - self.start

    def submit(self, sample: Sample) -> None:
        from mle_gym.pool import StepJob

        job = StepJob(self.task, sample.program, self.options, tag=(self.run_id, sample))
        self.handles[sample.id] = self.pool.submit(job)

    def next_finished(self) -> Sample:
        # Only this run's handles: a plain as_completed() would take (and drop) the results
        # of others sharing the pool, and end early when another consumer took one of ours.
        result = next(self.pool.as_completed(list(self.handles.values())))
        tag = result.job.tag
        assert isinstance(tag, tuple) and tag[0] == self.run_id, tag
        sample: Sample = tag[1]
        self.handles.pop(sample.id, None)
        sample.finished_at = self.now()
        step = result.step
        if step is None:
            sample.error = result.error or "no result"
            return sample
        sample.reward = float(step.reward)
        sample.duration = float(step.duration)
        sample.failed = bool(step.timed_out or not step.valid_submission or step.no_model_trained)
        sample.info = {
            "valid": bool(step.valid_submission),
            "score": step.score,
            "milestones": len(step.milestones),
            "timed_out": bool(step.timed_out),
            "attempt": step.attempt() if step.valid_submission else None,
        }
        return sample

    def close(self) -> None:
        for handle in list(self.handles.values()):
            handle.cancel()
        self.handles.clear()


@dataclass
class Outcome:
    """One measured run of a program."""

    duration: float
    reward: float
    failed: bool


class ReplayBackend:
    """A virtual clock: a submitted sample finishes after a duration drawn (with its reward)
    from the measured runs of its program (``sample.action`` names it). ``overhead`` seconds
    are added per job (the container, grading); ``workers`` run at once, the rest queue."""

    def __init__(
        self,
        outcomes: dict[Any, Sequence[Outcome]],
        seed: int,
        workers: int,
        overhead: float = 0.0,
    ) -> None:
        self.outcomes = {k: list(v) for k, v in outcomes.items()}
        self.rng = np.random.default_rng(seed)
        self.workers = workers
        self.overhead = overhead
        self.clock = 0.0
        self.running: list[tuple[float, int, Sample]] = []  # (finish time, tiebreak, sample)
        self.queue: list[Sample] = []
        self._tiebreak = 0

    def now(self) -> float:
        return self.clock

    def _start(self, sample: Sample) -> None:
        runs = self.outcomes[sample.action]
        o = runs[int(self.rng.integers(len(runs)))]
        sample.duration, sample.reward, sample.failed = o.duration, o.reward, o.failed
        heapq.heappush(self.running, (self.clock + o.duration + self.overhead, self._tiebreak, sample))
        self._tiebreak += 1

    def submit(self, sample: Sample) -> None:
        if len(self.running) < self.workers:
            self._start(sample)
        else:
            self.queue.append(sample)

    def next_finished(self) -> Sample:
        finish, _, sample = heapq.heappop(self.running)
        self.clock = max(self.clock, finish)
        sample.finished_at = self.clock
        if self.queue:
            self._start(self.queue.pop(0))
        return sample

    def close(self) -> None:
        self.running.clear()
        self.queue.clear()


__all__ = [
    "REGIMES",
    "AsyncLoop",
    "Backend",
    "Lane",
    "Outcome",
    "PoolBackend",
    "ReplayBackend",
    "Sample",
]
