"""Full data for lmsys-chatbot-arena, prepared as MLE-bench prepares it.

Kaggle's test set is hidden, so MLE-bench holds out 10% of Kaggle's train.csv
(``train_test_split(test_size=0.1, random_state=0)``) as the new test set. The new test.csv
keeps only id, prompt, response_a and response_b (no model names, no votes); train.csv keeps
every column. The sample submission gives each outcome 1/3.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

RAW_FILES = ["train.csv"]
TARGETS = ["winner_model_a", "winner_model_b", "winner_tie"]


def prepare_full(raw: Path, public: Path, private: Path) -> None:
    """Write public/{train,test,sample_submission}.csv and private/answers.csv from ``raw``."""
    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)

    old_train = pd.read_csv(Path(raw) / "train.csv")
    new_train, held_out = train_test_split(old_train, test_size=0.1, random_state=0)

    new_train.to_csv(public / "train.csv", index=False)
    held_out[["id", "prompt", "response_a", "response_b"]].to_csv(public / "test.csv", index=False)
    sample = held_out[["id"]].copy()
    for name in TARGETS:
        sample[name] = 1 / 3
    sample.to_csv(public / "sample_submission.csv", index=False)
    # MLE-bench keeps the whole held-out rows as answers; the grader needs only the votes.
    held_out[["id", *TARGETS]].to_csv(private / "answers.csv", index=False)
