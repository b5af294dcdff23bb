"""Metrics, each with the validation of prediction values it needs.

A metric turns the aligned submission (rows in answer order) into predictions, rejecting
values it cannot score with a reason, reads the answers the same way, and compares them.
Formulas follow MLE-bench's graders (so scores compare with its medal thresholds); the
cases where those graders fail or mislead are rejected here with a reason instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from mle_gym.grading.submission import InvalidSubmission, _some, numeric_matrix

Options = dict[str, Any]


@dataclass(frozen=True)
class Metric:
    """``predictions`` validates and converts the submission; ``truth`` reads the answers."""

    name: str
    predictions: Callable[[pd.DataFrame, list[str], Options], np.ndarray]
    score: Callable[[np.ndarray, np.ndarray, Options], float]
    perfect: float
    truth: Callable[[pd.DataFrame, list[str]], np.ndarray] = lambda frame, columns: frame[
        columns
    ].to_numpy(dtype=np.float64)
    # Metrics that are a mean over rows may give the rows' values: graded once for all halves.
    rows: Callable[[np.ndarray, np.ndarray, Options], np.ndarray] | None = None


# -- prediction readers --------------------------------------------------------------------


def class_probabilities(frame: pd.DataFrame, columns: list[str], options: Options) -> np.ndarray:
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


def finite_numbers(frame: pd.DataFrame, columns: list[str], options: Options) -> np.ndarray:
    return numeric_matrix(frame, columns)


def non_negative_numbers(frame: pd.DataFrame, columns: list[str], options: Options) -> np.ndarray:
    values = numeric_matrix(frame, columns)
    for j, column in enumerate(columns):
        negative = values[:, j] < 0
        if negative.any():
            raise InvalidSubmission(
                f"column {column!r} must not be negative (the metric takes log(1 + value)); "
                f"id(s) {_some(frame.index[negative])} are"
            )
    return values


def _labels(options: Options) -> list:
    labels = options.get("labels")
    if not labels:
        raise ValueError("this metric needs metric_options.labels in task.yaml")
    return list(labels)


def integer_labels(frame: pd.DataFrame, columns: list[str], options: Options) -> np.ndarray:
    """Whole numbers (3 or 3.0) among the task's labels."""
    values = numeric_matrix(frame, columns)
    column = columns[0]
    fractional = values[:, 0] != np.round(values[:, 0])
    if fractional.any():
        raise InvalidSubmission(
            f"column {column!r} must hold whole numbers; id(s) {_some(frame.index[fractional])} "
            f"do not (round your predictions)"
        )
    labels = _labels(options)
    outside = ~np.isin(values[:, 0], labels)
    if outside.any():
        raise InvalidSubmission(
            f"column {column!r} must be one of {labels}; id(s) {_some(frame.index[outside])} are not"
        )
    return values.astype(np.int64)


def text_values(frame: pd.DataFrame, columns: list[str], options: Options) -> np.ndarray:
    """Strings; an empty cell is the empty string."""
    return text_truth(frame, columns)


def text_truth(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    # object first: an all-empty column is read as floats, and fillna("") on floats warns.
    return frame[columns].astype(object).fillna("").astype(str).to_numpy()


# -- scores --------------------------------------------------------------------------------


def multiclass_log_loss(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    """Mean negative log probability of the true class (truth is one-hot)."""
    return float(-np.mean(np.sum(truth * np.log(pred), axis=1)))


def roc_auc(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    return float(roc_auc_score(truth[:, 0], pred[:, 0]))


def mean_column_roc_auc(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    return float(np.mean([roc_auc_score(truth[:, j], pred[:, j]) for j in range(truth.shape[1])]))


def quadratic_weighted_kappa(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    # The task's labels fix the weight matrix, so a grade absent from one half of the test
    # set does not shift the distances (the same as MLE-bench whenever every grade occurs).
    labels = options.get("labels")
    return float(
        cohen_kappa_score(
            truth[:, 0].astype(np.int64), pred[:, 0], weights="quadratic", labels=labels
        )
    )


def accuracy(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    return float(np.mean(pred[:, 0] == truth[:, 0]))


def _jaccard_one(guess: str, answer: str) -> float:
    a, b = set(guess.lower().split()), set(answer.lower().split())
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def mean_in_order(values: np.ndarray) -> float:
    """Sum as plain floats in row order, then divide: bit for bit a plain loop's mean."""
    total = 0.0
    for value in values.tolist():
        total += value
    return total / len(values)


def jaccard_rows(pred: np.ndarray, truth: np.ndarray, options: Options) -> np.ndarray:
    """Each row's word-level Jaccard, exactly as ``set(text.lower().split())`` gives it."""
    guesses, answers = pred[:, 0], truth[:, 0]
    scores = _jaccard_ascii_rows(guesses, answers)
    if scores is None:
        return np.array([_jaccard_one(g, a) for g, a in zip(guesses, answers, strict=True)],
                        dtype=np.float64)
    for i in np.flatnonzero(np.isnan(scores)).tolist():  # rows with non-ASCII text
        scores[i] = _jaccard_one(guesses[i], answers[i])
    return scores


def word_jaccard(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    """The competition's word-level Jaccard; two empty spans count as identical (1.0)."""
    return mean_in_order(jaccard_rows(pred, truth, options))


def _tokens(texts: Any, pc: Any) -> tuple[np.ndarray, Any]:
    """Row index and lowercased word of every word of ASCII texts, as str.split() finds
    them (Arrow's whitespace includes \\x1c-\\x1f like Python's; its empty words go)."""
    words = pc.utf8_split_whitespace(pc.ascii_lower(texts))
    rows = pc.list_parent_indices(words).to_numpy()
    flat = pc.list_flatten(words)
    keep = pc.not_equal(pc.binary_length(flat), 0).to_numpy(zero_copy_only=False)
    return rows[keep], flat.filter(keep)


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    # np.unique hashes first, much slower than a sort here: the keys come nearly sorted.
    keys = np.sort(keys)
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys


def _jaccard_ascii_rows(guesses: np.ndarray, answers: np.ndarray) -> np.ndarray | None:
    """Per-row Jaccard for rows whose two texts are ASCII (NaN for the others), vectorised
    with pyarrow; None without pyarrow. Python's lower() and split() are exact on ASCII."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        return None
    n = len(guesses)
    a, b = pa.array(guesses, type=pa.string()), pa.array(answers, type=pa.string())
    ascii_rows = pc.and_(pc.string_is_ascii(a), pc.string_is_ascii(b)).to_numpy(zero_copy_only=False)
    rows_a, words_a = _tokens(a, pc)
    rows_b, words_b = _tokens(b, pc)
    codes = pc.dictionary_encode(pa.concat_arrays([words_a, words_b])).indices.to_numpy()
    vocabulary = int(codes.max()) + 1 if len(codes) else 1
    keys_a = _sorted_unique(rows_a.astype(np.int64) * vocabulary + codes[: len(rows_a)])
    keys_b = _sorted_unique(rows_b.astype(np.int64) * vocabulary + codes[len(rows_a):])
    both = np.intersect1d(keys_a, keys_b, assume_unique=True)
    count_a = np.bincount(keys_a // vocabulary, minlength=n)
    count_b = np.bincount(keys_b // vocabulary, minlength=n)
    common = np.bincount(both // vocabulary, minlength=n)
    union = count_a + count_b - common
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(union > 0, common / np.maximum(union, 1), 1.0)
    return np.where(ascii_rows, scores, np.nan)


def pearson(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    p, t = pred[:, 0], truth[:, 0]
    if np.ptp(p) == 0:
        raise InvalidSubmission(
            "every prediction is the same number: Pearson correlation is undefined for a constant"
        )
    return float(np.corrcoef(p, t)[0, 1])


def mean_column_rmsle(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    errors = (np.log1p(pred) - np.log1p(truth)) ** 2
    return float(np.mean(np.sqrt(errors.mean(axis=0))))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("log_loss", class_probabilities, multiclass_log_loss, perfect=0.0),
        Metric("roc_auc", finite_numbers, roc_auc, perfect=1.0),
        Metric("mean_column_roc_auc", finite_numbers, mean_column_roc_auc, perfect=1.0),
        Metric("quadratic_weighted_kappa", integer_labels, quadratic_weighted_kappa, perfect=1.0),
        Metric("accuracy", integer_labels, accuracy, perfect=1.0),
        Metric("jaccard", text_values, word_jaccard, perfect=1.0, truth=text_truth,
               rows=jaccard_rows),
        Metric("pearson", finite_numbers, pearson, perfect=1.0),
        Metric("mean_column_rmsle", non_negative_numbers, mean_column_rmsle, perfect=0.0),
    )
}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None
