"""leaf-classification: MLE-bench's preparation of the Kaggle download, and the lite generator."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mle_gym.data import load_task_module
from mle_gym.spec import load_task

SPEC = load_task("leaf-classification")
FEATURES = [f"{group}{i}" for group in ("margin", "shape", "texture") for i in range(1, 65)]
N_RAW = 297  # 3 leaves for each of the 99 species; 10% test: ceil(29.7) = 30 leaves


@pytest.fixture(scope="module")
def lite():
    module = load_task_module(SPEC, "lite")
    module.PER_SPECIES = 3
    return module


def write_raw(lite, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A small Kaggle download in the real layout (train.csv, test.csv, images/) of lite leaves."""
    lite.generate(tmp_path / "lite", seed=4)
    src = tmp_path / "lite" / "public"
    train = pd.read_csv(src / "train.csv")
    test = pd.read_csv(src / "test.csv")
    answers = pd.read_csv(tmp_path / "lite" / "private" / "answers.csv")
    labels = answers.set_index("id").idxmax(axis=1).loc[test["id"]].to_numpy()
    test = pd.concat([test[["id"]].assign(species=labels), test[FEATURES]], axis=1)
    full = pd.concat([train, test], ignore_index=True).sort_values("id", ignore_index=True)
    raw = tmp_path / "raw"
    raw.mkdir()
    (src / "images").rename(raw / "images")
    full.to_csv(raw / "train.csv", index=False)
    # Kaggle's unlabelled test leaves: in the download, unused by MLE-bench.
    unused = full.drop(columns="species").head(2).assign(id=[10_001, 10_002])
    unused.to_csv(raw / "test.csv", index=False)
    for leaf_id in unused["id"]:
        (raw / "images" / f"{leaf_id}.jpg").write_bytes(b"unused")
    return raw, full


def test_prepare_full_reproduces_mlebench_split(lite, tmp_path):
    raw, full = write_raw(lite, tmp_path)
    species = list(lite.SPECIES)
    public, private = tmp_path / "public", tmp_path / "private"
    load_task_module(SPEC, "prepare").prepare_full(raw, public, private)

    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    sample = pd.read_csv(public / "sample_submission.csv")
    answers = pd.read_csv(private / "answers.csv")

    assert (len(train), len(test)) == (267, 30)
    train_idx, test_idx = train_test_split(np.arange(N_RAW), test_size=0.1, random_state=0)
    assert list(train["id"]) == list(full["id"].iloc[train_idx])  # ids are kept
    assert list(test["id"]) == list(full["id"].iloc[test_idx])
    assert list(train.columns) == ["id", "species", *FEATURES]
    assert list(test.columns) == ["id", *FEATURES]
    assert list(train["species"]) == list(full["species"].iloc[train_idx])
    # Features are written back exactly as read.
    assert (test[FEATURES].to_numpy() == full[FEATURES].to_numpy()[test_idx]).all()
    assert (raw / "train.csv").read_text().splitlines()[1 + train_idx[0]].split(",")[2:] == (
        (public / "train.csv").read_text().splitlines()[1].split(",")[2:])

    # answers.csv: one-hot over the 99 species in sample-submission order, in test order.
    assert list(answers.columns) == ["id", *species]
    assert list(answers["id"]) == list(test["id"])
    assert (answers[species].sum(axis=1) == 1).all()
    assert list(answers[species].idxmax(axis=1)) == list(full["species"].iloc[test_idx])
    assert "species" not in test.columns
    assert sorted(p.name for p in public.iterdir()) == [
        "images", "sample_submission.csv", "test.csv", "train.csv"]
    assert sorted(int(p.stem) for p in (public / "images").iterdir()) == sorted(full["id"])
    assert filecmp.cmp(public / "images" / f"{test['id'][0]}.jpg",
                       raw / "images" / f"{test['id'][0]}.jpg", shallow=False)

    assert list(sample.columns) == ["id", *species]
    assert list(sample["id"]) == list(test["id"])
    assert np.allclose(sample[species].to_numpy(), 1 / 99)


def test_lite_schema(lite, tmp_path):
    lite.generate(tmp_path / "a", seed=1)
    a = tmp_path / "a"
    train = pd.read_csv(a / "public" / "train.csv")
    test = pd.read_csv(a / "public" / "test.csv")
    answers = pd.read_csv(a / "private" / "answers.csv")
    species = list(lite.SPECIES)
    assert len(species) == len(set(species)) == 99
    assert list(train.columns) == ["id", "species", *FEATURES]
    assert list(test.columns) == ["id", *FEATURES]
    assert list(answers.columns) == ["id", *species]
    assert list(answers["id"]) == list(test["id"])
    assert (answers[species].sum(axis=1) == 1).all()
    assert len(train) + len(test) == 297 and len(test) == 30
    assert set(train["species"]) <= set(species)
    # Margin and texture are histograms; shape is a small positive profile.
    for group in ("margin", "texture"):
        sums = train[[c for c in FEATURES if c.startswith(group)]].sum(axis=1)
        assert np.allclose(sums, 1, atol=1e-3)
    assert (train[[c for c in FEATURES if c.startswith("shape")]] > 0).all().all()
    images = sorted(int(p.stem) for p in (a / "public" / "images").iterdir())
    assert images == sorted([*train["id"], *test["id"]])
