"""Finding 1, duration bias, in the asynchronous setting: a softmax over real programs learned
by the same loop as the TRL trainer (``baselines/async_loop.py``: completion order, admission
control, truncated importance sampling, running-mean duration weights).

Three ways to run it, one learner:

* ``measure``: every program run ``repeats`` times through the pool (durations and rewards);
* ``run_softmax(ReplayBackend(...))``: on a virtual clock, outcomes drawn from those
  measurements, so dozens of seeds cost seconds;
* ``run_softmax(PoolBackend(...))``: real env steps in warm Docker containers, to check that
  the replay agrees with reality.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from baselines.async_loop import AsyncLoop, Backend, Outcome, Sample
from baselines.duration_weights import DurationNormaliser, effective_sample_size
from baselines.repro.learner import EMABaseline, SoftmaxPolicy
from mle_gym.pool import RolloutPool, StepJob

TASK = "spooky-author"


@dataclass
class AsyncConfig:
    weighted: bool
    seed: int
    regime: str = "episodes"
    seconds: float = 150.0  # wall-clock (or virtual) budget of a run
    workers: int = 4
    batch: int = 4
    lr: float = 2.0
    baseline_rate: float = 0.1
    floor: float = 1.0
    norm: str = "running"
    max_staleness: int = 2
    is_cap: float = 2.0
    episode_seconds: float = 30.0
    time_limit: float = 180.0

    @property
    def label(self) -> str:
        return "duration-weighted" if self.weighted else "unweighted"


def measure(
    pool: RolloutPool, programs: dict[str, str], options: dict[str, Any], repeats: int
) -> dict[str, Any]:
    """Each program ``repeats`` times, as many at once as the pool has workers."""
    handles = [
        pool.submit(StepJob(TASK, code, options, tag=name))
        for _ in range(repeats)
        for name, code in programs.items()
    ]
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in programs}
    for r in tqdm(pool.as_completed(handles), total=len(handles), desc="measuring", leave=False):
        if r.error is not None:
            raise RuntimeError(
                f"measuring {r.job.tag} failed in the pool: {r.error}. Check `docker info` "
                "and `mle-gym sandbox build`, then run again."
            )
        step = r.step
        runs[r.job.tag].append(
            {
                "duration": round(float(step.duration), 3),
                "reward": round(float(step.reward), 4),
                "failed": bool(step.timed_out or not step.valid_submission or step.no_model_trained),
                "score": step.score,
            }
        )
    table = {}
    for name, rows in runs.items():
        d = [x["duration"] for x in rows]
        table[name] = {
            "runs": rows,
            "mean_duration": round(float(np.mean(d)), 3),
            "sd_duration": round(float(np.std(d, ddof=1)), 3) if len(d) > 1 else 0.0,
            "mean_reward": round(float(np.mean([x["reward"] for x in rows])), 4),
            "valid": not any(x["failed"] for x in rows),
            "score": rows[0]["score"],
        }
    return table


def outcomes_of(measured: dict[str, Any]) -> dict[str, list[Outcome]]:
    return {
        name: [Outcome(r["duration"], r["reward"], r["failed"]) for r in row["runs"]]
        for name, row in measured.items()
    }


def run_softmax(
    backend: Backend, names: list[str], programs: dict[str, str], cfg: AsyncConfig
) -> dict[str, Any]:
    """One training run until ``cfg.seconds`` on the backend's clock."""
    policy = SoftmaxPolicy(len(names), cfg.lr, cfg.seed)
    baseline = EMABaseline(cfg.baseline_rate)
    normaliser = DurationNormaliser(cfg.norm, cfg.floor, enabled=cfg.weighted)

    def generate(lane: Any, version: int, new_episode: bool) -> Sample:
        if not new_episode and lane.last is not None:
            action = lane.last.action  # the lane keeps improving its own kind of program
        else:
            action = names[policy.sample()]
        p = float(policy.probs()[names.index(action)])
        return Sample(-1, version, lane.index, programs.get(action, ""), action=action, payload=p)

    loop = AsyncLoop(
        backend, generate, cfg.workers, cfg.batch, cfg.max_staleness, cfg.regime, cfg.episode_seconds
    )
    snapshots = [{"t": 0.0, "update": 0, "probs": [round(float(x), 5) for x in policy.probs()]}]
    consumed: list[dict[str, Any]] = []
    ess: list[float] = []
    try:
        while backend.now() < cfg.seconds:
            batch = loop.next_batch()
            pi = policy.probs()
            for s in batch:
                consumed.append(
                    {
                        "t": round(float(s.finished_at or 0.0), 3),
                        "program": s.action,
                        "duration": s.duration,
                        "reward": s.reward,
                        "staleness": s.staleness,
                        "p_now": round(float(pi[names.index(s.action)]), 5),
                        "error": s.error,
                    }
                )
            learn = [s for s in batch if s.reward is not None]
            if learn:
                w = normaliser.weights(
                    [s.duration for s in learn], [s.failed for s in learn], cfg.time_limit
                )
                rho = [min(pi[names.index(s.action)] / s.payload, cfg.is_cap) for s in learn]
                total = [a * b for a, b in zip(w, rho, strict=True)]
                ess.append(effective_sample_size(total) / len(total))
                adv = baseline.advantages([float(s.reward) for s in learn])
                policy.update([names.index(s.action) for s in learn], adv, total)
            loop.advance()
            snapshots.append(
                {
                    "t": round(backend.now(), 3),
                    "update": policy.updates,
                    "probs": [round(float(x), 5) for x in policy.probs()],
                }
            )
    finally:
        loop.close()
    final = dict(zip(names, map(float, policy.probs()), strict=True))
    return {
        "config": asdict(cfg),
        "label": cfg.label,
        "programs": names,
        "final_shares": final,
        "snapshots": snapshots,
        "consumed": consumed,
        "ess_fraction_mean": float(np.mean(ess)) if ess else None,
        "max_staleness_seen": max((c["staleness"] or 0) for c in consumed) if consumed else 0,
        "running_mean_duration": normaliser.running_mean,
        "updates": policy.updates,
        "results": len(consumed),
    }


def arrivals(runs: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, float]]:
    """Per program: share of results, mean policy probability at the arrivals, their ratio."""
    rows = [c for r in runs for c in r["consumed"] if c["error"] is None]
    out = {}
    for n in names:
        share = sum(c["program"] == n for c in rows) / max(len(rows), 1)
        # The policy's probability of n at each arrival, from the run's snapshots.
        probs = []
        for r in runs:
            snaps = r["snapshots"]
            times = [s["t"] for s in snaps]
            i = names.index(n)
            for c in r["consumed"]:
                if c["error"] is None:
                    k = max(0, int(np.searchsorted(times, c["t"], side="right")) - 1)
                    probs.append(snaps[k]["probs"][i])
        policy = float(np.mean(probs)) if probs else float("nan")
        out[n] = {"results": share, "policy": policy, "ratio": share / policy if policy else float("nan")}
    return out


def paired(a: list[float], b: list[float]) -> dict[str, float]:
    """Mean of a - b over paired seeds with a 95% t interval."""
    from scipy import stats

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(d)
    mean = float(d.mean())
    if n < 2:
        return {"n": n, "mean": mean, "low": float("nan"), "high": float("nan")}
    half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n))
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half}


def interval(values: list[float]) -> dict[str, float]:
    """Mean with a 95% t interval."""
    return paired(values, [0.0] * len(values))
