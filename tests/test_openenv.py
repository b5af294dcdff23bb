"""The OpenEnv server (`mle-gym serve`) through openenv-core's own clients, with real steps
in Docker: rewards as `env.step` gives them, sessions kept apart, and no container left when
a client vanishes in the middle of a step."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import gymnasium as gym
import pytest

pytest.importorskip("openenv.core", reason="needs mle-gym[openenv]")

from mle_gym.sandbox.engine import SESSION_LABEL  # noqa: E402
from tests.conftest import SESSION, SPOOKY  # noqa: E402
from tests.programs import SYNTAX_ERROR  # noqa: E402

pytestmark = pytest.mark.docker

# A model that trains in well under a second: a valid submission with partial credit.
QUICK_MODEL = textwrap.dedent("""
    import os
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    inp = os.environ["MLE_INPUT_DIR"]
    train = pd.read_csv(os.path.join(inp, "train.csv"))
    test = pd.read_csv(os.path.join(inp, "test.csv"))
    model = LogisticRegression().fit(train["text"].str.len().to_frame(), train["author"])
    proba = model.predict_proba(test["text"].str.len().to_frame())
    sub = pd.DataFrame(proba, columns=model.classes_)[["EAP", "HPL", "MWS"]]
    sub.insert(0, "id", test["id"])
    sub.to_csv(os.environ["MLE_SUBMISSION_PATH"], index=False)
""")
FOREVER = "import time\nprint('started', flush=True)\nwhile True:\n    time.sleep(0.05)\n"
SERVER_SESSION = f"{SESSION}-openenv"  # the label of the server's containers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_containers(docker_client) -> list:
    return docker_client.containers.list(
        all=True, ignore_removed=True, filters={"label": f"{SESSION_LABEL}={SERVER_SESSION}"})


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def server(docker_client) -> Iterator[str]:
    """`mle-gym serve` on 127.0.0.1, as a user starts it: its own process, beside Docker."""
    port = _free_port()
    env = {**os.environ, "MLE_GYM_SESSION": SERVER_SESSION}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mle_gym.cli", "serve", "--task", SPOOKY, "--port", str(port),
         "--sandbox", "docker-warm", "--max-sessions", "2", "--max-steps", "3"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    import httpx

    def healthy() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"the server exited: {proc.stdout.read()}")
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait(healthy, 120, "the server to answer /health")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    _wait(lambda: not _server_containers(docker_client), 60,
          "the server's containers to go after it stopped")


@pytest.fixture(scope="module")
def in_process(docker_client):
    """The same programs through `env.step` in this process: the rewards to match."""
    env = gym.make(f"mle/{SPOOKY}-v0", sandbox="docker-warm")
    obs, _ = env.reset(seed=0)
    results = {}
    for name, program in (("quick", QUICK_MODEL), ("syntax", SYNTAX_ERROR)):
        env.reset(seed=0)
        _, reward, _, _, info = env.step(program)
        results[name] = (reward, info)
    env.close()
    return obs, results


def test_reset_and_steps_match_env_step(server, in_process):
    from mle_gym.integrations.openenv import MLEGymClient, ProgramAction

    first_obs, expected = in_process
    with MLEGymClient(base_url=server).sync() as client:
        reset = client.reset()
        assert reset.observation.text == first_obs
        assert not reset.done and reset.reward is None
        assert reset.observation.task == SPOOKY and reset.observation.metric

        valid = client.step(ProgramAction(program=QUICK_MODEL))
        reward, info = expected["quick"]
        assert valid.reward == pytest.approx(reward)
        assert valid.observation.valid_submission and info["valid_submission"]
        assert valid.observation.score == pytest.approx(info["score"])
        assert valid.observation.milestones == info["milestones"]
        assert valid.observation.duration > 0 and valid.observation.step == 1
        assert "Your last attempt (attempt 1)" in valid.observation.text

        invalid = client.step(ProgramAction(program=SYNTAX_ERROR))
        reward, info = expected["syntax"]
        assert invalid.reward == pytest.approx(reward)
        assert invalid.reward < valid.reward  # partial credit: the model's step earns more
        assert not invalid.observation.valid_submission and invalid.observation.score is None
        assert "SyntaxError" in invalid.observation.invalid_reason

        state = client.state()
        assert state.step_count == 2
        assert state.rewards == pytest.approx([valid.reward, invalid.reward])
        last = client.step("print('third')")  # a plain string works too
        assert last.done and last.observation.truncated  # --max-steps 3
        with pytest.raises(RuntimeError, match="reset"):
            client.step("print('fourth')")


def test_generic_client_and_stateless_http(server, in_process):
    """Trainers that never install mle-gym: openenv's GenericEnvClient and plain HTTP."""
    import httpx
    from openenv.core import GenericEnvClient

    _, expected = in_process
    with GenericEnvClient(base_url=server).sync() as client:
        client.reset()
        result = client.step({"program": SYNTAX_ERROR})
        assert result.reward == pytest.approx(expected["syntax"][0])
        assert "SyntaxError" in result.observation["invalid_reason"]
    schema = httpx.get(f"{server}/schema", timeout=10).json()
    assert "program" in schema["action"]["properties"]
    one_shot = httpx.post(f"{server}/step", json={"action": {"program": SYNTAX_ERROR}},
                          timeout=60).json()
    assert one_shot["reward"] == pytest.approx(expected["syntax"][0])


def test_sessions_apart_and_a_vanished_client_leaves_no_container(server, docker_client,
                                                                  in_process):
    from mle_gym.integrations.openenv import MLEGymClient

    # Session A: a client process that starts a program that never ends, then is killed.
    stuck = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from mle_gym.integrations.openenv import MLEGymClient
        with MLEGymClient(base_url={server!r}).sync() as client:
            client.reset()
            print("stepping", flush=True)
            client.step({FOREVER!r})
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert stuck.stdout.readline().strip() == "stepping"
        _wait(lambda: len(_server_containers(docker_client)) >= 1, 120,
              "session A's container to start")
        # Session B runs whole steps while A's program is still running: its own sandbox.
        with MLEGymClient(base_url=server).sync() as client:
            client.reset()
            result = client.step(SYNTAX_ERROR)
            assert result.reward == pytest.approx(in_process[1]["syntax"][0])
            assert client.state().step_count == 1
        assert stuck.poll() is None, "session A's step should still be running"
    finally:
        stuck.kill()  # the client vanishes mid-step: no close message, the socket just ends
        stuck.wait()
    # Its program would run to the 120 s time limit; the server stops it when the client goes.
    _wait(lambda: not _server_containers(docker_client), 60,
          "the vanished client's container to be removed")
    with MLEGymClient(base_url=server).sync() as client:  # both session slots are free again
        assert client.reset().observation.task == SPOOKY


def test_import_mle_gym_loads_neither_hub():
    """Both integrations stay out of `import mle_gym` and of the command line's start."""
    code = ("import sys, mle_gym, mle_gym.cli; mle_gym.cli.build_parser(); print(sorted({m.split('.')[0] "
            "for m in sys.modules} & {'openenv', 'verifiers', 'fastapi', 'uvicorn', 'datasets'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
