"""Samples learned per minute: the async trainer against the synchronous one, same workers.

Both trainers (``baselines.async_grpo`` and ``baselines.duration_grpo``) train the tiny model,
warm-started on two programs that sleep 0.5 s and 5 s (mixed durations with nothing else to
vary: this measures throughput, not learning), with real Docker steps, ``--workers`` at once
and a batch of ``--workers`` samples per update. The async trainer runs twice: as it is (an
actor thread refills lanes while the learner computes) and with ``--no-actor`` (one thread:
lanes that finish during an update wait for the learner; the design before the actor, but
with the rest of this version, e.g. the importance ratio folded into the loss's forward).

Two yardsticks for the ratio async / sync, both printed:

* **lockstep bound** (the issue's): ``sum over sync batches of max(duration) / sum of
  mean(duration)``. With batch = workers a sync update waits for the slowest program, an
  async sample costs the mean one. It leaves out everything else: the sync trainer also pays
  generation, the learner's update and per-step overhead *serially* each step (an async
  trainer can hide them, so the ratio can exceed this "bound"), and in a short run the async
  trainer consumes a different mix (completion order: fast results come first).
* **capacity bound** (better founded): an async trainer learns no faster than the slower of
  its two stages, each measured in its own run. The pool: ``workers`` always busy on the mix
  it actually consumed, ``workers / mean(busy)`` with ``busy`` the worker's time per job
  (program, container, grading). The learner: samples per second of the learner thread's
  own time (run time minus time spent waiting for samples). Bound = min(pool, learner) /
  the measured sync rate; ratio / bound is the async trainer's efficiency, and how busy the
  workers were (utilisation) is printed too. It does not count waiting for a late sample as a
  limit: at k versions the learner holds its update until a late (slow) sample is in,
  the price of bounded staleness without dropping (the lanes keep running meanwhile).

The two trainers' program mixes still differ from run to run (which of the two programs the
policy writes), and a fast mix means more samples per minute whatever the trainer. So the
table also gives a same-mix ratio: the share of worker time spent on programs that were
learned from (sum of program durations / (workers x run time)), async over sync; samples per
minute are that share over the mean duration, so on equal mixes the two ratios agree.

    python bench/async_vs_sync.py --quick                   # ~3 min
    python bench/async_vs_sync.py --steps 12 --repeats 3    # the measurement in the README

A run of 12 updates learns from 48 samples per trainer; which programs they are is a draw
(at about even odds the mean duration's standard error is ~0.3 s, ~10% of the rate), so a
single run's ratio moves by about that much. ``--repeats`` pools runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FAST = 'import time\ntime.sleep(0.5)\nprint("done")\n'
SLOW = 'import time\ntime.sleep(5)\nprint("done")\n'
# Twice the slow program. The tiny model at temperature 1 now and then writes a mutation that
# sleeps far longer (time.sleep(50)); with a 60 s limit one such program stalled a 12-update
# run for ~50 s (the sync trainer waits for it; the async one must too at k versions), so a
# single draw decided the ratio.
TIME_LIMIT = 10
# At temperature 1 the warm-started tiny model also wrote broken programs (ending at once) in
# varying numbers, so each run measured a different mix (mean program 0.3 s to 2.4 s); at 0.7
# it writes the two programs as they are, the mixed durations this bench is about.
TEMPERATURE = 0.7


def _argv(folder: Path, steps: int, workers: int, paths: list[str]) -> list[str]:
    return [
        "--model", "tiny",
        "--max-steps", str(steps),
        "--num-generations", str(workers),  # one prompt's group per update (sync) or per lane set
        "--batch-size", str(workers),
        "--max-completion-length", "40",
        "--num-prompts", "256",
        "--learning-rate", "1e-5",
        "--temperature", str(TEMPERATURE),
        "--warm-start-steps", "150",
        "--warm-start-programs", *paths,
        "--workers", str(workers),
        "--time-limit", str(TIME_LIMIT),
        "--threads", "1",
        "--output-dir", str(folder),
    ]  # fmt: skip


def _runtime(trainer: Any) -> float:
    return next(h["train_runtime"] for h in reversed(trainer.state.log_history) if "train_runtime" in h)


def async_row(trainer: Any, workers: int) -> dict[str, Any]:
    """Rate and capacities of one async run, from its own records."""
    runtime = _runtime(trainer)
    consumed = trainer.loop.consumed
    waited = sum(h["async/learner_wait_s"] for h in trainer.state.log_history if "async/learner_wait_s" in h)
    mean_busy = sum(s.busy for s in consumed) / max(len(consumed), 1)
    pool = workers / max(mean_busy, 1e-9)  # samples/s with every worker always busy
    learner = len(consumed) / max(runtime - waited, 1e-9)  # samples/s of learner time
    return {
        "samples": len(consumed),
        "time": runtime,
        "rate": 60 * len(consumed) / runtime,
        "capacity": 60 * min(pool, learner),
        "pool": 60 * pool,
        "learner": 60 * learner,
        "utilisation": sum(s.busy for s in consumed) / (workers * runtime),
        "busy_share": sum(s.duration for s in consumed) / (workers * runtime),
        "duration": sum(s.duration for s in consumed) / max(len(consumed), 1),
        "longest": max((s.duration for s in consumed), default=0.0),
        "started_in_update": trainer.loop.during_updates("started_at"),
        "submitted_in_update": trainer.loop.during_updates("generated_at"),
        "staleness": sum(s.staleness or 0 for s in consumed) / max(len(consumed), 1),
        "blocked": trainer.loop.blocked,
    }


def run_once(args: argparse.Namespace, steps: int, folder: Path) -> dict[str, Any]:
    """The sync trainer, then the async one (with and without the actor), in ``folder``."""
    from baselines import async_grpo, duration_grpo

    extra = ["--prefetch", str(args.prefetch), "--max-staleness", str(args.max_staleness)]
    paths = []
    for name, text in (("fast", FAST), ("slow", SLOW)):
        (folder / f"{name}.py").write_text(text)
        paths.append(str(folder / f"{name}.py"))
    sync = duration_grpo.train(duration_grpo.parse_args(_argv(folder / "sync", steps, args.workers, paths)))
    time_ = _runtime(sync)
    batches = [h for h in sync.state.log_history if "duration/max" in h]
    run: dict[str, Any] = {
        "sync": {
            "samples": sync.state.global_step * args.workers,
            "time": time_,
            "max_sum": sum(h["duration/max"] for h in batches),
            "mean_sum": sum(h["duration/mean"] for h in batches),
            "duration": sum(h["duration/mean"] for h in batches) / max(len(batches), 1),
            "longest": max((h["duration/max"] for h in batches), default=0.0),
            "busy_share": sum(h["duration/mean"] * args.workers for h in batches) / (args.workers * time_),
        },
        "load": [os.getloadavg()[0]],
    }
    run["sync"]["rate"] = 60 * run["sync"]["samples"] / time_
    run["bound"] = run["sync"]["max_sum"] / max(run["sync"]["mean_sum"], 1e-9)
    for label, flags in (("async", []), ("async --no-actor", ["--no-actor"])):
        if label != "async" and args.skip_no_actor:
            continue
        argv_ = _argv(folder / label.replace(" ", ""), steps, args.workers, paths) + extra + flags
        run[label] = async_row(async_grpo.train(async_grpo.parse_args(argv_)), args.workers)
    run["load"].append(os.getloadavg()[0])
    return run


def labels(run: dict[str, Any]) -> list[str]:
    return [label for label in ("async", "async --no-actor") if label in run]


def print_run(run: dict[str, Any], args: argparse.Namespace, steps: int) -> None:
    sync, bound = run["sync"], run["bound"]
    print()
    print(
        f"workers {args.workers}, batch {args.workers}, {steps} updates each, programs 0.5 s and 5 s; "
        f"async: k={args.max_staleness}, prefetch {args.prefetch}; "
        f"load {run['load'][0]:.1f} after sync, {run['load'][1]:.1f} at the end"
    )
    print(
        f"{'':18s} samples  time s  samples/min  ratio  /lockstep  capacity/min  /capacity  util  "
        "mean dur  busy share  same-mix ratio"
    )
    print(
        f"{'sync':18s} {sync['samples']:7d} {sync['time']:7.1f} {sync['rate']:12.1f}   1.00{'':30s}"
        f"{sync['duration']:15.2f} {sync['busy_share']:11.2f} {1:15.2f}"
    )
    for label in labels(run):
        r = run[label]
        ratio = r["rate"] / sync["rate"]
        cap = r["capacity"] / sync["rate"]
        print(
            f"{label:18s} {r['samples']:7d} {r['time']:7.1f} {r['rate']:12.1f} {ratio:6.2f} "
            f"{100 * ratio / bound:9.0f}% {r['capacity']:13.1f} {100 * ratio / cap:9.0f}% "
            f"{r['utilisation']:5.2f} {r['duration']:9.2f} {r['busy_share']:11.2f} "
            f"{r['busy_share'] / max(sync['busy_share'], 1e-9):15.2f}"
        )
    print(f"lockstep bound {bound:.2f} (sync batches' max/mean duration)")
    longest = ", ".join(f"{label} {run[label]['longest']:.1f} s" for label in labels(run))
    print(f"longest program: sync {sync['longest']:.1f} s, {longest} (limit {TIME_LIMIT} s)")
    for label in labels(run):
        r = run[label]
        print(
            f"{label}: capacity bound {r['capacity'] / sync['rate']:.2f} = min(pool {r['pool']:.1f}, "
            f"learner {r['learner']:.1f} samples/min) / sync; while the learner computed an "
            f"update {r['submitted_in_update']} jobs were submitted and {r['started_in_update']} "
            f"started; staleness mean {r['staleness']:.2f}; "
            f"admission refused {r['blocked']}x"
        )


def print_summary(runs: list[dict[str, Any]]) -> None:
    """All runs pooled (as one longer run: total samples over total time, the bound over every
    sync batch), and each run's share of its own bound."""
    sync_rate = 60 * sum(r["sync"]["samples"] for r in runs) / sum(r["sync"]["time"] for r in runs)
    bound = sum(r["sync"]["max_sum"] for r in runs) / max(sum(r["sync"]["mean_sum"] for r in runs), 1e-9)
    print()
    print(f"{len(runs)} runs pooled: sync {sync_rate:.1f} samples/min, lockstep bound {bound:.2f}")
    for label in labels(runs[0]):
        rate = 60 * sum(r[label]["samples"] for r in runs) / sum(r[label]["time"] for r in runs)
        shares = [100 * r[label]["rate"] / r["sync"]["rate"] / r["bound"] for r in runs]
        print(
            f"{label:18s} {rate:6.1f} samples/min, ratio {rate / sync_rate:.2f} = "
            f"{100 * rate / sync_rate / bound:.0f}% of the pooled bound; per run "
            + ", ".join(f"{x:.0f}%" for x in shares)
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 updates each")
    p.add_argument("--steps", type=int, default=12, help="updates per trainer")
    p.add_argument("--repeats", type=int, default=1, help="runs of all trainers; pooled at the end")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--prefetch", type=int, default=0, help="the async trainer's --prefetch")
    p.add_argument("--max-staleness", type=int, default=2, help="the async trainer's k")
    p.add_argument("--skip-no-actor", action="store_true", help="run the async trainer once")
    args = p.parse_args(argv)
    steps = 3 if args.quick else args.steps

    runs = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(run_once(args, steps, Path(tmp)))
        print_run(runs[-1], args, steps)
    if len(runs) > 1:
        for run in runs[:-1]:  # again, together, after the trainers' own output
            print_run(run, args, steps)
        print_summary(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
