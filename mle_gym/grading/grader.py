"""Score a submission on the whole test set and on its public and private halves.

Grading runs in the host process, on a file written by untrusted code: the reader bounds the
file's size (from the number of test rows), its header and every message before parsing, and
every later step is linear (or n log n, one sort) in the rows of that bounded file."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mle_gym.data import DataCorrupted, TaskData
from mle_gym.grading.metrics import get_metric, mean_in_order
from mle_gym.grading.submission import (
    NA_VALUES,
    IdIndex,
    InvalidSubmission,
    Layout,
    align,
    align_rows,
    read_submission,
    size_bound,
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


def _read_private(path: Path, slug: str, columns: dict[str, pa.DataType]) -> pa.Table:
    """A private file with the given typed columns, or DataCorrupted naming the file and the
    command that rebuilds it (never a raw reader error)."""
    fix = f"re-prepare the data with `mle-gym prepare {slug} --force`"
    if not path.is_file():
        raise DataCorrupted(f"{path} is missing; {fix}")
    convert = pacsv.ConvertOptions(column_types=columns, include_columns=list(columns),
                                   null_values=NA_VALUES, strings_can_be_null=False,
                                   timestamp_parsers=[])
    try:
        table = pacsv.read_csv(path, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowKeyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DataCorrupted(f"{path} cannot be read ({first}); {fix}") from None
    if table.num_rows == 0:
        raise DataCorrupted(f"{path} has no rows; {fix}")
    return table


class PredictionReader:
    """A submission read into the metric's predictions, in the order of ``ids``.

    The one bounded, strict path from a file to predictions: the grader reads against the
    answers' ids, consensus scoring against the sample submission's. ``widest`` holds the
    longest expected cell per column, which bounds the file's size.
    """

    def __init__(self, spec: TaskSpec, ids: pa.Array, widest: dict[str, int]) -> None:
        self.spec = spec
        self.metric = get_metric(spec.metric)
        self.ids = ids
        self.index = IdIndex(ids)
        self.by_row = spec.metric_options.get("align") == "row"
        targets = tuple(spec.target_columns)
        n_columns = 1 + len(targets) + len(spec.extra_columns)
        self.layout = Layout(spec.id_column, targets, frozenset(targets if self.metric.text else ()),
                             tuple(spec.extra_columns), size_bound(len(ids), widest, n_columns))

    def read(self, submission: Path | pd.DataFrame) -> np.ndarray:
        """Predictions in ``ids`` order; InvalidSubmission with the reason otherwise."""
        spec = self.spec
        table = read_submission(submission, self.layout)
        ids = table.column(spec.id_column).combine_chunks()
        if self.by_row:
            order = align_rows(ids, self.ids, spec.id_column)
        else:
            order = align(ids, self.index, spec.id_column)
        values = np.column_stack([
            table.column(c).to_numpy() if not self.metric.text
            else table.column(c).to_numpy(zero_copy_only=False)
            for c in spec.target_columns
        ])
        if not np.array_equal(order, np.arange(len(order))):
            values = values[order]
        return self.metric.predictions(values, list(spec.target_columns),
                                       spec.metric_options, self.index)


class Grader:
    """Holds one task's answers in memory so repeated grading does no extra I/O."""

    def __init__(self, data: TaskData) -> None:
        spec = data.spec
        self.spec = spec
        self.metric = get_metric(spec.metric)
        idc, targets = spec.id_column, list(spec.target_columns)
        target_type = pa.string() if self.metric.text else pa.float64()
        answers = _read_private(data.answers_path, spec.slug,
                                {idc: pa.string(), **{c: target_type for c in targets}})
        self.answer_ids = answers.column(idc).combine_chunks()
        if self.metric.text:  # as MLE-bench reads them: pandas' NA spellings are empty text
            na = pa.array(NA_VALUES)
            self.truth = np.column_stack([
                pc.if_else(pc.is_in(answers.column(c), value_set=na), "", answers.column(c))
                .to_numpy(zero_copy_only=False) for c in targets
            ])
        else:
            frame = answers.select(targets).to_pandas()
            if frame.isna().to_numpy().any():
                raise DataCorrupted(f"{data.answers_path} has empty answers; re-prepare the data "
                                    f"with `mle-gym prepare {spec.slug} --force`")
            self.truth = self.metric.truth(frame, targets)
        split = _read_private(data.split_path, spec.slug, {idc: pa.string(), "half": pa.string()})
        half = split.column("half").combine_chunks()
        if not split.column(idc).combine_chunks().equals(self.answer_ids) or not pc.all(
            pc.is_in(half, value_set=pa.array(["public", "private"]))
        ).as_py():
            raise DataCorrupted(f"{data.split_path} does not match the answers; re-prepare the data "
                                f"with `mle-gym prepare {spec.slug} --force`")
        self.public_mask = pc.equal(half, "public").to_numpy(zero_copy_only=False)
        widest = {idc: _widest(self.answer_ids)}
        if self.metric.text:
            widest.update({c: _widest(answers.column(c)) for c in targets})
        self.reader = PredictionReader(spec, self.answer_ids, widest)
        self.layout = self.reader.layout

    def grade(self, submission: Path | pd.DataFrame) -> Grade:
        """Grade a submission file or frame; raise InvalidSubmission with a reason otherwise."""
        spec, opts = self.spec, self.spec.metric_options
        pred = self.reader.read(submission)
        pub, priv = self.public_mask, ~self.public_mask
        if self.metric.halves is not None:
            scores = self.metric.halves(pred, self.truth, opts, pub)
        elif self.metric.rows is not None:  # a mean over rows: score each row once
            rows = self.metric.rows(pred, self.truth, opts)
            scores = tuple(mean_in_order(v) for v in (rows, rows[pub], rows[priv]))
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
        return Grade(*(float(s) for s in scores), n_rows=len(self.answer_ids))

    def check(self, submission: Path | pd.DataFrame) -> None:
        """Raise InvalidSubmission if ``grade`` would; reveal nothing about the score."""
        self.grade(submission)


def _widest(values: pa.Array | pa.ChunkedArray) -> int:
    longest = pc.max(pc.binary_length(values)).as_py()
    return int(longest or 0)


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
