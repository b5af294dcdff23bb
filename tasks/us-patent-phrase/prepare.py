"""Full data for us-patent-phrase, prepared as MLE-bench prepares it.

Kaggle's test set has no public scores, so MLE-bench holds out 10% of Kaggle's train.csv
(``train_test_split(test_size=0.1, random_state=0)``) as the new test set. Ids and columns are
kept as they are; the sample submission gives every test row a score of 0.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

RAW_FILES = ["train.csv"]


def prepare_full(raw: Path, public: Path, private: Path) -> None:
    """Write public/{train,test,sample_submission}.csv and private/answers.csv from ``raw``."""
    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)

    # MLE-bench reads with float_precision="round_trip"; pandas 3 deprecates the option and
    # reads these quarter-step scores exactly either way.
    old_train = pd.read_csv(Path(raw) / "train.csv")
    new_train, new_test = train_test_split(old_train, test_size=0.1, random_state=0)

    new_train.to_csv(public / "train.csv", index=False)
    new_test.drop(columns=["score"]).to_csv(public / "test.csv", index=False)
    sample = new_test[["id"]].copy()
    sample["score"] = 0
    sample.to_csv(public / "sample_submission.csv", index=False)
    new_test[["id", "score"]].to_csv(private / "answers.csv", index=False)
