"""Pseudo-labels from voters' predictions, one rule per metric, in the shape the metric reads.

Each voter's predictions are what the task's own reader (``Metric.predictions``) returned:
rows in test order, validated. The pseudo-label is built so that ``metric.score(pred, pseudo)``
is the task's metric against the crowd:

* class probabilities (log loss): the mean distribution (a soft label: the metric's
  cross-entropy reads it as it is);
* scores for ROC AUC: each voter's predictions as ranks in [0, 1] (scale-free, as AUC is),
  averaged; the top ``k`` rows are positive, ``k`` the median of the voters' mean
  predictions times the rows (at least one row of each class);
* class labels (accuracy): the per-row majority; a tie goes to the label the voters
  predict most often overall, then the smallest;
* grades (quadratic weighted kappa): the per-row median, rounded to a grade;
* regression targets (Pearson, RMSLE): the per-row median;
* text spans (word-level Jaccard): the words that at least half the voters' spans hold.

``signature`` is what near-copy detection compares: the predictions, or their ranks where
the metric reads only ranks (a rescaled copy is still a copy).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

RANK_METRICS = frozenset({"roc_auc", "mean_column_roc_auc"})
LABEL_METRICS = frozenset({"accuracy"})
GRADE_METRICS = frozenset({"quadratic_weighted_kappa"})
MEDIAN_METRICS = frozenset({"pearson", "mean_column_rmsle"})
MEAN_METRICS = frozenset({"log_loss"})
TEXT_METRICS = frozenset({"jaccard"})
SUPPORTED = RANK_METRICS | LABEL_METRICS | GRADE_METRICS | MEDIAN_METRICS | MEAN_METRICS | TEXT_METRICS


def ranks(values: np.ndarray) -> np.ndarray:
    """Per column, average ranks scaled to [0, 1] (ties share their mean rank)."""
    out = np.empty(values.shape, dtype=np.float64)
    n = values.shape[0]
    for j in range(values.shape[1]):
        column = values[:, j]
        order = np.argsort(column, kind="stable")
        sorted_values = column[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
        ends = np.append(starts[1:], n)
        mean_rank = (starts + ends - 1) / 2.0
        per_row = np.repeat(mean_rank, ends - starts)
        out[order, j] = per_row / max(n - 1, 1)
    return out


def words(text: str) -> frozenset[str]:
    """A span's words as the metric compares them."""
    return frozenset(text.lower().split())


def signature(metric: str, pred: np.ndarray) -> np.ndarray:
    """What two submissions must share to count as copies of each other."""
    if metric in RANK_METRICS:
        return ranks(pred)
    return pred


def differing_rows(metric: str, a: np.ndarray, b: np.ndarray, tolerance: np.ndarray | None) -> int:
    """Rows where two signatures differ: any cell beyond ``tolerance`` (numbers), any label,
    or a different word set (spans)."""
    if metric in TEXT_METRICS:
        return sum(words(x) != words(y) for x, y in zip(a[:, 0], b[:, 0], strict=True))
    if metric in LABEL_METRICS | GRADE_METRICS:
        return int(np.any(a != b, axis=1).sum())
    assert tolerance is not None
    return int(np.any(np.abs(a - b) > tolerance, axis=1).sum())


class Voters:
    """The voters' predictions, with what each pseudo-label needs precomputed once, so a
    leave-one-out label costs one aggregate over the others."""

    def __init__(self, metric: str, preds: list[np.ndarray], options: dict) -> None:
        if metric not in SUPPORTED:
            raise ValueError(f"no consensus rule for the metric {metric!r}; known: {', '.join(sorted(SUPPORTED))}")
        self.metric = metric
        self.preds = preds
        self.options = options
        if metric in RANK_METRICS:
            self.ranks = np.stack([ranks(p) for p in preds])
            self.means = np.stack([p.mean(axis=0) for p in preds])
        elif metric in TEXT_METRICS:
            self.word_sets = [[words(t) for t in p[:, 0]] for p in preds]
        elif metric in LABEL_METRICS:
            self.stack = np.stack([p[:, 0] for p in preds])
            self.labels = np.asarray(sorted(self.options.get("labels") or np.unique(self.stack)))
        else:
            self.stack = np.stack(preds).astype(np.float64)

    def __len__(self) -> int:
        return len(self.preds)

    def pseudo_label(self, keep: list[int]) -> np.ndarray:
        """The pseudo-label made from the voters at positions ``keep``."""
        m = self.metric
        if m in MEAN_METRICS:
            return self.stack[keep].mean(axis=0)
        if m in MEDIAN_METRICS:
            return np.median(self.stack[keep], axis=0)
        if m in GRADE_METRICS:
            grades = np.round(np.median(self.stack[keep], axis=0))
            labels = np.asarray(self.options.get("labels") or np.unique(self.stack), dtype=np.float64)
            nearest = np.abs(grades[..., None] - labels).argmin(axis=-1)
            return labels[nearest]
        if m in RANK_METRICS:
            return self._top_k(keep)
        if m in LABEL_METRICS:
            return self._majority(keep)
        return self._word_vote(keep)

    def _top_k(self, keep: list[int]) -> np.ndarray:
        mean_rank = self.ranks[keep].mean(axis=0)
        n, k_cols = mean_rank.shape
        prevalence = np.median(self.means[keep], axis=0)
        out = np.zeros((n, k_cols), dtype=np.float64)
        for j in range(k_cols):
            k = int(np.clip(np.round(prevalence[j] * n), 1, n - 1))
            top = np.argsort(-mean_rank[:, j], kind="stable")[:k]
            out[top, j] = 1.0
        return out

    def _majority(self, keep: list[int]) -> np.ndarray:
        votes = self.stack[keep]  # (voters, rows)
        index = np.searchsorted(self.labels, votes)
        n_labels = len(self.labels)
        counts = np.zeros((votes.shape[1], n_labels), dtype=np.float64)
        for row_votes in index:
            counts[np.arange(votes.shape[1]), row_votes] += 1
        overall = counts.sum(axis=0)
        # A tie is broken by the overall count (a fraction of a vote), then the smaller label.
        tie_break = overall / (overall.sum() + 1.0) - np.arange(n_labels) * 1e-9
        winner = np.argmax(counts + tie_break, axis=1)
        return self.labels[winner][:, None]

    def _word_vote(self, keep: list[int]) -> np.ndarray:
        n_rows = len(self.word_sets[0])
        need = len(keep) / 2.0
        spans = np.empty((n_rows, 1), dtype=object)
        for r in range(n_rows):
            counts: Counter[str] = Counter()
            for v in keep:
                counts.update(self.word_sets[v][r])
            spans[r, 0] = " ".join(sorted(w for w, c in counts.items() if c >= need))
        return spans


__all__ = ["SUPPORTED", "Voters", "differing_rows", "ranks", "signature", "words"]
