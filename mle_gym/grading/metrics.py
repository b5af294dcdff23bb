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
import pyarrow as pa
import pyarrow.compute as pc

from mle_gym.grading.submission import IdIndex, InvalidSubmission, _listed, check_finite

Options = dict[str, Any]
Reader = Callable[[np.ndarray, list[str], Options, IdIndex], np.ndarray]
Halves = tuple[float, float, float]


@dataclass(frozen=True)
class Metric:
    """``predictions`` validates and converts the submission; ``truth`` reads the answers."""

    name: str
    predictions: Reader
    score: Callable[[np.ndarray, np.ndarray, Options], float]
    perfect: float
    truth: Callable[[pd.DataFrame, list[str]], np.ndarray] = lambda frame, columns: frame[
        columns
    ].to_numpy(dtype=np.float64)
    # Metrics that are a mean over rows may give the rows' values: graded once for all halves.
    rows: Callable[[np.ndarray, np.ndarray, Options], np.ndarray] | None = None
    # Metrics that can score the whole set and both halves faster together (one sort for AUC).
    halves: Callable[[np.ndarray, np.ndarray, Options, np.ndarray], Halves] | None = None
    text: bool = False  # predictions and answers are text, not numbers


# -- prediction readers: the aligned target columns in, validated predictions out ----------


def _rows_at_fault(bad: np.ndarray, ids: IdIndex) -> str:
    rows = np.flatnonzero(bad)
    return _listed(ids.labels(rows), len(rows))


def _finite(values: np.ndarray, columns: list[str], ids: IdIndex) -> np.ndarray:
    for j, column in enumerate(columns):
        check_finite(values[:, j], column, ids)
    return values


def _in_unit_interval(values: np.ndarray, columns: list[str], ids: IdIndex, what: str, fix: str) -> None:
    for j, column in enumerate(columns):
        bad = (values[:, j] < 0) | (values[:, j] > 1)
        if bad.any():
            raise InvalidSubmission(
                f"column {column!r} must hold {what} between 0 and 1; id(s) "
                f"{_rows_at_fault(bad, ids)} are outside ({fix})"
            )


def class_probabilities(values: np.ndarray, columns: list[str], options: Options, ids: IdIndex) -> np.ndarray:
    """Rows of class probabilities in [0, 1], clipped to [eps, 1 - eps].

    ``row_sum: rescale`` (Kaggle's rule on spooky-author and leaf-classification): each row
    is divided by its sum first. ``row_sum: exact`` (lmsys-chatbot-arena, as MLE-bench
    grades it): each row must sum to 1 when rounded to 6 decimals and is scored as written.
    ``eps: machine`` is float64's machine epsilon (scikit-learn's log_loss)."""
    probs = _finite(values, columns, ids)
    _in_unit_interval(probs, columns, ids, "probabilities",
                      "write predict_proba's output, not logits or decision scores")
    sums = probs.sum(axis=1)
    mode = options.get("row_sum", "rescale")
    if mode == "exact":
        off = np.round(sums, 6) != 1
        if off.any():
            first = int(np.flatnonzero(off)[0])
            raise InvalidSubmission(
                f"each row of probabilities must sum to 1 (to 6 decimals); id(s) "
                f"{_rows_at_fault(off, ids)} do not (the first sums to {sums[first]!r}): "
                f"divide each row by its sum and write at least 7 significant digits"
            )
    else:
        zero = sums <= 0
        if zero.any():
            raise InvalidSubmission(
                f"every row needs a positive probability; id(s) {_rows_at_fault(zero, ids)} are all zero"
            )
        probs = probs / sums[:, None]
    eps = options.get("eps", 1e-15)
    eps = float(np.finfo(np.float64).eps) if eps == "machine" else float(eps)
    return np.clip(probs, eps, 1 - eps)


def finite_numbers(values: np.ndarray, columns: list[str], options: Options, ids: IdIndex) -> np.ndarray:
    return _finite(values, columns, ids)


def probability_scores(values: np.ndarray, columns: list[str], options: Options, ids: IdIndex) -> np.ndarray:
    """Scores in [0, 1] for ROC AUC: the competitions ask for probabilities."""
    values = _finite(values, columns, ids)
    _in_unit_interval(values, columns, ids, "probabilities",
                      "write predict_proba's positive-class column, or a sigmoid of decision scores")
    return values


def non_negative_numbers(values: np.ndarray, columns: list[str], options: Options, ids: IdIndex) -> np.ndarray:
    values = _finite(values, columns, ids)
    for j, column in enumerate(columns):
        negative = values[:, j] < 0
        if negative.any():
            raise InvalidSubmission(
                f"column {column!r} must not be negative (the metric takes log(1 + value)); "
                f"id(s) {_rows_at_fault(negative, ids)} are"
            )
    return values


def _labels(options: Options) -> list:
    labels = options.get("labels")
    if not labels:
        raise ValueError("this metric needs metric_options.labels in task.yaml")
    return list(labels)


def integer_labels(values: np.ndarray, columns: list[str], options: Options, ids: IdIndex) -> np.ndarray:
    """Whole numbers (3 or 3.0) among the task's labels."""
    values = _finite(values, columns, ids)
    column = columns[0]
    fractional = values[:, 0] != np.round(values[:, 0])
    if fractional.any():
        raise InvalidSubmission(
            f"column {column!r} must hold whole numbers; id(s) {_rows_at_fault(fractional, ids)} "
            f"do not (round your predictions)"
        )
    labels = _labels(options)
    outside = ~np.isin(values[:, 0], labels)
    if outside.any():
        raise InvalidSubmission(
            f"column {column!r} must be one of the task's labels {labels}; id(s) "
            f"{_rows_at_fault(outside, ids)} are not (predict one of those labels)"
        )
    return values.astype(np.int64)


def text_values(values: np.ndarray, columns: list[str], options: Options, ids: IdIndex) -> np.ndarray:
    """Strings; an empty cell is the empty string."""
    return values


def text_truth(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    # object first: an all-empty column is read as floats, and fillna("") on floats warns.
    return frame[columns].astype(object).fillna("").astype(str).to_numpy()


# -- scores --------------------------------------------------------------------------------


def multiclass_log_loss(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    """Mean negative log probability of the true class (truth is one-hot)."""
    return float(-np.mean(np.sum(truth * np.log(pred), axis=1)))


def _auc_sorted(labels: np.ndarray, starts: np.ndarray) -> float:
    """ROC AUC of labels (0/1) listed in ascending score order, tie groups beginning at
    ``starts``: the Mann-Whitney statistic with average ranks for ties (what the ROC curve's
    trapezoids add up to), in exact integers, so one division rounds it."""
    n = len(labels)
    positives = int(labels.sum())
    negatives = n - positives
    if positives == 0 or negatives == 0:
        return float("nan")  # one class only: AUC is undefined (scikit-learn raises)
    ends = np.append(starts[1:], n)
    in_group = np.add.reduceat(labels.astype(np.int64), starts) if n else np.zeros(0, np.int64)
    twice_rank = starts + ends + 1  # twice the average 1-based rank of each tie group
    twice_sum = int(np.dot(in_group, twice_rank))
    return (twice_sum - positives * (positives + 1)) / (2 * positives * negatives)


def _tie_starts(values: np.ndarray) -> np.ndarray:
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))


def _auc_halves(score: np.ndarray, label: np.ndarray, public: np.ndarray) -> Halves:
    """AUC of the whole set and of each half from one sort (a half's rows keep their order)."""
    order = np.argsort(score, kind="stable")
    values, labels, pub = score[order], label[order], public[order]
    out = []
    for keep in (None, pub, ~pub):
        v, y = (values, labels) if keep is None else (values[keep], labels[keep])
        out.append(_auc_sorted(y, _tie_starts(v)))
    return out[0], out[1], out[2]


def roc_auc(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    return _auc_halves(pred[:, 0], truth[:, 0] > 0.5, np.ones(len(pred), dtype=bool))[0]


def roc_auc_halves(pred: np.ndarray, truth: np.ndarray, options: Options, public: np.ndarray) -> Halves:
    return _auc_halves(pred[:, 0], truth[:, 0] > 0.5, public)


def mean_column_roc_auc(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    return mean_column_roc_auc_halves(pred, truth, options, np.ones(len(pred), dtype=bool))[0]


def mean_column_roc_auc_halves(pred: np.ndarray, truth: np.ndarray, options: Options,
                               public: np.ndarray) -> Halves:
    per_column = [_auc_halves(pred[:, j], truth[:, j] > 0.5, public) for j in range(truth.shape[1])]
    means = np.mean(np.array(per_column, dtype=np.float64), axis=0)
    return float(means[0]), float(means[1]), float(means[2])


def quadratic_weighted_kappa(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    """Cohen's kappa with quadratic weights, as scikit-learn computes it, from a confusion
    matrix counted with one bincount. The task's labels fix the weight matrix, so a grade
    absent from one half does not shift the distances (the same as MLE-bench whenever every
    grade occurs)."""
    labels = np.asarray(options.get("labels") or np.union1d(truth[:, 0], pred[:, 0]), dtype=np.int64)
    k = len(labels)
    t = np.searchsorted(labels, truth[:, 0].astype(np.int64))
    p = np.searchsorted(labels, pred[:, 0])
    confusion = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    sum0, sum1 = confusion.sum(axis=0), confusion.sum(axis=1)
    expected = np.outer(sum0, sum1) / np.sum(sum0)
    weights = (np.arange(k)[:, None] - np.arange(k)[None, :]) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(1 - np.sum(weights * confusion) / np.sum(weights * expected))


def accuracy(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    return float(np.mean(pred[:, 0] == truth[:, 0]))


def _jaccard_one(guess: str, answer: str) -> float:
    a, b = set(guess.lower().split()), set(answer.lower().split())
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def mean_in_order(values: np.ndarray) -> float:
    """Sum as plain floats in row order, then divide: bit for bit a plain loop's mean."""
    if not len(values):
        return float("nan")
    total = 0.0
    for value in values.tolist():
        total += value
    return total / len(values)


def jaccard_rows(pred: np.ndarray, truth: np.ndarray, options: Options) -> np.ndarray:
    """Each row's word-level Jaccard, exactly as ``set(text.lower().split())`` gives it."""
    guesses, answers = pred[:, 0], truth[:, 0]
    # Blocks of rows bound the memory of the vectorised pass (it holds several integers per
    # word) whatever the file: rows never interact, so the result is the same.
    block = 50_000
    scores = np.concatenate([_jaccard_ascii_rows(guesses[i : i + block], answers[i : i + block])
                             for i in range(0, len(guesses), block)] or [np.zeros(0)])
    for i in np.flatnonzero(np.isnan(scores)).tolist():  # rows with non-ASCII text
        scores[i] = _jaccard_one(guesses[i], answers[i])
    return scores


def word_jaccard(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    """The competition's word-level Jaccard; two empty spans count as identical (1.0)."""
    return mean_in_order(jaccard_rows(pred, truth, options))


# Python's str.split() whitespace among ASCII bytes: \t \n \v \f \r, \x1c-\x1f and space.
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_ASCII_LOWER = np.arange(256, dtype=np.uint8)
_ASCII_LOWER[65:91] += 32


def _words(texts: pa.Array) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """Row of each word, the lowercased words, and which rows are ASCII, for
    ``text.lower().split()`` on ASCII rows. Plain numpy over the string buffer, so nothing
    reads past the values (pyarrow's split_whitespace kernels were seen to, now and then)."""
    texts = pa.array(texts, type=pa.large_string()) if not isinstance(texts, pa.Array) else texts
    texts = texts.cast(pa.large_string())
    n = len(texts)
    _, offsets_buf, data_buf = texts.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=n + 1, offset=texts.offset * 8)
    base, stop = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buf, dtype=np.uint8, count=stop, offset=0)[base:] if stop else np.zeros(0, np.uint8)
    bounds = offsets - base
    high = data >= 128
    # Rows holding any non-ASCII byte: cumulative counts at the row bounds.
    high_before = np.concatenate(([0], np.cumsum(high, dtype=np.int64)))
    ascii_rows = high_before[bounds[1:]] == high_before[bounds[:-1]]
    lower = _ASCII_LOWER[data]
    word = ~_ASCII_SPACE[data]
    row_start = np.zeros(len(data) + 1, dtype=bool)
    row_start[bounds[:-1]] = True
    previous_word = np.concatenate(([False], word[:-1])) & ~row_start[:-1]
    starts = np.flatnonzero(word & ~previous_word)
    # Each word is a run of non-space bytes: compact them, then a word's end is the next start.
    kept = np.flatnonzero(word)
    compact = lower[kept]
    begin = np.searchsorted(kept, starts)
    word_offsets = np.append(begin, len(kept)).astype(np.int64)
    words = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(starts), [None, pa.py_buffer(word_offsets), pa.py_buffer(compact)]
    )
    rows = np.searchsorted(bounds, starts, side="right") - 1
    return rows, words, ascii_rows


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    # np.unique hashes first, much slower than a sort here: the keys come nearly sorted.
    keys = np.sort(keys)
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys


def _jaccard_ascii_rows(guesses: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """Per-row Jaccard for rows whose two texts are ASCII (NaN for the others), vectorised.
    Deterministic: word identity comes from an exact dictionary encoding."""
    n = len(guesses)
    rows_a, words_a, ascii_a = _words(pa.array(guesses, type=pa.large_string()))
    rows_b, words_b, ascii_b = _words(pa.array(answers, type=pa.large_string()))
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
    return np.where(ascii_a & ascii_b, scores, np.nan)


def pearson(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    """Pearson's r, scale-free: each side is divided by its largest magnitude before it is
    centred and again after, so no product underflows or overflows and multiplying the
    predictions by any positive number leaves the score unchanged (to rounding)."""
    p, t = _standardised(pred[:, 0]), _standardised(truth[:, 0])
    if p is None:
        raise InvalidSubmission(
            "every prediction is the same number: Pearson correlation is undefined for a constant "
            "(the competition's scorer gives NaN); predict a score per row"
        )
    if t is None:
        return float("nan")
    r = float(np.dot(p, t) / np.sqrt(np.dot(p, p) * np.dot(t, t)))
    return max(-1.0, min(1.0, r))


def _standardised(values: np.ndarray) -> np.ndarray | None:
    """Centred values scaled to a largest magnitude of 1; None for a constant."""
    top = np.max(np.abs(values)) if len(values) else 0.0
    if top == 0 or not np.isfinite(top):
        return None
    x = values / top
    x = x - np.mean(x)
    top = np.max(np.abs(x))
    if top == 0:
        return None
    return x / top


def mean_column_rmsle(pred: np.ndarray, truth: np.ndarray, options: Options) -> float:
    errors = (np.log1p(pred) - np.log1p(truth)) ** 2
    return float(np.mean(np.sqrt(errors.mean(axis=0))))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("log_loss", class_probabilities, multiclass_log_loss, perfect=0.0),
        Metric("roc_auc", probability_scores, roc_auc, perfect=1.0, halves=roc_auc_halves),
        Metric("mean_column_roc_auc", probability_scores, mean_column_roc_auc, perfect=1.0,
               halves=mean_column_roc_auc_halves),
        Metric("quadratic_weighted_kappa", integer_labels, quadratic_weighted_kappa, perfect=1.0),
        Metric("accuracy", integer_labels, accuracy, perfect=1.0),
        Metric("jaccard", text_values, word_jaccard, perfect=1.0, truth=text_truth, text=True,
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
