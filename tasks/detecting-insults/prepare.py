"""Full data for detecting-insults, prepared as MLE-bench prepares it.

Kaggle published the labels of its test set (``test_with_solutions.csv``), so there is no
split: the Kaggle training file is the training set and the labelled Kaggle test set is the
test set. The verification set released after the competition is not used (as in MLE-bench).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

RAW_FILES = ["train.csv", "test_with_solutions.csv"]
COLUMNS = ["Insult", "Date", "Comment"]


def _read(path: Path) -> pd.DataFrame:
    # Keep every cell as written: blank dates stay blank and no comment is read as NaN.
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path.name} lacks column(s) {missing}; expected {COLUMNS}")
    return frame


def prepare_full(raw: Path, public: Path, private: Path) -> None:
    """Write public/{train,test,sample_submission_null}.csv and private/answers.csv."""
    raw, public, private = Path(raw), Path(public), Path(private)
    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)

    _read(raw / "train.csv")  # checks the columns
    shutil.copy(raw / "train.csv", public / "train.csv")

    labelled = _read(raw / "test_with_solutions.csv")
    answers = labelled[COLUMNS].copy()
    answers["Insult"] = answers["Insult"].astype(int)
    answers.to_csv(private / "answers.csv", index=False)
    answers[["Date", "Comment"]].to_csv(public / "test.csv", index=False)
    answers.assign(Insult=0).to_csv(public / "sample_submission_null.csv", index=False)
