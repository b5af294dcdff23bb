"""Full data for essay-scoring, prepared as MLE-bench prepares it.

Kaggle's labelled train.csv (17,307 essays) is split 90/10 with sklearn's train_test_split
(random_state=0); the held-out tenth becomes the test set without its score column. The
sample submission gives every test essay a random grade, drawn exactly as MLE-bench draws it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

RAW_FILES = ["train.csv"]


def prepare_full(raw: Path, public: Path, private: Path) -> None:
    """Write public/{train,test,sample_submission}.csv and private/answers.csv from `raw`."""
    raw, public, private = Path(raw), Path(public), Path(private)
    old_train = pd.read_csv(raw / "train.csv", dtype={"essay_id": str})
    expected = ["essay_id", "full_text", "score"]
    if list(old_train.columns) != expected:
        raise ValueError(f"{raw / 'train.csv'} has columns {list(old_train.columns)}, "
                         f"expected {expected}")

    new_train, new_test = train_test_split(old_train, test_size=0.1, random_state=0)
    answers = new_test[["essay_id", "score"]]
    sample = new_test[["essay_id"]].copy()
    sample["score"] = np.random.RandomState(42).randint(1, 7, size=len(sample))

    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    new_train.to_csv(public / "train.csv", index=False)
    new_test.drop(columns=["score"]).to_csv(public / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
    answers.to_csv(private / "answers.csv", index=False)
