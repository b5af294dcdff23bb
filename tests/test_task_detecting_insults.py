"""detecting-insults: prepare_full on a small download in Kaggle's layout, and the lite data."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from mle_gym.data import from_folder
from mle_gym.grading.grader import grade_file
from mle_gym.spec import load_task

TASK = Path(__file__).resolve().parents[1] / "tasks" / "detecting-insults"


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"insults_{name}", TASK / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kaggle's files: train.csv, test_with_solutions.csv (labelled test) and the extras."""
    lite = _module("lite")
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("raw")
    comments, dates, labels = lite._draw(rng, 300, set())
    pd.DataFrame({"Insult": labels, "Date": dates, "Comment": comments}).to_csv(
        folder / "train.csv", index=False
    )
    comments, dates, labels = lite._draw(rng, 200, set(comments))
    comments[5] = comments[17] = comments[40]  # repeated comments, as in the real test set
    dates[3] = ""
    usage = np.where(np.arange(200) % 3 == 0, "PublicTest", "PrivateTest")
    labelled = pd.DataFrame({"Insult": labels, "Date": dates, "Comment": comments, "Usage": usage})
    labelled.to_csv(folder / "test_with_solutions.csv", index=False)
    # Files of the download that the preparation does not use.
    labelled[["Date", "Comment"]].assign(Id=range(1, 201))[["Id", "Date", "Comment"]].to_csv(
        folder / "test.csv", index=False
    )
    labelled.drop(columns="Usage").assign(Insult=0).to_csv(
        folder / "sample_submission_null.csv", index=False
    )
    return folder


@pytest.fixture(scope="module")
def prepared(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prepared")
    _module("prepare").prepare_full(raw, out / "public", out / "private")
    return out


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_no_split_train_copied_test_from_labelled_file(raw: Path, prepared: Path) -> None:
    public = prepared / "public"
    assert sorted(p.name for p in public.iterdir()) == [
        "sample_submission_null.csv", "test.csv", "train.csv"
    ]
    assert (public / "train.csv").read_bytes() == (raw / "train.csv").read_bytes()
    train, test = _read(public / "train.csv"), _read(public / "test.csv")
    assert list(train.columns) == ["Insult", "Date", "Comment"] and len(train) == 300
    assert list(test.columns) == ["Date", "Comment"] and len(test) == 200
    labelled = _read(raw / "test_with_solutions.csv")
    assert test.equals(labelled[["Date", "Comment"]])  # same rows, same order, blanks kept
    assert test["Comment"].duplicated().sum() == 2
    assert set(test["Comment"]).isdisjoint(train["Comment"])


def test_answers_and_sample_in_submission_format(raw: Path, prepared: Path) -> None:
    test = _read(prepared / "public" / "test.csv")
    answers = _read(prepared / "private" / "answers.csv")
    sample = _read(prepared / "public" / "sample_submission_null.csv")
    labelled = _read(raw / "test_with_solutions.csv")
    for frame in (answers, sample):
        assert list(frame.columns) == ["Insult", "Date", "Comment"]
        assert frame["Comment"].tolist() == test["Comment"].tolist()
        assert frame["Date"].tolist() == test["Date"].tolist()
    assert answers["Insult"].tolist() == labelled["Insult"].tolist()
    assert set(answers["Insult"]) == {"0", "1"}
    assert set(sample["Insult"]) == {"0"}


def test_no_label_leaks_into_public_test(prepared: Path) -> None:
    header = (prepared / "public" / "test.csv").read_text().splitlines()[0]
    assert header == "Date,Comment"


def test_grader_matches_rows_by_position(prepared: Path) -> None:
    data = from_folder(load_task("detecting-insults"), prepared)
    answers = _read(prepared / "private" / "answers.csv")
    assert grade_file(data, prepared / "private" / "answers.csv").score == 1.0
    flipped = answers.assign(Insult=1 - answers["Insult"].astype(int))
    assert grade_file(data, flipped).score == 0.0


def test_lite_is_deterministic_and_shaped_like_kaggle(tmp_path: Path) -> None:
    lite = _module("lite")
    a = lite._draw(np.random.default_rng(3), 50, set())
    b = lite._draw(np.random.default_rng(3), 50, set())
    assert a == b
    comments, dates, labels = a
    assert all(c.startswith('"') and c.endswith('"') for c in comments)
    assert all(d == "" or (len(d) == 15 and d.endswith("Z")) for d in dates)
    assert set(labels) <= {0, 1}
