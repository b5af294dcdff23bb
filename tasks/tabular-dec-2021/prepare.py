"""Full data for tabular-dec-2021, split as MLE-bench does.

Kaggle's labelled train.csv (4,000,000 rows) is split with sklearn's ``train_test_split``
(``test_size=0.1``, ``random_state=0``) into 3,600,000 training and 400,000 held-out rows; the
``Id`` values are kept. Kaggle's own test.csv is unlabelled and not used.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

RAW_FILES = ["train.csv"]
TEST_SIZE = 0.1


def prepare_full(raw: Path, public: Path, private: Path) -> None:
    """Write public/{train,test,sample_submission}.csv and private/answers.csv from ``raw``."""
    raw, public, private = Path(raw), Path(public), Path(private)
    old = pd.read_csv(raw / "train.csv")
    train, test = train_test_split(old, test_size=TEST_SIZE, random_state=0)

    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=["Cover_Type"]).to_csv(public / "test.csv", index=False)
    # The sample submission predicts the most common class, 2, everywhere (as MLE-bench's).
    pd.DataFrame({"Id": test["Id"].to_numpy(), "Cover_Type": 2}).to_csv(
        public / "sample_submission.csv", index=False
    )
    test[["Id", "Cover_Type"]].to_csv(private / "answers.csv", index=False)
