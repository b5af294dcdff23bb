"""The verifiers environment through verifiers' own evaluation entry point (`vf-eval`),
against the local chat-completions test server, with real steps in Docker: the rewards are
those `env.step` gives for the same programs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

pytest.importorskip("verifiers", reason="needs mle-gym[verifiers]")

from tests.conftest import SPOOKY  # noqa: E402
from tests.programs import DIES_AFTER_LOADING, SYNTAX_ERROR  # noqa: E402
from tests.test_openenv import QUICK_MODEL  # noqa: E402

pytestmark = pytest.mark.docker

# The model's answers, turn by turn: a fenced program with partial credit, a valid model,
# an unparsable one. The best (the episode's reward) is the second, not the last.
ANSWERS = [
    "Plan: load the data first.\n\n```python\n" + DIES_AFTER_LOADING + "\n```",
    "```python\n" + QUICK_MODEL + "\n```",
    SYNTAX_ERROR,
]


def _vf_eval() -> list[str]:
    """verifiers' own CLI, from this interpreter's environment."""
    found = Path(sys.executable).parent / "vf-eval"
    return [str(found)] if found.exists() else [shutil.which("vf-eval") or "vf-eval"]


@pytest.fixture(scope="module")
def env_step_rewards(docker_client) -> list[dict]:
    """What `env.step` gives for the same programs, in one episode."""
    env = gym.make(f"mle/{SPOOKY}-v0", sandbox="docker-warm", max_steps=3)
    env.reset(seed=0)
    infos = [env.step(answer)[4] for answer in ANSWERS]
    env.close()
    return infos


def test_vf_eval_rewards_equal_env_step(chat_server, env_step_rewards, tmp_path):
    def respond(messages: list[dict]) -> str:  # the k-th answer of each rollout
        return ANSWERS[sum(1 for m in messages if m.get("role") == "assistant")]

    chat_server.respond = respond
    args = {"task": SPOOKY, "max_turns": 3, "sandbox": "docker-warm", "parallel_steps": 2}
    run = subprocess.run(
        [*_vf_eval(), "mle_gym.integrations.verifiers", "-a", json.dumps(args),
         "-m", chat_server.model, "-b", chat_server.url, "-k", "MLE_GYM_TEST_KEY",
         "-n", "1", "-r", "1", "-d", "-s", "-o", str(tmp_path), "-C", "mle_steps"],
        env={**os.environ, "MLE_GYM_TEST_KEY": "not-a-secret"},
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    [results] = list(tmp_path.glob("evals/*/*/results.jsonl"))
    rollouts = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(rollouts) == 1
    expected = [info["reward"] for info in env_step_rewards]
    assert expected[1] > expected[0] > expected[2]  # partial credit orders them
    for rollout in rollouts:
        assert rollout["error"] is None
        steps = rollout["mle_steps"]
        assert [s["reward"] for s in steps] == pytest.approx(expected)
        assert [s["valid_submission"] for s in steps] == [False, True, False]
        assert rollout["reward"] == pytest.approx(max(expected))  # the best program's
        metrics = rollout["metrics"]
        assert metrics["valid_submission"] == 1.0
        assert metrics["score"] == pytest.approx(env_step_rewards[1]["score"])
        assert metrics["duration"] == pytest.approx(sum(s["duration"] for s in steps))
        assert metrics["num_turns"] == 3
        # The model saw each step's report before its next answer.
        assert "Your last attempt (attempt 1)" in json.dumps(rollout["completion"])
    assert len(chat_server.chat_requests) == 3  # three turns, no extra turn


def test_load_environment_in_process(docker_client):
    """`vf.load_environment` by module name, as prime-rl loads it; bad options say so."""
    import verifiers as vf

    from mle_gym.integrations.verifiers import load_environment

    env = vf.load_environment("mle_gym.integrations.verifiers", task=SPOOKY, max_turns=1,
                              episode_reward="last", sandbox="docker")
    assert isinstance(env, vf.MultiTurnEnv)
    row = env.get_eval_dataset()[0]
    assert row["prompt"][-1]["content"].startswith("# Task: ")
    env.sandbox.close()
    with pytest.raises(ValueError, match="episode_reward must be one of best, last"):
        load_environment(SPOOKY, episode_reward="mean")
    with pytest.raises(ValueError, match="max_turns must be a whole number"):
        load_environment(SPOOKY, max_turns=0)
