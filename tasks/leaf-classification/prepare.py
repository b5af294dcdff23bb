"""Full data for leaf-classification, prepared as MLE-bench prepares it.

MLE-bench splits Kaggle's labelled train.csv (990 leaves, 10 per species) with
``train_test_split(test_size=0.1, random_state=0)``: 891 leaves for training, 99 held out.
Ids are kept. The test file is the held-out rows without ``species``; the answers one-hot
encode the species over the 99 columns of Kaggle's sample submission. Every image of both
parts is copied to ``images/<id>.jpg``; Kaggle's own unlabelled test leaves are not used.
The sample submission gives 1/99 to every species.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

# Kaggle's download after extraction: train.csv (from train.csv.zip) and images/ (images.zip).
RAW_FILES = ["train.csv", "images"]


def _species() -> list[str]:
    """The 99 species in sample-submission order (one list, kept in lite.py)."""
    spec = importlib.util.spec_from_file_location("_leaf_lite", Path(__file__).with_name("lite.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.SPECIES)


def prepare_full(raw: Path, public: Path, private: Path) -> None:
    """Split Kaggle's train set 90/10 and copy the silhouettes of both parts."""
    raw, public, private = Path(raw), Path(public), Path(private)
    species = _species()
    old_train = pd.read_csv(raw / "train.csv")
    unknown = sorted(set(old_train["species"]) - set(species))
    if unknown:
        raise ValueError(f"train.csv has species that are not among the 99 known: {unknown}")
    absent = [i for i in old_train["id"] if not (raw / "images" / f"{i}.jpg").is_file()]
    if absent:
        raise FileNotFoundError(
            f"{len(absent)} image(s) missing from {raw / 'images'}: "
            f"{', '.join(f'{i}.jpg' for i in absent[:5])}")
    new_train, new_test = train_test_split(old_train, test_size=0.1, random_state=0)

    answers = pd.DataFrame(0, index=range(len(new_test)), columns=["id", *species])
    answers["id"] = new_test["id"].to_numpy()
    for row, name in enumerate(new_test["species"]):
        answers.loc[row, name] = 1
    sample = answers[["id"]].copy()
    sample[species] = 1 / len(species)

    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    (public / "images").mkdir(exist_ok=True)
    for leaf_id in [*new_train["id"], *new_test["id"]]:
        shutil.copyfile(raw / "images" / f"{leaf_id}.jpg", public / "images" / f"{leaf_id}.jpg")

    new_train.to_csv(public / "train.csv", index=False)
    new_test.drop(columns=["species"]).to_csv(public / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
    answers.to_csv(private / "answers.csv", index=False)
