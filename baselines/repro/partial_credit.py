"""Finding 2, partial credit: learning to write a valid submission from mostly broken candidates.

The candidates are the fast reference solution with a bug, or none, at each of five stages
(``programs.STAGES``); a :class:`FactoredPolicy` picks one option per stage, so 1 in 243
uniformly drawn candidates is valid. Two reward signals, both computed by the environment:

* ``partial``: the env's default reward. A broken program earns -1 + 0.1 per milestone it
  reached (imports, data loaded, model defined, trained, predictions, submission written), so
  a bug at a later stage is better than one at an earlier stage.
* ``final``: the same config with ``milestone_credit=0``: every invalid program earns -1 and
  only a valid submission earns more (its normalised score), the sparse reward of plain RL.

The learner is GRPO-style: batches of ``batch`` results in completion order, advantages
normalised within the batch (a batch of equal rewards teaches nothing).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from baselines.repro.learner import FactoredPolicy, group_advantages
from baselines.repro.programs import STAGES, candidate, describe
from baselines.repro.rollouts import Completion, drive
from mle_gym.pool import RolloutPool

# The env's reward for each signal: a preset name, or RewardConfig fields over the default.
REWARDS: dict[str, Any] = {"partial": "default", "final": {"milestone_credit": 0.0}}
VALID = tuple(0 for _ in STAGES)


@dataclass
class CreditConfig:
    reward: str  # "partial" or "final"
    seed: int
    seconds: float = 60.0
    max_results: int = 100
    workers: int = 4
    batch: int = 4
    lr: float = 2.0

    def __post_init__(self) -> None:
        if self.reward not in REWARDS:
            raise ValueError(
                f"unknown reward signal {self.reward!r}; choose one of {', '.join(REWARDS)}"
            )

    @property
    def label(self) -> str:
        return "partial credit" if self.reward == "partial" else "final score only"


def run_credit(pool: RolloutPool, config: CreditConfig, options: dict[str, Any]) -> dict[str, Any]:
    """One training run from the uniform policy over all candidates."""
    policy = FactoredPolicy([len(s.options) for s in STAGES], config.lr, config.seed)
    options = {**options, "reward": REWARDS[config.reward]}
    batch: list[Completion] = []
    steps: list[dict[str, Any]] = []
    curve = [{"t": 0.0, "results": 0, "p_valid": policy.prob_of(VALID)}]

    def choose(slot: int, t: float) -> tuple[tuple[int, ...], str]:
        choice = policy.sample()
        return choice, candidate(choice)

    def learn(c: Completion) -> None:
        steps.append(
            {
                "t": round(c.t, 3),
                "index": c.index,
                "choice": list(c.action),
                "bugs": describe(c.action),
                "reward": c.reward,
                "valid": bool(c.info.get("valid_submission")),
                "milestones": len(c.info.get("milestones", [])),
                "duration": c.duration,
            }
        )
        batch.append(c)
        if len(batch) < config.batch:
            return
        policy.update([b.action for b in batch], group_advantages([b.reward for b in batch]))
        curve.append({"t": round(c.t, 3), "results": c.index + 1, "p_valid": policy.prob_of(VALID)})
        batch.clear()

    desc = f"credit {config.reward} seed {config.seed}"
    timing = drive(
        pool, choose, learn, options, config.workers, config.seconds, config.max_results, desc
    )
    first = next((s for s in steps if s["valid"]), None)
    return {
        "config": asdict(config),
        "label": config.label,
        "steps": steps,
        "curve": curve,
        "summary": {
            "first_valid_step": None if first is None else first["index"] + 1,
            "first_valid_seconds": None if first is None else first["t"],
            "valid_count": sum(s["valid"] for s in steps),
            "final_p_valid": round(curve[-1]["p_valid"], 5),
            "mean_milestones_last_quarter": _last_quarter(steps, "milestones"),
            "steps": len(steps),
        },
        **timing,
    }


def _last_quarter(steps: list[dict[str, Any]], key: str) -> float | None:
    if not steps:
        return None
    tail = steps[-max(1, len(steps) // 4) :]
    return round(float(np.mean([s[key] for s in tail])), 3)
