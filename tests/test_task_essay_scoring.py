"""essay-scoring: MLE-bench's preparation of the Kaggle download, and the lite generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mle_gym.data import load_task_module
from mle_gym.spec import load_task

SPEC = load_task("essay-scoring")
N_RAW = 347  # 10% test: ceil(34.7) = 35 rows


@pytest.fixture(scope="module")
def lite():
    module = load_task_module(SPEC, "lite")
    module.N_TRAIN, module.N_TEST = 250, N_RAW - 250  # small, to keep the test fast
    return module


def write_raw(lite, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A small Kaggle download in the real layout, built from lite essays."""
    lite.generate(tmp_path / "lite", seed=5)
    train = pd.read_csv(tmp_path / "lite" / "public" / "train.csv", dtype={"essay_id": str})
    test = pd.read_csv(tmp_path / "lite" / "public" / "test.csv", dtype={"essay_id": str})
    answers = pd.read_csv(tmp_path / "lite" / "private" / "answers.csv", dtype={"essay_id": str})
    full = pd.concat([train, test.merge(answers, on="essay_id")], ignore_index=True)
    raw = tmp_path / "raw"
    raw.mkdir()
    full[["essay_id", "full_text", "score"]].to_csv(raw / "train.csv", index=False)
    # Kaggle also ships a three-essay test.csv and its sample submission; neither is used.
    full[["essay_id", "full_text"]].head(3).to_csv(raw / "test.csv", index=False)
    pd.DataFrame({"essay_id": full["essay_id"].head(3), "score": 3}).to_csv(
        raw / "sample_submission.csv", index=False)
    return raw, full


def test_prepare_full_reproduces_mlebench_split(lite, tmp_path):
    raw, full = write_raw(lite, tmp_path)
    public, private = tmp_path / "public", tmp_path / "private"
    load_task_module(SPEC, "prepare").prepare_full(raw, public, private)

    read = {"dtype": {"essay_id": str}}
    train = pd.read_csv(public / "train.csv", **read)
    test = pd.read_csv(public / "test.csv", **read)
    sample = pd.read_csv(public / "sample_submission.csv", **read)
    answers = pd.read_csv(private / "answers.csv", **read)

    assert (len(train), len(test)) == (312, 35)
    train_idx, test_idx = train_test_split(np.arange(N_RAW), test_size=0.1, random_state=0)
    assert list(test["essay_id"]) == list(full["essay_id"].iloc[test_idx])
    assert list(train["essay_id"]) == list(full["essay_id"].iloc[train_idx])
    assert list(train.columns) == ["essay_id", "full_text", "score"]
    assert list(test.columns) == ["essay_id", "full_text"]
    assert list(test["full_text"]) == list(full["full_text"].iloc[test_idx])

    # answers.csv is a perfect submission, in test order; nothing of it leaks into public/.
    assert list(answers.columns) == ["essay_id", "score"]
    assert list(answers["essay_id"]) == list(test["essay_id"])
    assert list(answers["score"]) == list(full["score"].iloc[test_idx])
    assert "score" not in test.columns
    assert sorted(p.name for p in public.iterdir()) == [
        "sample_submission.csv", "test.csv", "train.csv"]

    # The sample submission: MLE-bench's random grades.
    assert list(sample.columns) == ["essay_id", "score"]
    assert list(sample["essay_id"]) == list(test["essay_id"])
    expected = np.random.RandomState(42).randint(1, 7, size=len(test))
    assert list(sample["score"]) == list(expected)


def test_lite_schema(lite, tmp_path):
    lite.generate(tmp_path / "a", seed=2)
    read = {"dtype": {"essay_id": str}}
    train = pd.read_csv(tmp_path / "a" / "public" / "train.csv", **read)
    test = pd.read_csv(tmp_path / "a" / "public" / "test.csv", **read)
    answers = pd.read_csv(tmp_path / "a" / "private" / "answers.csv", **read)
    assert list(train.columns) == ["essay_id", "full_text", "score"]
    assert list(test.columns) == ["essay_id", "full_text"]
    assert list(answers["essay_id"]) == list(test["essay_id"])
    assert set(train["score"]) <= {1, 2, 3, 4, 5, 6} and set(answers["score"]) <= set(range(1, 7))
    assert not set(train["essay_id"]) & set(test["essay_id"])
    assert train["full_text"].str.contains("\n\n").any()
