"""The reproduction script's --quick mode: real pool steps, and outputs a reader can use.

It checks that the outputs exist and hold what they claim (real rewards, real durations,
policies that are distributions), not the findings themselves: a quick run is too short.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from baselines.repro import run as repro
from baselines.repro.programs import STAGES, all_choices, candidate

PNG = b"\x89PNG\r\n\x1a\n"


def test_candidates_are_distinct_programs_with_one_bug_free():
    choices = all_choices()
    assert len(choices) == 3 ** len(STAGES)
    sources = {candidate(c) for c in choices}
    assert len(sources) == len(choices)  # every mutation changes the program
    assert candidate(tuple(0 for _ in STAGES)) == repro.duration_programs()["fast"]


@pytest.mark.docker
def test_quick_mode_writes_well_formed_results(docker_client, tmp_path):
    assert repro.main(["--quick", "--out", str(tmp_path)]) == 0

    profile = json.loads((tmp_path / "profile.json").read_text())
    programs = profile["programs"]
    assert list(programs) == ["fast", "medium", "strong", "broken"]
    assert programs["fast"]["valid"] and programs["strong"]["valid"]
    assert not programs["broken"]["valid"] and programs["broken"]["reward"] < 0
    # Graded for real: the strong reference beats the fast one on log loss.
    assert programs["strong"]["score"] < programs["fast"]["score"]
    assert all(row["mean_duration"] > 0 for row in programs.values())

    duration = json.loads((tmp_path / "duration_bias.json").read_text())
    runs = duration["runs"]["episodes"]
    assert set(runs) == {"unweighted", "duration-weighted"}
    for run in runs["unweighted"] + runs["duration-weighted"]:
        assert run["results"] >= 1 and run["pool_errors"] == []
        for snap in run["snapshots"]:
            assert math.isclose(sum(snap["probs"]), 1.0, abs_tol=1e-3)
        for c in run["completions"]:
            assert c["program"] in programs and c["duration"] > 0
            if c["program"] == "broken":
                assert not c["valid"]
            else:  # a good program fails only by running out of time on a loaded machine
                assert c["valid"] or "time limit" in (c["invalid_reason"] or ""), c
        times = [c["t"] for c in run["completions"]]
        assert times == sorted(times)  # consumed in completion order

    credit = json.loads((tmp_path / "partial_credit.json").read_text())
    assert set(credit["runs"]) == {"partial credit", "final score only"}
    for label, runs in credit["runs"].items():
        for run in runs:
            assert run["steps"], f"{label}: no rollout finished"
            for step in run["steps"]:
                if step["valid"]:
                    assert step["reward"] > 0
                elif label == "partial credit":  # the env's milestone credit, for real
                    assert step["reward"] == pytest.approx(-1 + 0.1 * step["milestones"])
                else:
                    assert step["reward"] == -1.0

    report = (tmp_path / "REPORT.md").read_text()
    for heading in ("## The programs, measured first", "## Finding 1", "## Finding 2"):
        assert heading in report
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert {
        "duration_shares_episodes.png",
        "duration_mean_duration.png",
        "credit_curves.png",
    } <= set(images)
    for name in images:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000
