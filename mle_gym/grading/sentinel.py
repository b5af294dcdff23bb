"""The no-model sentinel, decided from the submission itself.

Milestones say what a program *did*; they come from inside the sandbox, so the host does not
let them alone decide whether a model was trained. A valid submission is "no model" whatever
the milestones say when

* it equals the task's sample submission (the same target values for every id, numbers
  within a small tolerance), or
* it is constant: every row has the same target values (one prediction for everyone).

A real model, even a poor one, predicts differently for different rows; a prior-only or
copied answer does not. Ids are never compared as predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mle_gym.spec import TaskSpec

RTOL = 1e-6
ATOL = 1e-9


def sample_submission_path(spec: TaskSpec, public: Path) -> Path | None:
    """The task's sample submission among its public files (``sample_submission.csv``,
    ``sampleSubmission.csv``, ``sample_submission_null.csv`` ...), if there is one."""
    for item in spec.public_files:
        name = item.name
        if "sample" in name.lower() and name.lower().endswith(".csv"):
            path = public / name
            if path.is_file():
                return path
    return None


def _read(path: Path, columns: list[str]) -> pd.DataFrame | None:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, low_memory=False)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    frame.columns = [str(c).strip() for c in frame.columns]
    if any(c not in frame.columns for c in columns):
        return None
    return frame[columns]


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    """Equal as numbers within tolerance when both are numeric, else as stripped strings."""
    x = pd.to_numeric(a, errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(b, errors="coerce").to_numpy(dtype=float)
    if not (np.isnan(x).any() or np.isnan(y).any()):
        return bool(np.allclose(x, y, rtol=RTOL, atol=ATOL))
    return bool((a.str.strip().to_numpy() == b.str.strip().to_numpy()).all())


def _constant(column: pd.Series) -> bool:
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    if not np.isnan(numbers).any():
        spread = float(numbers.max() - numbers.min())
        return spread <= ATOL + RTOL * float(np.abs(numbers).max())
    return column.str.strip().nunique() == 1


def no_model_reason(submission: Path, spec: TaskSpec, public: Path) -> str | None:
    """Why a valid ``submission`` shows no trained model, or None when it may have one."""
    targets = [c for c in spec.target_columns if c != spec.id_column]
    if not targets:
        return None
    sub = _read(submission, [spec.id_column, *targets])
    if sub is None or len(sub) < 2:
        return None
    if all(_constant(sub[c]) for c in targets):
        return "every row of the submission has the same prediction"
    sample_path = sample_submission_path(spec, public)
    sample = None if sample_path is None else _read(sample_path, [spec.id_column, *targets])
    if sample is None or len(sample) != len(sub):
        return None
    # Align by id (stable sort, so rows with a repeated id keep their order).
    sub = sub.sort_values(spec.id_column, kind="mergesort").reset_index(drop=True)
    sample = sample.sort_values(spec.id_column, kind="mergesort").reset_index(drop=True)
    if not (sub[spec.id_column].str.strip() == sample[spec.id_column].str.strip()).all():
        return None
    if all(_same_values(sub[c], sample[c]) for c in targets):
        return f"the submission equals the sample submission {sample_path.name}"  # type: ignore[union-attr]
    return None


__all__ = ["no_model_reason", "sample_submission_path"]
