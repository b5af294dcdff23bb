"""Full data for nomad2018, prepared as MLE-bench prepares it.

MLE-bench splits Kaggle's labelled train.csv (2,400 materials) with
``train_test_split(test_size=0.1, random_state=0)``, renumbers the ids from 1 in each part
(in the split's row order) and copies each material's ``train/<old id>/geometry.xyz`` to
``train/<new id>/`` or ``test/<new id>/``. Kaggle's own test set (no labels) is not used.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

TARGETS = ["formation_energy_ev_natom", "bandgap_energy_ev"]
# Kaggle's download after extraction: train.csv and the folder train/<id>/geometry.xyz.
RAW_FILES = ["train.csv", "train"]
# MLE-bench's constant sample submission.
SAMPLE_VALUES = {"formation_energy_ev_natom": 0.1779, "bandgap_energy_ev": 1.8892}


def _geometry_root(raw: Path) -> Path:
    """The folder holding <id>/geometry.xyz (train.zip nests a train/ folder in itself)."""
    nested = raw / "train" / "train"
    return nested if nested.is_dir() else raw / "train"


def _train_csv(raw: Path) -> Path:
    """raw/train.csv, or raw/train.csv/train.csv where the zip was extracted into a folder."""
    path = raw / "train.csv"
    return path / "train.csv" if path.is_dir() else path


def prepare_full(raw: Path, public: Path, private: Path) -> None:
    """Split Kaggle's train set 90/10, renumber ids and move the geometry files with them."""
    raw, public, private = Path(raw), Path(public), Path(private)
    old_train = pd.read_csv(_train_csv(raw))
    new_train, new_test = train_test_split(old_train, test_size=0.1, random_state=0)

    # New ids count from 1 in the order train_test_split returned the rows.
    train_ids = {old: new for new, old in enumerate(new_train["id"], start=1)}
    test_ids = {old: new for new, old in enumerate(new_test["id"], start=1)}
    new_train = new_train.assign(id=new_train["id"].map(train_ids))
    new_test = new_test.assign(id=new_test["id"].map(test_ids))

    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    geometry = _geometry_root(raw)
    absent = [old for old in old_train["id"] if not (geometry / str(old) / "geometry.xyz").is_file()]
    if absent:
        shown = ", ".join(str(i) for i in absent[:5])
        raise FileNotFoundError(
            f"{len(absent)} geometry file(s) missing under {geometry} (ids {shown}...)"
        )
    for split, mapping in (("train", train_ids), ("test", test_ids)):
        for old, new in mapping.items():
            folder = public / split / str(new)
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(geometry / str(old) / "geometry.xyz", folder / "geometry.xyz")

    new_train.to_csv(public / "train.csv", index=False)
    new_test.drop(columns=TARGETS).to_csv(public / "test.csv", index=False)
    sample = pd.DataFrame({"id": new_test["id"], **SAMPLE_VALUES})
    sample.to_csv(public / "sample_submission.csv", index=False)
    new_test[["id", *TARGETS]].to_csv(private / "answers.csv", index=False)
