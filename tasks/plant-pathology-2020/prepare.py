"""Full data for plant-pathology-2020, prepared as MLE-bench prepares it.

MLE-bench splits Kaggle's labelled train.csv (1,821 images) with
``train_test_split(test_size=0.1, random_state=0)``. The ids are then renamed in the order the
split returned the rows: the training part becomes Train_0, Train_1, ... and the held-out part
Test_0, Test_1, ...; each ``images/<old id>.jpg`` is copied to ``images/<new id>.jpg``.
Kaggle's own test images (unlabelled) are not used. The sample submission gives 0.25 to every
class.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

CLASSES = ["healthy", "multiple_diseases", "rust", "scab"]
# Kaggle's download (already extracted): train.csv and the folder images/ with every photo.
RAW_FILES = ["train.csv", "images"]


def prepare_full(raw: Path, public: Path, private: Path) -> None:
    """Split Kaggle's train set 90/10, rename the ids and copy the photos under the new ids."""
    raw, public, private = Path(raw), Path(public), Path(private)
    old_train = pd.read_csv(raw / "train.csv")
    absent = [i for i in old_train["image_id"] if not (raw / "images" / f"{i}.jpg").is_file()]
    if absent:
        raise FileNotFoundError(
            f"{len(absent)} image(s) missing from {raw / 'images'}: "
            f"{', '.join(f'{i}.jpg' for i in absent[:5])}")
    new_train, answers = train_test_split(old_train, test_size=0.1, random_state=0)

    # New names follow the split's row order (MLE-bench enumerates the unique ids).
    new_id = {old: f"Train_{i}" for i, old in enumerate(new_train["image_id"].unique())}
    new_id |= {old: f"Test_{i}" for i, old in enumerate(answers["image_id"].unique())}
    new_train = new_train.assign(image_id=new_train["image_id"].map(new_id))
    answers = answers.assign(image_id=answers["image_id"].map(new_id))

    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    (public / "images").mkdir(exist_ok=True)
    for old in old_train["image_id"]:
        shutil.copyfile(raw / "images" / f"{old}.jpg", public / "images" / f"{new_id[old]}.jpg")

    sample = answers[["image_id"]].copy()
    sample[CLASSES] = 0.25
    new_train.to_csv(public / "train.csv", index=False)
    answers[["image_id"]].to_csv(public / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
    answers[["image_id", *CLASSES]].to_csv(private / "answers.csv", index=False)
