"""Episode reward wrappers: the best reward counts once, resubmissions earn nothing."""

from __future__ import annotations

import gymnasium as gym
import pytest

from mle_gym.spec import load_task
from mle_gym.wrappers import BestSoFarReward, ImprovementReward, program_sha256
from tests import programs

ENV_ID = "mle/spooky-author-v0"


def run(env: gym.Env, actions: list[str], **reset) -> list[tuple[float, dict]]:
    env.reset(seed=0, **reset)
    return [(reward, info) for _, reward, _, _, info in (env.step(a) for a in actions)]


def test_program_identity_ignores_comments_and_layout_only():
    code = "import pandas as pd\nx = pd.Series([1, 2])\n"
    same = "# load\nimport pandas as pd\n\nx = pd.Series([1,2])  # two\n"
    fenced = "Plan: a series.\n```python\n" + code + "```\n"
    assert program_sha256(code) == program_sha256(same) == program_sha256(fenced)
    assert program_sha256(code) != program_sha256(code.replace("2]", "3]"))
    assert program_sha256(programs.SYNTAX_ERROR) != program_sha256(programs.SYNTAX_ERROR + "#")


def test_sample_anchor_follows_the_reward_preset():
    sample = load_task("spooky-author").lite_scores.sample
    default = ImprovementReward(gym.make(ENV_ID, sandbox="local"))
    paper = ImprovementReward(gym.make(ENV_ID, sandbox="local", reward="paper"))
    assert default.anchor == 1.0  # the default preset maps the sample submission to 1
    assert paper.anchor == pytest.approx(-sample)  # the paper's: the negated log loss
    default.close()
    paper.close()


@pytest.mark.filterwarnings("ignore:mle-gym is running programs with the LOCAL sandbox")
def test_programs_that_never_run_earn_their_failure_reward_once():
    # Unparsable programs are rejected before the sandbox: no program runs here.
    env = BestSoFarReward(gym.make(ENV_ID, sandbox="local", max_steps=3))
    steps = run(env, [programs.SYNTAX_ERROR] * 3)
    assert [r for r, _ in steps] == [-1.0, 0.0, 0.0]
    assert [i["raw_reward"] for _, i in steps] == [-1.0] * 3
    assert [i["repeat"] for _, i in steps] == [False, True, True]
    env.close()

    levels = BestSoFarReward(gym.make(ENV_ID, sandbox="local", max_steps=2), emit="best")
    assert [r for r, _ in run(levels, [programs.SYNTAX_ERROR, "x = ("])] == [-1.0, -1.0]
    raw = ImprovementReward(gym.make(ENV_ID, sandbox="local", max_steps=2), invalid="raw")
    assert [r for r, _ in run(raw, [programs.SYNTAX_ERROR] * 2)] == [-1.0, -1.0]
    zero = ImprovementReward(gym.make(ENV_ID, sandbox="local", max_steps=2))
    assert [r for r, _ in run(zero, [programs.SYNTAX_ERROR] * 2)] == [0.0, 0.0]
    for e in (levels, raw, zero):
        e.close()


def test_wrappers_reject_unknown_options():
    with pytest.raises(ValueError, match="emit"):
        BestSoFarReward(gym.make(ENV_ID, sandbox="local"), emit="sum")
    with pytest.raises(ValueError, match="invalid"):
        ImprovementReward(gym.make(ENV_ID, sandbox="local"), invalid="clip")


@pytest.mark.docker
def test_the_same_program_three_times_earns_the_best_reward_once(docker_sandbox, solutions):
    env = BestSoFarReward(gym.make(ENV_ID, sandbox=docker_sandbox, max_steps=3, time_limit=900))
    steps = run(env, [solutions["fast"]] * 3)
    raw = [info["raw_reward"] for _, info in steps]
    assert steps[0][1]["valid_submission"] and raw[0] > 1.0
    assert raw == [raw[0]] * 3  # the env pays every resubmission in full...
    assert [r for r, _ in steps] == [raw[0], 0.0, 0.0]  # ...the wrapper pays it once
    assert sum(r for r, _ in steps) == raw[0]
    assert [i["repeat"] for _, i in steps] == [False, True, True]
    assert [i["best_reward"] for _, i in steps] == [raw[0]] * 3

    # Improve mode: resubmitting the starting solution unchanged is no new answer.
    (reward, info), = run(
        env, [solutions["fast"]], options={"mode": "improve", "previous": solutions["fast"]}
    )
    assert info["repeat"] and reward == 0.0 and info["raw_reward"] == raw[0]
    env.close()


@pytest.mark.docker
def test_improvement_pays_only_for_beating_the_best(docker_sandbox, solutions):
    # A heavily regularised model stays near the class priors: worse than the fast reference
    # on any lite data (the data's secret changes the exact scores, never this order).
    weak = solutions["fast"].replace("C=3.0", "C=0.02")
    reformatted = "# the same model, commented\n" + weak.replace("\n\n", "\n\n\n")
    same_file = weak + '\nprint("done")\n'  # different code, byte-identical submission
    better = solutions["fast"]
    assert better != weak
    env = ImprovementReward(gym.make(ENV_ID, sandbox=docker_sandbox, max_steps=5, time_limit=900))
    steps = run(env, [programs.DIES_AFTER_LOADING, weak, reformatted, same_file, better])
    rewards = [r for r, _ in steps]
    raw = [i["raw_reward"] for _, i in steps]
    crash, first, again, copy, improved = (i for _, i in steps)

    assert not crash["valid_submission"] and raw[0] < 0 and rewards[0] == 0.0
    assert rewards[1] == pytest.approx(raw[1] - 1.0)  # over the sample submission's reward
    assert again["repeat"] and rewards[2] == 0.0  # same syntax tree
    assert copy["submission_sha256"] == first["submission_sha256"]
    assert copy["repeat"] and rewards[3] == 0.0  # same submission file
    assert improved["valid_submission"] and improved["score"] < first["score"]
    assert rewards[4] == pytest.approx(raw[4] - raw[1]) and rewards[4] > 0
    assert sum(rewards) == pytest.approx(max(raw) - 1.0)  # the return: best over the anchor
    assert improved["best_reward"] == raw[4]
    env.close()
