"""Drive a rollout pool for one training run: keep every worker slot busy, hand results to the
learner in the order programs finish, stop at a wall-clock or result budget.

This is the asynchronous setting of the paper: the learner never waits for a batch to be
complete in submission order; it takes whichever rollouts finish first.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from mle_gym.pool import JobHandle, RolloutPool, StepJob

TASK = "spooky-author"
MAX_ERRORS = 5  # pool errors (sandbox failures) in one run before giving up


@dataclass
class Completion:
    """One finished rollout as the learner sees it."""

    t: float  # seconds since the run started, when the learner took the result
    index: int  # 0, 1, 2, ... in completion order within the run
    slot: int
    action: Any
    duration: float  # seconds the program ran, measured by the sandbox
    reward: float
    info: dict[str, Any] = field(repr=False)


# choose(slot, t) -> (action, program): what a free worker slot runs next.
Chooser = Callable[[int, float], tuple[Any, str]]


def drive(
    pool: RolloutPool,
    choose: Chooser,
    learn: Callable[[Completion], None],
    options: dict[str, Any],
    slots: int,
    seconds: float,
    max_results: int,
    desc: str,
) -> dict[str, Any]:
    """Run until ``seconds`` have passed or ``max_results`` rollouts were learned from; the
    rollouts still running then are cancelled. Returns timing counts for the record."""
    run_id = uuid.uuid4().hex
    start = time.monotonic()
    running: dict[int, JobHandle] = {}
    errors: list[str] = []

    def launch(slot: int) -> None:
        action, program = choose(slot, time.monotonic() - start)
        job = StepJob(TASK, program, options=options, tag=(run_id, slot, action))
        running[slot] = pool.submit(job)

    for slot in range(slots):
        launch(slot)
    taken = cancelled = 0
    stopping = False
    with tqdm(total=max_results, desc=desc, unit="rollout", leave=False) as bar:
        for result in pool.as_completed():
            tag = result.job.tag
            if not (isinstance(tag, tuple) and tag[0] == run_id):
                continue  # a leftover of another run: not ours to learn from
            _, slot, action = tag
            if running.get(slot) is not None and running[slot].id == result.job_id:
                del running[slot]
            if stopping:
                cancelled += 1
                continue
            if result.error is not None:
                errors.append(result.error)
                if len(errors) > MAX_ERRORS:
                    pool.cancel_all()
                    raise RuntimeError(
                        f"{len(errors)} rollouts failed in the pool, last: {result.error}. "
                        "Check the Docker engine (`docker info`) and the sandbox image "
                        "(`mle-gym sandbox build`), then run again."
                    )
                launch(slot)
                continue
            learn(
                Completion(
                    t=time.monotonic() - start,
                    index=taken,
                    slot=slot,
                    action=action,
                    duration=result.duration,
                    reward=float(result.reward),
                    info=result.info or {},
                )
            )
            taken += 1
            bar.update(1)
            if taken >= max_results or time.monotonic() - start >= seconds:
                stopping = True
                for handle in list(running.values()):
                    handle.cancel()
            else:
                launch(slot)
    return {
        "wall_seconds": round(time.monotonic() - start, 2),
        "results": taken,
        "cancelled_at_end": cancelled,
        "pool_errors": errors,
    }
