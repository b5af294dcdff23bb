"""A prepared folder is checked against what was prepared before anything is graded with it.

Real folders, real damage: labels changed in answers.csv, files deleted or truncated, files
added to public/, and custom folders whose public/ gives the answers away.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import gymnasium as gym
import pandas as pd
import pytest

from mle_gym.data import MARKER, DataCorrupted, DataNotAvailable, prepare
from mle_gym.grading import Grader
from mle_gym.spec import load_task
from tests.test_full_data import spooky_archive

SPOOKY = load_task("spooky-author")


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """A cache of its own (the session's lite data stays intact) and no full-data source."""
    monkeypatch.setenv("MLE_GYM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLE_BENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle"))
    return tmp_path


def flip_first_label(path) -> None:
    """Move the first row's author to another column: same size, other answers."""
    answers = pd.read_csv(path)
    row = answers.loc[0, ["EAP", "HPL", "MWS"]].to_numpy()
    answers.loc[0, ["EAP", "HPL", "MWS"]] = list(row[1:]) + [row[0]]
    answers.to_csv(path, index=False)


def test_the_marker_records_every_file(isolated_cache):
    data = prepare("spooky-author", "lite")
    files = json.loads((data.root / MARKER).read_text())["files"]
    assert set(files) == {"public/train.csv", "public/test.csv", "public/sample_submission.csv",
                          "public/description.md", "private/answers.csv", "private/split.csv"}
    assert all(len(entry["sha256"]) == 64 and entry["size"] > 0 for entry in files.values())


@pytest.mark.parametrize("damage", ["flip", "delete", "truncate", "delete-split"])
def test_damaged_lite_data_is_rebuilt_as_it_was(isolated_cache, damage):
    data = prepare("spooky-author", "lite")
    original = data.answers_path.read_bytes()
    split = data.split_path.read_bytes()
    if damage == "flip":
        flip_first_label(data.answers_path)
    elif damage == "delete":
        data.answers_path.unlink()
    elif damage == "truncate":
        data.answers_path.write_bytes(original[: len(original) // 2])
    else:
        data.split_path.unlink()
    with pytest.warns(UserWarning, match="rebuilding") as caught:
        again = prepare("spooky-author", "lite")
    assert str(data.root) in str(caught[0].message)
    assert again.root == data.root
    assert again.answers_path.read_bytes() == original and again.split_path.read_bytes() == split
    assert Grader(again).grade(pd.read_csv(again.answers_path)).score < 1e-10


def test_a_file_added_to_public_is_noticed(isolated_cache):
    data = prepare("spooky-author", "lite")
    shutil.copy(data.answers_path, data.public / "answers-copy.csv")
    with pytest.warns(UserWarning, match="public/answers-copy.csv was added"):
        again = prepare("spooky-author", "lite")
    assert not (again.public / "answers-copy.csv").exists()


def test_cli_force_rebuilds_lite_data(isolated_cache):
    data = prepare("spooky-author", "lite")
    before = (data.root / MARKER).stat().st_mtime_ns
    out = subprocess.run([sys.executable, "-m", "mle_gym.cli", "prepare", "spooky-author", "--force"],
                         capture_output=True, text=True, check=True).stdout
    assert str(data.public) in out
    assert (data.root / MARKER).stat().st_mtime_ns != before


def full_data(isolated_cache, spooky_data):
    archive, _ = spooky_archive(spooky_data, isolated_cache / "download")
    return prepare("spooky-author", "full", raw=archive), archive


@pytest.mark.parametrize("damage", ["flip", "delete", "truncate", "delete-split"])
def test_damaged_full_data_is_refused_with_the_fix(isolated_cache, spooky_data, damage):
    data, archive = full_data(isolated_cache, spooky_data)
    if damage == "flip":
        flip_first_label(data.answers_path)
    elif damage == "delete":
        data.answers_path.unlink()
    elif damage == "truncate":
        data.answers_path.write_bytes(data.answers_path.read_bytes()[:40])
    else:
        data.split_path.unlink()
    name = "private/split.csv" if damage == "delete-split" else "private/answers.csv"
    with pytest.raises(DataCorrupted, match=name) as err:
        prepare("spooky-author", "full")
    assert "mle-gym prepare spooky-author --full --force" in str(err.value)
    # The env refuses it too, before any program runs.
    with pytest.raises(DataCorrupted):
        gym.make(SPOOKY.env_id, data="full", sandbox="local")
    # The command the message names rebuilds it.
    subprocess.run([sys.executable, "-m", "mle_gym.cli", "prepare", "spooky-author", "--full",
                    "--force", "--raw", str(archive)], capture_output=True, text=True, check=True)
    fixed = prepare("spooky-author", "full")
    assert Grader(fixed).grade(pd.read_csv(fixed.answers_path)).score < 1e-10


def test_an_intact_custom_folder_is_accepted(tmp_path, spooky_data):
    folder = tmp_path / "mine"
    for sub in ("public", "private"):
        shutil.copytree(spooky_data.root / sub, folder / sub)
    data = prepare("spooky-author", folder)
    assert data.flavour == "custom"
    assert Grader(data).grade(pd.read_csv(data.answers_path)).score < 1e-10


def test_a_copied_cache_folder_is_checked_against_its_marker(tmp_path, spooky_data):
    folder = tmp_path / "copy"
    shutil.copytree(spooky_data.root, folder)
    prepare("spooky-author", folder)
    flip_first_label(folder / "private" / "answers.csv")
    with pytest.raises(DataCorrupted, match="private/answers.csv was changed"):
        prepare("spooky-author", folder)


@pytest.mark.parametrize("leak", ["copy", "columns", "link"])
def test_a_custom_folder_whose_public_holds_the_answers_is_refused(tmp_path, spooky_data, leak):
    folder = tmp_path / "leaky"
    for sub in ("public", "private"):
        shutil.copytree(spooky_data.root / sub, folder / sub)
    answers = folder / "private" / "answers.csv"
    if leak == "copy":
        shutil.copy(answers, folder / "public" / "extra.csv")
        reason = "public/extra.csv is a copy of private/answers.csv"
    elif leak == "columns":  # the answers' columns, other order, more rows, float format
        frame = pd.read_csv(answers)[["MWS", "id", "HPL", "EAP"]].astype({"EAP": float})
        train = pd.read_csv(folder / "public" / "train.csv").head(50)
        rows = pd.DataFrame({"id": train["id"], "MWS": 0, "HPL": 0, "EAP": 1.0})
        pd.concat([rows, frame.sample(frac=1, random_state=0)]).to_csv(
            folder / "public" / "hints.csv", index=False)
        reason = "public/hints.csv holds the answers"
    else:
        (folder / "public" / "answers.csv").symlink_to(answers)
        reason = "public/answers.csv links into private/"
    with pytest.raises(DataNotAvailable, match=reason):
        prepare("spooky-author", folder)
    with pytest.raises(DataNotAvailable, match=reason):
        gym.make(SPOOKY.env_id, data=str(folder), sandbox="local")


def test_a_full_cache_from_before_the_record_is_recorded_on_first_use(isolated_cache, spooky_data):
    data, _ = full_data(isolated_cache, spooky_data)
    marker = data.root / MARKER
    old = {k: v for k, v in json.loads(marker.read_text()).items() if k not in ("files", "format")}
    marker.write_text(json.dumps(old))
    from mle_gym.data import integrity

    integrity._verified.clear()  # a new process: nothing verified yet
    prepare("spooky-author", "full")
    files = json.loads(marker.read_text())["files"]
    assert "sha256" in files["private/answers.csv"] and "sha256" not in files["public/train.csv"]
    flip_first_label(data.answers_path)
    with pytest.raises(DataCorrupted, match="private/answers.csv was changed"):
        prepare("spooky-author", "full")
