"""lmsys-chatbot-arena: full-data preparation from a small raw Kaggle download, and lite data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mle_gym.data import load_task_module
from mle_gym.spec import load_task

SPEC = load_task("lmsys-chatbot-arena")
TARGETS = ["winner_model_a", "winner_model_b", "winner_tie"]
RAW_COLUMNS = ["id", "model_a", "model_b", "prompt", "response_a", "response_b", *TARGETS]
N_RAW = 250


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lite")
    load_task_module(SPEC, "lite").generate(out, seed=0)
    return out


def _raw_download(lite: Path, raw: Path) -> pd.DataFrame:
    """Kaggle's layout: a labelled train.csv, an unlabelled test.csv, a sample submission."""
    raw.mkdir()
    labelled = pd.read_csv(lite / "public" / "train.csv")
    train = labelled.iloc[:N_RAW]
    train.to_csv(raw / "train.csv", index=False)
    kaggle_test = labelled.iloc[N_RAW : N_RAW + 3][["id", "prompt", "response_a", "response_b"]]
    kaggle_test.to_csv(raw / "test.csv", index=False)
    sample = kaggle_test[["id"]].assign(**{t: 1 / 3 for t in TARGETS})
    sample.to_csv(raw / "sample_submission.csv", index=False)
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

    assert list(train.columns) == RAW_COLUMNS
    assert list(test.columns) == ["id", "prompt", "response_a", "response_b"]
    assert test["prompt"].tolist() == expected_test["prompt"].tolist()
    assert list(sample.columns) == ["id", *TARGETS]
    assert sample["id"].tolist() == test["id"].tolist()
    assert (sample[TARGETS] - 1 / 3).abs().max().max() < 1e-12

    # Answers: the submission format, test ids in order, the votes of the held-out rows.
    assert list(answers.columns) == [SPEC.id_column, *SPEC.target_columns]
    assert answers["id"].tolist() == test["id"].tolist()
    votes = raw_train.set_index("id").loc[answers["id"], TARGETS].to_numpy()
    assert (answers[TARGETS].to_numpy() == votes).all()
    assert (answers[TARGETS].sum(axis=1) == 1).all()


def test_lite_layout(lite: Path) -> None:
    train = pd.read_csv(lite / "public" / "train.csv")
    test = pd.read_csv(lite / "public" / "test.csv")
    answers = pd.read_csv(lite / "private" / "answers.csv")
    names = sorted(p.name for p in (lite / "public").iterdir())
    assert sorted(f.name for f in SPEC.public_files) == names
    for f in SPEC.public_files:
        assert list(pd.read_csv(lite / "public" / f.name).columns) == f.columns
    assert answers["id"].tolist() == test["id"].tolist()
    assert (train[TARGETS].sum(axis=1) == 1).all()
    assert not set(train["id"]) & set(test["id"])
    # Prompt and answers are JSON lists of strings (or null), one entry per turn.
    for row in train.head(200).itertuples():
        prompt, a, b = (json.loads(x) for x in (row.prompt, row.response_a, row.response_b))
        assert isinstance(prompt, list) and len(prompt) == len(a) == len(b) >= 1
        assert all(isinstance(t, str) for t in prompt)
        assert all(t is None or isinstance(t, str) for t in a + b)
