"""Local backend: each worker slot is a thread of this process with its own sandbox."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mle_gym.pool.base import JobRunner, StepJob

if TYPE_CHECKING:
    from mle_gym.sandbox import Sandbox


class LocalExecutor:
    """A worker slot in this process. The programs run in the slot's sandbox (containers
    with "docker-warm" or "docker"), so threads are enough: the work happens elsewhere."""

    def __init__(self, index: int, sandbox: str | Callable[[], Sandbox], cache_size: int = 16):
        self.name = f"local-{index}"
        self.runner = JobRunner(sandbox, cache_size)
        self._lock = threading.Lock()  # interrupt() against a sandbox being made or closed

    def run(self, job: StepJob) -> dict[str, Any]:
        return self.runner.run(job.task, job.program, job.options, job.step)

    def interrupt(self) -> None:
        with self._lock:
            self.runner.interrupt()

    def close(self) -> None:
        with self._lock:
            self.runner.close()


def local_executors(
    workers: int, sandbox: str | Callable[[], Sandbox], cache_size: int = 16
) -> list[LocalExecutor]:
    return [LocalExecutor(i, sandbox, cache_size) for i in range(workers)]
