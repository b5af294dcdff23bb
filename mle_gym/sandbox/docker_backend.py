"""Docker backend: one locked-down container per step, removed whatever happens.

Per container: no network, the public data read-only, a read-only root filesystem with a
bounded /tmp, a non-root user, memory (no swap), CPU and process-count limits, no
capabilities, no privilege escalation, and a wall-clock timeout enforced twice (by the
runner inside and by the host outside).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mle_gym.sandbox.base import (
    RunRequest,
    RunResult,
    Sandbox,
    SandboxError,
    StepFolder,
    parse_memory,
)

LABEL = "org.mle-gym.step"
# Set MLE_GYM_SESSION to tag every container a run (and its child processes) starts.
SESSION_LABEL = "org.mle-gym.session"
GRACE_SECONDS = 10.0  # container start and runner reporting, on top of the program's limit
PIDS_LIMIT = 512
TMP_SIZE = "512m"


def docker_client(timeout: int = 60) -> Any:
    """A connected Docker client, or SandboxError saying how to get one."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as exc:  # the SDK raises several kinds for "no daemon"
        raise SandboxError(
            "cannot reach a Docker engine "
            f"({type(exc).__name__}: {str(exc)[:200]}). Start Docker (for example "
            "`sudo scripts/start-docker.sh` from the repository, or `sudo systemctl start "
            "docker`), make sure your user may use it, or pass sandbox='local'."
        ) from None


def docker_available() -> bool:
    try:
        docker_client(timeout=5)
        return True
    except SandboxError:
        return False


def sandbox_user() -> str:
    """The container user: the host user, so files the program writes stay removable by it;
    never root (a root host maps to the image's ``agent`` user)."""
    uid = os.getuid()
    return "1000:1000" if uid == 0 else f"{uid}:{os.getgid()}"


def program_environment(request: RunRequest) -> dict[str, str]:
    """The whole environment a program starts with (the step folder layout and thread caps)."""
    threads = str(max(1, int(request.cpus)))
    return {
        "HOME": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLCONFIGDIR": "/tmp",
        "OMP_NUM_THREADS": threads,
        "OMP_WAIT_POLICY": "PASSIVE",  # idle OpenMP threads sleep: no stalls when CPUs are shared
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "MLE_INPUT_DIR": "/step/input",
        "MLE_SUBMISSION_PATH": f"/step/submission/{request.submission_file}",
        "MLE_WORKING_DIR": "/step/working",
    }


def container_labels(name: str) -> dict[str, str]:
    """Labels that leak checks and ``mle-gym gc`` select step containers by."""
    return {
        LABEL: name,
        SESSION_LABEL: os.environ.get("MLE_GYM_SESSION", ""),
        "org.mle-gym.host-pid": str(os.getpid()),
    }


def container_config(
    image: str,
    user: str,
    request: RunRequest,
    *,
    command: list[str],
    step_dir: Path,
    ctl_dir: Path,
    name: str,
) -> dict[str, Any]:
    """``containers.create`` arguments of the lockdown every step container gets (cold or warm):
    the public data read-only at /step/input, ``step_dir`` at /step, ``ctl_dir`` at /mle/ctl."""
    memory = parse_memory(request.memory_limit)
    return {
        "image": image,
        "command": command,
        "working_dir": "/step",
        "user": user,
        "environment": program_environment(request),
        "volumes": {
            str(step_dir): {"bind": "/step", "mode": "rw"},
            str(request.public_dir.resolve()): {"bind": "/step/input", "mode": "ro"},
            str(ctl_dir): {"bind": "/mle/ctl", "mode": "rw"},
        },
        "network_mode": "none",
        "mem_limit": memory,
        "memswap_limit": memory,
        "nano_cpus": int(request.cpus * 1e9),
        "pids_limit": PIDS_LIMIT,
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={TMP_SIZE}"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "labels": container_labels(name),
        "log_config": {"type": "json-file", "config": {"max-size": "4m"}},
        "detach": True,
    }


def remove_container(container: Any) -> None:
    """Kill and remove a container; one already gone (or going) is fine."""
    import docker.errors

    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise


class DockerSandbox(Sandbox):
    name = "docker"

    def __init__(self, image: str | None = None, build: bool = True, client: Any = None) -> None:
        from mle_gym.sandbox.image import ensure_image

        self.client = client or docker_client()
        self.image = image or ensure_image(self.client, build=build)
        self.user = sandbox_user()
        self._running: set[Any] = set()  # containers of steps in progress, for interrupt()
        self._lock = threading.Lock()
        self._removals = threading.local()  # this thread's step's container being removed

    def _execute(self, request: RunRequest, folder: StepFolder) -> RunResult:
        import docker.errors
        import requests.exceptions

        folder.write_config("/step", request.time_limit)
        container = None
        result = RunResult(exit_code=None, duration=request.time_limit)
        try:
            container = self.client.containers.create(
                **container_config(
                    self.image,
                    self.user,
                    request,
                    command=["python3", "/mle/ctl/runner.py", "/mle/ctl"],
                    step_dir=folder.step,
                    ctl_dir=folder.ctl,
                    name=folder.root.name,
                )
            )
            with self._lock:
                self._running.add(container)
            container.start()
            try:
                container.wait(timeout=request.time_limit + GRACE_SECONDS)
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                result.timed_out = True
                container.kill()
            logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            if f"{folder.token} " not in logs:  # no report: was the runner itself OOM-killed?
                container.reload()
                result.oom = bool(container.attrs["State"].get("OOMKilled"))
            folder.parse_report(logs, result)
            # Done with it: remove it while the host grades (joined when the step ends).
            self._remove_later(container)
            container = None
        except docker.errors.DockerException as exc:
            result.sandbox_error = f"Docker failed to run the step: {exc}"
        finally:
            if container is not None:
                with self._lock:
                    self._running.discard(container)
                remove_container(container)
        return result

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

    @contextmanager
    def run(self, request: RunRequest) -> Iterator[RunResult]:
        """As :meth:`Sandbox.run`; the container is removed by the time the ``with`` ends.

        Removing a container costs the engine 50-100 ms, so it overlaps the host's grading
        of the submission instead of delaying the result.
        """
        try:
            with super().run(request) as result:
                yield result
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
        self.client.close()

    def __reduce__(self) -> tuple:
        # Sent to another process (vector envs): reconnect there instead of pickling a socket.
        return (DockerSandbox, (self.image, False))
