"""Consensus rewards for programs run through the pool: keep each step's submission, then
score a completed batch as one group (:mod:`mle_gym.consensus`), answers never read::

    from mle_gym.pool import RolloutPool
    from mle_gym.pool.consensus import ConsensusReward, SubmissionStore

    store = SubmissionStore()                      # a temporary folder, removed with it
    with RolloutPool(workers=2, sandbox=store.sandbox("docker-warm")) as pool:
        reward = ConsensusReward("spooky-author", pool, store)   # a TRL reward function
        rewards = reward(prompts, completions)     # one group: the whole call

A step still runs exactly as ``env.step`` runs it (its own reward and the private-half score
are computed, for analysis only); the consensus reward replaces its reward and is computed
from the kept submission files and the task's public folder alone. The store is a folder on
this host, so use the local backend (a Ray worker on another node writes elsewhere).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from mle_gym.consensus import ConsensusResult, ConsensusScorer, public_folder
from mle_gym.grading.submission import InvalidSubmission, load_bytes
from mle_gym.options import RuntimeOptions
from mle_gym.pool.base import JobResult, StepJob
from mle_gym.sandbox import RunRequest, RunResult, Sandbox, make_sandbox
from mle_gym.spec import TaskSpec, load_task


class KeepingSandbox:
    """A sandbox that keeps a copy of every submission it hands over, named by its sha256
    (the step's ``submission_sha256``). Copies are bounded as the grader bounds the file."""

    def __init__(self, inner: Sandbox, folder: Path) -> None:
        self.inner = inner
        self.folder = Path(folder)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def closed(self) -> bool:
        return self.inner.closed

    @contextlib.contextmanager
    def run(self, request: RunRequest) -> Iterator[RunResult]:
        with self.inner.run(request) as result:
            try:
                yield result
            finally:
                if result.submission is not None and not (result.timed_out or result.oom):
                    self._keep(result.submission, request.max_submission)

    def _keep(self, path: Path, max_bytes: int) -> None:
        try:
            data = load_bytes(path, max_bytes)  # a regular file, no link, bounded
        except InvalidSubmission:
            return
        target = self.folder / f"{hashlib.sha256(data).hexdigest()}.csv"
        if not target.exists():
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)

    def interrupt(self) -> int:
        interrupt = getattr(self.inner, "interrupt", None)
        return int(interrupt()) if callable(interrupt) else 0

    def close(self) -> None:
        self.inner.close()


def _keeping(kind: str, folder: str) -> KeepingSandbox:
    return KeepingSandbox(make_sandbox(kind), Path(folder))


class SubmissionStore:
    """Where a pool's submissions are kept (``folder``, or a temporary one removed by
    :meth:`cleanup`)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self._owned = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="mle-gym-consensus-") if folder is None else folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def sandbox(self, kind: str = "docker-warm") -> Callable[[], KeepingSandbox]:
        """A ``RolloutPool(sandbox=...)`` factory whose sandboxes keep submissions here."""
        return partial(_keeping, kind, str(self.folder))

    def path(self, result: JobResult) -> Path | None:
        """The kept submission of a finished job, None when it wrote none."""
        sha = None if result.step is None else result.step.submission_sha256
        if not sha:
            return None
        path = self.folder / f"{sha}.csv"
        return path if path.is_file() else None

    def cleanup(self) -> None:
        if self._owned:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> SubmissionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def score_results(
    scorer: ConsensusScorer, store: SubmissionStore, results: Sequence[JobResult]
) -> list[ConsensusResult | None]:
    """Consensus results of a completed batch, in its order; None for a job with no step (the
    sandbox broke: no learning signal). A step that never reached ``model_trained``, or whose
    milestones are not credited, is a no-model step, as in ``run_step``."""
    kept = [r for r in results if r.step is not None]
    scored = scorer.score(
        [store.path(r) for r in kept],
        milestones=[len(r.step.milestones) for r in kept],  # type: ignore[union-attr]
        no_model=[bool(r.step.tampering) or "model_trained" not in r.step.milestones  # type: ignore[union-attr]
                  for r in kept],
    )
    found = iter(scored)
    return [None if r.step is None else next(found) for r in results]


@dataclass
class Scored:
    """One completion of the last call: its consensus result and, for analysis only, the
    private-half score the harness graded (None when invalid)."""

    program: str
    consensus: ConsensusResult | None
    true_private: float | None
    duration: float
    error: str | None = None


def text_of(completion: Any) -> str:
    """A completion is text, or (chat models) a list of messages; the answer is the last."""
    if isinstance(completion, str):
        return completion
    return str(completion[-1]["content"])


class ConsensusReward:
    """A TRL reward function, ``(prompts, completions, **kwargs) -> list[float | None]``: runs
    every completion through ``pool`` and scores them as groups by consensus.

    ``group_size`` None scores the whole call as one group (every completion is for the
    same task); a number scores consecutive runs of that many (TRL's ``num_generations``:
    one GRPO group per prompt). ``last`` holds the call's :class:`Scored` rows.
    """

    __name__ = "consensus_reward"  # TRL names the reward in its logs after this

    def __init__(
        self,
        task: str | TaskSpec,
        pool: Any,
        store: SubmissionStore,
        options: RuntimeOptions | dict[str, Any] | None = None,
        group_size: int | None = None,
        **scorer_options: Any,
    ) -> None:
        self.spec = task if isinstance(task, TaskSpec) else load_task(task)
        options = RuntimeOptions.of(options)
        # reward="consensus" names this reward; the steps themselves keep a preset's reward.
        reward = None if options.reward == "consensus" else options.reward
        self.options = RuntimeOptions.of(options, reward=reward)
        public = public_folder(self.spec, self.options.data, self.options.data_seed)
        self.scorer = ConsensusScorer(self.spec, public, reward=reward, **scorer_options)
        self.pool = pool
        self.store = store
        self.group_size = group_size
        self.last: list[Scored] = []

    def run(self, programs: Sequence[str]) -> list[JobResult]:
        handles = [self.pool.submit(StepJob(self.spec.slug, p, self.options)) for p in programs]
        return [h.result() for h in handles]

    def score(self, programs: Sequence[str], results: Sequence[JobResult]) -> list[Scored]:
        size = self.group_size or max(len(results), 1)
        scored: list[Scored] = []
        for start in range(0, len(results), size):
            batch = list(results[start : start + size])
            for program, result, consensus in zip(programs[start : start + size], batch,
                                                  score_results(self.scorer, self.store, batch), strict=True):
                scored.append(Scored(program, consensus, result.private_score, result.duration, result.error))
        return scored

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        programs = [text_of(c) for c in completions]
        self.last = self.score(programs, self.run(programs))
        log_extra = kwargs.get("log_extra")
        if log_extra is not None:  # columns of TRL's completions table (analysis only)
            log_extra("true_private", [s.true_private for s in self.last])
        return [None if s.consensus is None else s.consensus.reward for s in self.last]


__all__ = ["ConsensusReward", "KeepingSandbox", "Scored", "SubmissionStore", "score_results", "text_of"]
