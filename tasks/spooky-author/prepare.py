"""Full data for spooky-author, split as MLE-bench splits it.

Kaggle's labelled train.csv (19,579 sentences) is split 90/10 with scikit-learn's
``train_test_split(test_size=0.1, random_state=0)``; the 1,958 held-out sentences become the
test set. The sample submission carries Kaggle's constant class priors.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

RAW_FILES = ["train.csv"]
CLASSES = ["EAP", "HPL", "MWS"]
# The constant probabilities of Kaggle's own sample submission.
SAMPLE_PRIORS = {"EAP": 0.403493538995863, "HPL": 0.287808366106543, "MWS": 0.308698094897594}


def prepare_full(raw: Path, public: Path, private: Path) -> None:
    labelled = pd.read_csv(raw / "train.csv")
    train, test = train_test_split(labelled, test_size=0.1, random_state=0)

    answers = pd.DataFrame({"id": test["id"].to_numpy()})
    for author in CLASSES:
        answers[author] = (test["author"].to_numpy() == author).astype(int)
    sample = answers[["id"]].assign(**SAMPLE_PRIORS)

    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=["author"]).to_csv(public / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
    answers.to_csv(private / "answers.csv", index=False)
