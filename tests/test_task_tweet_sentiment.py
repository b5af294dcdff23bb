"""tweet-sentiment: MLE-bench's preparation of the Kaggle download, and the lite generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mle_gym.data import load_task_module
from mle_gym.spec import load_task

SPEC = load_task("tweet-sentiment")
N_RAW = 413  # 10% test: ceil(41.3) = 42 rows
COLUMNS = ["textID", "text", "selected_text", "sentiment"]


@pytest.fixture(scope="module")
def lite():
    module = load_task_module(SPEC, "lite")
    module.N_TRAIN, module.N_TEST = 300, N_RAW - 300
    return module


def write_raw(lite, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A small Kaggle download in the real layout, built from lite tweets."""
    lite.generate(tmp_path / "lite", seed=7)
    read = {"dtype": {"textID": str}, "keep_default_na": False}
    train = pd.read_csv(tmp_path / "lite" / "public" / "train.csv", **read)
    test = pd.read_csv(tmp_path / "lite" / "public" / "test.csv", **read)
    answers = pd.read_csv(tmp_path / "lite" / "private" / "answers.csv", **read)
    full = pd.concat([train, test.merge(answers, on="textID")], ignore_index=True)[COLUMNS]
    # Kaggle's train.csv has one row without text; it must survive the split as an empty row.
    full.loc[123, ["text", "selected_text"]] = ""
    raw = tmp_path / "raw"
    raw.mkdir()
    full.to_csv(raw / "train.csv", index=False)
    full[["textID", "text", "sentiment"]].head(3).to_csv(raw / "test.csv", index=False)
    pd.DataFrame({"textID": full["textID"].head(3), "selected_text": ""}).to_csv(
        raw / "sample_submission.csv", index=False)
    return raw, full


def test_prepare_full_reproduces_mlebench_split(lite, tmp_path):
    raw, full = write_raw(lite, tmp_path)
    public, private = tmp_path / "public", tmp_path / "private"
    load_task_module(SPEC, "prepare").prepare_full(raw, public, private)

    read = {"dtype": {"textID": str}, "keep_default_na": False}
    train = pd.read_csv(public / "train.csv", **read)
    test = pd.read_csv(public / "test.csv", **read)
    sample = pd.read_csv(public / "sample_submission.csv", **read)
    answers = pd.read_csv(private / "answers.csv", **read)

    assert (len(train), len(test)) == (371, 42)
    train_idx, test_idx = train_test_split(np.arange(N_RAW), test_size=0.1, random_state=0)
    assert list(test["textID"]) == list(full["textID"].iloc[test_idx])
    assert list(train["textID"]) == list(full["textID"].iloc[train_idx])
    assert list(train.columns) == COLUMNS
    assert list(test.columns) == ["textID", "text", "sentiment"]
    assert list(test["text"]) == list(full["text"].iloc[test_idx])  # leading spaces kept
    assert list(train["selected_text"]) == list(full["selected_text"].iloc[train_idx])
    assert (123 in train_idx) == ("" in set(train["text"]))

    # answers.csv is a perfect submission, in test order; nothing of it leaks into public/.
    assert list(answers.columns) == ["textID", "selected_text"]
    assert list(answers["textID"]) == list(test["textID"])
    assert list(answers["selected_text"]) == list(full["selected_text"].iloc[test_idx])
    assert "selected_text" not in test.columns
    assert sorted(p.name for p in public.iterdir()) == [
        "sample_submission.csv", "test.csv", "train.csv"]

    assert list(sample.columns) == ["textID", "selected_text"]
    assert list(sample["textID"]) == list(test["textID"])
    assert (sample["selected_text"] == "").all()


def test_lite_schema_and_spans(lite, tmp_path):
    lite.generate(tmp_path / "a", seed=2)
    read = {"dtype": {"textID": str}, "keep_default_na": False}
    train = pd.read_csv(tmp_path / "a" / "public" / "train.csv", **read)
    test = pd.read_csv(tmp_path / "a" / "public" / "test.csv", **read)
    answers = pd.read_csv(tmp_path / "a" / "private" / "answers.csv", **read)
    assert list(train.columns) == COLUMNS
    assert list(test.columns) == ["textID", "text", "sentiment"]
    assert list(answers["textID"]) == list(test["textID"])
    assert set(train["sentiment"]) == {"neutral", "positive", "negative"}
    assert train["textID"].str.fullmatch(r"[0-9a-f]{10}").all()
    # Every span is non-empty and, up to spacing, a piece of its tweet.
    for text, span in zip(train["text"], train["selected_text"], strict=True):
        assert span.strip() and span in " ".join(text.split())
