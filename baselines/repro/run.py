"""Reproduce the paper's findings on a CPU with real environment steps; write JSON, PNGs and
REPORT.md.

    python -m baselines.repro.run            # finding 1, async (~40 min on a shared 2-core machine)
    python -m baselines.repro.run --quick    # a smoke run (a few minutes): same outputs, no finding
    python -m baselines.repro.run --redraw   # figures and report from the JSON already there

Finding 1 (duration bias, asynchronous): the programs measured with real steps; the async
learner replayed on a virtual clock from those measurements (many seeds); the same learner on
real steps through the pool (a few seeds, to check the replay); the TRL async trainer with the
tiny model. Finding 2 (partial credit) is run with ``--credit`` (its earlier results in OUT are
kept otherwise). Settings alternate seed by seed, so a change in the machine's load hits both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `baselines` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from baselines.async_loop import PoolBackend, ReplayBackend
from baselines.repro.async_bias import AsyncConfig, measure, outcomes_of, run_softmax
from baselines.repro.programs import async_programs
from mle_gym.pool import RolloutPool

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results"
TASK = "spooky-author"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a smoke run for tests")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for results JSON and PNGs")
    p.add_argument("--report", type=Path, default=None, help="default: REPORT.md next to the results")
    p.add_argument("--workers", type=int, default=4, help="worker slots in the pool")
    p.add_argument("--repeats", type=int, default=None, help="real runs per program (default 10)")
    p.add_argument("--replay-seeds", type=int, default=None, help="replay seeds per setting (40)")
    p.add_argument("--real-seeds", type=int, default=None, help="real-step seeds per setting (8)")
    p.add_argument("--trl-seeds", type=int, default=None, help="TRL seeds per setting (5)")
    p.add_argument("--trl-steps", type=int, default=None, help="updates per TRL run (16)")
    p.add_argument(
        "--horizon",
        type=float,
        default=None,
        help="a run's length in fast jobs per lane (fast program + pool overhead, as measured): "
        "the short replay and the real-step runs (6)",
    )
    p.add_argument("--long-horizon", type=float, default=48.0, help="the long replay, in fast jobs (48)")
    p.add_argument("--episode-factor", type=float, default=2.5, help="episode = this x fast duration")
    p.add_argument("--skip-trl", action="store_true", help="no TRL runs")
    p.add_argument(
        "--only-trl", action="store_true", help="run only the TRL part, into the JSON already in OUT"
    )
    p.add_argument("--credit", action="store_true", help="also rerun finding 2 (partial credit)")
    p.add_argument("--sandbox", default="docker-warm", help="pool sandbox: docker-warm, docker, local")
    p.add_argument("--redraw", action="store_true", help="run nothing; redraw from the JSON in OUT")
    args = p.parse_args(argv)
    defaults = {
        "repeats": (2, 10),
        "replay_seeds": (4, 40),
        "real_seeds": (1, 8),
        "trl_seeds": (1, 5),
        "trl_steps": (2, 16),
        "horizon": (2.0, 6.0),
    }
    for key, (q, full) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, q if args.quick else full)
    if args.quick:
        args.long_horizon = min(args.long_horizon, 8.0)
    if args.report is None:
        args.report = (
            HERE / "REPORT.md" if args.out.resolve() == DEFAULT_OUT else args.out / "REPORT.md"
        )
    return args


def step_options() -> dict[str, Any]:
    # One CPU per program (single-threaded scikit-learn); a generous limit for a busy machine.
    return {"data": "lite", "data_seed": 0, "cpus": 1, "time_limit": 180}


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.machine()} with {os.cpu_count()} CPUs (load average {load:.1f} at the start)"


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":"), default=str))  # compact: MBs of traces
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def finish(args: argparse.Namespace) -> None:
    """Figures and REPORT.md from the JSON in OUT (imports matplotlib only now)."""
    from baselines.repro.async_report import write_report

    write_report(
        args.report,
        read_json(args.out / "async_bias.json"),
        read_json(args.out / "partial_credit.json"),
        read_json(args.out / "profile.json"),
        args.out,
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def replay(result: dict[str, Any], args: argparse.Namespace, names: list[str]) -> None:
    """The async learner on a virtual clock, outcomes drawn from the measurements."""
    outcomes = outcomes_of(result["measured"])
    overhead = result["overhead"]
    for regime in ("episodes", "resample"):
        for horizon, seconds in (("short", result["seconds"]), ("long", result["long_seconds"])):
            key = f"{regime}/{horizon}"
            result["replay"][key] = {"unweighted": [], "duration-weighted": []}
            for seed in range(args.replay_seeds):
                for weighted in (False, True):
                    cfg = AsyncConfig(
                        weighted, seed, regime=regime, seconds=seconds, workers=args.workers,
                        episode_seconds=result["episode_seconds"],
                    )  # fmt: skip
                    backend = ReplayBackend(outcomes, seed + 1000, args.workers, overhead)
                    run = run_softmax(backend, names, {}, cfg)
                    run.pop("consumed") if horizon == "long" else None  # keep the JSON small
                    result["replay"][key][cfg.label].append(run)
            print(f"  replay {key}: {args.replay_seeds} seeds per setting", flush=True)


def measure_and_replay(args: argparse.Namespace, result: dict[str, Any], options: dict[str, Any]) -> None:
    """Measure the programs, replay on a virtual clock, run the real-step seeds."""
    programs = result["programs"]
    names = list(programs)
    with RolloutPool(backend="local", workers=args.workers, sandbox=args.sandbox) as pool:
        print(f"measuring the programs ({args.repeats} runs each) ...", flush=True)
        t0 = time.monotonic()
        result["measured"] = measure(pool, programs, options, args.repeats)
        wall = time.monotonic() - t0
        for name, row in result["measured"].items():
            print(f"  {name:7s} {row['mean_duration']:6.2f} s  reward {row['mean_reward']:.3f}", flush=True)
        # Per-job time the pool adds around the program (container, grading), from the
        # measurement's throughput: it goes into the replay's clock.
        busy = sum(r["duration"] for row in result["measured"].values() for r in row["runs"])
        jobs = sum(len(row["runs"]) for row in result["measured"].values())
        result["overhead"] = round(max(0.0, (wall * args.workers - busy) / jobs), 3)
        result["episode_seconds"] = round(args.episode_factor * result["measured"]["fast"]["mean_duration"], 1)
        # Horizons in fast jobs per lane, so that a run sees as many updates on a quiet machine
        # as on a loaded one (the programs' durations differ several-fold between the two).
        job = result["measured"]["fast"]["mean_duration"] + result["overhead"]
        result["horizon"] = {"short": args.horizon, "long": args.long_horizon, "job_seconds": round(job, 3)}
        result["seconds"] = round(args.horizon * job, 1)
        result["long_seconds"] = round(args.long_horizon * job, 1)
        result["measure_wall_seconds"] = round(wall, 1)
        write_json(args.out / "async_bias.json", result)

        replay(result, args, names)
        write_json(args.out / "async_bias.json", result)

        result["real"] = {"unweighted": [], "duration-weighted": []}
        for seed in range(args.real_seeds):
            for weighted in (False, True):
                cfg = AsyncConfig(
                    weighted, seed, regime="episodes", seconds=result["seconds"], workers=args.workers,
                    episode_seconds=result["episode_seconds"],
                )  # fmt: skip
                run = run_softmax(PoolBackend(pool, TASK, options), names, programs, cfg)
                result["real"][cfg.label].append(run)
                shares = ", ".join(f"{k} {v:.2f}" for k, v in run["final_shares"].items())
                print(f"  real {cfg.label} seed {seed}: {run['results']} results; {shares}", flush=True)
                write_json(args.out / "async_bias.json", result)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.redraw:
        if read_json(args.out / "async_bias.json") is None:
            raise SystemExit(f"no {args.out / 'async_bias.json'}: run `python -m baselines.repro.run` first")
        finish(args)
        print(f"redrawn: {args.report}")
        return 0
    if __name__ == "__main__":  # a kill stops the pool the way Ctrl-C does: containers removed
        signal.signal(signal.SIGTERM, _interrupt)
    args.out.mkdir(parents=True, exist_ok=True)
    options = step_options()
    programs = async_programs()
    started = time.monotonic()
    profile = {"machine": machine(), "options": options, "workers": args.workers, "quick": args.quick}
    earlier = read_json(args.out / "profile.json") or {}
    if not args.credit:  # finding 2 keeps its earlier run's facts
        profile["credit_profile"] = earlier.get("credit_profile") or {
            k: earlier.get(k) for k in ("machine", "stages", "total_seconds") if k in earlier
        }
    result: dict[str, Any] = {"programs": programs, "replay": {}, "real": {}, "trl": {}}
    if args.only_trl:
        result = read_json(args.out / "async_bias.json")
        if result is None:
            raise SystemExit(f"--only-trl needs an earlier run's results in {args.out}")
        profile = read_json(args.out / "profile.json") or profile
    if not args.only_trl:
        measure_and_replay(args, result, options)

    if not args.skip_trl:
        from baselines.repro.trl_runs import run_trl

        result["trl"] = {"unweighted": [], "duration-weighted": []}
        # The runs' programs and saved policies are scratch: only the JSON is kept.
        with tempfile.TemporaryDirectory(prefix="mle-gym-repro-trl-") as tmp:
            for seed in range(args.trl_seeds):
                for weighted in (False, True):
                    run = run_trl(
                        programs, weighted, seed, Path(tmp) / f"{int(weighted)}-{seed}",
                        args.trl_steps, args.workers,
                    )  # fmt: skip
                    result["trl"][run["label"]].append(run)
                    print(f"  trl {run['label']} seed {seed}: {run['summary']}", flush=True)
                    write_json(args.out / "async_bias.json", result)

    if args.credit:
        from baselines.repro.partial_credit import CreditConfig, run_credit

        credit: dict[str, Any] = {"runs": {}}
        with RolloutPool(backend="local", workers=args.workers, sandbox=args.sandbox) as pool:
            for seed in range(args.real_seeds):
                for reward in ("partial", "final"):
                    cfg = CreditConfig(reward=reward, seed=seed, workers=args.workers)
                    credit["config"] = {k: v for k, v in vars(cfg).items() if k not in ("reward", "seed")}
                    credit["runs"].setdefault(cfg.label, []).append(run_credit(pool, cfg, options))
        write_json(args.out / "partial_credit.json", credit)

    key = "trl_seconds" if args.only_trl else "total_seconds"
    profile[key] = round(time.monotonic() - started, 1)
    write_json(args.out / "profile.json", profile)
    finish(args)
    print(f"done in {time.monotonic() - started:.0f} s: {args.report}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
