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
