"""Full-data preparation, run for real on small archives in Kaggle's raw layout."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mle_gym.data import MARKER, DataNotAvailable, prepare
from mle_gym.grading import Grader


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLE_GYM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLE_BENCH_DATA_DIR", raising=False)
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle"))
    return tmp_path


def spooky_archive(spooky_data, folder, rows: int = 300):
    """Kaggle's layout: spooky-author-identification.zip holding train.zip (train.csv), ..."""
    train = pd.read_csv(spooky_data.public / "train.csv").head(rows)
    folder.mkdir(parents=True, exist_ok=True)
    train.to_csv(folder / "train.csv", index=False)
    with zipfile.ZipFile(folder / "train.zip", "w") as inner:
        inner.write(folder / "train.csv", "train.csv")
    outer = folder / "spooky-author-identification.zip"
    with zipfile.ZipFile(outer, "w") as archive:
        archive.write(folder / "train.zip", "train.zip")
    (folder / "train.csv").unlink()
    (folder / "train.zip").unlink()
    return outer, train


def test_spooky_full_split_matches_mlebench(isolated_cache, spooky_data):
    archive, labelled = spooky_archive(spooky_data, isolated_cache / "download")
    data = prepare("spooky-author", "full", raw=archive)
    expected_train, expected_test = train_test_split(labelled, test_size=0.1, random_state=0)
    train = pd.read_csv(data.public / "train.csv")
    test = pd.read_csv(data.public / "test.csv")
    answers = pd.read_csv(data.answers_path)
    assert list(train["id"]) == list(expected_train["id"]) and len(test) == 30
    assert list(test.columns) == ["id", "text"]
    assert list(answers["id"]) == list(expected_test["id"])
    assert (answers[["EAP", "HPL", "MWS"]].idxmax(axis=1).to_numpy() == expected_test["author"].to_numpy()).all()
    assert (data.root / MARKER).exists() and (data.public / "description.md").exists()
    grader = Grader(data)
    assert grader.grade(answers).score < 1e-10
    assert grader.grade(data.public / "sample_submission.csv").score > 0.5


def test_an_mlebench_folder_is_reused(isolated_cache, spooky_data, monkeypatch):
    raw = isolated_cache / "mlebench" / "spooky-author-identification" / "raw"
    spooky_archive(spooky_data, isolated_cache / "dl")
    with zipfile.ZipFile(isolated_cache / "dl" / "spooky-author-identification.zip") as z:
        z.extractall(raw)
    monkeypatch.setenv("MLE_BENCH_DATA_DIR", str(isolated_cache / "mlebench"))
    data = prepare("spooky-author", "full")
    assert len(pd.read_csv(data.public / "test.csv")) == 30


def test_missing_sources_say_what_to_do(isolated_cache):
    with pytest.raises(DataNotAvailable) as err:
        prepare("spooky-author", "full")
    message = str(err.value)
    assert "--raw spooky-author-identification.zip" in message
    assert "https://www.kaggle.com/settings" in message
    assert "https://www.kaggle.com/competitions/spooky-author-identification/rules" in message
    assert not (isolated_cache / "cache" / "spooky-author" / "full").exists()


def test_an_incomplete_archive_names_the_missing_file(isolated_cache):
    archive = isolated_cache / "partial.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("test.csv", "id,text\nid1,hello\n")
    with pytest.raises(DataNotAvailable, match="lacks train.csv"):
        prepare("spooky-author", "full", raw=archive)
    assert not (isolated_cache / "cache" / "spooky-author" / "full").exists()


def test_cli_grades_full_data_with_medals(isolated_cache, spooky_data):
    archive, _ = spooky_archive(spooky_data, isolated_cache / "download")
    run = [sys.executable, "-m", "mle_gym.cli"]
    out = subprocess.run([*run, "prepare", "spooky-author", "--full", "--raw", str(archive)],
                         capture_output=True, text=True, check=True)
    public = out.stdout.split("public:")[1].split()[0]
    answers = out.stdout.split("private:")[1].split()[0] + "/answers.csv"
    result = json.loads(subprocess.run([*run, "grade", "spooky-author", answers, "--data", "full", "--json"],
                                       capture_output=True, text=True, check=True).stdout)
    assert result["medal"] == "gold" and result["above_median"] is True
    assert public.endswith("full/public")
