"""Docker backend: one locked-down container per step, removed whatever happens.

Per container: no network, the public data read-only, a read-only root filesystem with a
bounded /tmp, a non-root user, memory (no swap), CPU and process-count limits, no
capabilities, no privilege escalation, and a wall-clock timeout enforced twice (by the
runner inside and by the host outside).
"""

from __future__ import annotations

import contextlib
import os
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


class DockerSandbox(Sandbox):
    name = "docker"

    def __init__(self, image: str | None = None, build: bool = True, client: Any = None) -> None:
        from mle_gym.sandbox.image import ensure_image

        self.client = client or docker_client()
        self.image = image or ensure_image(self.client, build=build)
        # Files the program writes must stay removable by the host user.
        uid = os.getuid()
        self.user = "1000:1000" if uid == 0 else f"{uid}:{os.getgid()}"

    def _execute(self, request: RunRequest, folder: StepFolder) -> RunResult:
        import docker.errors
        import requests.exceptions

        folder.write_config("/step", request.time_limit)
        memory = parse_memory(request.memory_limit)
        threads = str(max(1, int(request.cpus)))
        sub = f"/step/submission/{request.submission_file}"
        container = None
        result = RunResult(exit_code=None, duration=request.time_limit)
        try:
            container = self.client.containers.create(
                self.image,
                command=["python3", "/mle/ctl/runner.py", "/mle/ctl"],
                working_dir="/step",
                user=self.user,
                environment={
                    "HOME": "/tmp",
                    "PYTHONDONTWRITEBYTECODE": "1",
                    "MPLCONFIGDIR": "/tmp",
                    "OMP_NUM_THREADS": threads,
                    "OMP_WAIT_POLICY": "PASSIVE",  # idle OpenMP threads sleep: no stalls when CPUs are shared
                    "OPENBLAS_NUM_THREADS": threads,
                    "MKL_NUM_THREADS": threads,
                    "MLE_INPUT_DIR": "/step/input",
                    "MLE_SUBMISSION_PATH": sub,
                    "MLE_WORKING_DIR": "/step/working",
                },
                volumes={
                    str(folder.step): {"bind": "/step", "mode": "rw"},
                    str(request.public_dir.resolve()): {"bind": "/step/input", "mode": "ro"},
                    str(folder.ctl): {"bind": "/mle/ctl", "mode": "rw"},
                },
                network_mode="none",
                mem_limit=memory,
                memswap_limit=memory,
                nano_cpus=int(request.cpus * 1e9),
                pids_limit=PIDS_LIMIT,
                read_only=True,
                tmpfs={"/tmp": f"rw,nosuid,nodev,size={TMP_SIZE}"},
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                labels={
                    LABEL: folder.root.name,
                    SESSION_LABEL: os.environ.get("MLE_GYM_SESSION", ""),
                    "org.mle-gym.host-pid": str(os.getpid()),
                },
                log_config={"type": "json-file", "config": {"max-size": "4m"}},
                detach=True,
            )
            container.start()
            try:
                container.wait(timeout=request.time_limit + GRACE_SECONDS)
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                result.timed_out = True
                container.kill()
            container.reload()
            result.oom = bool(container.attrs["State"].get("OOMKilled"))
            logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            folder.parse_report(logs, result)
        except docker.errors.DockerException as exc:
            result.sandbox_error = f"Docker failed to run the step: {exc}"
        finally:
            if container is not None:
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
        return result

    def close(self) -> None:
        self.client.close()

    def __reduce__(self) -> tuple:
        # Sent to another process (vector envs): reconnect there instead of pickling a socket.
        return (DockerSandbox, (self.image, False))
