"""The paper's duration weights, shared by the synchronous and the asynchronous trainer.

Each consumed sample k has its policy-gradient term multiplied by

    w_k = dt_k / D

where dt_k is the time the sample is *charged* and D a normaliser. Two normalisers:

* ``"running"`` (default): D is the running mean of the charged durations of every sample
  consumed so far, this batch included. It moves slowly, so it only rescales the learning
  rate, and an early batch of only fast results weighs less than 1 as soon as slower results
  have been seen (with the batch mean it would weigh exactly 1, whatever it holds).
* ``"batch"``: D is the mean of this batch (the paper's wording). The weights then average 1
  in every batch, so they can only tilt a batch's samples against each other: a batch of
  equally fast results is learned from at full strength. This is the ratio estimator
  sum(dt*g)/sum(dt), which is biased when the batch composition varies; see
  ``baselines/async_grpo.py`` for the derivation.

What a sample is charged: its own duration, at least ``floor`` seconds so that no weight is 0
(a program that crashes at import runs for ~0 s). ``charge_failures=True`` charges a program
that timed out or wrote no valid submission the full time limit instead: a timed-out program
really did occupy its worker for the whole limit, and charging crashes the limit stops a
policy from buying many cheap, fast failures. It is off by default because the paper charges
each action its own duration, and because it makes a failure's gradient (usually a negative
advantage) weigh as much as the slowest success, which pushes hard away from failures but
also inflates the variance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

NORMS = ("running", "batch")


def charged_duration(
    duration: float,
    failed: bool,
    time_limit: float,
    floor: float = 1.0,
    charge_failures: bool = False,
) -> float:
    """Seconds a sample is charged: its duration (at least ``floor``), or the full limit
    for a failure when ``charge_failures``."""
    if floor <= 0:
        raise ValueError("the duration floor must be positive, or a weight could be 0")
    if failed and charge_failures:
        return max(float(time_limit), float(floor))
    return max(float(duration), float(floor))


class DurationNormaliser:
    """Turns batches of charged durations into weights dt_k / D.

    ``norm="running"`` keeps the running mean of every charged duration seen so far (the
    state that makes it differ from ``"batch"``); ``enabled=False`` gives weights of 1.
    """

    def __init__(
        self,
        norm: str = "running",
        floor: float = 1.0,
        charge_failures: bool = False,
        enabled: bool = True,
    ) -> None:
        if norm not in NORMS:
            raise ValueError(f"unknown duration norm {norm!r}; choose one of {', '.join(NORMS)}")
        if floor <= 0:
            raise ValueError("the duration floor must be positive, or a weight could be 0")
        self.norm = norm
        self.floor = floor
        self.charge_failures = charge_failures
        self.enabled = enabled
        self.total = 0.0  # charged seconds of every sample consumed so far
        self.count = 0

    @property
    def running_mean(self) -> float:
        """D for the running norm (nan before any sample)."""
        return self.total / self.count if self.count else math.nan

    def charge(self, durations: Sequence[float], failed: Sequence[bool], time_limit: float) -> list[float]:
        if len(durations) != len(failed):
            raise ValueError(f"{len(durations)} durations but {len(failed)} failure flags")
        return [
            charged_duration(d, f, time_limit, self.floor, self.charge_failures)
            for d, f in zip(durations, failed, strict=True)
        ]

    def weights(
        self, durations: Sequence[float], failed: Sequence[bool], time_limit: float
    ) -> list[float]:
        """Weights for one consumed batch; updates the running mean (also when disabled, so
        the logged D means the same thing in both settings)."""
        charged = self.charge(durations, failed, time_limit)
        self.total += sum(charged)
        self.count += len(charged)
        if not self.enabled or not charged:
            return [1.0] * len(charged)
        d = self.running_mean if self.norm == "running" else sum(charged) / len(charged)
        return [c / d for c in charged]


def duration_weights(
    durations: Sequence[float],
    failed: Sequence[bool],
    time_limit: float,
    floor: float = 1.0,
    enabled: bool = True,
    charge_failures: bool = False,
) -> list[float]:
    """Batch-normalised weights dt_k / mean(dt) for one batch (no running state)."""
    return DurationNormaliser("batch", floor, charge_failures, enabled).weights(
        durations, failed, time_limit
    )


def effective_sample_size(weights: Sequence[float]) -> float:
    """Kish's ESS, (sum w)^2 / sum w^2: n for equal weights, towards 1 as one dominates."""
    total = sum(weights)
    squares = sum(w * w for w in weights)
    return total * total / squares if squares > 0 else 0.0


__all__ = [
    "NORMS",
    "DurationNormaliser",
    "charged_duration",
    "duration_weights",
    "effective_sample_size",
]
