"""How well does the consensus reward track the true score? Real steps on every lite task.

For each task: run the reference programs and weaker variants (trained on a fraction of the
rows) through the pool (``docker-warm``), keep their submissions, and add noisy submissions
(a valid submission's predictions damaged at several noise levels: cheap, no sandbox). Then
report, per task, Spearman's rho between the consensus reward (answers never read) and the
true private-half score; a "weak majority" population (many damaged copies of the weakest
program, few strong voters); and test-time RL with the softmax policy of ``baselines/ttrl.py``
over the same family, true score start -> end over seeds.

    python bench/consensus_correlation.py --out runs/consensus   # ~10-15 min on 2 cores
    python bench/consensus_correlation.py --out runs/consensus --analyse-only

The populations are saved under ``--out`` (submissions and true scores), so the analysis can
be rerun without running a program again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines.ttrl import Arm, program_family, softmax_ttrl  # noqa: E402
from mle_gym.consensus import ConsensusScorer  # noqa: E402
from mle_gym.data import prepare  # noqa: E402
from mle_gym.grading import Grader, InvalidSubmission  # noqa: E402
from mle_gym.pool import RolloutPool, StepJob  # noqa: E402
from mle_gym.pool.consensus import SubmissionStore  # noqa: E402
from mle_gym.spec import TaskSpec, all_tasks  # noqa: E402

NOISE_LEVELS = [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0, 3.0]


def perturb(frame: pd.DataFrame, spec: TaskSpec, level: float, rng: np.random.Generator) -> pd.DataFrame:
    """A valid submission with its predictions damaged at ``level`` (0: untouched)."""
    out = frame.copy()
    targets = list(spec.target_columns)
    metric, n = spec.metric, len(out)
    hit = rng.random(n) < min(level, 1.0)
    if metric == "jaccard":
        spans = out[targets[0]].astype(str).tolist()
        for i in np.flatnonzero(hit):  # a random part of the span
            words = spans[i].split()
            length = int(rng.integers(0, len(words) + 1))
            start = int(rng.integers(0, len(words) - length + 1))
            spans[i] = " ".join(words[start : start + length])
        out[targets[0]] = spans
    elif metric in ("accuracy", "quadratic_weighted_kappa"):
        labels = np.asarray(spec.metric_options["labels"])
        values = out[targets[0]].to_numpy().copy()
        values[hit] = rng.choice(labels, hit.sum())
        out[targets[0]] = values.astype(int)
    elif metric in ("log_loss", "roc_auc", "mean_column_roc_auc"):
        p = np.clip(out[targets].to_numpy(float), 1e-4, 1 - 1e-4)
        if metric == "log_loss":
            p = p / p.sum(1, keepdims=True)
            z = np.log(p) + rng.normal(0, 3 * level, p.shape)
            q = np.exp(z - z.max(1, keepdims=True))
            q = 0.98 * q / q.sum(1, keepdims=True) + 0.02 / q.shape[1]
            if spec.metric_options.get("row_sum") == "exact":
                q = np.round(q, 9)
                q[:, -1] = 1 - q[:, :-1].sum(1)
        else:
            z = np.log(p / (1 - p)) + rng.normal(0, 3 * level, p.shape)
            q = 1 / (1 + np.exp(-z))
        out[targets] = q
    else:
        y = out[targets].to_numpy(float)
        noisy = y + rng.normal(0, level, y.shape) * (y.std(0) + 1e-9)
        out[targets] = np.clip(noisy, 0, None) if metric == "mean_column_rmsle" else noisy
    return out


def run_programs(tasks: list[TaskSpec], out: Path, workers: int, fractions: list[float],
                 time_limit: float | None = None) -> None:
    """Run every task's family through the pool; save submissions and true scores."""
    store = SubmissionStore(out / "kept")
    jobs = []
    with RolloutPool(workers=workers, sandbox=store.sandbox("docker-warm"), max_pending=1000) as pool:
        for spec in tasks:
            for name, program in program_family(spec, fractions).items():
                jobs.append((spec, name, pool.submit(StepJob(spec.slug, program, {"data": "lite", "time_limit": time_limit}))))
        for spec, name, handle in tqdm(jobs, desc="programs"):
            result = handle.result()
            step = result.step
            folder = out / spec.slug
            folder.mkdir(parents=True, exist_ok=True)
            kept = store.path(result)
            record = {"name": name, "error": result.error, "duration": result.duration,
                      "valid": bool(step and step.valid_submission), "true_private": result.private_score,
                      "milestones": list(step.milestones) if step else [], "reason": step.invalid_reason if step else None}
            if kept is not None:
                (folder / f"{name}.csv").write_bytes(kept.read_bytes())
            (folder / f"{name}.json").write_text(json.dumps(record))


def population(spec: TaskSpec, out: Path, seed: int = 0) -> list[dict]:
    """The run programs' submissions plus noisy ones, each with its true private score."""
    data = prepare(spec.slug)
    grader = Grader(data)  # analysis only: the true score of each member
    folder = out / spec.slug
    members = []
    for record_path in sorted(folder.glob("*.json")):
        record = json.loads(record_path.read_text())
        csv = folder / f"{record['name']}.csv"
        members.append({**record, "path": csv if csv.exists() else None, "kind": "program",
                        "milestones": len(record["milestones"]),
                        "no_model": "model_trained" not in record["milestones"]})
    rng = np.random.default_rng(seed)
    noisy_dir = folder / "noisy"
    noisy_dir.mkdir(exist_ok=True)
    valid = [m for m in members if m["valid"] and m["path"] is not None]
    for base in valid:
        frame = pd.read_csv(base["path"], keep_default_na=spec.metric != "jaccard")
        for level in NOISE_LEVELS:
            path = noisy_dir / f"{base['name']}-noise{level:g}.csv"
            perturb(frame, spec, level, rng).to_csv(path, index=False)
            members.append({"name": path.stem, "path": path, "kind": "noisy", "base": base["name"],
                            "level": level, "milestones": 6, "no_model": False})
    for m in members:
        if m["path"] is not None and "true_private" not in m:
            try:
                m["true_private"] = grader.grade(m["path"]).private
            except InvalidSubmission:
                m["true_private"] = None
    return members


def correlate(spec: TaskSpec, members: list[dict]) -> dict:
    scorer = ConsensusScorer(spec, prepare(spec.slug).public)
    results = scorer.score([m["path"] for m in members], [m["milestones"] for m in members],
                           [m["no_model"] for m in members])
    sign = 1.0 if spec.direction == "higher" else -1.0
    pairs = [(r.reward, sign * m["true_private"]) for r, m in zip(results, members, strict=True)
             if r.valid and r.case == "agreement" and m.get("true_private") is not None]
    rewards, true = zip(*pairs, strict=True) if pairs else ((), ())
    # The programs alone (3-4 per task: indicative only), scored within the whole population.
    runs = [(r.reward, sign * m["true_private"], m["name"]) for r, m in zip(results, members, strict=True)
            if m["kind"] == "program" and r.case == "agreement" and m.get("true_private") is not None]
    by_reward = max(runs)[2] if runs else None
    by_truth = max(runs, key=lambda x: x[1])[2] if runs else None
    return {"n_valid": len(pairs), "n_members": len(members),
            "spearman_programs": float(spearmanr([x[0] for x in runs], [x[1] for x in runs]).correlation)
            if len(runs) > 2 else None, "n_programs": len(runs),
            "best_program_by_consensus": by_reward, "best_program_by_truth": by_truth,
            "spearman": float(spearmanr(rewards, true).correlation) if len(pairs) > 2 else None,
            "invalid_rewards_below_valid": all(
                r.reward < min(rewards) for r in results if not r.valid) if rewards else None}


def weak_majority(spec: TaskSpec, members: list[dict], rng: np.random.Generator) -> dict | None:
    """Many damaged copies of the weakest program and a few strong ones: who wins?"""
    sign = 1.0 if spec.direction == "higher" else -1.0
    programs = [m for m in members if m["kind"] == "program" and m.get("true_private") is not None]
    if len(programs) < 2:
        return None
    programs.sort(key=lambda m: sign * m["true_private"])
    weak, strong = programs[0], programs[-1]
    folder = Path(weak["path"]).parent / "weak-majority"
    folder.mkdir(exist_ok=True)
    frame = pd.read_csv(weak["path"], keep_default_na=spec.metric != "jaccard")
    group = [strong["path"]]
    for k in range(12):  # weak voters with independent moderate noise (beyond near-copies)
        path = folder / f"weak{k}.csv"
        perturb(frame, spec, 0.3, rng).to_csv(path, index=False)
        group.append(path)
    scorer = ConsensusScorer(spec, prepare(spec.slug).public)
    results = scorer.score(group)
    return {"weak": weak["name"], "strong": strong["name"],
            "weak_true": weak["true_private"], "strong_true": strong["true_private"],
            "strong_reward": results[0].reward,
            "weak_reward_mean": float(np.mean([r.reward for r in results[1:]])),
            "strong_ranked_first": bool(results[0].reward >= max(r.reward for r in results[1:]))}


def ttrl_runs(spec: TaskSpec, members: list[dict], seeds: list[int], steps: int) -> list[dict]:
    arms = [Arm(m["name"], m["path"], m["milestones"], m["no_model"], m.get("true_private"))
            for m in members if m["kind"] == "program" or m.get("level") in (0.3, 1.0, 2.0)]
    scorer = ConsensusScorer(spec, prepare(spec.slug).public)
    runs = []
    for seed in seeds:
        history = softmax_ttrl(scorer, arms, steps=steps, group=8, lr=0.5, seed=seed)
        runs.append({"seed": seed, "start": history[0]["expected_true"], "end": history[-1]["expected_true"],
                     "best_arm_true": history[-1]["best_true"], "end_entropy": history[-1]["entropy"]})
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/consensus"))
    p.add_argument("--tasks", nargs="*", default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--fractions", type=float, nargs="*", default=[1.0, 0.2],
                   help="train fractions of each reference program (1.0: as written)")
    p.add_argument("--time-limit", type=float, default=None, help="seconds per program (task's default)")
    p.add_argument("--analyse-only", action="store_true")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--ttrl-steps", type=int, default=40)
    args = p.parse_args(argv)
    tasks = [s for s in all_tasks() if not args.tasks or s.slug in args.tasks]
    if not args.analyse_only:
        started = time.perf_counter()
        run_programs(tasks, args.out, args.workers, args.fractions, args.time_limit)
        print(f"ran the programs in {time.perf_counter() - started:.0f} s")
    report = {}
    for spec in tasks:
        members = population(spec, args.out)
        rng = np.random.default_rng(1)
        report[spec.slug] = {"correlation": correlate(spec, members),
                             "weak_majority": weak_majority(spec, members, rng),
                             "ttrl": ttrl_runs(spec, members, args.seeds, args.ttrl_steps),
                             "programs": {m["name"]: {"valid": m["valid"], "true_private": m.get("true_private"),
                                                      "duration": m.get("duration"), "reason": m.get("reason")}
                                          for m in members if m["kind"] == "program"}}
        c, w, t = report[spec.slug]["correlation"], report[spec.slug]["weak_majority"], report[spec.slug]["ttrl"]
        ttrl = ", ".join(f"{r['start']:.3f}->{r['end']:.3f}" for r in t)
        weak = "" if w is None else f" weak-majority: strong first={w['strong_ranked_first']}"
        rho = "n/a" if c["spearman"] is None else f"{c['spearman']:+.3f}"
        rho_p = "n/a" if c["spearman_programs"] is None else f"{c['spearman_programs']:+.2f}"
        print(f"{spec.slug:22s} valid={c['n_valid']:3d} rho={rho} programs(n={c['n_programs']}) rho={rho_p} "
              f"best: consensus {c['best_program_by_consensus']} / truth {c['best_program_by_truth']} "
              f"ttrl[{ttrl}]{weak}")
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
