"""us-patent-phrase: full-data preparation from a small raw Kaggle download, and lite data."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mle_gym.data import load_task_module
from mle_gym.spec import load_task

SPEC = load_task("us-patent-phrase")
N_RAW = 300


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lite")
    load_task_module(SPEC, "lite").generate(out, seed=0)
    return out


def _raw_download(lite: Path, raw: Path) -> pd.DataFrame:
    """Kaggle's layout: train.csv with scores, an unscored test.csv, a sample submission."""
    raw.mkdir()
    scored = pd.read_csv(lite / "public" / "train.csv")
    train = scored.iloc[:N_RAW]
    train.to_csv(raw / "train.csv", index=False)
    kaggle_test = scored.iloc[N_RAW : N_RAW + 36].drop(columns="score")
    kaggle_test.to_csv(raw / "test.csv", index=False)
    kaggle_test[["id"]].assign(score=0).to_csv(raw / "sample_submission.csv", index=False)
    return train


def test_prepare_full_matches_mlebench_split(lite: Path, tmp_path: Path) -> None:
    raw_train = _raw_download(lite, tmp_path / "raw")
    public, private = tmp_path / "public", tmp_path / "private"
    load_task_module(SPEC, "prepare").prepare_full(tmp_path / "raw", public, private)

    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    sample = pd.read_csv(public / "sample_submission.csv")
    answers = pd.read_csv(private / "answers.csv")

    n_test = math.ceil(0.1 * N_RAW)
    assert (len(train), len(test)) == (N_RAW - n_test, n_test)
    expected_train, expected_test = train_test_split(raw_train, test_size=0.1, random_state=0)
    assert train["id"].tolist() == expected_train["id"].tolist()
    assert test["id"].tolist() == expected_test["id"].tolist()
    assert set(train["id"]).isdisjoint(test["id"])

    assert list(train.columns) == ["id", "anchor", "target", "context", "score"]
    assert list(test.columns) == ["id", "anchor", "target", "context"]
    assert list(sample.columns) == ["id", "score"]
    assert sample["id"].tolist() == test["id"].tolist() and (sample["score"] == 0).all()

    assert list(answers.columns) == [SPEC.id_column, *SPEC.target_columns]
    assert answers["id"].tolist() == test["id"].tolist()
    truth = raw_train.set_index("id").loc[answers["id"], "score"].to_numpy()
    assert (answers["score"].to_numpy() == truth).all()
    assert set(answers["score"]) <= {0.0, 0.25, 0.5, 0.75, 1.0}


def test_lite_layout_and_determinism(lite: Path, tmp_path: Path) -> None:
    train = pd.read_csv(lite / "public" / "train.csv")
    test = pd.read_csv(lite / "public" / "test.csv")
    answers = pd.read_csv(lite / "private" / "answers.csv")
    names = sorted(p.name for p in (lite / "public").iterdir())
    assert sorted(f.name for f in SPEC.public_files) == names
    for f in SPEC.public_files:
        assert list(pd.read_csv(lite / "public" / f.name).columns) == f.columns
    assert answers["id"].tolist() == test["id"].tolist()
    assert set(train["score"]) == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert not set(train["id"]) & set(test["id"])
    assert train["id"].str.fullmatch(r"[0-9a-f]{16}").all()
    load_task_module(SPEC, "lite").generate(tmp_path, seed=0)
    assert (tmp_path / "public" / "train.csv").read_bytes() == (
        lite / "public" / "train.csv"
    ).read_bytes()
