"""The validate action: run a program, check its submission's format, reveal no score."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import pytest

from tests import programs

COPY_SAMPLE = """
import os
import pandas as pd
sample = pd.read_csv(os.path.join(os.environ["MLE_INPUT_DIR"], "sample_submission.csv"))
{change}
sample.to_csv(os.environ["MLE_SUBMISSION_PATH"], index=False)
"""
WRONG_COLUMNS = COPY_SAMPLE.format(change='sample.columns = ["id", "a", "b", "c"]')
MISSING_IDS = COPY_SAMPLE.format(change="sample = sample.iloc[: len(sample) // 2]")


@pytest.fixture(scope="module")
def env(docker_sandbox):
    env = gym.make("mle/spooky-author-v0", sandbox=docker_sandbox, max_steps=1, render_mode="ansi",
                   time_limit=900)
    yield env
    env.close()


@pytest.fixture(scope="module")
def validated(env, solutions):
    """Validate several programs right after a reset; the tests read the results."""
    obs, _ = env.reset(seed=0)
    good = "Plan: tf-idf and a linear model.\n\n```python\n" + solutions["fast"] + "\n```\n"
    results = {
        name: env.unwrapped.validate(program)
        for name, program in {
            "good": good,
            "wrong_columns": WRONG_COLUMNS,
            "missing_ids": MISSING_IDS,
            "crash": programs.DIES_AFTER_LOADING,
            "syntax": programs.SYNTAX_ERROR,
        }.items()
    }
    return obs, results



@pytest.mark.docker
def test_a_good_program_is_valid_and_gets_no_score(validated):
    result = validated[1]["good"]
    assert result.valid and result.reason is None
    assert result.message() == "Submission is valid: it has the right columns, ids and values."
    assert "submission_written" in result.milestones and result.duration > 0
    fields = dataclasses.asdict(result)
    assert not [k for k in fields if "score" in k or "reward" in k or "grade" in k]


@pytest.mark.docker
def test_wrong_columns_say_which_and_what_the_header_must_be(validated):
    result = validated[1]["wrong_columns"]
    assert not result.valid
    assert "missing column(s) 'EAP', 'HPL', 'MWS'" in result.reason
    assert "unexpected column(s) 'a', 'b', 'c'" in result.reason
    assert "The header must be: id,EAP,HPL,MWS" in result.reason
    assert result.message() == f"Submission is not valid: {result.reason}"


@pytest.mark.docker
def test_missing_ids_are_counted_and_named(validated, spooky_data):
    import pandas as pd

    result = validated[1]["missing_ids"]
    n_test = len(pd.read_csv(spooky_data.public / "test.csv"))
    assert not result.valid
    assert f"{n_test - n_test // 2} test id(s) are missing from the submission" in result.reason


@pytest.mark.docker
def test_a_crash_says_why_with_the_error_output(validated):
    crash, syntax = validated[1]["crash"], validated[1]["syntax"]
    assert not crash.valid
    assert crash.reason == "the program failed (exit code 1) before writing submission/submission.csv"
    assert "boom after loading" in crash.stderr_tail
    assert crash.milestones == ["imports", "data_loaded"]
    assert not syntax.valid and "could not be run: SyntaxError" in syntax.reason


@pytest.mark.docker
def test_validate_is_not_a_step(env, validated, solutions):
    obs_before, results = validated
    base = env.unwrapped
    assert base.render() == obs_before  # the observation did not change
    assert base.last_grade is None
    obs, _, _, truncated, info = env.step(solutions["fast"])
    assert info["step"] == 1 and truncated  # max_steps=1: five validations used none of it
    assert "Your last attempt (attempt 1)" in obs and "Earlier attempts" not in obs
    # The score the step reveals appears nowhere in the good program's validation.
    assert info["valid_submission"]
    for text in (repr(results["good"]), results["good"].message()):
        assert repr(float(info["score"]))[:7] not in text


def test_validate_takes_program_text_only():
    env = gym.make("mle/spooky-author-v0", sandbox="local")
    with pytest.raises(TypeError, match="program text"):
        env.unwrapped.validate(b"print(1)")
    env.close()
