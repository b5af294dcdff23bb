"""Cold containers started ahead: the next steps' containers are created and started in the
background, and wait for their tokens.

A cold step used to wait 250-400 ms for the engine to create and start its container. A
prestarted container's step supervisor blocks on stdin until the host sends the step's token,
so no program has run in it before: every step still gets a container no program touched.
The step writes its program and config into the container's control folder (read-only
inside), then sends the token.

Up to :data:`DEPTH` containers wait per lockdown (everything ``containers.create`` depends
on: the public data folder, the limits, the submission's name), for at most
:data:`MAX_KINDS` lockdowns per sandbox. When a step takes one, its replacement starts at
once if no other is ready for the next step (steps in quick succession), else only after
the step's program has ended, so the engine's work does not compete with the program for
the CPUs. Back-to-back steps shorter than a container start are bounded by the engine's
throughput, however deep the pool: measured here (2 CPUs, load 5-8), a container's
create, start and removal cost 260-300 ms of engine time at 2-3 in parallel, 600 ms one
at a time (``bench/step_overhead.py --engine``). A waiting container is removed:

* after :data:`MAX_WAIT` seconds unused (an idle env holds nothing; a data folder replaced
  meanwhile gets a fresh container, since the folder's inode is part of the lockdown's key);
* when the sandbox closes, is garbage collected, or the interpreter exits;
* on Ctrl-C during a step (the caller is stopping; the next step starts one again);
* on SIGTERM, with every container of the process (they carry its labels, ``engine.py``);
* after SIGKILL of the host: the attach stream closes, the supervisor's stdin ends and it
  exits; the next sandbox made on the machine removes the stopped container and its folder
  (``gc.py``), as for any step container.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import weakref
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from mle_gym.sandbox.attach import AttachStream, attach
from mle_gym.sandbox.base import RunRequest, StepFolder
from mle_gym.sandbox.engine import remove_container
from mle_gym.sandbox.inside import STEP_SUPERVISOR
from mle_gym.sandbox.lockdown import container_config

MAX_WAIT = 120.0  # seconds a started container may wait for its step before it is removed
MAX_KINDS = 4  # lockdowns (tasks, limits) with containers waiting, per sandbox
# Containers waiting per lockdown: 2 starts in parallel nearly double the engine's start
# throughput here (2.7/s -> 5/s); a third adds nothing measurable.
DEPTH = 2
PLACES = ["/step", "/tmp", "/dev/shm"]  # the writable places the supervisor watches

# Prestarters of this process that are still open: SIGTERM stops them all (``stop_all``).
_OPEN: weakref.WeakSet[Prestarter] = weakref.WeakSet()


def lockdown_key(request: RunRequest) -> tuple:
    """What a container's create arguments depend on, besides the image and the user."""
    public = request.public_dir.resolve()
    info = public.stat()
    return (str(public), info.st_dev, info.st_ino, request.memory_limit, request.cpus,
            request.disk_limit, request.submission_file)


def write_step(folder: StepFolder, request: RunRequest) -> None:
    """The step's program and config, in the folder the supervisor reads once its token comes."""
    folder.request = request
    (folder.ctl / "program.py").write_text(request.program)
    folder.write_config("/step", request.time_limit, stream=True, places=PLACES,
                        submission_file=request.submission_file,
                        max_submission=request.max_submission)


@dataclass
class Started:
    """A created, attached and started container, its supervisor waiting for the token."""

    container: Any
    channel: AttachStream
    folder: StepFolder
    born: float = dataclasses.field(default_factory=time.monotonic)

    def discard(self) -> None:
        """Remove the container and its folder (it never ran a program)."""
        self.channel.close()
        with contextlib.suppress(Exception):  # gone already, or the engine is down: gc remains
            remove_container(self.container)
        self.folder.remove()


def start_container(client: Any, image: str, user: str, request: RunRequest,
                    folder: StepFolder | None = None) -> Started:
    """Create, attach and start a step container for ``request``'s lockdown; its supervisor
    waits for the token. Without ``folder``, a fresh one with no program in it yet."""
    own_folder = folder is None
    if folder is None:
        folder = StepFolder.create(dataclasses.replace(request, program=""))
        write_step(folder, folder.request)
    folder.streamed = True
    (folder.ctl / "token").unlink(missing_ok=True)  # it travels on stdin, never in a file
    container = client.containers.create(
        **container_config(image, user, request,
                           command=["python3", f"/mle/ctl/{STEP_SUPERVISOR.name}", "/mle/ctl"],
                           ctl_dir=folder.ctl, name=folder.root.name)
    )
    try:
        channel = attach(client, container)  # before start: no output is missed
        try:
            container.start()
        except BaseException:
            channel.close()
            raise
    except BaseException:
        with contextlib.suppress(Exception):
            remove_container(container)
        if own_folder:
            folder.remove()
        raise
    return Started(container, channel, folder)


class Prestarter:
    """Up to ``depth`` waiting containers per lockdown, started in the background (see the
    module docstring). Holds no reference to its sandbox, so a sandbox dropped without
    ``close`` is still collected, and its finalizer removes what waits."""

    def __init__(self, client: Any, image: str, user: str, depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}")
        self.client, self.image, self.user, self.depth = client, image, user, depth
        # Per lockdown, oldest first; the dict's order is that of the last refill.
        self._slots: dict[tuple, list[Future[Started]]] = {}
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._claimed: set[Future[Started]] = set()  # taken by a step while still starting
        self.closed = False
        _OPEN.add(self)

    def take(self, request: RunRequest) -> Started | None:
        """A container waiting for ``request``'s lockdown (one started already if any, else
        the oldest still starting, waited for), or None: then the step starts its own."""
        key = lockdown_key(request)
        while True:
            with self._lock:
                futures = self._slots.get(key)
                if not futures:
                    return None
                future = next((f for f in futures if f.done()), futures[0])
                self._forget(key, future)
                if not future.done():
                    self._claimed.add(future)
            try:
                started = future.result()
            except Exception:  # the step's own start will say what is wrong
                continue
            if time.monotonic() - started.born > MAX_WAIT or not started.channel.idle():
                self._in_background(started.discard)  # too old, or it died: not for a step
                continue
            return started

    def ready(self, request: RunRequest) -> int:
        """How many containers for ``request``'s lockdown are started and waiting now."""
        with self._lock:
            return sum(f.done() for f in self._slots.get(lockdown_key(request), ()))

    def refill(self, request: RunRequest) -> None:
        """Start containers for ``request``'s lockdown in the background until ``depth`` wait
        or are starting."""
        key = lockdown_key(request)
        with self._lock:
            if self.closed:
                return
            futures = self._slots.pop(key, [])
            self._slots[key] = futures  # the most recently refilled lockdown now
            new: list[Future[Started]] = [Future() for _ in range(self.depth - len(futures))]
            futures.extend(new)
            evicted = []
            while len(self._slots) > MAX_KINDS:  # the least recently refilled lockdown goes
                evicted.extend(self._slots.pop(next(iter(self._slots))))
        for old in evicted:
            self._in_background(lambda f=old: self._discard_future(f))
        for future in new:
            self._in_background(lambda f=future: self._start(key, request, f))

    def _start(self, key: tuple, request: RunRequest, future: Future[Started]) -> None:
        try:
            started = start_container(self.client, self.image, self.user, request)
        except BaseException as exc:
            with self._lock:
                self._claimed.discard(future)
                self._forget(key, future)  # a later refill tries again
            future.set_exception(exc)
            return
        with self._lock:
            claimed = future in self._claimed
            self._claimed.discard(future)
            wanted = claimed or (not self.closed and future in self._slots.get(key, ()))
        future.set_result(started)
        if not wanted:  # closed, dropped or evicted while it started
            started.discard()
            return
        timer = threading.Timer(MAX_WAIT, self._expire, args=(key, future))
        timer.daemon = True
        timer.start()

    def _forget(self, key: tuple, future: Future[Started]) -> bool:
        """Take ``future`` out of its lockdown's list (under the lock); False if not there."""
        futures = self._slots.get(key)
        if futures is None or future not in futures:
            return False
        futures.remove(future)
        if not futures:
            del self._slots[key]
        return True

    def _expire(self, key: tuple, future: Future[Started]) -> None:
        me = threading.current_thread()
        with self._lock:
            if not self._forget(key, future):
                return  # taken, or dropped
            self._threads.add(me)  # settle() waits for the removal
        try:
            self._discard_future(future)
        finally:
            with self._lock:
                self._threads.discard(me)

    def settle(self) -> None:
        """Wait for the background starts and removals under way."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=60)

    @staticmethod
    def _discard_future(future: Future[Started]) -> None:
        with contextlib.suppress(Exception):
            future.result().discard()

    def _in_background(self, work: Any) -> None:
        def run() -> None:
            try:
                work()
            finally:
                with self._lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, daemon=True, name="mle-prestart")
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def drop(self) -> None:
        """Remove every waiting container now (later refills start new ones)."""
        with self._lock:
            futures = [f for waiting in self._slots.values() for f in waiting]
            self._slots.clear()
            threads = list(self._threads)
        for future in futures:
            self._discard_future(future)  # waits for one still starting, then removes it
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=60)

    def close(self) -> None:
        """Remove what waits and start nothing more."""
        with self._lock:
            self.closed = True
        self.drop()
        _OPEN.discard(self)

    def waiting(self) -> list[Any]:
        """The containers started and waiting now (for tests and ``doctor``)."""
        with self._lock:
            futures = [f for waiting in self._slots.values() for f in waiting]
        return [f.result().container for f in futures
                if f.done() and f.exception() is None]


def stop_all() -> None:
    """On SIGTERM: no more prestarting in this process (the hook that removes its
    containers by label runs next)."""
    for prestarter in list(_OPEN):
        with prestarter._lock:
            prestarter.closed = True
