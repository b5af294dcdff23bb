"""RolloutPool: a bounded queue, one driver thread per worker slot, completion order.

The front end is the same for every backend: ``submit`` puts a job in the queue (waiting
while ``max_pending`` are queued), a free driver thread takes it and hands it to its
executor (a local runner or a Ray actor), and the result is numbered in completion order
and handed to ``as_completed`` and to the job's handle. Cancelling a queued job removes it;
cancelling a running one asks its executor to kill the container.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mle_gym.pool.base import (
    CANCELLED,
    Executor,
    JobHandle,
    JobResult,
    PoolClosed,
    PoolFull,
    StepJob,
    error_payload,
)

BACKENDS = ("local", "ray")


class RolloutPool:
    """Run programs on tasks with ``workers`` at a time; results in completion order.

    ``backend``: "local" (threads of this process) or "ray" (one actor per worker slot;
    ``address`` None starts a local Ray unless one is connected, "auto" or "ray://..." joins
    a cluster). ``sandbox``: "docker-warm" (default), "docker", "local", "auto", or a
    function returning a Sandbox (picklable for Ray); each worker slot gets its own.
    ``max_pending``: how many jobs may wait in the queue before ``submit`` blocks.
    """

    def __init__(
        self,
        backend: str = "local",
        workers: int = 4,
        sandbox: str | Callable[[], Any] = "docker-warm",
        max_pending: int = 64,
        address: str | None = None,
        actor_options: dict[str, Any] | None = None,
        cache_size: int = 16,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown pool backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.backend = backend
        self.workers = workers
        self.max_pending = max_pending
        self._owns_ray = False
        if backend == "ray":
            from mle_gym.pool.ray_backend import connect, ray_executors

            self._owns_ray = connect(address)
            executors: list[Executor] = list(
                ray_executors(workers, sandbox, cache_size, actor_options)
            )
        else:
            from mle_gym.pool.local import local_executors

            executors = list(local_executors(workers, sandbox, cache_size))
        self._executors = executors
        self._cond = threading.Condition()
        self._queue: deque[JobHandle] = deque()
        self._completed: deque[JobResult] = deque()  # finished, not yet taken by as_completed
        self._undelivered = 0  # submitted and not yet taken by as_completed
        self._next_id = 0
        self._next_order = 0
        self._closed = False
        # Per slot: the job it runs, and a lock so a cancel cannot hit the slot's next job.
        self._current: list[JobHandle | None] = [None] * workers
        self._slot_locks = [threading.Lock() for _ in range(workers)]
        self._drivers = [
            threading.Thread(target=self._drive, args=(i,), daemon=True, name=f"mle-pool-{i}")
            for i in range(workers)
        ]
        for driver in self._drivers:
            driver.start()
        self._closer: threading.Thread | None = None
        self._executors_closed = False
        ref = weakref.ref(self)
        self._atexit = lambda: (p := ref()) is not None and p._at_exit()
        atexit.register(self._atexit)

    # -- submitting ----------------------------------------------------------------------------

    def submit(self, job: StepJob, block: bool = True, timeout: float | None = None) -> JobHandle:
        """Queue a job. With ``max_pending`` jobs queued, wait (``block``, up to ``timeout``
        seconds) or raise PoolFull."""
        job.check()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    raise PoolClosed("the pool is shut down; make a new RolloutPool")
                if len(self._queue) < self.max_pending:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if not block or (remaining is not None and remaining <= 0):
                    raise PoolFull(
                        f"{len(self._queue)} jobs are already queued (max_pending="
                        f"{self.max_pending}); take results first or submit with block=True"
                    )
                self._cond.wait(remaining)
            handle = JobHandle(self, job, self._next_id)
            self._next_id += 1
            self._queue.append(handle)
            self._undelivered += 1
            self._cond.notify_all()
        return handle

    # -- results -------------------------------------------------------------------------------

    def as_completed(
        self, handles: Iterable[JobHandle] | None = None, timeout: float | None = None
    ) -> Iterator[JobResult]:
        """Results as jobs finish, in completion order.

        Without ``handles``: every result not yet taken, including jobs submitted while you
        iterate; ends when nothing is queued, running, or waiting to be taken. With
        ``handles``: those jobs' results. ``timeout`` bounds the whole iteration
        (TimeoutError when it passes).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if handles is not None:
            yield from self._as_completed_handles(list(handles), deadline)
            return
        while True:
            with self._cond:
                while not self._completed:
                    if self._undelivered == 0:
                        return
                    self._wait(deadline)
                result = self._completed.popleft()
                self._undelivered -= 1
            yield result

    def _as_completed_handles(
        self, handles: list[JobHandle], deadline: float | None
    ) -> Iterator[JobResult]:
        pending = {h.id: h for h in handles}
        while pending:
            with self._cond:
                while not any(h.done() for h in pending.values()):
                    self._wait(deadline)
                # One at a time, taken as it is yielded: a caller who stops early (next(),
                # break) leaves the rest to a later as_completed(), none of them lost.
                done = [h._result for h in pending.values() if h.done()]
                result = min(done, key=lambda r: r.order)  # type: ignore[union-attr]
                assert result is not None
                del pending[result.job_id]
                self._take(result)
            yield result

    def _take(self, result: JobResult) -> None:
        """Take ``result`` out of the queue of untaken results, if it is still there. By
        identity: ``==`` on results compares their jobs' tags, which may be anything (an
        array's ``==`` raises)."""
        for i, queued in enumerate(self._completed):
            if queued is result:
                del self._completed[i]
                self._undelivered -= 1
                return

    def _taken_by_handle(self, result: JobResult) -> None:
        with self._cond:
            self._take(result)
            self._cond.notify_all()  # an as_completed() waiting for it may now be done

    def _wait(self, deadline: float | None) -> None:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError("no result arrived before the timeout")
        self._cond.wait(remaining)

    # -- cancelling ----------------------------------------------------------------------------

    def _cancel(self, handle: JobHandle) -> bool:
        with self._cond:
            if handle.done():
                return False
            if handle.status == "queued":
                self._queue.remove(handle)
                self._cond.notify_all()
                queued = True
            else:
                handle._cancel_requested = True
                queued = False
        if queued:
            self._finish(handle, error_payload(CANCELLED), worker="")
            return True
        slot = self._slot_of(handle)
        if slot is not None:
            with self._slot_locks[slot]:
                if self._current[slot] is handle:  # still this job: kill its container
                    self._executors[slot].interrupt()
        return True

    def _slot_of(self, handle: JobHandle) -> int | None:
        for i, current in enumerate(self._current):
            if current is handle:
                return i
        return None

    def cancel_all(self) -> int:
        """Cancel every queued and running job; how many were cancelled."""
        with self._cond:
            handles = list(self._queue) + [h for h in self._current if h is not None]
        return sum(1 for h in handles if h.cancel())

    # -- lifecycle ---------------------------------------------------------------------------

    def shutdown(self, wait: bool = True, cancel_pending: bool = False) -> None:
        """Stop taking jobs. ``cancel_pending``: cancel the queued ones (running ones finish).
        ``wait``: return after every job has a result and the sandboxes are closed."""
        with self._cond:
            self._closed = True
            queued = list(self._queue) if cancel_pending else []
            self._cond.notify_all()
        for handle in queued:
            handle.cancel()
        with self._cond:
            if self._closer is None:
                self._closer = threading.Thread(target=self._close_when_idle, daemon=True)
                self._closer.start()
        if wait:
            self._closer.join()

    def _close_when_idle(self) -> None:
        for driver in self._drivers:
            driver.join()
        for executor in self._executors:
            with contextlib.suppress(Exception):  # one broken slot must not keep the others
                executor.close()
        self._executors_closed = True
        atexit.unregister(self._atexit)
        if self._owns_ray:
            from mle_gym.pool.ray_backend import shutdown_ray

            shutdown_ray()

    def _at_exit(self) -> None:
        # The interpreter is ending with the pool open: kill what runs, remove containers.
        if not self._executors_closed:
            self.cancel_all()
            self.shutdown(wait=False, cancel_pending=True)
            if self._closer is not None:
                self._closer.join(timeout=60)

    def __enter__(self) -> RolloutPool:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:  # an error or Ctrl-C in the loop: stop everything now
            self.cancel_all()
        self.shutdown(wait=True, cancel_pending=exc_type is not None)

    @property
    def pending(self) -> int:
        """Jobs queued and not yet started."""
        with self._cond:
            return len(self._queue)

    @property
    def running(self) -> int:
        with self._cond:
            return sum(1 for h in self._current if h is not None)

    # -- the driver threads --------------------------------------------------------------------

    def _drive(self, slot: int) -> None:
        executor = self._executors[slot]
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return  # closed and drained
                handle = self._queue.popleft()
                handle.status = "running"
                handle.started = time.monotonic()
                handle.worker = executor.name
                with self._slot_locks[slot]:
                    self._current[slot] = handle
                self._cond.notify_all()  # room in the queue for a blocked submit
            try:
                payload = executor.run(handle.job)
            except BaseException as exc:  # an executor must not kill its driver
                payload = error_payload(f"the worker failed: {type(exc).__name__}: {exc}")
            with self._slot_locks[slot]:
                self._current[slot] = None
            if handle._cancel_requested:
                payload = {**error_payload(CANCELLED), "wall_time": payload.get("wall_time", 0.0)}
            self._finish(handle, payload, worker=executor.name)

    def _finish(self, handle: JobHandle, payload: dict[str, Any], worker: str) -> None:
        with self._cond:
            started = handle.started if handle.started is not None else time.monotonic()
            result = JobResult(
                job=handle.job,
                order=self._next_order,
                step=payload.get("step"),
                error=payload.get("error"),
                wall_time=float(payload.get("wall_time") or 0.0),
                worker=worker,
                job_id=handle.id,
                queue_time=started - handle.submitted,
            )
            self._next_order += 1
            handle._result = result
            handle.status = "done"
            handle._event.set()
            self._completed.append(result)
            self._cond.notify_all()
