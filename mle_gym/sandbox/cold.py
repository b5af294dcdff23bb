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
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from mle_gym.sandbox.attach import AttachStream, attach
from mle_gym.sandbox.base import RunRequest, RunResult, Sandbox, SandboxError, StepFolder
from mle_gym.sandbox.engine import docker_client, remove_container
from mle_gym.sandbox.gc import on_first_sandbox
from mle_gym.sandbox.image import ensure_image
from mle_gym.sandbox.inside import STEP_SUPERVISOR
from mle_gym.sandbox.lockdown import GRACE_SECONDS, container_config, sandbox_user


class DockerSandbox(Sandbox):
    """Docker, a fresh container for every step (see the module docstring)."""

    name = "docker"

    def __init__(self, image: str | None = None, build: bool = True, client: Any = None) -> None:
        self.client = client or docker_client()
        self.image = image or ensure_image(self.client, build=build)
        self.user = sandbox_user()
        on_first_sandbox(self.client)
        self._running: set[Any] = set()  # containers of steps in progress, for interrupt()
        self._lock = threading.Lock()
        self._removals = threading.local()  # this thread's step's container being removed

    def _execute(self, request: RunRequest, folder: StepFolder) -> RunResult:
        import docker.errors

        folder.streamed = True
        places = ["/step", "/tmp", "/dev/shm"]
        folder.write_config("/step", request.time_limit, stream=True, places=places,
                            submission_file=request.submission_file,
                            max_submission=request.max_submission)
        (folder.ctl / "token").unlink()  # it travels on stdin, never in a file
        container = None
        channel = None
        result = RunResult(exit_code=None, duration=request.time_limit)
        try:
            container = self.client.containers.create(
                **container_config(
                    self.image,
                    self.user,
                    request,
                    command=["python3", f"/mle/ctl/{STEP_SUPERVISOR.name}", "/mle/ctl"],
                    ctl_dir=folder.ctl,
                    name=folder.root.name,
                )
            )
            with self._lock:
                self._running.add(container)
            channel = attach(self.client, container)
            container.start()
            channel.send(folder.token.encode() + b"\n")
            deadline = time.monotonic() + request.time_limit + GRACE_SECONDS
            self._report(channel, folder, result, deadline, container)
            # Done with it: remove it while the host grades (joined when the step ends).
            channel.close()
            channel = None
            self._remove_later(container)
            container = None
        except docker.errors.DockerException as exc:
            result.sandbox_error = f"Docker failed to run the step: {exc}"
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
        def remove() -> None:
            try:
                remove_container(container)
            except Exception as exc:  # raised when the step ends, in run()
                errors.append(exc)
            finally:
                with self._lock:
                    self._running.discard(container)

        errors: list[Exception] = []
        thread = threading.Thread(target=remove, daemon=True, name="mle-docker-remove")
        thread.start()
        self._removals.removal = (thread, errors)

    def _close_folder(self, folder: StepFolder) -> None:
        """Remove the folder, then wait for the step's container to go.

        Removing a container costs the engine 50-100 ms, so it overlaps the host's grading
        of the submission instead of delaying the result: the container is gone by the time
        the caller's ``with`` ends.
        """
        try:
            super()._close_folder(folder)
        finally:
            pending = getattr(self._removals, "removal", None)
            self._removals.removal = None
            if pending is not None:
                thread, errors = pending
                thread.join()
                if errors:
                    raise SandboxError(f"Docker could not remove a step container: {errors[0]}")

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
        self.client.close()

    def __reduce__(self) -> tuple:
        # Sent to another process (vector envs): reconnect there instead of pickling a socket.
        return (DockerSandbox, (self.image, False))
