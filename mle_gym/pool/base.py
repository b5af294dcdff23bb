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

from mle_gym.options import NAMES as OPTIONS
from mle_gym.options import RuntimeOptions

if TYPE_CHECKING:
    from mle_gym.sandbox import Sandbox
    from mle_gym.step import StepResult as OneStep  # this module's StepResult is JobResult
    from mle_gym.step import TaskRuntime

CANCELLED = "cancelled"


class PoolFull(RuntimeError):
    """``submit(block=False)`` (or with a timeout) found ``max_pending`` jobs already queued."""


class PoolClosed(RuntimeError):
    """The pool was shut down; make a new one to submit more jobs."""


@dataclass
class StepJob:
    """One program to run on one task. ``options`` are :class:`~mle_gym.options.RuntimeOptions`
    or a dict of its fields (``data``, ``data_seed``, ``time_limit``, ``memory_limit``,
    ``cpus``, ``instrumenter``, ``reward``); ``tag`` is yours, returned untouched (it never
    leaves this process)."""

    task: str
    program: str
    options: RuntimeOptions | dict[str, Any] = field(default_factory=dict)
    tag: Any = None
    step: int = 0  # passed to run_step, shown as info["step"]

    def check(self) -> RuntimeOptions:
        """The job's options, checked: a limit that would switch itself off is refused at
        submit, not on a worker."""
        if isinstance(self.options, dict):
            unknown = sorted(set(self.options) - set(OPTIONS))
            if unknown:
                raise TypeError(
                    f"unknown StepJob option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}"
                )
        if not isinstance(self.program, str):
            raise TypeError(f"a program is text (str), not {type(self.program).__name__}")
        return RuntimeOptions.of(self.options)


@dataclass
class JobResult:
    """How one job ended. ``order`` counts completions (0, 1, 2, ...) across the pool.

    On success ``error`` is None, ``step`` is the :class:`~mle_gym.step.StepResult`, and
    ``reward``, ``info`` (the env's step info, plain data) and ``private_score`` (None
    without a valid submission) are read from it; ``duration`` is the time the program ran.
    On failure (``error`` set: ``"cancelled"``, or what broke and what to do) ``step``,
    ``reward`` and ``info`` are None and ``duration`` is 0. ``wall_time`` is the worker's
    time on the job (instrumenting, the container, grading), ``queue_time`` the wait before it.
    """

    job: StepJob
    order: int
    step: OneStep | None
    error: str | None
    wall_time: float
    worker: str
    job_id: int = -1
    queue_time: float = 0.0
    duration: float = field(init=False)
    reward: float | None = field(init=False)
    info: dict[str, Any] | None = field(init=False)
    private_score: float | None = field(init=False)

    def __post_init__(self) -> None:
        step = self.step
        self.duration = 0.0 if step is None else float(step.duration)
        self.reward = None if step is None else float(step.reward)
        self.info = None if step is None else step.info()
        self.private_score = None if step is None else step.private_score

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def cancelled(self) -> bool:
        return self.error == CANCELLED


# The old name of JobResult (a job's result); mle_gym.step.StepResult is one step's.
StepResult = JobResult


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
        self._result: JobResult | None = None
        self._event = threading.Event()
        self._cancel_requested = False

    def done(self) -> bool:
        return self._event.is_set()

    def running(self) -> bool:
        return self.status == "running"

    def result(self, timeout: float | None = None) -> JobResult:
        """The job's result, waiting up to ``timeout`` seconds (TimeoutError after that).

        Reading it takes it: ``as_completed()`` will not yield it again (a pool read only
        through handles would otherwise keep every result it ever made). A handle can be
        read any number of times."""
        if not self._event.wait(timeout):
            raise TimeoutError(f"job {self.id} ({self.job.task}) has not finished after {timeout} s")
        assert self._result is not None
        self._pool._taken_by_handle(self._result)
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
    return {"step": None, "error": message, "wall_time": wall}


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

    def runtime(self, task: str, options: RuntimeOptions | dict[str, Any]) -> TaskRuntime:
        """``TaskRuntime.create(task, options)``, built once per (task, options)."""
        from mle_gym.step import TaskRuntime

        options = RuntimeOptions.of(options)
        key = json.dumps([task, options.key()])
        if key in self._runtimes:
            self._runtimes.move_to_end(key)
            return self._runtimes[key]
        with self._prepare_lock:
            runtime = TaskRuntime.create(task, options)
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

    def run(
        self, task: str, program: str, options: RuntimeOptions | dict[str, Any], step: int = 0
    ) -> dict:
        """Run one job; a payload dict (a StepResult or an error; picklable) whatever happens."""
        from mle_gym.sandbox import SandboxError
        from mle_gym.step import run_step

        started = time.monotonic()
        try:
            runtime = self.runtime(task, options)
            result = run_step(runtime, self.sandbox(), program, step=step)
        except SandboxError as exc:
            return error_payload(f"sandbox error: {exc}", started)
        except Exception as exc:  # reported, never lost: the pool must go on
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return error_payload(
                f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})", started
            )
        return {"step": result, "error": None, "wall_time": time.monotonic() - started}

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
    "JobResult",
    "PoolFull",
    "StepJob",
    "StepResult",
]
