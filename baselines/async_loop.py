"""The asynchronous rollout loop: generation runs ahead of learning, results are consumed in
completion order, staleness is bounded by admission control. No torch here: the same loop
drives the TRL trainer (``baselines/async_grpo.py``), the softmax learner of the
reproduction on real env steps, and its replay on a virtual clock.

* **Lanes.** There are ``lanes`` lanes; a lane runs one program at a time. With more lanes
  than the backend has workers, the extra lanes' jobs wait in the backend's queue and each
  starts the moment a worker frees up (``--prefetch`` in the trainer): they count as
  outstanding for admission control like any other.
* **Who refills a lane.** ``actor=False``: the learner, inside ``next_batch`` (a lane that
  finishes while the learner computes an update waits for the next call). ``actor=True``: an
  actor refills a lane the moment its program finishes, whatever the learner is doing, and the
  learner only takes finished samples from a queue. On a real clock (:class:`PoolBackend`) the
  actor is two threads started by :meth:`AsyncLoop.start` (one takes finished programs from
  the pool, one generates and submits; while every lane is busy the latter calls ``ahead``,
  if set, to draw the next completions early); on the virtual clock (:class:`ReplayBackend`)
  it runs inside the backend, as the clock passes finishing times.
* **Completion order.** ``next_batch()`` takes finished samples in the order they finished,
  and returns at least ``batch_size`` of them.
* **Staleness bounded without discarding.** Let ``version`` be the learner's policy version
  and a sample's lag ``version - sample.version``. The learner never updates past a sample
  that is k (``max_staleness``) versions old: while one is outstanding (running, queued,
  being generated, or finished and waiting), the batch is not closed; the learner waits for
  it and learns from it in this update. Hence every sample is consumed at lag <= k and no
  finished sample is ever dropped (dropping late samples is what starves slow programs: the
  late ones are the slow ones). Finished samples are always taken in completion order: a batch
  is ``batch_size`` samples, or, when an overdue sample finishes later, everything that
  finished up to and including it.
* **Admission control.** No new generation while ``max_ready`` finished samples (k batches)
  wait for the learner, i.e. while the learner is k versions behind the actor: when the
  learner is the bottleneck the lanes wait instead of piling up samples that would go stale
  and swell its batches. Admission does *not* stop while the learner waits for an overdue
  sample: the free lanes keep running (at the current version, lag 0) and their results wait
  for the next batch. An earlier rule (no generation while anything outstanding was k
  behind) idled every other lane for the rest of a slow program at each such wait; on the
  virtual clock it learned 72 samples/min where this one learns 79 (4 workers, 0.5 s / 5 s
  programs, k = 2), as many as k = 3 under the old rule.
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
import threading
import time
import uuid
from collections import deque
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
    started_at: float | None = None  # when a worker took it (it may wait in a queue first)
    finished_at: float | None = None
    consumed_at: float | None = None
    consumed_version: int | None = None
    reward: float | None = None  # None: no result (the sandbox broke), no learning signal
    duration: float = 0.0  # the program's own run time
    busy: float = 0.0  # the worker's time on the job: the program plus container and grading
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
    """Where samples run: ``submit`` starts one (or queues it while every worker is busy);
    ``next_finished`` waits for the next to finish (completion order; None after
    ``timeout`` seconds) and fills in its outcome; ``now`` is the backend's clock."""

    def submit(self, sample: Sample) -> None: ...

    def next_finished(self, timeout: float | None = None) -> Sample | None: ...

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
        actor: bool = False,
        max_ready: int | None = None,
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
        self.actor = actor
        # k batches (two by default): the learner's next, and one filling while it computes.
        # With one the lanes idle during most updates; with no cap a slow learner's batches
        # grew to hundreds of samples on the virtual clock.
        self.max_ready = max_staleness * batch_size if max_ready is None else max_ready
        self.version = 0
        self.outstanding: dict[int, Sample] = {}  # submitted, not yet consumed (finished or not)
        self.ready: deque[Sample] = deque()  # finished, not yet consumed, in completion order
        self.consumed: list[Sample] = []  # every sample consumed, in consumption order
        self.generated = 0
        self.blocked = 0  # times a free lane was refused a new generation
        # (start, end) on the backend's clock of each update: from next_batch returning to
        # advance(), the learner computing while lanes run.
        self.updates: list[tuple[float, float]] = []
        self._update_start: float | None = None
        self._next_id = 0
        # One lock for the loop's state: the learner thread, and the actor's threads if started.
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._failure: BaseException | None = None
        # Generations the actor thread has started and not yet registered: ticket -> version.
        # The learner counts them as outstanding for staleness, or a sample generated from
        # version v while the learner took two batches would be consumed more than k late.
        self._generating: dict[int, int] = {}
        self._tickets = 0
        # Optional, for the actor's threads: ahead(version) draws completions before a lane
        # asks for them (True if it drew any); the trainer sets it.
        self.ahead: Callable[[int], bool] | None = None
        if actor and getattr(backend, "virtual", False):
            backend.on_finished = self._finished_and_refill  # type: ignore[attr-defined]

    # -- admission ---------------------------------------------------------------------------

    def lag(self) -> int:
        """How many versions the oldest outstanding sample is behind the learner."""
        if not self.outstanding:
            return 0
        return self.version - min(s.version for s in self.outstanding.values())

    def admissible(self) -> bool:
        """A new generation may start: fewer than ``max_ready`` finished samples wait for the
        learner (more would only go stale while the learner is the bottleneck, and swell its
        batches). Staleness needs no rule here: the learner waits for overdue samples."""
        return len(self.ready) < self.max_ready

    def _reserve(self, lane: Lane) -> bool:
        """Mark a free lane busy; whether its next job starts a new episode."""
        now = self.backend.now()
        new_episode = (
            self.regime == "resample"
            or lane.last is None
            or lane.episode_start is None
            or now - lane.episode_start >= self.episode_seconds
        )
        if new_episode:
            lane.episode_start, lane.last = now, None
        lane.busy = True
        return new_episode

    def _register(self, sample: Sample, lane: Lane, generated_at: float) -> None:
        # A sample may come from an earlier version (generated ahead, in a group): it keeps
        # that version, so its lag counts from when it was really generated.
        sample.id, sample.lane = self._next_id, lane.index
        sample.version = min(sample.version, self.version)
        sample.generated_at = generated_at
        self._next_id += 1
        self.generated += 1
        self.outstanding[sample.id] = sample

    def fill(self) -> None:
        """Start a generation on every free lane, while admission allows (in this thread)."""
        for lane in self.lanes:
            if lane.busy:
                continue
            if not self.admissible():
                self.blocked += 1
                return
            now = self.backend.now()
            new_episode = self._reserve(lane)
            sample = self.generate(lane, self.version, new_episode)
            self._register(sample, lane, now)
            self.backend.submit(sample)

    # -- finishing and consumption -----------------------------------------------------------

    def _finished(self, sample: Sample) -> None:
        """A program finished: its lane is free, the sample waits for the learner."""
        lane = self.lanes[sample.lane]
        lane.busy = False
        lane.last = sample if sample.error is None else lane.last
        self.ready.append(sample)

    def _finished_and_refill(self, sample: Sample) -> None:
        # This thread refills at once: the virtual clock's actor at the finishing time
        # (learner busy or not), or the learner itself while it waits inside next_batch.
        self._finished(sample)
        self.fill()

    def _consume(self, sample: Sample) -> None:
        self.outstanding.pop(sample.id)
        sample.consumed_at = self.backend.now()
        sample.consumed_version = self.version
        self.consumed.append(sample)

    def _overdue(self, version: int) -> bool:
        """A sample generated at ``version`` would be more than k behind after the next update."""
        return self.version - version >= self.max_staleness

    def overdue(self) -> list[Sample]:
        """Outstanding samples that would be more than k behind after the next update."""
        return [s for s in self.outstanding.values() if self._overdue(s.version)]

    def _must_wait(self) -> bool:
        """An overdue sample is outstanding, or one is still being generated (actor thread):
        the batch waits for it, so no sample is consumed more than k versions late."""
        late = any(self._overdue(v) for v in self._generating.values())
        return late or bool(self.overdue())

    def next_batch(self) -> list[Sample]:
        """``batch_size`` finished samples in completion order, or more when an overdue
        sample (k versions old) finishes later: then everything that finished up to and
        including it (waited for, never dropped)."""
        with self._cond:
            if self._update_start is not None:  # next_batch without advance(): not an update
                self._update_start = None
            # Without threads this thread fills: at once, and whenever a lane frees up or a
            # consumed sample lets admission open again (with threads, the actor thread does).
            if not self._threads:
                self.fill()
            batch: list[Sample] = []
            while True:
                self._raise_failure()
                if len(batch) < self.batch_size and self.ready:
                    self._take(batch, 1)
                    continue
                if len(batch) >= self.batch_size:
                    last = self._last_overdue_ready()
                    if last is not None:  # completion order: all that finished before it too
                        self._take(batch, last + 1)
                        continue
                    if not self._must_wait():
                        break
                # Wait for a program to finish; meanwhile admitted lanes keep running.
                if self._threads:  # the actor's threads take results and refill lanes
                    self._cond.wait(0.5)
                    continue
                if not self.outstanding:
                    raise RuntimeError("nothing is running and nothing can be admitted: a loop bug")
                sample = self.backend.next_finished()
                assert sample is not None  # no timeout: it waits
                self._finished_and_refill(sample)
            self._update_start = self.backend.now()
            return batch

    def _take(self, batch: list[Sample], n: int) -> None:
        """Consume the first ``n`` waiting samples into ``batch``."""
        for _ in range(n):
            sample = self.ready.popleft()
            self._consume(sample)
            batch.append(sample)
        if self._threads:
            self._cond.notify_all()  # fewer wait: admission may open
        else:
            self.fill()

    def _last_overdue_ready(self) -> int | None:
        """Position in the waiting queue of the last finished sample that is overdue."""
        late = [i for i, s in enumerate(self.ready) if self._overdue(s.version)]
        return late[-1] if late else None

    def advance(self) -> None:
        """The learner applied an update: the policy is one version newer."""
        with self._cond:
            if self._update_start is not None:
                self.updates.append((self._update_start, self.backend.now()))
                self._update_start = None
            self.version += 1
            self._cond.notify_all()

    def during_updates(self, when: str = "started_at") -> int:
        """Jobs whose ``when`` fell while the learner was computing an update:
        ``"started_at"``, a worker took it (a queued job counts); ``"generated_at"``, it was
        generated and submitted then (only an actor does that)."""
        with self._cond:
            spans = list(self.updates)
            samples = [*self.consumed, *self.outstanding.values()]
        times = [getattr(s, when) for s in samples]
        return sum(1 for t in times if t is not None and any(a < t < b for a, b in spans))

    # -- the actor's threads (real clock) ----------------------------------------------------

    def start(self) -> None:
        """With ``actor=True`` on a real clock: start the threads that take finished programs
        and refill lanes while the learner computes. A no-op otherwise."""
        if not self.actor or self._threads or getattr(self.backend, "virtual", False):
            return
        self._threads = [
            threading.Thread(target=self._guard, args=(self._intake,), name="async-intake", daemon=True),
            threading.Thread(target=self._guard, args=(self._act,), name="async-actor", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _guard(self, body: Callable[[], None]) -> None:
        try:
            body()
        except BaseException as exc:  # reported to the learner by next_batch, never lost
            with self._cond:
                self._failure = self._failure or exc
                self._stopping = True
                self._cond.notify_all()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise RuntimeError(f"the async actor failed: {self._failure!r}") from self._failure

    def _intake(self) -> None:
        while not self._stopping:
            # A short timeout: a job submitted meanwhile is waited for on the next call.
            sample = self.backend.next_finished(timeout=0.05)
            if sample is None:
                continue
            with self._cond:
                self._finished(sample)
                self._cond.notify_all()

    def _act(self) -> None:
        while True:
            with self._cond:
                refused = False
                while True:
                    if self._stopping:
                        return
                    lane = next((x for x in self.lanes if not x.busy), None)
                    if lane is not None and self.admissible():
                        break
                    if lane is not None and not refused:
                        self.blocked += 1
                        refused = True
                    if lane is None and self.ahead is not None and self.admissible():
                        # Every lane busy: draw the next completions now, so the next lane
                        # to free up starts at once instead of waiting for a generation.
                        version = self.version
                        self._cond.release()
                        try:
                            drew = self.ahead(version)
                        finally:
                            self._cond.acquire()
                        if drew:
                            continue
                    self._cond.wait(0.5)
                new_episode = self._reserve(lane)
                version, now = self.version, self.backend.now()
                ticket = self._tickets
                self._tickets += 1
                self._generating[ticket] = version
            try:
                sample = self.generate(lane, version, new_episode)  # slow: outside the lock
            except BaseException:
                with self._cond:
                    del self._generating[ticket]
                    self._cond.notify_all()
                raise
            with self._cond:
                del self._generating[ticket]  # registered under the same lock: never unseen
                self._register(sample, lane, now)
                self._cond.notify_all()
            self.backend.submit(sample)

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=60)
        self.backend.close()


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------


class PoolBackend:
    """Real env steps through a RolloutPool; waits only for this run's own jobs (by handle),
    so other users of the pool keep their results. Thread-safe: one thread may submit while
    another waits."""

    virtual = False

    def __init__(self, pool: Any, task: str, options: Any) -> None:
        self.pool = pool
        self.task = task
        self.options = options
        self.run_id = uuid.uuid4().hex
        self.start = time.monotonic()
        self._cond = threading.Condition()
        self.handles: dict[int, tuple[Any, Sample]] = {}  # pool job id -> (handle, sample)

    def now(self) -> float:
        return time.monotonic() - self.start

    def submit(self, sample: Sample) -> None:
        from mle_gym.pool import StepJob

        job = StepJob(self.task, sample.program, self.options, tag=(self.run_id, sample.id))
        handle = self.pool.submit(job)  # its result is only taken through this handle
        with self._cond:
            self.handles[handle.id] = (handle, sample)
            self._cond.notify_all()

    def next_finished(self, timeout: float | None = None) -> Sample | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if any(h.done() for h, _ in self.handles.values()):
                    # The earliest finished of all our jobs (the pool's completion order),
                    # taken out of the pool alone: results this run never takes, and other
                    # users' results, stay there for as_completed().
                    handles = [h for h, _ in self.handles.values()]
                    result = next(self.pool.as_completed(handles, timeout=0))
                    handle, sample = self.handles.pop(result.job_id)
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                # Woken by a submit; a finish is noticed within 10 ms.
                self._cond.wait(0.01 if remaining is None else min(0.01, remaining))
        sample.finished_at = self.now()
        if handle.started is not None:
            sample.started_at = handle.started - self.start
        sample.busy = float(result.wall_time)
        sample.info["order"] = result.order  # the pool's completion count
        step = result.step
        if step is None:
            sample.error = result.error or "no result"
            return sample
        sample.reward = float(step.reward)
        sample.duration = float(step.duration)
        sample.failed = bool(step.timed_out or not step.valid_submission or step.no_model_trained)
        sample.info.update(
            valid=bool(step.valid_submission),
            score=step.score,
            milestones=len(step.milestones),
            timed_out=bool(step.timed_out),
            attempt=step.attempt() if step.valid_submission else None,
        )
        return sample

    def close(self) -> None:
        with self._cond:
            handles = [h for h, _ in self.handles.values()]
            self.handles.clear()
        for handle in handles:
            handle.cancel()


@dataclass
class Outcome:
    """One measured run of a program."""

    duration: float
    reward: float
    failed: bool


class ReplayBackend:
    """A virtual clock: a submitted sample finishes after a duration drawn (with its reward)
    from the measured runs of its program (``sample.action`` names it). ``overhead`` seconds
    are added per job (the container, grading); ``workers`` run at once, the rest queue.

    The clock moves when the loop waits for a result (``next_finished``) and when the learner
    says it spent time (``elapse``: an update's compute). What finishes during ``elapse`` goes
    to ``on_finished`` if set (the loop's actor, refilling lanes at that instant), else it
    waits for ``next_finished``."""

    virtual = True

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
        self.done: deque[Sample] = deque()  # finished during elapse, not yet taken
        self.on_finished: Callable[[Sample], None] | None = None
        self._tiebreak = 0

    def now(self) -> float:
        return self.clock

    def _start(self, sample: Sample) -> None:
        runs = self.outcomes[sample.action]
        o = runs[int(self.rng.integers(len(runs)))]
        sample.duration, sample.reward, sample.failed = o.duration, o.reward, o.failed
        sample.busy = o.duration + self.overhead
        sample.started_at = self.clock
        heapq.heappush(self.running, (self.clock + o.duration + self.overhead, self._tiebreak, sample))
        self._tiebreak += 1

    def submit(self, sample: Sample) -> None:
        if len(self.running) < self.workers:
            self._start(sample)
        else:
            self.queue.append(sample)

    def _pop(self) -> Sample:
        finish, _, sample = heapq.heappop(self.running)
        self.clock = max(self.clock, finish)
        sample.finished_at = self.clock
        if self.queue:
            self._start(self.queue.pop(0))
        return sample

    def next_finished(self, timeout: float | None = None) -> Sample | None:
        if self.done:
            return self.done.popleft()
        return self._pop()

    def elapse(self, seconds: float) -> None:
        """``seconds`` pass (the learner computes): programs finish, queued ones start."""
        target = self.clock + seconds
        while self.running and self.running[0][0] <= target:
            sample = self._pop()
            if self.on_finished is not None:
                self.on_finished(sample)
            else:
                self.done.append(sample)
        self.clock = max(self.clock, target)

    def close(self) -> None:
        self.running.clear()
        self.queue.clear()
        self.done.clear()


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
