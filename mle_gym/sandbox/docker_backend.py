"""Moved: the cold backend to :mod:`~mle_gym.sandbox.cold`, the engine connection and labels to
:mod:`~mle_gym.sandbox.engine`, the lockdown to :mod:`~mle_gym.sandbox.lockdown`, the attach
stream to :mod:`~mle_gym.sandbox.attach`. These names stay for existing imports."""

from mle_gym.sandbox.attach import AttachStream as Channel
from mle_gym.sandbox.attach import attach
from mle_gym.sandbox.cold import DockerSandbox
from mle_gym.sandbox.engine import (
    HOST_LABEL,
    LABEL,
    SESSION_LABEL,
    container_labels,
    docker_available,
    docker_client,
    remove_container,
    remove_own_containers,
)
from mle_gym.sandbox.gc import on_first_sandbox
from mle_gym.sandbox.lockdown import (
    GRACE_SECONDS,
    container_config,
    program_environment,
    sandbox_user,
    tmpfs_options,
)

__all__ = [
    "GRACE_SECONDS", "HOST_LABEL", "LABEL", "SESSION_LABEL", "Channel", "DockerSandbox", "attach",
    "container_config", "container_labels", "docker_available", "docker_client",
    "on_first_sandbox", "program_environment", "remove_container", "remove_own_containers",
    "sandbox_user", "tmpfs_options",
]
