"""The mle-gym command line, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mle_gym.cli", *args], capture_output=True, text=True, check=check
    )


def test_tasks_lists_metric_and_direction():
    out = cli("tasks").stdout
    assert "spooky-author" in out and "log_loss" in out and "lower" in out
    rows = json.loads(cli("tasks", "--json").stdout)
    assert {"slug": "spooky-author", "metric": "log_loss", "direction": "lower",
            "kaggle_id": "spooky-author-identification"} in rows


def test_prepare_prints_the_folders(spooky_data):
    out = cli("prepare", "spooky-author").stdout
    assert f"public:  {spooky_data.public}" in out
    assert f"private: {spooky_data.private}" in out


def test_grade_json_has_both_halves(spooky_data):
    sample = spooky_data.public / "sample_submission.csv"
    result = json.loads(cli("grade", "spooky-author", str(sample), "--json").stdout)
    assert result["valid"] is True
    assert {"score", "public", "private", "n_rows"} <= set(result)
    assert 0.9 < result["score"] < 1.2


def test_grade_reports_the_invalid_reason(spooky_data, tmp_path):
    bad = pd.read_csv(spooky_data.public / "sample_submission.csv").drop(columns=["MWS"])
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    proc = cli("grade", "spooky-author", str(path), "--json", check=False)
    assert proc.returncode == 1
    assert "missing column(s) 'MWS'" in json.loads(proc.stdout)["reason"]


def test_unknown_task_is_a_clear_error():
    proc = cli("grade", "nope", "x.csv", check=False)
    assert proc.returncode == 2 and "unknown task 'nope'" in proc.stderr


def test_run_one_program_locally(tmp_path, solutions):
    program = tmp_path / "fast.py"
    program.write_text(solutions["fast"])
    # A generous limit: on a loaded machine the task's default (120 s) can be too short.
    out = cli("run", "spooky-author", str(program), "--sandbox", "local",
              "--time-limit", "900").stdout
    assert "milestones  imports, data_loaded" in out and "score" in out


def test_version_comes_from_the_installed_metadata():
    from importlib.metadata import version

    proc = cli("--version")
    assert proc.stdout.strip() == f"mle-gym {version('mle-gym')}"


def test_a_zero_time_limit_is_refused_not_read_as_the_default(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("print('never runs')\n")
    proc = cli("run", "spooky-author", str(program), "--sandbox", "local", "--time-limit", "0",
               check=False)
    assert proc.returncode == 2, proc.stdout
    assert "time_limit must be a number of seconds between 1" in proc.stderr
    assert "never runs" not in proc.stdout
