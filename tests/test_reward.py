"""Reward presets: the default orders every valid above every invalid, for both directions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mle_gym.reward import Anchors, RewardConfig, compute_reward, get_reward_config

DEFAULT = get_reward_config("default")
PAPER = get_reward_config("paper")
ANCHORS = {
    "lower": Anchors("lower", sample=1.08, reference=0.3),
    "higher": Anchors("higher", sample=0.5, reference=0.95),
}
scores = st.floats(-1e6, 1e6, allow_nan=False)


@given(direction=st.sampled_from(["lower", "higher"]), score=scores, n=st.integers(0, 6))
def test_every_valid_beats_every_invalid(direction, score, n):
    valid, _ = compute_reward(DEFAULT, ANCHORS[direction], milestones=6, score=score)
    invalid, _ = compute_reward(DEFAULT, ANCHORS[direction], milestones=n, score=None)
    assert valid > invalid


@given(direction=st.sampled_from(["lower", "higher"]), a=scores, b=scores)
def test_better_scores_earn_more(direction, a, b):
    anchors = ANCHORS[direction]
    ra, _ = compute_reward(DEFAULT, anchors, 6, a)
    rb, _ = compute_reward(DEFAULT, anchors, 6, b)
    better_a = a < b if direction == "lower" else a > b
    if better_a:
        assert ra >= rb  # >=: exp underflows to equal values far below the sample
    elif a == b:
        assert ra == rb


def test_anchors_map_to_one_and_two():
    anchors = ANCHORS["lower"]
    assert compute_reward(DEFAULT, anchors, 6, 1.08)[0] == pytest.approx(1.0)
    assert compute_reward(DEFAULT, anchors, 6, 0.3)[0] == pytest.approx(2.0)


def test_partial_credit_and_failure():
    anchors = ANCHORS["lower"]
    assert compute_reward(DEFAULT, anchors, 0, None)[0] == -1.0
    assert compute_reward(DEFAULT, anchors, 3, None)[0] == pytest.approx(-0.7)


def test_paper_preset_numbers_and_its_flaw():
    anchors = ANCHORS["lower"]
    assert compute_reward(PAPER, anchors, 0, None)[0] == -10.0
    assert compute_reward(PAPER, anchors, 4, None)[0] == pytest.approx(0.4)
    assert compute_reward(PAPER, anchors, 6, 0.4)[0] == pytest.approx(-0.4)
    # The flaw the default fixes: a crash outranks a valid log-loss submission.
    assert compute_reward(PAPER, anchors, 4, None)[0] > compute_reward(PAPER, anchors, 6, 0.4)[0]


def test_no_model_sentinel():
    reward, parts = compute_reward(DEFAULT, ANCHORS["lower"], 3, 0.5, no_model=True)
    assert reward == DEFAULT.no_model_reward and parts["case"] == "no_model_trained"
    assert compute_reward(PAPER, ANCHORS["lower"], 3, 0.5, no_model=True)[0] == -10.0


def test_config_rejects_an_ordering_it_cannot_keep():
    with pytest.raises(ValueError, match="invalid programs must earn < 0"):
        RewardConfig(invalid_base=0.0)
    assert get_reward_config({"milestone_credit": 0.05}).milestone_credit == 0.05
    with pytest.raises(ValueError, match="known: default, paper"):
        get_reward_config("nope")


# Escape 7 (reward config): an invalid program must stay below 0 under any config `default`
# accepts, and the config must refuse numbers that make rewards NaN, infinite or perverse.
@given(credit=st.floats(0, 1, allow_nan=False), base=st.floats(-10, 0, allow_nan=False),
       counted=st.integers(0, 50))
def test_no_accepted_config_lets_an_invalid_program_reach_zero(credit, base, counted):
    try:
        config = get_reward_config({"milestone_credit": credit, "invalid_base": base})
    except ValueError:
        return  # refused: the bound cannot hold
    # Even a caller that counts a milestone twice (or 50 names) cannot lift it past the bound.
    assert compute_reward(config, ANCHORS["lower"], counted, None)[0] < 0


def test_the_largest_credit_accepted_is_the_six_milestone_bound():
    # 6 milestones (submission_written once): invalid_base + 6 * credit must stay below 0.
    assert get_reward_config({"milestone_credit": 0.16}).milestone_credit == 0.16
    with pytest.raises(ValueError, match="6 \\* milestone_credit"):
        get_reward_config({"milestone_credit": 1 / 6})
    best = compute_reward(get_reward_config({"milestone_credit": 0.16}), ANCHORS["lower"], 7, None)
    assert best[0] == pytest.approx(-1 + 6 * 0.16) and best[1]["milestones"] == 6


@pytest.mark.parametrize("fields", [
    {"milestone_credit": float("nan")}, {"milestone_credit": float("inf")},
    {"failure_reward": float("nan")}, {"invalid_base": float("-inf")},
    {"no_model_reward": float("-inf")}, {"milestone_credit": -0.1},
    {"preset": "paper", "milestone_credit": -0.1}, {"preset": "paper", "failure_reward": float("nan")},
])
def test_config_rejects_non_finite_and_negative_credit(fields):
    with pytest.raises(ValueError, match="finite|>= 0"):
        get_reward_config(fields)


def test_unknown_preset_in_a_dict_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown reward preset 'papr'; known: default, paper"):
        get_reward_config({"preset": "papr", "milestone_credit": 0.1})
    with pytest.raises(TypeError, match="preset name, a RewardConfig or a dict"):
        get_reward_config(0.5)  # type: ignore[arg-type]


def test_paper_preset_keeps_its_numbers_exactly():
    assert PAPER.model_dump() == {
        "preset": "paper", "milestone_credit": 0.1, "failure_reward": -10.0, "invalid_base": 0.0,
        "valid": "signed_score", "milestones_on_valid": False, "penalise_no_model": True,
        "no_model_reward": -10.0,
    }
    assert compute_reward(PAPER, ANCHORS["lower"], 6, None)[0] == pytest.approx(0.6)
