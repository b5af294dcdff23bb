"""Finding 1, duration bias: a softmax over real programs, trained in completion order.

Each worker slot runs *episodes with a wall-clock budget*: at an episode's start it samples a
program from the current policy, then runs that program again and again (the improve step of
an agent that keeps refining its own kind of solution; here the program is fixed) until the
episode's budget is spent. A program of duration dt therefore holds its slot for about
pi(x) * T of a window T and finishes about pi(x) * T / dt times: the paper's premise. The
learner takes results in completion order, in batches of ``batch``, with an EMA reward
baseline; ``weighted`` multiplies each sample's gradient by its duration over the batch mean.

``regime="resample"`` samples a fresh program for every job instead. Then each completion is
an independent draw from pi whatever its duration (a renewal argument), so there is no 1/dt
bias for the weights to correct; it is the control.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from baselines.repro.learner import EMABaseline, SoftmaxPolicy, duration_weights
from baselines.repro.rollouts import Completion, drive
from mle_gym.pool import RolloutPool

REGIMES = ("episodes", "resample")


@dataclass
class DurationConfig:
    weighted: bool
    seed: int
    regime: str = "episodes"
    seconds: float = 90.0  # wall-clock budget of the run
    max_results: int = 400
    workers: int = 4
    episode_seconds: float = 10.0
    batch: int = 4
    lr: float = 2.0
    baseline_rate: float = 0.1
    floor: float = 1.0  # seconds charged at least, so no weight is 0

    def __post_init__(self) -> None:
        if self.regime not in REGIMES:
            raise ValueError(f"unknown regime {self.regime!r}; choose one of {', '.join(REGIMES)}")

    @property
    def label(self) -> str:
        return "duration-weighted" if self.weighted else "unweighted"


def run_duration(
    pool: RolloutPool,
    programs: dict[str, str],
    config: DurationConfig,
    options: dict[str, Any],
    profile_durations: dict[str, float],
) -> dict[str, Any]:
    """One training run. ``profile_durations`` (name -> measured mean seconds) turns the
    policy into an expected program duration at every snapshot."""
    names = list(programs)
    policy = SoftmaxPolicy(len(names), config.lr, config.seed)
    baseline = EMABaseline(config.baseline_rate)
    mean_dt = np.array([profile_durations[n] for n in names])
    lanes: list[dict[str, Any]] = [{"action": None, "since": 0.0} for _ in range(config.workers)]
    batch: list[Completion] = []
    completions: list[dict[str, Any]] = []
    snapshots = [_snapshot(policy, 0.0, 0, mean_dt)]

    def choose(slot: int, t: float) -> tuple[int, str]:
        lane = lanes[slot]
        if (
            config.regime == "resample"
            or lane["action"] is None
            or t - lane["since"] >= config.episode_seconds
        ):
            lane.update(action=policy.sample(), since=t)
        return lane["action"], programs[names[lane["action"]]]

    def learn(c: Completion) -> None:
        completions.append(
            {
                "t": round(c.t, 3),
                "index": c.index,
                "slot": c.slot,
                "program": names[c.action],
                "duration": c.duration,
                "reward": c.reward,
                "valid": bool(c.info.get("valid_submission")),
                "invalid_reason": c.info.get("invalid_reason"),
            }
        )
        batch.append(c)
        if len(batch) < config.batch:
            return
        weights = (
            duration_weights([b.duration for b in batch], config.floor) if config.weighted else None
        )
        advantages = baseline.advantages([b.reward for b in batch])
        policy.update([b.action for b in batch], advantages, weights)
        snapshots.append(_snapshot(policy, c.t, c.index + 1, mean_dt))
        batch.clear()

    desc = f"duration {config.regime} {config.label} seed {config.seed}"
    timing = drive(
        pool, choose, learn, options, config.workers, config.seconds, config.max_results, desc
    )
    return {
        "config": asdict(config),
        "label": config.label,
        "programs": names,
        "snapshots": snapshots,
        "completions": completions,
        "final_shares": dict(zip(names, map(float, policy.probs()), strict=True)),
        "summary": summarise(names, completions, snapshots),
        **timing,
    }


def _snapshot(policy: SoftmaxPolicy, t: float, results: int, mean_dt: np.ndarray) -> dict:
    probs = policy.probs()
    return {
        "t": round(t, 3),
        "update": policy.updates,
        "results": results,
        "probs": [round(float(p), 5) for p in probs],
        "expected_duration": round(float(probs @ mean_dt), 3),
    }


def summarise(
    names: list[str], completions: list[dict[str, Any]], snapshots: list[dict[str, Any]]
) -> dict[str, Any]:
    """Counts per program, and the mean duration of completions in each third of the run."""
    counts = {n: sum(c["program"] == n for c in completions) for n in names}
    thirds: list[float | None] = []
    if completions:
        end = max(c["t"] for c in completions)
        for k in range(3):
            lo, hi = k * end / 3, (k + 1) * end / 3
            part = [c["duration"] for c in completions if lo <= c["t"] < hi or c["t"] == hi == end]
            thirds.append(round(float(np.mean(part)), 3) if part else None)
    return {
        "completions_per_program": counts,
        "mean_duration_by_third": thirds,
        "mean_reward": round(float(np.mean([c["reward"] for c in completions])), 4)
        if completions
        else None,
        "updates": snapshots[-1]["update"],
        "final_expected_duration": snapshots[-1]["expected_duration"],
    }
