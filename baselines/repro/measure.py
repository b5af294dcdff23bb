"""Measure the programs before training on them: each duration-bias program's duration and
reward, and where each partial-credit bug actually stops its program."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm import tqdm

from baselines.repro.programs import STAGES, candidate, describe
from baselines.repro.rollouts import TASK
from mle_gym.pool import RolloutPool, StepJob


def _run_all(
    pool: RolloutPool, jobs: list[tuple[Any, str, dict[str, Any]]], desc: str
) -> list[tuple[Any, Any]]:
    handles = [pool.submit(StepJob(TASK, prog, options=opts, tag=key)) for key, prog, opts in jobs]
    out = []
    for result in tqdm(pool.as_completed(handles), total=len(handles), desc=desc, leave=False):
        if result.error is not None:
            raise RuntimeError(
                f"measuring {result.job.tag!r} failed in the pool: {result.error}. "
                "Check `docker info` and `mle-gym sandbox build`, then run again."
            )
        out.append((result.job.tag, result))
    return out


def profile_programs(
    pool: RolloutPool, programs: dict[str, str], options: dict[str, Any], repeats: int
) -> dict[str, dict[str, Any]]:
    """Run every program ``repeats`` times, as many at once as the pool has workers."""
    jobs = [(name, code, options) for _ in range(repeats) for name, code in programs.items()]
    runs: dict[str, list] = {name: [] for name in programs}
    for name, result in _run_all(pool, jobs, "measuring programs"):
        runs[name].append(result)
    table = {}
    for name, results in runs.items():
        durations = [r.duration for r in results]
        info = results[0].info or {}
        table[name] = {
            "durations": [round(d, 3) for d in durations],
            "mean_duration": round(float(np.mean(durations)), 3),
            "reward": round(float(np.mean([r.reward for r in results])), 4),
            "valid": bool(info.get("valid_submission")),
            "score": None if info.get("score") is None else round(float(info["score"]), 5),
            "private_score": None
            if results[0].private_score is None
            else round(results[0].private_score, 5),
            "milestones": len(info.get("milestones", [])),
            "invalid_reason": info.get("invalid_reason"),
        }
    return table


def check_stages(pool: RolloutPool, options: dict[str, Any]) -> list[dict[str, Any]]:
    """The bug-free candidate and every single-bug candidate once, with the default reward:
    how many milestones each reaches and why it fails."""
    choices = [tuple(0 for _ in STAGES)]
    for i, stage in enumerate(STAGES):
        for k in range(1, len(stage.options)):
            choices.append(tuple(k if j == i else 0 for j in range(len(STAGES))))
    jobs = [(c, candidate(c), options) for c in choices]
    rows = []
    for choice, result in sorted(_run_all(pool, jobs, "checking bugs"), key=lambda x: x[0]):
        info = result.info or {}
        rows.append(
            {
                "choice": list(choice),
                "bugs": describe(choice),
                "milestones": info.get("milestones", []),
                "valid": bool(info.get("valid_submission")),
                "reward": round(float(result.reward), 4),
                "duration": round(result.duration, 3),
                "invalid_reason": info.get("invalid_reason"),
            }
        )
    return rows
