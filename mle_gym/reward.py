"""Rewards: one pydantic config, two presets, and the function that applies them.

``default`` keeps every valid submission above every invalid program, and a better score
above a worse one whatever the metric's direction. The score is normalised per task,
``z = (score - sample) / (reference - sample)`` (0 at the constant sample submission, 1 at
the strong reference), then mapped to a positive reward that grows with ``z``:
``1 + z`` for ``z >= 0`` and ``exp(z)`` below (continuous, same slope at 0, never <= 0).
Invalid programs earn ``invalid_base + milestone_credit * milestones``, always below 0.

``paper`` reproduces the paper's numbers: +0.1 per milestone, -10 for a program that
reaches none, the raw task score (negated when lower is better) for a valid submission.
It has the flaw the paper's readers point out: a valid log loss of 0.4 (reward -0.4)
earns less than a crash after four milestones (+0.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from mle_gym.instrument.milestones import MILESTONES
from mle_gym.spec import Direction

# The most milestones one step can reach: each name once, submission_written included.
MILESTONE_COUNT = len(MILESTONES)


class RewardConfig(BaseModel):
    """Every number that turns a step's outcome into a reward."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    preset: str = "custom"
    milestone_credit: float = 0.1
    failure_reward: float = -1.0  # unparsable, or ran and reached no milestone
    invalid_base: float = -1.0  # invalid submission with milestones: base + credit * n
    valid: Literal["normalised", "signed_score"] = "normalised"
    milestones_on_valid: bool = False
    penalise_no_model: bool = True  # the metric-hacking sentinel
    no_model_reward: float = -1.0

    @model_validator(mode="after")
    def _ordering(self) -> RewardConfig:
        numbers = {"milestone_credit": self.milestone_credit, "failure_reward": self.failure_reward,
                   "invalid_base": self.invalid_base, "no_model_reward": self.no_model_reward}
        bad = [f"{name}={value!r}" for name, value in numbers.items() if not math.isfinite(value)]
        if bad:
            raise ValueError(f"reward numbers must be finite: {', '.join(bad)}")
        if self.milestone_credit < 0:
            # A negative credit pays a program for reaching fewer milestones.
            raise ValueError(f"milestone_credit must be >= 0, not {self.milestone_credit!r}")
        if self.valid == "normalised":
            best_invalid = self.invalid_base + self.milestone_credit * MILESTONE_COUNT
            if best_invalid >= 0 or self.failure_reward >= 0 or self.no_model_reward >= 0:
                raise ValueError(
                    "with normalised valid rewards (always > 0), invalid programs must earn < 0: "
                    f"invalid_base + {MILESTONE_COUNT} * milestone_credit = {best_invalid:g}"
                )
        return self


PRESETS: dict[str, RewardConfig] = {
    "default": RewardConfig(preset="default"),
    "paper": RewardConfig(
        preset="paper",
        milestone_credit=0.1,
        failure_reward=-10.0,
        invalid_base=0.0,
        valid="signed_score",
        no_model_reward=-10.0,
    ),
}


def get_reward_config(spec: str | RewardConfig | dict | None) -> RewardConfig:
    """A preset name, a RewardConfig, or a dict of fields (``preset`` picks the starting point)."""
    if spec is None:
        return PRESETS["default"]
    if isinstance(spec, RewardConfig):
        return spec
    if isinstance(spec, str):
        if spec == "consensus":  # a group's reward: no single step can compute it
            raise ValueError(
                "reward='consensus' scores a group of submissions against each other, not one "
                "step: use mle_gym.consensus.consensus_rewards, or mle_gym.pool.consensus."
                "ConsensusReward for a pool batch or a GRPO group"
            )
        if spec not in PRESETS:
            raise ValueError(f"unknown reward preset {spec!r}; known: {', '.join(PRESETS)}")
        return PRESETS[spec]
    if not isinstance(spec, dict):
        raise TypeError(
            "reward must be a preset name, a RewardConfig or a dict of its fields, "
            f"not {type(spec).__name__}"
        )
    fields = dict(spec)
    preset = fields.pop("preset", "default")
    if preset not in PRESETS:
        raise ValueError(f"unknown reward preset {preset!r}; known: {', '.join(PRESETS)}")
    base = PRESETS[preset].model_dump()
    base.update(fields, preset="custom")
    return RewardConfig(**base)


@dataclass(frozen=True)
class Anchors:
    """The scores that map to 0 and 1 on the normalised scale."""

    direction: Direction
    sample: float | None = None
    reference: float | None = None

    def normalise(self, score: float) -> float:
        if self.sample is None or self.reference is None or self.sample == self.reference:
            return score if self.direction == "higher" else -score  # no anchors: signed score
        return (score - self.sample) / (self.reference - self.sample)


def positive_map(z: float) -> float:
    """Strictly increasing map of the real line onto (0, inf): exp below 0, 1 + z above."""
    return 1.0 + z if z >= 0 else math.exp(z)


def compute_reward(
    config: RewardConfig,
    anchors: Anchors,
    milestones: int,
    score: float | None,
    no_model: bool = False,
) -> tuple[float, dict[str, float | str]]:
    """Reward for one step and the components it was made from."""
    # Each milestone counts once: the config's bound (invalid programs earn < 0) holds for
    # at most MILESTONE_COUNT, whatever count a caller passes.
    milestones = max(0, min(int(milestones), MILESTONE_COUNT))
    credit = config.milestone_credit * milestones
    parts: dict[str, float | str] = {"milestones": milestones}
    if score is not None and config.penalise_no_model and no_model:
        parts.update(case="no_model_trained", base=config.no_model_reward)
        return config.no_model_reward, parts
    if score is None:
        if milestones == 0:
            parts.update(case="failure", base=config.failure_reward)
            return config.failure_reward, parts
        parts.update(case="invalid", base=config.invalid_base, milestone_credit=credit)
        return config.invalid_base + credit, parts
    if config.valid == "signed_score":
        value = score if anchors.direction == "higher" else -score
        parts.update(case="valid", score_term=value)
    else:
        z = anchors.normalise(score)
        value = positive_map(z)
        parts.update(case="valid", normalised_score=z, score_term=value)
    if config.milestones_on_valid:
        parts["milestone_credit"] = credit
        value += credit
    return value, parts
