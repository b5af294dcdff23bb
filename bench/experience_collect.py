"""Early-experience collection: throughput (real steps per minute) and dataset sizes.

    python bench/experience_collect.py --tasks tabular-may-2022 us-patent-phrase \
        lmsys-chatbot-arena --alternatives 6 --out runs/bench-experience

Runs ``mle_gym.experience.collect`` (docker-warm, 2 workers by default) on lite data, then
builds the IWM, SR and imitation datasets and prints one JSON object: per task the steps
run, wall seconds, steps per minute, outcomes by kind, and the rows of each dataset.
Resumable like the collection itself (a second run measures only what was missing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mle_gym.experience import collect, imitation_dataset, iwm_dataset, sr_dataset  # noqa: E402
from mle_gym.trajectories import load_trajectories  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=["tabular-may-2022", "us-patent-phrase",
                                                  "lmsys-chatbot-arena"])
    p.add_argument("--alternatives", type=int, default=6)
    p.add_argument("--out", default="runs/bench-experience")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--sandbox", default="docker-warm")
    p.add_argument("--time-limit", type=float, default=None)
    args = p.parse_args()
    results = {"load_average": os.getloadavg(), "tasks": {}}
    for task in args.tasks:
        report = collect(task, args.alternatives, args.out, workers=args.workers,
                         sandbox=args.sandbox, time_limit=args.time_limit)
        records = load_trajectories(report.path)
        outcomes = Counter(f"{r['kind']}:{'valid' if r['valid'] else 'invalid'}" for r in records)
        results["tasks"][task] = {
            "ran": report.ran, "skipped": report.skipped, "errors": report.errors,
            "seconds": round(report.seconds, 1),
            "steps_per_minute": round(report.steps_per_minute, 2),
            "records": report.records,
            "mean_program_seconds": round(sum(r["duration"] for r in records) / len(records), 2),
            "outcomes": dict(sorted(outcomes.items())),
            "rows": {"iwm": len(iwm_dataset(report.path)), "sr": len(sr_dataset(report.path)),
                     "imitation": len(imitation_dataset(report.path))},
        }
        print(json.dumps({task: results["tasks"][task]}), flush=True)
    ran = sum(t["ran"] for t in results["tasks"].values())
    seconds = sum(t["seconds"] for t in results["tasks"].values())
    results["overall_steps_per_minute"] = round(60 * ran / seconds, 2) if seconds else None
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
