"""The reproduction (baselines/repro): the replay learner shows the mechanisms it claims, and the
script's --quick mode writes well-formed results from real pool steps.

The quick run checks that outputs exist and hold what they claim (real rewards, real
durations, policies that are distributions), not the findings: it is too short for that.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from baselines.async_loop import Outcome, ReplayBackend
from baselines.repro import run as repro
from baselines.repro.async_bias import AsyncConfig, arrivals, paired, run_softmax
from baselines.repro.programs import (
    STAGES,
    all_choices,
    async_programs,
    candidate,
    duration_programs,
)
from baselines.repro.trl_runs import OTHER, classify

PNG = b"\x89PNG\r\n\x1a\n"
# Outcomes shaped like the measured programs: a weak fast one, a better slow one, a fast crash.
OUTCOMES = {
    "fast": [Outcome(d, 1.26, False) for d in (4.5, 5.0, 5.5)],
    "slow": [Outcome(d, 2.08, False) for d in (13.0, 14.0, 15.0)],
    "broken": [Outcome(d, -0.5, True) for d in (4.5, 5.0, 5.5)],
}
NAMES = list(OUTCOMES)


def test_candidates_are_distinct_programs_with_one_bug_free():
    choices = all_choices()
    assert len(choices) == 3 ** len(STAGES)
    sources = {candidate(c) for c in choices}
    assert len(sources) == len(choices)  # every mutation changes the program
    assert candidate(tuple(0 for _ in STAGES)) == duration_programs()["fast"]


def _replay(regime: str, weighted: bool, seeds: int, seconds: float = 150.0) -> list[dict]:
    return [
        run_softmax(
            ReplayBackend(OUTCOMES, seed + 1000, 4, overhead=0.3),
            NAMES,
            {},
            AsyncConfig(weighted, seed, regime=regime, seconds=seconds, episode_seconds=12.5),
        )
        for seed in range(seeds)
    ]


def test_replay_shows_the_1_over_dt_bias_only_in_the_episodes_regime():
    episodes = arrivals(_replay("episodes", False, 12), NAMES)
    resample = arrivals(_replay("resample", False, 12), NAMES)
    # Lanes whose time follows the policy: fast results arrive more often than chosen.
    assert episodes["fast"]["ratio"] > 1.05 and episodes["slow"]["ratio"] < 0.85
    # Fresh draws per job: arrivals follow the policy far more closely.
    assert abs(resample["slow"]["ratio"] - 1) < abs(episodes["slow"]["ratio"] - 1)


def test_replay_weights_move_the_policy_off_the_fast_program():
    unweighted = _replay("episodes", False, 20)
    weighted = _replay("episodes", True, 20)
    for run in unweighted + weighted:
        assert run["max_staleness_seen"] <= 2
        for snap in run["snapshots"]:
            assert math.isclose(sum(snap["probs"]), 1.0, abs_tol=1e-3)
    d = paired(
        [r["final_shares"]["fast"] for r in unweighted],
        [r["final_shares"]["fast"] for r in weighted],
    )
    assert d["low"] > 0, d  # fewer fast programs with the weights, beyond seed noise


def test_paired_interval_and_classification():
    d = paired([0.9, 0.8, 0.7], [0.1, 0.2, 0.3])
    assert d["mean"] == pytest.approx(0.6) and d["low"] < 0.6 < d["high"]
    programs = async_programs()
    assert classify(programs["slow"], programs) == "slow"
    assert classify(programs["broken"], programs) == "broken"
    assert classify("print('hello')", programs) == OTHER
    assert np.isnan(paired([1.0], [0.0])["low"])


@pytest.mark.slow
@pytest.mark.docker
def test_quick_mode_writes_well_formed_results(docker_client, tmp_path):
    assert repro.main(["--quick", "--out", str(tmp_path)]) == 0

    result = json.loads((tmp_path / "async_bias.json").read_text())
    measured = result["measured"]
    assert list(measured) == ["fast", "slow", "broken"]
    assert measured["fast"]["valid"] and measured["slow"]["valid"]
    assert not measured["broken"]["valid"] and measured["broken"]["mean_reward"] < 0
    # Graded for real: the slow program beats the fast one on log loss.
    assert measured["slow"]["score"] < measured["fast"]["score"]
    assert all(r["duration"] > 0 for row in measured.values() for r in row["runs"])

    for label in ("unweighted", "duration-weighted"):
        assert result["replay"]["episodes/short"][label]
        for run in result["real"][label]:
            assert run["results"] >= 1 and run["max_staleness_seen"] <= 2
            times = [c["t"] for c in run["consumed"]]
            assert times == sorted(times)  # consumed in completion order
            for c in run["consumed"]:
                assert c["program"] in measured
        for run in result["trl"][label]:
            assert run["updates"] and all(u["kinds"] for u in run["updates"])

    report = (tmp_path / "REPORT.md").read_text()
    for heading in ("## The programs, measured first", "## Finding 1", "### Verdict"):
        assert heading in report
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert "async_fast_share.png" in images
    for name in images:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000
