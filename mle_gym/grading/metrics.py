"""Metrics, each with the validation of prediction values it needs.

A metric turns the aligned submission (rows in answer order) into a prediction matrix,
rejecting values it cannot score, then compares it with the answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mle_gym.grading.submission import InvalidSubmission, _some, numeric_matrix


@dataclass(frozen=True)
class Metric:
    name: str
    predictions: Callable[[pd.DataFrame, list[str], dict], np.ndarray]
    score: Callable[[np.ndarray, np.ndarray, dict], float]


def class_probabilities(frame: pd.DataFrame, columns: list[str], options: dict) -> np.ndarray:
    """Rows of class probabilities: rescaled by their row sum, then clipped (Kaggle's rule)."""
    probs = numeric_matrix(frame, columns)
    negative = (probs < 0).any(axis=1)
    if negative.any():
        raise InvalidSubmission(
            f"probabilities must not be negative; id(s) {_some(frame.index[negative])} have "
            f"negative values (did you write logits or decision scores instead of probabilities?)"
        )
    sums = probs.sum(axis=1)
    zero = sums <= 0
    if zero.any():
        raise InvalidSubmission(
            f"every row needs a positive probability; id(s) {_some(frame.index[zero])} are all zero"
        )
    eps = float(options.get("eps", 1e-15))
    return np.clip(probs / sums[:, None], eps, 1 - eps)


def multiclass_log_loss(pred: np.ndarray, truth: np.ndarray, options: dict) -> float:
    """Mean negative log probability of the true class (truth is one-hot)."""
    return float(-np.mean(np.sum(truth * np.log(pred), axis=1)))


METRICS: dict[str, Metric] = {
    "log_loss": Metric("log_loss", class_probabilities, multiclass_log_loss),
}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None
