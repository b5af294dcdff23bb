"""Full data for tabular-may-2022, split as MLE-bench does.

Kaggle's labelled train.csv (900,000 rows) is split with sklearn's ``train_test_split``
(``test_size=100_000``, ``random_state=0``); the ids are then renumbered: the new training
rows get 0 .. n_train - 1 and the held-out rows continue from n_train, both in split order.
Kaggle's own test.csv is unlabelled and not used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

RAW_FILES = ["train.csv"]
TEST_SIZE = 100_000  # held-out rows (an absolute count, as in MLE-bench)
# MLE-bench reads with float_precision="round_trip" so every float survives the rewrite
# exactly; pandas 3 parses that way by default and deprecates the option.
READ_FLOATS = {"float_precision": "round_trip"} if pd.__version__.startswith("2.") else {}


def prepare_full(raw: Path, public: Path, private: Path) -> None:
    """Write public/{train,test,sample_submission}.csv and private/answers.csv from ``raw``."""
    raw, public, private = Path(raw), Path(public), Path(private)
    old = pd.read_csv(raw / "train.csv", **READ_FLOATS)
    if len(old) <= TEST_SIZE:
        raise ValueError(
            f"{raw / 'train.csv'} has {len(old)} rows; the split holds out {TEST_SIZE}, so it "
            f"needs more (the Kaggle file has 900,000)"
        )
    train, test = train_test_split(old, test_size=TEST_SIZE, random_state=0)
    train = train.copy()
    test = test.copy()
    train["id"] = np.arange(len(train))
    test["id"] = np.arange(len(train), len(train) + len(test))

    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=["target"]).to_csv(public / "test.csv", index=False)
    pd.DataFrame({"id": test["id"], "target": 0.5}).to_csv(
        public / "sample_submission.csv", index=False
    )
    test[["id", "target"]].to_csv(private / "answers.csv", index=False)
