"""The environment end to end on spooky-author lite data, in real Docker containers."""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

from tests import programs

pytestmark = pytest.mark.docker
ENV_ID = "mle/spooky-author-v0"


@pytest.fixture(scope="module")
def env(docker_sandbox):
    # A generous time limit: on a loaded machine the strong program can pass the task's 120 s.
    env = gym.make(ENV_ID, sandbox=docker_sandbox, max_steps=10, time_limit=900)
    env.reset(seed=0)
    yield env
    env.close()


@pytest.fixture(scope="module")
def outcomes(reference_steps):
    """The fast and the strong reference program, run once per session (``conftest.py``)."""
    return reference_steps("spooky-author")


def test_check_env_passes(docker_sandbox):
    env = gym.make(ENV_ID, sandbox=docker_sandbox, render_mode="ansi")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=False)
    # No warning at all: render_fps is declared (it used to warn on every render).
    assert [str(w.message) for w in caught] == []
    assert len(repr(env.unwrapped.observation_space)) < 200  # was 63,447 characters
    env.close()


def test_good_program_reaches_every_milestone_and_beats_the_sample(outcomes, spooky_data, env):
    _, reward, terminated, _, info = outcomes["fast"]
    assert info["valid_submission"], info["invalid_reason"]
    assert info["milestones"] == [
        "imports", "data_loaded", "model_defined", "model_trained", "predictions_made",
        "submission_written",
    ]
    assert info["exit_code"] == 0 and not info["timed_out"] and not info["oom"]
    sample = env.unwrapped.grader.grade(spooky_data.public / "sample_submission.csv").public
    assert info["score"] < sample
    assert reward > 1.0  # better than the sample submission on the normalised scale
    assert info["reward_components"]["case"] == "valid"
    assert "Validation log loss" in info["stdout_tail"]
    assert not terminated


def test_strong_program_is_slower_and_better(outcomes):
    fast, strong = outcomes["fast"][4], outcomes["strong"][4]
    assert strong["valid_submission"], strong["invalid_reason"]
    assert strong["score"] < fast["score"] - 0.03
    assert outcomes["strong"][1] > outcomes["fast"][1]
    assert strong["duration"] > 1.5 * fast["duration"]


def test_info_carries_the_contract_keys(outcomes):
    info = outcomes["fast"][4]
    for key in ("duration", "milestones", "valid_submission", "score", "invalid_reason",
                "exit_code", "timed_out", "oom", "stdout_tail", "stderr_tail",
                "reward_components"):
        assert key in info
    assert "private" not in str(sorted(info))  # the leaderboard half stays with the harness


def test_private_half_is_kept_for_the_harness(env, solutions):
    _, _, _, _, info = env.step(solutions["fast"])
    grade = env.unwrapped.last_grade
    assert grade is not None and grade.public == info["score"]
    assert grade.private != grade.public


def test_crash_after_loading_gets_partial_credit(env):
    _, reward, _, _, info = env.step(programs.DIES_AFTER_LOADING)
    assert info["milestones"] == ["imports", "data_loaded"]
    assert not info["valid_submission"] and info["score"] is None
    assert info["exit_code"] == 1
    assert "boom after loading" in info["stderr_tail"]
    assert "exit code 1" in info["invalid_reason"]
    assert reward == pytest.approx(-1.0 + 2 * 0.1)
    assert info["reward_components"]["case"] == "invalid"


def test_syntax_error_gets_the_failure_reward(env):
    _, reward, _, _, info = env.step(programs.SYNTAX_ERROR)
    assert reward == -1.0 and info["milestones"] == []
    assert "line 2" in info["invalid_reason"]
    assert info["duration"] == 0.0


def test_printed_milestone_names_earn_nothing(env):
    _, _, _, _, info = env.step(programs.FORGER)
    assert info["milestones"] == ["imports"]  # the real import, nothing printed


def test_observation_shows_the_previous_attempt(env):
    obs, *_ = env.step(programs.DIES_AFTER_LOADING)
    assert "boom after loading" in obs and "Your last attempt" in obs
    assert "milestones reached: imports, data_loaded" in obs


def test_episode_truncates_after_max_steps(docker_sandbox):
    env = gym.make(ENV_ID, sandbox=docker_sandbox, max_steps=2)
    env.reset(seed=0)
    assert env.step(programs.SYNTAX_ERROR)[3] is False
    assert env.step(programs.SYNTAX_ERROR)[3] is True
    env.close()


def test_markdown_answers_run_their_python_block(env, solutions):
    answer = "Plan: a quick linear model.\n\n```python\n" + solutions["fast"] + "\n```\nDone."
    _, _, _, _, info = env.step(answer)
    assert info["valid_submission"]


def test_async_vector_env_steps_two_envs(docker_sandbox, solutions):
    # shared_memory=False: Gymnasium's shared memory snapshots Text observations once.
    envs = gym.vector.AsyncVectorEnv(
        [lambda: gym.make(ENV_ID, sandbox="docker", max_steps=1, time_limit=900)] * 2,
        shared_memory=False,
    )
    try:
        obs, _ = envs.reset(seed=0)
        assert all(o.startswith("# Task: Spooky Author Identification") for o in obs)
        _, rewards, _, truncated, infos = envs.step([solutions["fast"], programs.SYNTAX_ERROR])
        assert rewards[0] > 1.0 and rewards[1] == -1.0
        assert truncated.all()
        assert infos["valid_submission"].tolist() == [True, False]
        assert infos["score"][0] > 0 and infos["score"][1] is None
        assert infos["exit_code"][0] == 0 and infos["exit_code"][1] is None
    finally:
        envs.close()
