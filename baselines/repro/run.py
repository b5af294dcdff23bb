"""Reproduce the paper's two findings on a CPU with real environment steps; write JSON, PNGs
and REPORT.md.

    python -m baselines.repro.run            # the full reproduction (~15-20 min on an idle 2-core machine)
    python -m baselines.repro.run --quick    # a smoke run (~1-2 min): same outputs, no finding

Every rollout is a real spooky-author lite step through ``mle_gym.pool.RolloutPool`` with warm
Docker containers. Order of work: measure the programs, finding 1 (duration bias), finding 2
(partial credit), figures, report. Runs of the two settings alternate seed by seed, so a change
in the machine's load hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `baselines` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from baselines.repro.duration_bias import DurationConfig, run_duration
from baselines.repro.measure import check_stages, profile_programs
from baselines.repro.partial_credit import CreditConfig, run_credit
from baselines.repro.programs import duration_programs
from mle_gym.pool import RolloutPool

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a smoke run for tests: 1 seed, short runs")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for results JSON and PNGs")
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        help="report path (default: baselines/repro/REPORT.md, or OUT/REPORT.md with --out)",
    )
    p.add_argument("--only", choices=("duration", "credit"), default=None, help="run one finding")
    p.add_argument("--seeds", type=int, default=None, help="seeds per setting (default 3; quick 1)")
    p.add_argument(
        "--control-seeds",
        type=int,
        default=None,
        help="seeds per setting of the resample control (default 0)",
    )
    p.add_argument("--workers", type=int, default=4, help="worker slots in the pool")
    p.add_argument(
        "--duration-seconds",
        type=float,
        default=None,
        help="wall time per duration run (default 150; quick 15)",
    )
    p.add_argument(
        "--episode-factor",
        type=float,
        default=2.5,
        help="an episode lasts this many times the fast program's measured duration",
    )
    p.add_argument(
        "--credit-seconds", type=float, default=None, help="wall time cap per credit run"
    )
    p.add_argument("--credit-results", type=int, default=None, help="rollouts per credit run")
    p.add_argument("--repeats", type=int, default=None, help="runs per program when measuring")
    p.add_argument(
        "--sandbox", default="docker-warm", help="pool sandbox: docker-warm, docker, local"
    )
    p.add_argument(
        "--append",
        action="store_true",
        help="add runs (seeds from --first-seed) to the JSON already in OUT instead of starting "
        "over; reuses the measured programs and the episode length",
    )
    p.add_argument("--first-seed", type=int, default=0, help="the first seed to run")
    p.add_argument(
        "--redraw",
        action="store_true",
        help="run nothing: redraw the figures and the report from the JSON already in OUT",
    )
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {
        "seeds": (1, 3),
        "control_seeds": (0, 0),
        "duration_seconds": (15.0, 150.0),
        "credit_seconds": (12.0, 100.0),
        "credit_results": (12, 64),
        "repeats": (1, 2),
    }
    for key, (q, full) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, q if quick else full)
    if args.report is None:
        args.report = (
            HERE / "REPORT.md" if args.out.resolve() == DEFAULT_OUT else args.out / "REPORT.md"
        )
    return args


def step_options() -> dict[str, Any]:
    # One CPU per program, as the single-threaded scikit-learn programs use one anyway.
    # The time limit is generous: on a busy shared machine strong.py can take a minute.
    return {"data": "lite", "data_seed": 0, "cpus": 1, "time_limit": 180}


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.machine()} with {os.cpu_count()} CPUs (load average {load:.1f} at the start)"


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def finish(args: argparse.Namespace, profile: dict[str, Any], duration: Any, credit: Any) -> None:
    """Figures and REPORT.md from the results (imports matplotlib only now)."""
    from baselines.repro.plots import credit_figures, duration_figures
    from baselines.repro.report import write_report

    figures = []
    if duration is not None:
        figures += duration_figures(duration, args.out)
    if credit is not None:
        figures += credit_figures(credit, args.out)
    write_report(args.report, profile, duration, credit, figures, profile.get("quick", False))


def redraw(args: argparse.Namespace) -> int:
    profile = read_json(args.out / "profile.json")
    if profile is None:
        raise SystemExit(
            f"no {args.out / 'profile.json'}: run `python -m baselines.repro.run` first"
        )
    duration = read_json(args.out / "duration_bias.json")
    credit = read_json(args.out / "partial_credit.json")
    finish(args, profile, duration, credit)
    print(f"redrawn: {args.report}, {args.out}/")
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.redraw:
        return redraw(args)
    if __name__ == "__main__":  # a kill stops the pool the way Ctrl-C does: containers removed
        signal.signal(signal.SIGTERM, _interrupt)
    args.out.mkdir(parents=True, exist_ok=True)
    options = step_options()
    programs = duration_programs()
    started = time.monotonic()
    profile: dict[str, Any] = {
        "machine": machine(),
        "options": options,
        "workers": args.workers,
        "quick": args.quick,
    }
    duration = credit = None
    old_duration = read_json(args.out / "duration_bias.json") if args.append else None
    old_credit = read_json(args.out / "partial_credit.json") if args.append else None
    if args.append:
        if read_json(args.out / "profile.json") is None:
            raise SystemExit(f"--append needs an earlier run's results in {args.out}")
        profile = read_json(args.out / "profile.json")
        profile.setdefault("appended", []).append(
            f"{args.only or 'both'} seeds {args.first_seed}-{args.first_seed + args.seeds - 1}, "
            f"{machine()}"
        )
    with RolloutPool(backend="local", workers=args.workers, sandbox=args.sandbox) as pool:
        if not args.append:
            print("measuring the programs ...", flush=True)
            profile["programs"] = profile_programs(pool, programs, options, args.repeats)
            profile["stages"] = (
                [] if args.quick or args.only == "duration" else check_stages(pool, options)
            )
        write_json(args.out / "profile.json", profile)
        for name, row in profile["programs"].items():
            print(
                f"  {name:7s} {row['mean_duration']:6.2f} s  reward {row['reward']:.3f}  valid {row['valid']}"
            )
        mean_dt = {n: row["mean_duration"] for n, row in profile["programs"].items()}
        # Episodes scale with how fast this machine is right now (a shared machine can be
        # several times slower than an idle one): an episode holds a few fast runs.
        episode = round(args.episode_factor * mean_dt["fast"], 1)
        if old_duration is not None:  # appended runs keep the earlier runs' episode length
            episode = old_duration["config"]["episode_seconds"]
        seeds = range(args.first_seed, args.first_seed + args.seeds)

        if args.only in (None, "duration"):
            duration = old_duration or {
                "programs": list(programs),
                "runs": {"episodes": {}, "resample": {}},
            }
            plan = [("episodes", s) for s in seeds]
            plan += [("resample", s) for s in range(args.control_seeds)]
            for regime, seed in plan:
                for weighted in (False, True):
                    cfg = DurationConfig(
                        weighted=weighted,
                        seed=seed,
                        regime=regime,
                        seconds=args.duration_seconds,
                        episode_seconds=episode,
                        workers=args.workers,
                    )
                    duration["config"] = {
                        k: v
                        for k, v in vars(cfg).items()
                        if k not in ("weighted", "seed", "regime")
                    }
                    run = run_duration(pool, programs, cfg, options, mean_dt)
                    duration["runs"][regime].setdefault(cfg.label, []).append(run)
                    shares = ", ".join(f"{k} {v:.2f}" for k, v in run["final_shares"].items())
                    print(
                        f"  duration {regime} {cfg.label} seed {seed}: {run['results']} results, "
                        f"{run['summary']['updates']} updates; shares {shares}",
                        flush=True,
                    )
                    write_json(args.out / "duration_bias.json", duration)

        if args.only in (None, "credit"):
            credit = old_credit or {"runs": {}}
            for seed in seeds:
                for reward in ("partial", "final"):
                    cfg = CreditConfig(
                        reward=reward,
                        seed=seed,
                        seconds=args.credit_seconds,
                        max_results=args.credit_results,
                        workers=args.workers,
                    )
                    credit["config"] = {
                        k: v for k, v in vars(cfg).items() if k not in ("reward", "seed")
                    }
                    run = run_credit(pool, cfg, options)
                    credit["runs"].setdefault(cfg.label, []).append(run)
                    s = run["summary"]
                    print(
                        f"  credit {cfg.label} seed {seed}: {s['steps']} results, first valid at "
                        f"{s['first_valid_step']}, P(bug-free) {s['final_p_valid']:.3f}",
                        flush=True,
                    )
                    write_json(args.out / "partial_credit.json", credit)

    if args.append:  # the finding not run now keeps its earlier results in the report
        duration = duration or old_duration
        credit = credit or old_credit
        profile["appended_seconds"] = round(time.monotonic() - started, 1)
    else:
        profile["total_seconds"] = round(time.monotonic() - started, 1)
    write_json(args.out / "profile.json", profile)
    finish(args, profile, duration, credit)
    print(f"done in {time.monotonic() - started:.0f} s: {args.report}, {args.out}/", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
