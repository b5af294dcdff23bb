"""The Docker engine as every sandbox part sees it: a connection, the labels that mark step
containers (whose they are, on which machine, in which session), and removing containers.

Below the sandboxes, the image and ``gc``: it imports none of them. ``docker`` is imported
inside the functions, so importing this module stays light.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

from mle_gym.sandbox.base import SandboxError

LABEL = "org.mle-gym.step"  # every step container: its step folder's name
# Set MLE_GYM_SESSION to tag every container a run (and its child processes) starts.
SESSION_LABEL = "org.mle-gym.session"
PID_LABEL = "org.mle-gym.host-pid"  # the process that started it
HOST_LABEL = "org.mle-gym.host"  # the machine (hostname) whose pids the pid label names


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


def container_labels(name: str) -> dict[str, str]:
    """Labels that leak checks and ``mle-gym gc`` select step containers by."""
    return {
        LABEL: name,
        SESSION_LABEL: os.environ.get("MLE_GYM_SESSION", ""),
        PID_LABEL: str(os.getpid()),
        HOST_LABEL: socket.gethostname(),
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


def remove_own_containers() -> None:
    """Remove every step container this process started (on SIGTERM): a fresh connection,
    since the signal may have interrupted a call on the usual one."""
    import docker

    client = docker.from_env(timeout=10)
    try:
        filters = {"label": [f"{PID_LABEL}={os.getpid()}",
                             f"{HOST_LABEL}={socket.gethostname()}"]}
        containers = client.containers.list(all=True, filters=filters, ignore_removed=True)
        threads = [threading.Thread(target=remove_container, args=(c,), daemon=True)
                   for c in containers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
    finally:
        client.close()
