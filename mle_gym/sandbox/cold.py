"""Cold Docker steps: one locked-down container per step (``lockdown.py``), removed whatever
happens.

The container's PID 1 is the step supervisor (``inside/step_supervisor.py``); the wall-clock
limit is enforced twice, by it inside and by the host outside. The host sees the submission
only: the supervisor sends it after the report on its stdout, once every process of the
program is dead, at most ``max_submission`` bytes.

The host talks to the supervisor through the engine's attach stream (``attach.py``: stdin and
stdout, which the program cannot reach): the per-step token goes in, the report and
submission come out, and no log is kept. When the host process dies (even by SIGKILL) the
stream closes, the supervisor's stdin ends and the container stops itself; the next sandbox
made on this machine removes stopped containers and step folders whose owner is dead
(``gc.py``; ``mle-gym sandbox gc`` too). A SIGTERM removes the process's containers and
folders at once (``host_folders.install_terminate_handler``).

Containers for the next steps are started ahead and wait for their tokens (``prestart.py``):
a step rarely waits for the engine's container start. A used container and its step folder
are removed in the background; ``close`` (or the interpreter's exit) waits for them.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from typing import Any

from mle_gym.sandbox.attach import AttachStream
from mle_gym.sandbox.base import RunRequest, RunResult, Sandbox, SandboxError, StepFolder
from mle_gym.sandbox.engine import docker_client, remove_container
from mle_gym.sandbox.gc import on_first_sandbox
from mle_gym.sandbox.host_folders import TERMINATE_HOOKS
from mle_gym.sandbox.image import ensure_image
from mle_gym.sandbox.lockdown import GRACE_SECONDS, sandbox_user
from mle_gym.sandbox.prestart import DEPTH, Prestarter, Started, start_container, write_step
from mle_gym.sandbox.prestart import stop_all as prestart_stop_all


class Removals:
    """Containers of finished steps being removed in background threads."""

    def __init__(self) -> None:
        self._threads: set[threading.Thread] = set()
        self._errors: list[Exception] = []
        self._lock = threading.Lock()

    def start(self, work: Any) -> None:
        def run() -> None:
            try:
                work()
            except Exception as exc:
                with self._lock:
                    self._errors.append(exc)
            finally:
                with self._lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, daemon=True, name="mle-docker-remove")
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def failure(self) -> Exception | None:
        """The first removal that failed since the last call, if any."""
        with self._lock:
            errors, self._errors = self._errors, []
        return errors[0] if errors else None

    def join(self) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=120)

    @staticmethod
    def finish(removals: Removals, prestarter: Prestarter | None) -> None:
        """Close ``prestarter`` (what waits is removed) and wait for every removal."""
        if prestarter is not None:
            prestarter.close()
        removals.join()


class DockerSandbox(Sandbox):
    """Docker, a fresh container for every step (see the module docstring).

    ``prestart`` (default on): containers for the next steps are started in the background
    and wait for their tokens (``prestart.py``), so a step does not wait for the engine's
    container start; ``True`` keeps :data:`~mle_gym.sandbox.prestart.DEPTH` waiting per
    lockdown, a number that many; off (``False`` or 0), each step creates and starts its own.
    """

    name = "docker"

    def __init__(self, image: str | None = None, build: bool = True, client: Any = None,
                 prestart: bool | int = True) -> None:
        self.client = client or docker_client()
        self.image = image or ensure_image(self.client, build=build)
        self.user = sandbox_user()
        on_first_sandbox(self.client)
        if prestart_stop_all not in TERMINATE_HOOKS:  # before the hook that removes containers
            TERMINATE_HOOKS.insert(0, prestart_stop_all)
        self.prestart = prestart
        depth = DEPTH if prestart is True else int(prestart)
        self._prestarter = Prestarter(self.client, self.image, self.user, depth) if depth else None
        self._running: set[Any] = set()  # containers of steps in progress, for interrupt()
        self._lock = threading.Lock()
        self._removals = Removals()  # used containers being removed in the background
        # Dropped without close() (or at exit): what waits and what is being removed goes.
        weakref.finalize(self, Removals.finish, self._removals, self._prestarter)
        self._taken = threading.local()  # this thread's step's prestarted container

    def _open_folder(self, request: RunRequest) -> StepFolder:
        """A prestarted container's folder with the step written in, else a fresh one."""
        started = self._prestarter.take(request) if self._prestarter is not None else None
        self._taken.started = started
        if started is None:
            return StepFolder.create(request)
        write_step(started.folder, request)
        return started.folder

    def waiting(self) -> list[Any]:
        """The containers started ahead and waiting for a step (none have run a program)."""
        return self._prestarter.waiting() if self._prestarter is not None else []

    def _execute(self, request: RunRequest, folder: StepFolder) -> RunResult:
        import docker.errors

        started: Started | None = getattr(self._taken, "started", None)
        self._taken.started = None
        container = channel = None
        result = RunResult(exit_code=None, duration=request.time_limit)
        try:
            if started is None:
                write_step(folder, request)
                started = start_container(self.client, self.image, self.user, request, folder)
            container, channel = started.container, started.channel
            with self._lock:
                self._running.add(container)
            # The next step's container starts now if none waits for it; else after this
            # program ends, so the engine's work does not slow the program (prestart.py).
            if self._prestarter is not None and not self._prestarter.ready(request):
                self._prestarter.refill(request)
            channel.send(folder.token.encode() + b"\n")
            deadline = time.monotonic() + request.time_limit + GRACE_SECONDS
            self._report(channel, folder, result, deadline, container)
            if self._prestarter is not None:
                self._prestarter.refill(request)
            # Done with it: remove it while the host grades (joined when the step ends).
            channel.close()
            channel = None
            self._remove_later(container)
            container = None
        except docker.errors.DockerException as exc:
            result.sandbox_error = f"Docker failed to run the step: {exc}"
        except (KeyboardInterrupt, SystemExit):
            if self._prestarter is not None:  # the caller is stopping: nothing waits for it
                self._prestarter.drop()
            raise
        finally:
            if channel is not None:
                channel.close()
            if container is not None:
                with self._lock:
                    self._running.discard(container)
                remove_container(container)
        return result

    def _report(self, channel: AttachStream, folder: StepFolder, result: RunResult,
                deadline: float, container: Any) -> None:
        """Read the runner's report and the submission after it from the attach stream."""
        import docker.errors

        prefix = folder.token.encode() + b" "
        try:
            while True:
                line = channel.line(deadline)
                if line is None:  # the runner did not stop the program: the host does
                    result.timed_out = True
                    return
                if line.startswith(prefix):
                    break
        except (EOFError, OSError):  # no report: was the runner itself OOM-killed?
            with contextlib.suppress(docker.errors.DockerException):
                container.reload()
                result.oom = bool(container.attrs["State"].get("OOMKilled"))
            if not result.oom:
                said = channel.said()
                result.sandbox_error = "the sandbox runner did not report" + (
                    f"; it said: {said}" if said else ""
                )
            return
        folder.parse_report(line.decode("utf-8", "replace"), result)
        size = folder.incoming
        if size is not None and result.sandbox_error is None:
            target = folder.root / "submission-copy"
            try:
                complete = channel.read_into(target, int(size), deadline + GRACE_SECONDS)
            except (EOFError, OSError):
                complete = False
            if complete:
                result.submission = target
            else:
                result.sandbox_error = "the submission did not arrive whole from the container"

    def _remove_later(self, container: Any) -> None:
        """Remove a used container in the background: the engine takes 50-200 ms, which
        the next step need not wait for. ``close`` (or the interpreter's exit) waits for
        every removal; a failed one is raised by the next step or by ``close``."""

        lock, running = self._lock, self._running  # not self: a dropped sandbox is collected

        def remove() -> None:
            try:
                remove_container(container)
            finally:
                with lock:
                    running.discard(container)

        self._removals.start(remove)

    def _close_folder(self, folder: StepFolder) -> None:
        # In the background too (10-30 ms here): until it is gone the folder stays in
        # LIVE_FOLDERS (SIGTERM removes it), and close() waits for it.
        self._removals.start(folder.remove)
        failed = self._removals.failure()
        if failed is not None:
            raise SandboxError(f"Docker could not remove a step container: {failed}")

    def settle(self) -> None:
        """Wait until the containers of finished steps (and expired waiting ones) are removed."""
        if self._prestarter is not None:
            self._prestarter.settle()
        self._removals.join()

    def interrupt(self) -> int:
        """Remove the containers of the steps running now (a rollout pool cancelling a job);
        those steps end at once with a sandbox error. Returns how many there were."""
        with self._lock:
            running = list(self._running)
        for container in running:
            remove_container(container)
        return len(running)

    def close(self) -> None:
        self.closed = True
        try:
            Removals.finish(self._removals, self._prestarter)
            failed = self._removals.failure()
            if failed is not None:
                raise SandboxError(f"Docker could not remove a step container: {failed}")
        finally:
            self.client.close()

    def __reduce__(self) -> tuple:
        # Sent to another process (vector envs): reconnect there instead of pickling a socket.
        return (DockerSandbox, (self.image, False, None, self.prestart))
