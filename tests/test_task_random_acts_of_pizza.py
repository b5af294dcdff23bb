"""random-acts-of-pizza: prepare_full on a small download in Kaggle's layout."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mle_gym.data import from_folder
from mle_gym.grading.grader import grade_file
from mle_gym.spec import load_task

TASK = Path(__file__).resolve().parents[1] / "tasks" / "random-acts-of-pizza"
N_TRAIN, N_TEST = 300, 120
GIVER = "giver_username_if_known"


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"pizza_{name}", TASK / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lite() -> ModuleType:
    return _module("lite")


@pytest.fixture(scope="module")
def raw(lite: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kaggle's train.json (every field) and test.json (request-time fields and the giver)."""
    rng = np.random.default_rng(11)
    records = [lite._record(rng)[0] for _ in range(N_TRAIN + N_TEST)]
    for i, r in enumerate(records):
        r["request_id"] = f"t3_{i:05x}"  # unique ids
    kaggle_test_fields = sorted([*lite.FIELDS_TEST, GIVER])
    test = [{k: r[k] for k in kaggle_test_fields} for r in records[N_TRAIN:]]
    folder = tmp_path_factory.mktemp("raw")
    (folder / "train.json").write_text(json.dumps(records[:N_TRAIN], indent=4))
    (folder / "test.json").write_text(json.dumps(test, indent=4))
    pd.DataFrame({"request_id": [r["request_id"] for r in test], "requester_received_pizza": 0}).to_csv(
        folder / "sampleSubmission.csv", index=False
    )
    return folder


@pytest.fixture(scope="module")
def prepared(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prepared")
    _module("prepare").prepare_full(raw, out / "public", out / "private")
    return out


def _json(path: Path) -> list[dict]:
    return json.loads(path.read_text())


def test_split_sizes_and_ids(raw: Path, prepared: Path) -> None:
    old_train = _json(raw / "train.json")
    train, test = _json(prepared / "public" / "train.json"), _json(prepared / "public" / "test.json")
    n_test = math.ceil(N_TRAIN * N_TEST / (N_TRAIN + N_TEST))  # sklearn rounds the test share up
    assert (len(train), len(test)) == (N_TRAIN - n_test, n_test) == (214, 86)
    expect_train, expect_test = train_test_split(
        old_train, test_size=N_TEST / (N_TRAIN + N_TEST), random_state=0
    )
    assert [r["request_id"] for r in train] == [r["request_id"] for r in expect_train]
    assert [r["request_id"] for r in test] == [r["request_id"] for r in expect_test]
    assert train == expect_train  # training records keep every field and value


def test_public_fields(lite: ModuleType, prepared: Path) -> None:
    train, test = _json(prepared / "public" / "train.json"), _json(prepared / "public" / "test.json")
    assert all(list(r) == lite.FIELDS_TRAIN for r in train)
    assert all(list(r) == lite.FIELDS_TEST for r in test)
    assert sorted(p.name for p in (prepared / "public").iterdir()) == [
        "sampleSubmission.csv", "test.json", "train.json"
    ]


def test_no_leaks_in_test(prepared: Path) -> None:
    text = (prepared / "public" / "test.json").read_text()
    for field in (GIVER, "requester_received_pizza", "requester_user_flair", "request_text\""):
        assert field not in text
    assert "_at_retrieval" not in text


def test_answers_and_sample(raw: Path, prepared: Path) -> None:
    test = _json(prepared / "public" / "test.json")
    truth = {r["request_id"]: int(r["requester_received_pizza"]) for r in _json(raw / "train.json")}
    answers = pd.read_csv(prepared / "private" / "answers.csv")
    sample = pd.read_csv(prepared / "public" / "sampleSubmission.csv")
    ids = [r["request_id"] for r in test]
    for frame in (answers, sample):
        assert list(frame.columns) == ["request_id", "requester_received_pizza"]
        assert frame["request_id"].tolist() == ids
    assert answers["requester_received_pizza"].tolist() == [truth[i] for i in ids]
    assert set(sample["requester_received_pizza"]) == {0}
    data = from_folder(load_task("random-acts-of-pizza"), prepared)
    shuffled = answers.sample(frac=1.0, random_state=0)  # rows are matched by id
    assert grade_file(data, shuffled).score == 1.0


def test_lite_records_are_deterministic(lite: ModuleType) -> None:
    a = [lite._record(np.random.default_rng(5))[0] for _ in range(3)]
    b = [lite._record(np.random.default_rng(5))[0] for _ in range(3)]
    assert a == b
    assert list(a[0]) == lite.FIELDS_TRAIN
