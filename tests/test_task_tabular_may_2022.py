"""tabular-may-2022: MLE-bench's preparation of the Kaggle download, run on a small copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mle_gym.data import load_task_module
from mle_gym.spec import load_task

SPEC = load_task("tabular-may-2022")
FEATURES = [f"f_{i:02d}" for i in range(31)]
N_RAW = 300
N_HELD_OUT = 30  # stands in for MLE-bench's 100,000 held-out rows
READ = {"float_precision": "round_trip"} if pd.__version__.startswith("2.") else {}


@pytest.fixture(scope="module")
def lite():
    module = load_task_module(SPEC, "lite")
    module.N_TRAIN, module.N_TEST = 200, N_RAW - 200  # small, to keep the test fast
    return module


@pytest.fixture
def prep():
    module = load_task_module(SPEC, "prepare")  # a fresh module: the patch stays local
    module.TEST_SIZE = N_HELD_OUT
    return module


def write_raw(lite, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """Kaggle's layout: train.csv (id 0.., features, target), test.csv, sample_submission.csv."""
    lite.generate(tmp_path / "lite", seed=3)
    train = pd.read_csv(tmp_path / "lite" / "public" / "train.csv", **READ)
    test = pd.read_csv(tmp_path / "lite" / "public" / "test.csv", **READ)
    answers = pd.read_csv(tmp_path / "lite" / "private" / "answers.csv")
    full = pd.concat([train, test.merge(answers, on="id")], ignore_index=True)
    full["id"] = np.arange(len(full))
    raw = tmp_path / "raw"
    raw.mkdir()
    full[["id", *FEATURES, "target"]].to_csv(raw / "train.csv", index=False)
    # Kaggle's unlabelled test set (ids continue after train) and its sample; neither is used.
    kaggle_test = full[FEATURES].head(5).assign(id=np.arange(N_RAW, N_RAW + 5))
    kaggle_test[["id", *FEATURES]].to_csv(raw / "test.csv", index=False)
    pd.DataFrame({"id": kaggle_test["id"], "target": 0.5}).to_csv(
        raw / "sample_submission.csv", index=False)
    return raw, full


def test_prepare_full_reproduces_mlebench_split(lite, prep, tmp_path):
    raw, full = write_raw(lite, tmp_path)
    public, private = tmp_path / "public", tmp_path / "private"
    prep.prepare_full(raw, public, private)

    train = pd.read_csv(public / "train.csv", **READ)
    test = pd.read_csv(public / "test.csv", **READ)
    sample = pd.read_csv(public / "sample_submission.csv")
    answers = pd.read_csv(private / "answers.csv")

    assert (len(train), len(test)) == (N_RAW - N_HELD_OUT, N_HELD_OUT)
    train_idx, test_idx = train_test_split(np.arange(N_RAW), test_size=N_HELD_OUT, random_state=0)
    # Ids renumbered: train 0..n_train-1 and test continuing, both in split order.
    assert list(train["id"]) == list(range(len(train)))
    assert list(test["id"]) == list(range(len(train), N_RAW))
    # The rows themselves are the split's rows, values unchanged (floats round-trip exactly).
    labelled = [*FEATURES, "target"]
    pd.testing.assert_frame_equal(
        train[labelled], full.iloc[train_idx][labelled].reset_index(drop=True))
    pd.testing.assert_frame_equal(
        test[FEATURES], full.iloc[test_idx][FEATURES].reset_index(drop=True))

    assert list(train.columns) == ["id", *FEATURES, "target"]
    assert list(test.columns) == ["id", *FEATURES]  # no answer column leaks
    assert list(sample.columns) == ["id", "target"] and (sample["target"] == 0.5).all()
    assert list(sample["id"]) == list(test["id"])
    assert list(answers.columns) == ["id", "target"]
    assert list(answers["id"]) == list(test["id"])
    assert list(answers["target"]) == list(full["target"].iloc[test_idx])
    assert set(answers["target"]) <= {0, 1}
    assert sorted(p.name for p in public.iterdir()) == [
        "sample_submission.csv", "test.csv", "train.csv"]
    assert sorted(p.name for p in private.iterdir()) == ["answers.csv"]


def test_real_test_size_needs_the_full_file(lite, tmp_path):
    raw, _ = write_raw(lite, tmp_path)
    prep = load_task_module(SPEC, "prepare")
    assert prep.TEST_SIZE == 100_000
    with pytest.raises(ValueError, match="100000"):
        prep.prepare_full(raw, tmp_path / "public", tmp_path / "private")


def test_lite_matches_the_spec(lite, tmp_path):
    lite.generate(tmp_path / "a", seed=1)
    train = pd.read_csv(tmp_path / "a" / "public" / "train.csv")
    test = pd.read_csv(tmp_path / "a" / "public" / "test.csv")
    answers = pd.read_csv(tmp_path / "a" / "private" / "answers.csv")
    assert list(train["id"]) == list(range(len(train)))
    assert list(test["id"]) == list(range(len(train), len(train) + len(test)))
    assert list(answers["id"]) == list(test["id"])
    assert train["f_27"].str.fullmatch("[A-T]{10}").all()
    assert set(train["target"]) == {0, 1} and set(train["f_30"]) <= {0, 1, 2}
