"""Finding 2 (partial credit) of REPORT.md, from its results JSON: what was run, the measured
numbers, and whether the finding reproduced, decided from the numbers (not written in
advance). The rest of the report is ``baselines/repro/async_report.py``."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np


def _mean(values: list[float | None]) -> float:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else float("nan")


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"


def credit_aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    s = [r["summary"] for r in runs]
    return {
        "seeds": len(runs),
        "found": sum(x["first_valid_step"] is not None for x in s),
        "first_valid_step": [x["first_valid_step"] for x in s],
        "first_valid_seconds": [x["first_valid_seconds"] for x in s],
        "steps": [x["steps"] for x in s],
        "wall_seconds": [r["wall_seconds"] for r in runs],
        "final_p_valid": [x["final_p_valid"] for x in s],
        "valid_count": [x["valid_count"] for x in s],
        "mean_milestones_last_quarter": [x["mean_milestones_last_quarter"] for x in s],
        "mean_reward": [float(np.mean([st["reward"] for st in r["steps"]])) for r in runs],
    }


def _credit_section(add: Any, credit: dict[str, Any], profile: dict[str, Any]) -> None:
    cfg = credit["config"]
    add("## Finding 2: partial credit")
    add("")
    add(
        "243 candidates: the fast reference with, at each of five stages (imports, data loading, "
        "model definition, training, submission), either no bug or one of two realistic bugs; only "
        "the bug-free one is valid (1 in 243 under the uniform start). The policy is one softmax "
        "per stage. GRPO-style learner: batches of "
        f"{cfg['batch']} results in completion order, advantages normalised within the batch, "
        f"learning rate {cfg['lr']}. Each run: at most {cfg['max_results']} rollouts or "
        f"{cfg['seconds']:g} s. `partial credit` uses the env's default reward (-1 + 0.1 per "
        "milestone for an invalid program); `final score only` the same config with "
        "`milestone_credit=0`, so every invalid program earns -1."
    )
    add("")
    add(
        "| reward | seeds | runs with a valid submission | rollouts to first valid (per seed) | seconds to first valid | valid results | final P(bug-free) | mean milestones, last quarter | mean reward |"
    )
    add("|---|---|---|---|---|---|---|---|---|")
    aggs = {}
    for label, runs in credit["runs"].items():
        agg = credit_aggregate(runs)
        aggs[label] = agg
        firsts = ", ".join("none" if f is None else str(f) for f in agg["first_valid_step"])
        secs = ", ".join("–" if f is None else f"{f:.0f}" for f in agg["first_valid_seconds"])
        add(
            f"| {label} | {agg['seeds']} | {agg['found']} of {agg['seeds']} | {firsts} (of {', '.join(map(str, agg['steps']))}) | "
            f"{secs} | {', '.join(map(str, agg['valid_count']))} | "
            f"{', '.join(f'{p:.3f}' for p in agg['final_p_valid'])} | "
            f"{_mean_sd(agg['mean_milestones_last_quarter'])} | {_mean_sd(agg['mean_reward'])} |"
        )
    add("")
    add("What each run was writing at the end (its last 16 rollouts):")
    add("")
    for label, runs in credit["runs"].items():
        for run in runs:
            tail = [st["bugs"] for st in run["steps"][-16:]]
            top, n = Counter(tail).most_common(1)[0] if tail else ("nothing", 0)
            add(f"- {label}, seed {run['config']['seed']}: {top} ({n} of {len(tail)})")
    add("")
    add(_credit_verdict(aggs))
    add("")


def _credit_verdict(aggs: dict[str, dict[str, Any]]) -> str:
    if "partial credit" not in aggs or "final score only" not in aggs:
        return "Only one setting ran, so there is nothing to compare."
    p, f = aggs["partial credit"], aggs["final score only"]
    mp, mf = np.mean(p["final_p_valid"]), np.mean(f["final_p_valid"])
    text = (
        f"**Measured:** with partial credit {p['found']} of {p['seeds']} runs wrote a valid "
        f"submission, with the final score only {f['found']} of {f['seeds']}; the policy's "
        f"final probability of the bug-free program is {mp:.3f} vs {mf:.3f} (uniform start "
        f"{1 / 243:.4f}); in their last quarter the runs reached "
        f"{_mean(p['mean_milestones_last_quarter']):.1f} vs "
        f"{_mean(f['mean_milestones_last_quarter']):.1f} milestones per program on average. "
    )
    if p["found"] > f["found"] or (p["found"] == f["found"] and mp > 2 * mf):
        text += (
            "The finding reproduces in what the policy learns: milestone credit lets it learn "
            "stage by stage (first to import, then to load data, ...) before it has ever seen a "
            "valid submission, while the sparse reward gives no gradient until a valid program "
            f"is found by chance (found in {f['found']} of {f['seeds']} runs here). Reaching a "
            "valid submission "
            f"within the budget is the weaker result ({p['found']} of {p['seeds']} runs)."
        )
    else:
        text += "The finding does not reproduce in these runs."
    return text


