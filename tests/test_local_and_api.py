"""What works without Docker: registration, keyword checks, the local backend, improve mode."""

from __future__ import annotations

import sys
import warnings

import gymnasium as gym
import pytest

from mle_gym.sandbox import RunRequest, make_sandbox
from mle_gym.sandbox.local import LocalSandbox
from tests import programs

ENV_ID = "mle/spooky-author-v0"


def local_env(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return gym.make(ENV_ID, sandbox=LocalSandbox(warn=False), **kwargs)


def test_ids_and_kaggle_alias_are_registered():
    assert ENV_ID in gym.registry
    assert "mle/spooky-author-identification-v0" in gym.registry
    with pytest.raises(gym.error.Error):
        gym.make("mle/spooky-autor-v0")


def test_import_stays_light():
    import subprocess

    code = "import sys, mle_gym; print(sorted(m for m in ('torch','trl','transformers','docker') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_keywords_list_the_known_ones():
    with pytest.raises(TypeError, match="known: data, sandbox, instrumenter, reward"):
        gym.make(ENV_ID, sandbx="local")


def test_local_backend_warns_loudly():
    with pytest.warns(RuntimeWarning, match="LOCAL sandbox"):
        make_sandbox("local")


def test_local_backend_runs_the_reference_program(solutions):
    env = local_env(max_steps=1, time_limit=900)  # generous: the machine may be loaded
    env.reset(seed=0)
    _, reward, _, truncated, info = env.step(solutions["fast"])
    assert info["valid_submission"], (info["invalid_reason"], info["stderr_tail"][-800:])
    assert info["sandbox"] == "local" and reward > 1.0 and truncated
    env.close()


def test_local_backend_times_out(spooky_data):
    sandbox = LocalSandbox(warn=False)
    request = RunRequest(program=programs.INFINITE_LOOP, public_dir=spooky_data.public, time_limit=1.5)
    with sandbox.run(request) as result:
        assert result.timed_out and 1.5 <= result.duration < 3.5


def test_improve_mode_shows_the_previous_solution(solutions):
    env = local_env()
    obs, info = env.reset(seed=0, options={"mode": "improve", "previous": {
        "program": solutions["fast"], "score": 0.61, "stdout": "Validation log loss: 0.6",
    }})
    assert info["mode"] == "improve"
    assert "Improve this solution" in obs and "Validation log loss: 0.6" in obs
    assert "score 0.61" in obs
    with pytest.raises(ValueError, match="improve mode needs"):
        env.reset(options={"mode": "improve"})


def test_mixed_mode_draws_both_kinds_reproducibly(solutions):
    env = local_env()

    def draws(seed):
        env.reset(seed=seed)
        return [env.reset(options={"mode": "mixed", "previous": solutions["fast"]})[1]["mode"]
                for _ in range(40)]

    first, second = draws(7), draws(7)
    assert first == second
    assert 10 < first.count("improve") < 30


def test_observation_states_the_contract(spooky_data):
    env = local_env(time_limit=42)
    obs, _ = env.reset(seed=0)
    for needle in ("MLE_INPUT_DIR", "MLE_SUBMISSION_PATH", "submission/submission.csv",
                   "42 s wall-clock", "log_loss (lower is better)", "train.csv", "no network"):
        assert needle in obs, needle
    assert env.observation_space.contains(obs)
