"""Full data for tweet-sentiment, prepared as MLE-bench prepares it.

Kaggle's labelled train.csv (27,481 tweets) is split 90/10 with sklearn's train_test_split
(random_state=0); the held-out tenth becomes the test set without its selected_text column.
The sample submission leaves every selected_text empty, as MLE-bench's does.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

RAW_FILES = ["train.csv"]
COLUMNS = ["textID", "text", "selected_text", "sentiment"]


def prepare_full(raw: Path, public: Path, private: Path) -> None:
    """Write public/{train,test,sample_submission}.csv and private/answers.csv from `raw`."""
    raw, public, private = Path(raw), Path(public), Path(private)
    # Read as MLE-bench does (pandas defaults): the one Kaggle row without text stays empty.
    old_train = pd.read_csv(raw / "train.csv", dtype={"textID": str})
    if list(old_train.columns) != COLUMNS:
        raise ValueError(f"{raw / 'train.csv'} has columns {list(old_train.columns)}, "
                         f"expected {COLUMNS}")

    new_train, new_test = train_test_split(old_train, test_size=0.1, random_state=0)
    sample = new_test[["textID"]].copy()
    sample["selected_text"] = ""

    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    new_train.to_csv(public / "train.csv", index=False)
    new_test.drop(columns=["selected_text"]).to_csv(public / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
    new_test[["textID", "selected_text"]].to_csv(private / "answers.csv", index=False)
