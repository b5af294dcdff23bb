"""The lockdown of every step container, cold or warm: one ``containers.create`` recipe.

No network, the public data read-only, a read-only root filesystem, a non-root user, memory
(no swap), CPU and process-count limits, no capabilities, no privilege escalation. Every place
a program can write is a size-limited tmpfs inside the container (/step, holding working/ and
submission/, and /tmp, each ``disk_limit`` big; /dev/shm 64 MiB), never a host folder. tmpfs
pages are charged to the container's memory cgroup too, so what a program writes also counts
against its memory limit and is gone with the container.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mle_gym.sandbox.base import RunRequest, parse_memory
from mle_gym.sandbox.engine import container_labels

GRACE_SECONDS = 10.0  # container start and supervisor reporting, on top of the program's limit
PIDS_LIMIT = 512
SHM_SIZE = "64m"


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


def tmpfs_options(size: str | int, user: str, exec_ok: bool = False) -> str:
    """A tmpfs of ``size`` (docker syntax) owned by ``user`` ("uid:gid"; the engine copies
    the image folder's mode onto a tmpfs, so ownership is what makes it writable), no
    devices, no set-uid, and no programs run from it unless ``exec_ok``."""
    uid, _, gid = user.partition(":")
    flags = "exec" if exec_ok else "noexec"
    return f"rw,nosuid,nodev,{flags},size={parse_memory(size)},uid={uid},gid={gid or uid}"


def container_config(
    image: str,
    user: str,
    request: RunRequest,
    *,
    command: list[str],
    ctl_dir: Path,
    name: str,
    ctl_target: str = "/mle/ctl",
    tmpfs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``containers.create`` arguments of the lockdown every step container gets (cold or warm):
    /step and /tmp are tmpfs of ``request.disk_limit`` each, the public data is read-only at
    /step/input, ``ctl_dir`` (runner and program) read-only at ``ctl_target``; the container
    talks to the host on stdin and stdout through the attach stream, closed when the host goes.
    """
    memory = parse_memory(request.memory_limit)
    step_fs = tmpfs_options(request.disk_limit, user, exec_ok=True)  # as the cwd always was
    return {
        "image": image,
        "command": command,
        "working_dir": "/step",
        "user": user,
        "environment": program_environment(request),
        "volumes": {
            str(request.public_dir.resolve()): {"bind": "/step/input", "mode": "ro"},
            str(ctl_dir): {"bind": ctl_target, "mode": "ro"},
        },
        "network_mode": "none",
        "mem_limit": memory,
        "memswap_limit": memory,
        "nano_cpus": int(request.cpus * 1e9),
        "pids_limit": PIDS_LIMIT,
        "read_only": True,
        "tmpfs": {"/step": step_fs, "/tmp": tmpfs_options(request.disk_limit, user),
                  **(tmpfs or {})},
        "shm_size": SHM_SIZE,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "labels": container_labels(name),
        # stdin stays open until the host's attach ends (docker-py sets StdinOnce with it).
        "stdin_open": True,
        "detach": False,
        "log_config": {"type": "none", "config": {}},  # reports travel on the attach stream
    }
