"""The pool's shared types: a job, its result, a handle on it, and the worker-side runner.

:class:`JobRunner` is what a worker slot holds on either backend (a thread of the local
pool, or a Ray actor): one sandbox, a cache of task runtimes, and ``run`` that turns one job
into a plain, picklable payload, never an exception.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mle_gym.limits import validate_limits

if TYPE_CHECKING:
    from mle_gym.sandbox import Sandbox
    from mle_gym.step import TaskRuntime

# The keyword arguments of TaskRuntime.create that a job's ``options`` may set.
OPTIONS = ("data", "data_seed", "time_limit", "memory_limit", "cpus", "instrumenter", "reward")
LIMIT_OPTIONS = ("time_limit", "memory_limit", "cpus", "disk_limit")
CANCELLED = "cancelled"


class PoolFull(RuntimeError):
    """``submit(block=False)`` (or with a timeout) found ``max_pending`` jobs already queued."""


class PoolClosed(RuntimeError):
    """The pool was shut down; make a new one to submit more jobs."""


@dataclass
class StepJob:
    """One program to run on one task. ``options`` are TaskRuntime.create's keyword arguments
    (``data``, ``data_seed``, ``time_limit``, ``memory_limit``, ``cpus``, ``instrumenter``,
    ``reward``); ``tag`` is yours, returned untouched (it never leaves this process)."""

    task: str
    program: str
    options: dict[str, Any] = field(default_factory=dict)
    tag: Any = None
    step: int = 0  # passed to run_step, shown as info["step"]

    def check(self) -> None:
        unknown = sorted(set(self.options) - set(OPTIONS))
        if unknown:
            raise TypeError(
                f"unknown StepJob option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}"
            )
        if not isinstance(self.program, str):
            raise TypeError(f"a program is text (str), not {type(self.program).__name__}")
        # A limit that would switch itself off is refused at submit, not on a worker.
        validate_limits(**{k: v for k, v in self.options.items() if k in LIMIT_OPTIONS})


@dataclass
class StepResult:
    """How one job ended. ``order`` counts completions (0, 1, 2, ...) across the pool.

    On success ``error`` is None and ``reward``, ``info`` (the env's step info, plain data)
    and ``private_score`` (None without a valid submission) are set; ``duration`` is the time
    the program ran. On failure (``error`` set: ``"cancelled"``, or what broke and what to do)
    ``reward`` and ``info`` are None and ``duration`` is 0. ``wall_time`` is the worker's time
    on the job (instrumenting, the container, grading), ``queue_time`` the wait before it.
    """

    job: StepJob
    order: int
    duration: float
    reward: float | None
    info: dict[str, Any] | None
    private_score: float | None
    error: str | None
    wall_time: float
    worker: str
    job_id: int = -1
    queue_time: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def cancelled(self) -> bool:
        return self.error == CANCELLED


class JobHandle:
    """A submitted job: wait for its result, or cancel it."""

    def __init__(self, pool: Any, job: StepJob, job_id: int) -> None:
        self.job = job
        self.id = job_id
        self.status = "queued"  # then "running", then "done"
        self.submitted = time.monotonic()
        self.started: float | None = None
        self.worker: str | None = None
        self._pool = pool
        self._result: StepResult | None = None
        self._event = threading.Event()
        self._cancel_requested = False

    def done(self) -> bool:
        return self._event.is_set()

    def running(self) -> bool:
        return self.status == "running"

    def result(self, timeout: float | None = None) -> StepResult:
        """The job's result, waiting up to ``timeout`` seconds (TimeoutError after that)."""
        if not self._event.wait(timeout):
            raise TimeoutError(f"job {self.id} ({self.job.task}) has not finished after {timeout} s")
        assert self._result is not None
        return self._result

    def cancel(self) -> bool:
        """Cancel a queued job, or kill a running one's container. False when already done."""
        return self._pool._cancel(self)

    def __repr__(self) -> str:
        return f"<JobHandle {self.id} {self.job.task} {self.status}>"


class Executor(Protocol):
    """One worker slot as the pool's driver thread sees it (local runner or Ray actor)."""

    name: str

    def run(self, job: StepJob) -> dict[str, Any]: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


def error_payload(message: str, started: float | None = None) -> dict[str, Any]:
    wall = time.monotonic() - started if started is not None else 0.0
    return {
        "reward": None,
        "info": None,
        "private_score": None,
        "duration": 0.0,
        "error": message,
        "wall_time": wall,
    }


class JobRunner:
    """A worker slot's state: its own sandbox (made on first use) and task runtimes.

    ``sandbox`` is a name for ``make_sandbox`` ("docker-warm", "docker", "local", "auto") or
    a function returning a Sandbox. ``run`` never raises: every failure is a payload with
    ``error`` set, so no job is lost.
    """

    _prepare_lock = threading.Lock()  # one data preparation at a time per process

    def __init__(self, sandbox: str | Callable[[], Sandbox] = "docker-warm", cache_size: int = 16):
        self.sandbox_spec = sandbox
        self.cache_size = cache_size
        self._sandbox: Sandbox | None = None
        self._runtimes: OrderedDict[str, TaskRuntime] = OrderedDict()

    def runtime(self, task: str, options: dict[str, Any]) -> TaskRuntime:
        """``TaskRuntime.create(task, **options)``, built once per (task, options)."""
        from mle_gym.step import TaskRuntime

        key = json.dumps([task, options], sort_keys=True, default=repr)
        if key in self._runtimes:
            self._runtimes.move_to_end(key)
            return self._runtimes[key]
        with self._prepare_lock:
            runtime = TaskRuntime.create(task, **options)
        self._runtimes[key] = runtime
        while len(self._runtimes) > self.cache_size:
            self._runtimes.popitem(last=False)
        return runtime

    def sandbox(self) -> Sandbox:
        from mle_gym.sandbox import make_sandbox

        if self._sandbox is None:
            spec = self.sandbox_spec
            self._sandbox = spec() if callable(spec) else make_sandbox(spec)
        return self._sandbox

    def run(self, task: str, program: str, options: dict[str, Any], step: int = 0) -> dict:
        """Run one job; a payload dict (plain data, picklable) whatever happens."""
        from mle_gym.instrument import extract_code
        from mle_gym.sandbox import SandboxError
        from mle_gym.step import run_step

        started = time.monotonic()
        try:
            runtime = self.runtime(task, options)
            outcome = run_step(runtime, self.sandbox(), extract_code(program), step=step)
        except SandboxError as exc:
            return error_payload(f"sandbox error: {exc}", started)
        except Exception as exc:  # reported, never lost: the pool must go on
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return error_payload(
                f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})", started
            )
        info = outcome.info
        return {
            "reward": outcome.reward,
            "info": info,
            "private_score": None if outcome.grade is None else float(outcome.grade.private),
            "duration": float(info["duration"]),
            "error": None,
            "wall_time": time.monotonic() - started,
        }

    def interrupt(self) -> int:
        """Kill the container of the step running now, where the sandbox can."""
        interrupt = getattr(self._sandbox, "interrupt", None)
        return int(interrupt()) if callable(interrupt) else 0

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        self._runtimes.clear()


__all__ = [
    "CANCELLED",
    "OPTIONS",
    "Executor",
    "JobHandle",
    "JobRunner",
    "PoolClosed",
    "PoolFull",
    "StepJob",
    "StepResult",
]
