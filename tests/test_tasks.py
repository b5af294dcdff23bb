"""Every task folder, the same checks: spec, lite data, graders, reference programs."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys

import gymnasium as gym
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

from mle_gym.data import prepare, prepare_lite
from mle_gym.grading import Grader, InvalidSubmission
from mle_gym.spec import all_tasks

TASKS = [spec.slug for spec in all_tasks()]
# A constant sample submission has no Pearson correlation: the grader must reject it.
CONSTANT_IS_INVALID = {"pearson"}
SPECS = {spec.slug: spec for spec in all_tasks()}


@pytest.fixture(scope="module")
def lite():
    cache: dict = {}

    def get(slug):
        if slug not in cache:
            cache[slug] = prepare(slug, "lite")
        return cache[slug]

    return get


def tree(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("slug", TASKS)
def test_folder_is_complete(slug):
    spec = SPECS[slug]
    for name in ("task.yaml", "description.md", "lite.py", "prepare.py",
                 "solutions/fast.py", "solutions/strong.py"):
        assert (spec.folder / name).is_file(), name
    for key in ("sample", "fast", "strong"):
        assert getattr(spec.lite_scores, key) is not None, f"lite_scores.{key}"
    assert spec.better(spec.lite_scores.strong, spec.lite_scores.fast)
    assert spec.better(spec.lite_scores.fast, spec.lite_scores.sample)
    text = spec.description
    assert "MLE_INPUT_DIR" in text and "MLE_SUBMISSION_PATH" in text


@pytest.mark.parametrize("slug", TASKS)
def test_lite_generation_is_deterministic(slug, tmp_path):
    spec = SPECS[slug]
    a = prepare_lite(spec, seed=5, root=tmp_path / "a")
    b = prepare_lite(spec, seed=5, root=tmp_path / "b")
    files = tree(a.root)
    assert files == tree(b.root)
    mismatch = [f for f in files if not filecmp.cmp(a.root / f, b.root / f, shallow=False)]
    assert not mismatch
    again = prepare_lite(spec, seed=5, root=tmp_path / "a")  # cached: nothing rewritten
    assert tree(again.root) == files


@pytest.mark.parametrize("slug", TASKS)
def test_public_files_follow_the_spec(slug, lite):
    spec, data = SPECS[slug], lite(slug)
    for entry in spec.public_files:
        path = data.public / entry.name
        assert path.exists(), entry.name
        if entry.columns and path.suffix == ".csv":
            assert list(pd.read_csv(path, nrows=2).columns) == entry.columns, entry.name
    answers = pd.read_csv(data.answers_path, nrows=2)
    assert set([spec.id_column, *spec.target_columns]) <= set(answers.columns)


@pytest.mark.parametrize("slug", TASKS)
def test_sample_is_valid_and_answers_are_perfect(slug, lite):
    spec, data = SPECS[slug], lite(slug)
    grader = Grader(data)
    sample = next(data.public.glob("sample*"))
    if spec.metric in CONSTANT_IS_INVALID:
        with pytest.raises(InvalidSubmission, match="undefined for a constant"):
            grader.grade(sample)
    else:
        # The lite data is drawn with a secret per cache, so the sample's score varies by data
        # set around the mean in task.yaml (sd over 12 secrets: 0.028 for essay-scoring's kappa
        # on a small test set, 0.011 at most elsewhere).
        spread = 0.12 if spec.metric == "quadratic_weighted_kappa" else 0.05
        assert grader.grade(sample).score == pytest.approx(spec.lite_scores.sample, abs=spread)
    answers = pd.read_csv(data.answers_path)
    assert grader.grade(answers).score == pytest.approx(grader.metric.perfect, abs=1e-9)


@pytest.mark.parametrize("slug", TASKS)
def test_check_env(slug):
    env = gym.make(SPECS[slug].env_id, sandbox="local")  # a random action never parses
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("slug", TASKS)
def test_cli_grades_the_sample(slug, lite):
    sample = next(lite(slug).public.glob("sample*"))
    out = subprocess.run([sys.executable, "-m", "mle_gym.cli", "grade", slug, str(sample), "--json"],
                         capture_output=True, text=True)
    result = json.loads(out.stdout)
    if SPECS[slug].metric in CONSTANT_IS_INVALID:
        assert out.returncode == 1 and not result["valid"] and result["reason"]
    else:
        assert out.returncode == 0
        assert result["valid"] and {"public", "private", "score"} <= set(result)


def test_cli_lists_every_task():
    out = subprocess.run([sys.executable, "-m", "mle_gym.cli", "tasks"], capture_output=True,
                         text=True, check=True).stdout
    for spec in all_tasks():
        assert spec.slug in out and spec.metric in out


@pytest.mark.docker
@pytest.mark.parametrize("slug", TASKS)
def test_reference_programs_in_docker(slug, reference_steps):
    spec = SPECS[slug]
    infos = {name: step[4] for name, step in reference_steps(slug).items()}
    for name, info in infos.items():
        assert info["valid_submission"], (name, info["invalid_reason"], info["stderr_tail"][-1500:])
        assert "model_trained" in info["milestones"]
    assert spec.better(infos["strong"]["score"], infos["fast"]["score"])


@pytest.mark.parametrize("slug", TASKS)
def test_full_preparation_names_missing_raw_files(slug, tmp_path, monkeypatch):
    from mle_gym.data import DataNotAvailable, load_task_module

    monkeypatch.setenv("MLE_GYM_CACHE", str(tmp_path / "cache"))
    required = load_task_module(SPECS[slug], "prepare").RAW_FILES
    assert required, "prepare.py must list the files it needs in RAW_FILES"
    empty = tmp_path / "download"
    empty.mkdir()
    with pytest.raises(DataNotAvailable, match=f"lacks {required[0]}"):
        prepare(slug, "full", raw=empty)
    assert not (tmp_path / "cache" / slug / "full").exists()


@pytest.mark.parametrize("slug", TASKS)
def test_the_papers_scores_are_in_the_metric_range(slug):
    # All twelve tasks are the paper's; a typo in task.yaml would put a score out of range.
    paper = SPECS[slug].paper
    assert paper is not None, "task.yaml lacks the paper's scores (paper:)"
    scores = [v for v in paper.model_dump().values() if v is not None]
    assert scores, "the paper reports a valid result for at least one agent"
    for value in scores:
        # Higher-is-better metrics here are AUCs, kappas, accuracies, Jaccard and Pearson.
        assert -1 <= value <= 1 if SPECS[slug].direction == "higher" else value >= 0, value


def test_a_module_prefixed_id_makes_the_env_without_importing_mle_gym():
    # Gymnasium 1.x no longer loads plugins from the `gymnasium.envs` entry-point group, so a
    # fresh interpreter knows no `mle/` ids; "mle_gym:<id>" makes gym.make import mle_gym first
    # (what AsyncVectorEnv workers started with spawn or forkserver need).
    code = (
        "import sys, gymnasium as gym\n"
        "assert 'mle_gym' not in sys.modules\n"
        "for env_id in ('mle_gym:mle/spooky-author-v0', 'mle_gym:mle/spooky-author-identification-v0'):\n"
        "    env = gym.make(env_id)\n"
        "    assert env.unwrapped.spec.id == env_id.split(':')[1], env.unwrapped.spec.id\n"
        "    env.close()\n"
        "print(sorted(m for m in ('torch', 'trl', 'transformers') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"
