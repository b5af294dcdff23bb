"""plant-pathology-2020: MLE-bench's preparation of the Kaggle download, and the lite generator."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mle_gym.data import load_task_module
from mle_gym.spec import load_task

SPEC = load_task("plant-pathology-2020")
CLASSES = ["healthy", "multiple_diseases", "rust", "scab"]
N_RAW = 103  # 10% test: ceil(10.3) = 11 photos


@pytest.fixture(scope="module")
def lite():
    module = load_task_module(SPEC, "lite")
    module.N_TRAIN, module.N_TEST = 80, N_RAW - 80
    return module


def write_raw(lite, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A small Kaggle download in the real layout (Train_i / Test_i photos), from lite leaves."""
    lite.generate(tmp_path / "lite", seed=5)
    src = tmp_path / "lite" / "public"
    train = pd.read_csv(src / "train.csv")
    answers = pd.read_csv(tmp_path / "lite" / "private" / "answers.csv")
    full = pd.concat([train, answers], ignore_index=True)
    raw = tmp_path / "raw"
    (raw / "images").mkdir(parents=True)
    for k, old in enumerate(full["image_id"]):
        photo = (src / "images" / f"{old}.jpg").read_bytes()
        (raw / "images" / f"Train_{k}.jpg").write_bytes(photo)
    full["image_id"] = [f"Train_{k}" for k in range(len(full))]
    full.to_csv(raw / "train.csv", index=False)
    # Kaggle's own unlabelled test photos: present in the download, unused by MLE-bench.
    for k in range(3):
        (raw / "images" / f"Test_{k}.jpg").write_bytes(b"not a photo of the split")
    pd.DataFrame({"image_id": [f"Test_{k}" for k in range(3)]}).to_csv(raw / "test.csv",
                                                                      index=False)
    pd.DataFrame({"image_id": [f"Test_{k}" for k in range(3)], **dict.fromkeys(CLASSES, 0.25)}
                 ).to_csv(raw / "sample_submission.csv", index=False)
    return raw, full


def test_prepare_full_reproduces_mlebench_split(lite, tmp_path):
    raw, full = write_raw(lite, tmp_path)
    public, private = tmp_path / "public", tmp_path / "private"
    load_task_module(SPEC, "prepare").prepare_full(raw, public, private)

    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    sample = pd.read_csv(public / "sample_submission.csv")
    answers = pd.read_csv(private / "answers.csv")

    assert (len(train), len(test)) == (92, 11)
    train_idx, test_idx = train_test_split(np.arange(N_RAW), test_size=0.1, random_state=0)
    # Renamed in split order: Train_0.. for the new train part, Test_0.. for the held-out part.
    assert list(train["image_id"]) == [f"Train_{i}" for i in range(92)]
    assert list(test["image_id"]) == [f"Test_{i}" for i in range(11)]
    assert (train[CLASSES].to_numpy() == full[CLASSES].to_numpy()[train_idx]).all()
    assert list(train.columns) == ["image_id", *CLASSES]
    assert list(test.columns) == ["image_id"]

    # Each photo travels with its row: new name, same bytes as the raw photo of the old row.
    for new, old in [*zip(train["image_id"], train_idx, strict=True),
                     *zip(test["image_id"], test_idx, strict=True)]:
        assert filecmp.cmp(public / "images" / f"{new}.jpg", raw / "images" / f"Train_{old}.jpg",
                           shallow=False)
    assert len(list((public / "images").iterdir())) == N_RAW

    # answers.csv is a perfect submission in test order; no label reaches public/.
    assert list(answers.columns) == ["image_id", *CLASSES]
    assert list(answers["image_id"]) == list(test["image_id"])
    assert (answers[CLASSES].to_numpy() == full[CLASSES].to_numpy()[test_idx]).all()
    assert (answers[CLASSES].sum(axis=1) == 1).all()
    assert sorted(p.name for p in public.iterdir()) == [
        "images", "sample_submission.csv", "test.csv", "train.csv"]
    assert list(sample.columns) == ["image_id", *CLASSES]
    assert list(sample["image_id"]) == list(test["image_id"])
    assert (sample[CLASSES] == 0.25).all().all()


def test_lite_schema(lite, tmp_path):
    from PIL import Image

    lite.generate(tmp_path / "a", seed=3)
    a = tmp_path / "a"
    train = pd.read_csv(a / "public" / "train.csv")
    test = pd.read_csv(a / "public" / "test.csv")
    answers = pd.read_csv(a / "private" / "answers.csv")
    assert list(train.columns) == ["image_id", *CLASSES]
    assert list(test.columns) == ["image_id"]
    assert list(answers["image_id"]) == list(test["image_id"])
    assert (train[CLASSES].sum(axis=1) == 1).all() and (answers[CLASSES].sum(axis=1) == 1).all()
    assert set(train[CLASSES].to_numpy().argmax(axis=1)) == {0, 1, 2, 3}
    images = sorted(p.stem for p in (a / "public" / "images").iterdir())
    assert images == sorted([*train["image_id"], *test["image_id"]])
    with Image.open(a / "public" / "images" / "Test_0.jpg") as img:
        assert img.mode == "RGB" and img.format == "JPEG"
