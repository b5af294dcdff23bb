"""nomad2018: MLE-bench's preparation of the Kaggle download, and the lite generator."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mle_gym.data import load_task_module
from mle_gym.grading import Grader
from mle_gym.spec import load_task

SPEC = load_task("nomad2018")
N_RAW = 300  # 10% test: 30 rows, 270 train
TARGETS = ["formation_energy_ev_natom", "bandgap_energy_ev"]


@pytest.fixture(scope="module")
def lite():
    return load_task_module(SPEC, "lite")


@pytest.fixture(scope="module")
def prepare_module():
    return load_task_module(SPEC, "prepare")


def write_raw(lite, raw: Path) -> tuple[pd.DataFrame, dict[int, str]]:
    """Kaggle's download after extraction: train.csv, test.csv, train/<id>/, test/<id>/."""
    rng = np.random.default_rng(3)
    rows, geometries = zip(*(lite._material(rng) for _ in range(N_RAW + 5)), strict=True)
    table = pd.DataFrame(list(rows))
    table.insert(0, "id", np.arange(1, len(table) + 1))
    train, test = table.iloc[:N_RAW], table.iloc[N_RAW:].copy()
    test["id"] = np.arange(1, len(test) + 1)
    raw.mkdir(parents=True)
    train.to_csv(raw / "train.csv", index=False)
    test.drop(columns=TARGETS).to_csv(raw / "test.csv", index=False)
    pd.DataFrame({"id": test["id"], TARGETS[0]: 0.1779, TARGETS[1]: 1.8892}).to_csv(
        raw / "sample_submission.csv", index=False)
    for split, frame, offset in (("train", train, 0), ("test", test, N_RAW)):
        for i, material_id in enumerate(frame["id"]):
            (raw / split / str(material_id)).mkdir(parents=True)
            (raw / split / str(material_id) / "geometry.xyz").write_text(geometries[offset + i])
    return train, {i + 1: geometries[i] for i in range(N_RAW)}


def test_prepare_full_reproduces_mlebench_split(lite, prepare_module, tmp_path):
    labelled, raw_geometry = write_raw(lite, tmp_path / "raw")
    public, private = tmp_path / "public", tmp_path / "private"
    prepare_module.prepare_full(tmp_path / "raw", public, private)

    expected_train, expected_test = train_test_split(labelled, test_size=0.1, random_state=0)
    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    answers = pd.read_csv(private / "answers.csv")
    sample = pd.read_csv(public / "sample_submission.csv")
    assert (len(train), len(test)) == (270, 30)

    # Ids count from 1 in each part, in the split's order; every other value is kept.
    assert list(train["id"]) == list(range(1, 271)) and list(test["id"]) == list(range(1, 31))
    features = [c for c in labelled.columns if c not in ("id", *TARGETS)]
    np.testing.assert_array_equal(train.drop(columns="id").to_numpy(),
                                  expected_train.drop(columns="id").to_numpy())
    np.testing.assert_array_equal(test[features].to_numpy(), expected_test[features].to_numpy())

    # Columns as in the spec; no target in the test inputs or the geometry folders' names.
    for entry in SPEC.public_files:
        if entry.columns:
            assert list(pd.read_csv(public / entry.name, nrows=1).columns) == entry.columns
    assert not set(TARGETS) & set(test.columns)
    assert sorted(p.name for p in public.iterdir()) == [
        "sample_submission.csv", "test", "test.csv", "train", "train.csv"]

    # The answers follow the test file's order, in the submission format.
    assert list(answers.columns) == ["id", *TARGETS]
    assert list(answers["id"]) == list(test["id"]) == list(sample["id"])
    np.testing.assert_array_equal(answers[TARGETS].to_numpy(), expected_test[TARGETS].to_numpy())
    assert (sample[TARGETS].to_numpy() == [0.1779, 1.8892]).all()

    # Each geometry file moved with its material's new id.
    for split, expected in (("train", expected_train), ("test", expected_test)):
        files = sorted((public / split).glob("*/geometry.xyz"))
        assert len(files) == len(expected)
        for new_id, old_id in enumerate(expected["id"], start=1):
            text = (public / split / str(new_id) / "geometry.xyz").read_text()
            assert text == raw_geometry[old_id]


def test_full_pipeline_from_the_kaggle_archive(lite, tmp_path, monkeypatch):
    """Kaggle's zip holds train.csv.zip and train.zip (with a train/ folder inside)."""
    from mle_gym.data import prepare

    monkeypatch.setenv("MLE_GYM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLE_BENCH_DATA_DIR", raising=False)
    raw = tmp_path / "raw"
    labelled, _ = write_raw(lite, raw)
    download = tmp_path / "download"
    download.mkdir()
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        with zipfile.ZipFile(download / f"{name}.zip", "w") as archive:
            archive.write(raw / name, name)
    for split in ("train", "test"):
        with zipfile.ZipFile(download / f"{split}.zip", "w") as archive:
            for path in sorted((raw / split).rglob("geometry.xyz")):
                archive.write(path, str(path.relative_to(raw)))
    outer = tmp_path / f"{SPEC.kaggle_id}.zip"
    with zipfile.ZipFile(outer, "w") as archive:
        for path in sorted(download.iterdir()):
            archive.write(path, path.name)

    data = prepare(SPEC.slug, "full", raw=outer)
    _, expected_test = train_test_split(labelled, test_size=0.1, random_state=0)
    answers = pd.read_csv(data.answers_path)
    np.testing.assert_array_equal(answers[TARGETS].to_numpy(), expected_test[TARGETS].to_numpy())
    assert len(list((data.public / "test").glob("*/geometry.xyz"))) == 30
    grader = Grader(data)
    assert grader.grade(answers).score == pytest.approx(0.0, abs=1e-12)
    assert grader.grade(data.public / "sample_submission.csv").score > 0.1


def test_lite_geometry_agrees_with_the_table(lite):
    rng = np.random.default_rng(11)
    for _ in range(40):
        row, text = lite._material(rng)
        lines = text.splitlines()
        assert lines[0].startswith("#") and lines[3].startswith("lattice_vector")
        vectors = np.array([[float(v) for v in ln.split()[1:]] for ln in lines
                            if ln.startswith("lattice_vector")])
        atoms = [ln.split()[4] for ln in lines if ln.startswith("atom")]
        n = int(row["number_of_total_atoms"])
        assert len(atoms) == n and atoms.count("O") == n * 3 // 5
        for element in ("al", "ga", "in"):
            share = atoms.count(element.capitalize()) / (n * 2 // 5)
            assert share == pytest.approx(row[f"percent_atom_{element}"], abs=1e-4)
        lengths = np.linalg.norm(vectors, axis=1)
        np.testing.assert_allclose(lengths, [row["lattice_vector_1_ang"], row[
            "lattice_vector_2_ang"], row["lattice_vector_3_ang"]], atol=1e-3)
        cos_gamma = vectors[0] @ vectors[1] / (lengths[0] * lengths[1])
        assert np.degrees(np.arccos(cos_gamma)) == pytest.approx(
            row["lattice_angle_gamma_degree"], abs=1e-3)
        assert row["formation_energy_ev_natom"] >= 0 and row["bandgap_energy_ev"] >= 0
