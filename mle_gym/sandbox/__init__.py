"""Sandboxes that run untrusted agent programs: Docker (isolated) or local (weaker)."""

from __future__ import annotations

import warnings

from mle_gym.sandbox.base import RunRequest, RunResult, Sandbox, SandboxError, parse_memory

BACKENDS = ("auto", "docker", "docker-warm", "local")


def make_sandbox(kind: str | Sandbox = "auto") -> Sandbox:
    """Build a sandbox: "docker", "docker-warm" (started containers reused between steps),
    "local", or "auto" (Docker when a daemon answers)."""
    if isinstance(kind, Sandbox):
        return kind
    if kind not in BACKENDS:
        raise ValueError(f"unknown sandbox {kind!r}; choose one of {', '.join(BACKENDS)}")
    if kind == "docker-warm":
        from mle_gym.sandbox.warm import WarmDockerSandbox

        return WarmDockerSandbox()
    if kind in ("auto", "docker"):
        from mle_gym.sandbox.cold import DockerSandbox
        from mle_gym.sandbox.engine import docker_available

        if kind == "docker" or docker_available():
            return DockerSandbox()
        warnings.warn(
            "no Docker engine answered, so sandbox='auto' falls back to the local backend",
            RuntimeWarning,
            stacklevel=2,
        )
    from mle_gym.sandbox.process import LocalSandbox

    return LocalSandbox()


__all__ = ["RunRequest", "RunResult", "Sandbox", "SandboxError", "make_sandbox", "parse_memory"]
