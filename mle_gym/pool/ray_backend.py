"""Ray backend: each worker slot is a Ray actor with its own sandbox, anywhere in a cluster.

An actor runs the whole step next to its sandbox: it prepares the task's data on its node
(deterministically, so every node has the same files: the driver hands every actor its lite
data secret in the actor's environment, never in the jobs), instruments, runs the container,
grades, and sends back only the payload (reward, info, private score). The driver's pool
keeps the queue, the handles and the completion order, exactly as for the local backend.
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

from mle_gym.pool.base import JobRunner, StepJob, error_payload

RAY_MISSING = (
    "the Ray backend needs Ray: install the extra with `pip install 'mle-gym[ray]'` "
    "(or `make venv-test` in the repository), or use backend='local'"
)


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(f"{RAY_MISSING} ({exc})") from None
    return ray


class RolloutWorker:
    """The actor's body (wrapped by ``ray.remote`` on first use, so importing stays light).
    Two threads: ``interrupt`` must run while ``run`` is busy."""

    def __init__(self, sandbox: Any, cache_size: int) -> None:
        self.runner = JobRunner(sandbox, cache_size)

    def run(self, task: str, program: str, options: dict, step: int) -> dict:
        return self.runner.run(task, program, options, step)

    def interrupt(self) -> int:
        return self.runner.interrupt()

    def close(self) -> None:
        self.runner.close()

    def where(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def node(self) -> str:
        """The Ray node this actor runs on (its id: several nodes may share a host)."""
        return import_ray().get_runtime_context().get_node_id()


_remote_class: Any = None


def _actor_class() -> Any:
    global _remote_class
    if _remote_class is None:
        ray = import_ray()
        _remote_class = ray.remote(max_concurrency=2)(RolloutWorker)
    return _remote_class


class RayExecutor:
    """A worker slot backed by one actor; a dead actor is replaced before the next job."""

    def __init__(
        self, index: int, sandbox: Any, cache_size: int, actor_options: dict[str, Any]
    ) -> None:
        self.name = f"ray-{index}"
        self.sandbox = sandbox
        self.cache_size = cache_size
        self.actor_options = actor_options
        self.actor = self._spawn()

    def _spawn(self) -> Any:
        return _actor_class().options(**self.actor_options).remote(self.sandbox, self.cache_size)

    def run(self, job: StepJob) -> dict[str, Any]:
        ray = import_ray()
        try:
            ref = self.actor.run.remote(job.task, job.program, job.options, job.step)
            return ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            self.actor = self._spawn()
            return error_payload(f"the Ray worker {self.name} died during the job: {exc}")
        except ray.exceptions.RayError as exc:
            return error_payload(f"Ray failed to run the job on {self.name}: {exc}")

    def node(self, timeout: float = 120) -> str:
        """The id of the Ray node the slot's actor runs on now."""
        ray = import_ray()
        return ray.get(self.actor.node.remote(), timeout=timeout)

    def interrupt(self) -> None:
        ray = import_ray()
        with contextlib.suppress(ray.exceptions.RayError):  # a dead actor runs nothing
            ray.get(self.actor.interrupt.remote(), timeout=60)

    def close(self) -> None:
        ray = import_ray()
        with contextlib.suppress(ray.exceptions.RayError):  # dead already: nothing to close
            ray.get(self.actor.close.remote(), timeout=120)
        with contextlib.suppress(ray.exceptions.RayError):
            ray.kill(self.actor)


def connect(address: str | None) -> bool:
    """Connect to Ray unless already connected: ``address`` None starts a local Ray (or uses
    RAY_ADDRESS), "auto" finds a running cluster, "ray://host:10001" a remote one. True when
    this call started the connection (so the pool should end it)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    ray.init(address=address)
    return True


def ray_executors(
    workers: int,
    sandbox: Any,
    cache_size: int = 16,
    actor_options: dict[str, Any] | None = None,
) -> list[RayExecutor]:
    if not isinstance(sandbox, str) and not callable(sandbox):
        raise TypeError("sandbox must be a name or a picklable function returning a Sandbox")
    options = {"num_cpus": 1, **(actor_options or {})}
    options["runtime_env"] = with_data_secret(options.get("runtime_env"))
    return [RayExecutor(i, sandbox, cache_size, options) for i in range(workers)]


def with_data_secret(runtime_env: dict[str, Any] | None) -> dict[str, Any]:
    """``runtime_env`` plus the driver's lite-data secret as an environment variable, so an
    actor on any node generates the same lite data as the driver (its own cache's secret
    would give other answers). The program's environment is built from scratch by every
    sandbox, so the variable never reaches agent code."""
    from mle_gym.data import SECRET_ENV, data_secret

    runtime_env = dict(runtime_env or {})
    env_vars = dict(runtime_env.get("env_vars") or {})
    env_vars[SECRET_ENV] = data_secret().decode()
    runtime_env["env_vars"] = env_vars
    return runtime_env


def shutdown_ray() -> None:
    import_ray().shutdown()
