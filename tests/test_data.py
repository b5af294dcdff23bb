"""Lite data: deterministic, cached once, prepared atomically, real schema."""

from __future__ import annotations

import filecmp

import pandas as pd
import pytest

from mle_gym.data import MARKER, prepare, prepare_lite
from mle_gym.spec import load_task

SPOOKY = load_task("spooky-author")
FILES = ["public/train.csv", "public/test.csv", "public/sample_submission.csv", "private/answers.csv"]


def test_generation_is_deterministic_per_seed(tmp_path):
    a = prepare_lite(SPOOKY, seed=3, root=tmp_path / "a")
    b = prepare_lite(SPOOKY, seed=3, root=tmp_path / "b")
    c = prepare_lite(SPOOKY, seed=4, root=tmp_path / "c")
    for name in FILES:
        assert filecmp.cmp(a.root / name, b.root / name, shallow=False), name
    assert not filecmp.cmp(a.root / FILES[0], c.root / FILES[0], shallow=False)


def test_real_schema_and_hidden_answers(spooky_data):
    train = pd.read_csv(spooky_data.public / "train.csv")
    test = pd.read_csv(spooky_data.public / "test.csv")
    sample = pd.read_csv(spooky_data.public / "sample_submission.csv")
    answers = pd.read_csv(spooky_data.answers_path)
    assert list(train.columns) == ["id", "text", "author"]
    assert set(train["author"]) == {"EAP", "HPL", "MWS"}
    assert list(test.columns) == ["id", "text"]
    assert list(sample.columns) == ["id", "EAP", "HPL", "MWS"]
    assert list(answers["id"]) == list(test["id"])
    assert not set(train["id"]) & set(test["id"])
    assert (answers[["EAP", "HPL", "MWS"]].sum(axis=1) == 1).all()
    assert sorted(p.name for p in spooky_data.public.iterdir()) == [
        "description.md", "sample_submission.csv", "test.csv", "train.csv",
    ]


def test_prepare_is_cached_and_idempotent(spooky_data):
    marker = spooky_data.root / MARKER
    before = marker.stat().st_mtime_ns
    again = prepare("spooky-author", "lite", seed=0)
    assert again.root == spooky_data.root and marker.stat().st_mtime_ns == before


def test_interrupted_preparation_leaves_no_half_folder(tmp_path, monkeypatch):
    from mle_gym.data.folder import atomic_prepare

    def explode(tmp):
        (tmp / "public").mkdir()
        raise KeyboardInterrupt

    target = tmp_path / "lite"
    with pytest.raises(KeyboardInterrupt):
        atomic_prepare(target, explode)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_a_folder_that_is_not_prepared_gets_a_clear_message(tmp_path):
    from mle_gym.data import DataNotAvailable

    with pytest.raises(DataNotAvailable, match="public/ and private/"):
        prepare("spooky-author", tmp_path)
