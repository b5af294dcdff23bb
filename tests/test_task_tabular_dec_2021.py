"""tabular-dec-2021: MLE-bench's preparation of the Kaggle download, run on a small copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mle_gym.data import load_task_module
from mle_gym.spec import load_task

SPEC = load_task("tabular-dec-2021")
N_RAW = 305  # 10% test: ceil(30.5) = 31 rows


@pytest.fixture(scope="module")
def lite():
    module = load_task_module(SPEC, "lite")
    module.N_TRAIN, module.N_TEST = 250, N_RAW - 250  # small, to keep the test fast
    return module


def write_raw(lite, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """Kaggle's layout: train.csv (Id, 54 features, Cover_Type), test.csv, sample_submission.csv."""
    lite.generate(tmp_path / "lite", seed=4)
    train = pd.read_csv(tmp_path / "lite" / "public" / "train.csv")
    test = pd.read_csv(tmp_path / "lite" / "public" / "test.csv")
    answers = pd.read_csv(tmp_path / "lite" / "private" / "answers.csv")
    # Kaggle's train.csv is sorted by Id.
    full = pd.concat([train, test.merge(answers, on="Id")]).sort_values("Id", ignore_index=True)
    raw = tmp_path / "raw"
    raw.mkdir()
    full.to_csv(raw / "train.csv", index=False)
    # Kaggle's unlabelled test set (ids after train's) and its sample; neither is used.
    kaggle_test = full.drop(columns=["Cover_Type"]).head(5).assign(Id=np.arange(N_RAW, N_RAW + 5))
    kaggle_test.to_csv(raw / "test.csv", index=False)
    pd.DataFrame({"Id": kaggle_test["Id"], "Cover_Type": 2}).to_csv(
        raw / "sample_submission.csv", index=False)
    return raw, full


def test_prepare_full_reproduces_mlebench_split(lite, tmp_path):
    raw, full = write_raw(lite, tmp_path)
    features = [c for c in full.columns if c not in ("Id", "Cover_Type")]
    assert len(features) == 54
    public, private = tmp_path / "public", tmp_path / "private"
    load_task_module(SPEC, "prepare").prepare_full(raw, public, private)

    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    sample = pd.read_csv(public / "sample_submission.csv")
    answers = pd.read_csv(private / "answers.csv")

    assert (len(train), len(test)) == (274, 31)
    train_idx, test_idx = train_test_split(np.arange(N_RAW), test_size=0.1, random_state=0)
    # Ids are kept (not renumbered); the rows are the split's rows in split order.
    pd.testing.assert_frame_equal(train, full.iloc[train_idx].reset_index(drop=True))
    pd.testing.assert_frame_equal(
        test, full.iloc[test_idx].drop(columns=["Cover_Type"]).reset_index(drop=True))
    assert set(train["Id"]).isdisjoint(test["Id"])

    assert list(train.columns) == ["Id", *features, "Cover_Type"]
    assert list(test.columns) == ["Id", *features]  # no answer column leaks
    assert [f.name for f in SPEC.public_files] == ["train.csv", "test.csv", "sample_submission.csv"]
    assert SPEC.public_files[0].columns == list(train.columns)
    assert SPEC.public_files[1].columns == list(test.columns)
    assert list(sample.columns) == ["Id", "Cover_Type"] and (sample["Cover_Type"] == 2).all()
    assert list(sample["Id"]) == list(test["Id"])
    assert list(answers.columns) == ["Id", "Cover_Type"]
    assert list(answers["Id"]) == list(test["Id"])
    assert list(answers["Cover_Type"]) == list(full["Cover_Type"].iloc[test_idx])
    assert set(answers["Cover_Type"]) <= set(range(1, 8))
    assert sorted(p.name for p in public.iterdir()) == [
        "sample_submission.csv", "test.csv", "train.csv"]
    assert sorted(p.name for p in private.iterdir()) == ["answers.csv"]


def test_lite_matches_the_spec(lite, tmp_path):
    lite.generate(tmp_path / "a", seed=1)
    train = pd.read_csv(tmp_path / "a" / "public" / "train.csv")
    test = pd.read_csv(tmp_path / "a" / "public" / "test.csv")
    answers = pd.read_csv(tmp_path / "a" / "private" / "answers.csv")
    assert list(answers["Id"]) == list(test["Id"])
    assert set(train["Id"]).isdisjoint(test["Id"])
    assert set(train["Cover_Type"]) <= set(range(1, 8))
    assert (train[["Soil_Type7", "Soil_Type15"]] == 0).all().all()
    assert all(train[c].dtype.kind == "i" for c in train.columns)
