"""Soak: many steps through the rollout pool leave nothing growing and nothing behind.

The same run as ``bench/soak.py``: open files and RSS of this process, the containers of
this session, the step folders and bytes under the work dir, and the engine's container
count, sampled as the steps go and once more after the pool closed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

BENCH = Path(__file__).resolve().parents[1] / "bench" / "soak.py"


def load_soak():
    spec = importlib.util.spec_from_file_location("mle_gym_bench_soak", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def check(steps: int, every: int, sandbox: str, workers: int = 2) -> None:
    soak = load_soak()
    samples, summary = soak.run_soak(steps, workers=workers, every=every, sandbox=sandbox,
                                     progress=False)
    soak.print_table(samples, summary)
    assert len(samples) == steps // every + 1 + (steps % every != 0)
    assert summary["failed"] == 0, summary["first_failures"]
    assert soak.problems(samples, summary, workers) == []


def test_soak_30_steps_warm(docker_client, spooky_data):
    check(30, 10, "docker-warm")


@pytest.mark.slow
def test_soak_1000_steps_warm(docker_client, spooky_data):
    check(1000, 100, "docker-warm")


@pytest.mark.slow
def test_soak_300_steps_cold(docker_client, spooky_data):
    check(300, 50, "docker")
