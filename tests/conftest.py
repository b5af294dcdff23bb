"""Shared fixtures: a private data cache, the Docker sandbox, and a leak check."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Keep tests out of the user's cache; set before mle_gym reads it.
if "MLE_GYM_CACHE" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="mle-gym-test-cache-")
    os.environ["MLE_GYM_CACHE"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
# Tag this run's containers, so the leak check ignores other runs on the same engine.
SESSION = os.environ.setdefault("MLE_GYM_SESSION", f"pytest-{os.getpid()}")

import mle_gym  # noqa: E402,F401 - registers the environments
from mle_gym.data import TaskData, prepare  # noqa: E402
from mle_gym.spec import load_task  # noqa: E402
from tests.chat_server import chat_server  # noqa: E402,F401 - a local OpenAI-style server

SPOOKY = "spooky-author"
IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def spooky_data() -> TaskData:
    return prepare(SPOOKY, "lite", seed=0)


@pytest.fixture(scope="session")
def solutions() -> dict[str, str]:
    folder = load_task(SPOOKY).folder / "solutions"
    return {p.stem: p.read_text() for p in folder.glob("*.py")}


@pytest.fixture(scope="session")
def docker_client():
    """A Docker client with the sandbox image built. Missing Docker fails in CI, skips elsewhere."""
    from mle_gym.sandbox.base import SandboxError
    from mle_gym.sandbox.docker_backend import docker_client as connect
    from mle_gym.sandbox.image import ensure_image

    try:
        client = connect(timeout=30)
    except SandboxError as exc:
        if IN_CI:
            pytest.fail(f"CI needs a Docker engine for the sandbox tests: {exc}")
        pytest.skip(f"no Docker engine: {exc}")
    ensure_image(client, build=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_sandbox(docker_client):
    from mle_gym.sandbox.docker_backend import DockerSandbox

    # Shared by the whole run: it starts nothing ahead, so the leak checks of other files
    # see only their own containers (sandboxes a test makes itself prestart, as by default).
    sandbox = DockerSandbox(client=docker_client, prestart=False)
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="session")
def reference_steps(docker_sandbox) -> Callable[[str], dict[str, tuple]]:
    """``reference_steps(slug)``: the task's fast and strong reference programs, each run once
    per test session in a Docker episode (seed 0), as ``{"fast": step, "strong": step}`` with
    ``step`` the 5-tuple ``env.step`` returned. Several files assert different things about the
    same two runs; running the heavy programs once per session keeps ``make test`` short."""
    import gymnasium as gym

    cache: dict[str, dict[str, tuple]] = {}

    def steps(slug: str) -> dict[str, tuple]:
        if slug not in cache:
            spec = load_task(slug)
            # A generous limit: on a loaded machine a strong reference can pass the task's default.
            env = gym.make(spec.env_id, sandbox=docker_sandbox, max_steps=2, time_limit=900)
            try:
                env.reset(seed=0)
                cache[slug] = {
                    name: env.step((spec.folder / "solutions" / f"{name}.py").read_text())
                    for name in ("fast", "strong")
                }
            finally:
                env.close()
        return cache[slug]

    return steps


@pytest.fixture(scope="session", autouse=True)
def no_leftover_containers():
    """After the whole suite, no step container of this run may remain."""
    yield
    import gc

    gc.collect()  # sandboxes dropped without close() remove what they started ahead
    try:
        from mle_gym.sandbox.docker_backend import SESSION_LABEL, docker_client

        client = docker_client(timeout=10)
    except Exception:
        return
    left = client.containers.list(all=True, ignore_removed=True, filters={"label": f"{SESSION_LABEL}={SESSION}"})
    assert not left, f"containers left behind: {[c.name for c in left]}"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something true (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
