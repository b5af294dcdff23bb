"""Full data for random-acts-of-pizza, prepared as MLE-bench prepares it.

Kaggle's test set has no labels, so MLE-bench splits Kaggle's training file: the test share is
Kaggle's own test share, len(test.json) / (len(train.json) + len(test.json)), and the split is
``train_test_split(records, test_size=share, random_state=0)``. The new test records keep only
the fields that Kaggle's test.json has, less ``giver_username_if_known``: it names the person
who gave the pizza, so it gives the answer away (MLE-bench keeps it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

RAW_FILES = ["train.json", "test.json"]
ID = "request_id"
TARGET = "requester_received_pizza"
LEAKS = ["giver_username_if_known"]


def _load(path: Path) -> list[dict]:
    records = json.loads(path.read_text())
    if not isinstance(records, list) or not records:
        raise ValueError(f"{path.name} should hold a non-empty JSON list of requests")
    return records


def prepare_full(raw: Path, public: Path, private: Path) -> None:
    """Write public/{train.json,test.json,sampleSubmission.csv} and private/answers.csv."""
    raw, public, private = Path(raw), Path(public), Path(private)
    old_train = _load(raw / "train.json")
    old_test = _load(raw / "test.json")
    for name, records in (("train.json", old_train), ("test.json", old_test)):
        keys = set(records[0])
        if any(set(r) != keys for r in records):
            raise ValueError(f"the requests in {name} do not all have the same fields")
    for field in (ID, TARGET):
        if field not in old_train[0]:
            raise ValueError(f"train.json lacks the field {field!r}")

    share = len(old_test) / (len(old_train) + len(old_test))
    new_train, new_test = train_test_split(old_train, test_size=share, random_state=0)
    test_fields = [k for k in old_test[0] if k not in LEAKS]
    public_test = [{k: r[k] for k in test_fields} for r in new_test]

    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    (public / "train.json").write_text(json.dumps(new_train, indent=4))
    (public / "test.json").write_text(json.dumps(public_test, indent=4))
    answers = pd.DataFrame({
        ID: [r[ID] for r in new_test],
        TARGET: [int(r[TARGET]) for r in new_test],
    })
    answers.to_csv(private / "answers.csv", index=False)
    answers.assign(**{TARGET: 0}).to_csv(public / "sampleSubmission.csv", index=False)
