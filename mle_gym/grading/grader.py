"""Score a submission on the whole test set and on its public and private halves."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mle_gym.data import TaskData
from mle_gym.grading.metrics import get_metric, mean_in_order
from mle_gym.grading.submission import (
    InvalidSubmission,
    align,
    align_rows,
    check_columns,
    read_submission,
)
from mle_gym.spec import TaskSpec


@dataclass(frozen=True)
class Grade:
    """Scores of one valid submission. ``public`` feeds rewards; ``private`` the leaderboard."""

    score: float
    public: float
    private: float
    n_rows: int

    def as_dict(self) -> dict:
        return asdict(self)


class Grader:
    """Holds one task's answers in memory so repeated grading does no extra I/O."""

    def __init__(self, data: TaskData) -> None:
        spec = data.spec
        self.spec = spec
        self.metric = get_metric(spec.metric)
        self.by_row = spec.metric_options.get("align") == "row"
        read = {"converters": {spec.id_column: str}}
        answers = pd.read_csv(data.answers_path, **read)
        self.ids = pd.Index(answers[spec.id_column], name=spec.id_column)
        self.truth = self.metric.truth(answers, spec.target_columns)
        split = pd.read_csv(data.split_path, **read)  # written in the answers' row order
        if not np.array_equal(split[spec.id_column].to_numpy(), self.ids.to_numpy()):
            raise ValueError(f"{data.split_path} does not match the answers; re-prepare the data")
        self.public_mask = (split["half"] == "public").to_numpy()

    def grade(self, submission: Path | pd.DataFrame) -> Grade:
        """Grade a submission file or frame; raise InvalidSubmission with a reason otherwise."""
        spec = self.spec
        frame = read_submission(submission, spec.id_column)
        check_columns(frame, spec.id_column, spec.target_columns, spec.extra_columns)
        aligned = (align_rows if self.by_row else align)(frame, self.ids, spec.id_column)
        pred = self.metric.predictions(aligned, spec.target_columns, spec.metric_options)
        opts = spec.metric_options
        pub, priv = self.public_mask, ~self.public_mask
        if self.metric.rows is not None:  # a mean over rows: score each row once
            values = self.metric.rows(pred, self.truth, opts)
            scores = tuple(mean_in_order(v) for v in (values, values[pub], values[priv]))
        else:
            scores = (
                self.metric.score(pred, self.truth, opts),
                self.metric.score(pred[pub], self.truth[pub], opts),
                self.metric.score(pred[priv], self.truth[priv], opts),
            )
        if not all(math.isfinite(s) for s in scores):
            raise InvalidSubmission(
                f"the {spec.metric} score is not a finite number for this submission "
                f"(for example, constant predictions leave it undefined)"
            )
        return Grade(*scores, n_rows=len(aligned))

    def check(self, submission: Path | pd.DataFrame) -> None:
        """Raise InvalidSubmission if ``grade`` would; reveal nothing about the score."""
        self.grade(submission)


def medal(spec: TaskSpec, score: float) -> dict[str, object]:
    """Kaggle medal and above-median flags from the full-data thresholds in task.yaml."""
    thresholds = spec.full_scores
    won = None
    for name in ("gold", "silver", "bronze"):
        limit = getattr(thresholds, name)
        if limit is not None and not spec.better(limit, score):  # at least as good
            won = name
            break
    median = thresholds.median
    return {
        "medal": won,
        "above_median": None if median is None else spec.better(score, median),
    }


def grade_file(data: TaskData, submission: Path | pd.DataFrame) -> Grade:
    """One-off grading (the CLI's ``mle-gym grade``)."""
    return Grader(data).grade(submission)
