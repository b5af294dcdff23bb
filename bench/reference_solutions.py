"""Every task's fast and strong reference programs, run through the environment.

    python bench/reference_solutions.py [--sandbox docker] [--tasks spooky-author,nomad2018]

Prints, per task, the public-half score, reward and program duration of each reference
program on lite data (seed 0), and whether strong beat fast.
"""

from __future__ import annotations

import argparse
import warnings

import gymnasium as gym
from tqdm.auto import tqdm

import mle_gym  # noqa: F401 - registers the environments
from mle_gym.spec import all_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sandbox", default="docker", choices=["auto", "docker", "local"])
    parser.add_argument("--tasks", default="", help="comma-separated slugs (default: all)")
    args = parser.parse_args()
    wanted = set(filter(None, args.tasks.split(",")))
    specs = [s for s in all_tasks() if not wanted or s.slug in wanted]

    rows = []
    for spec in tqdm(specs, desc="tasks"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = gym.make(spec.env_id, sandbox=args.sandbox, max_steps=2)
        env.reset(seed=0)
        results = {}
        for name in ("fast", "strong"):
            _, reward, _, _, info = env.step((spec.folder / "solutions" / f"{name}.py").read_text())
            results[name] = (info["score"], reward, info["duration"], info["invalid_reason"])
        env.close()
        rows.append((spec, results))

    print(f"\n{'task':<22} {'metric':<26} {'fast score':>10} {'s':>6} {'strong score':>12} {'s':>6}  strong better")
    for spec, res in rows:
        (fs, _, fd, fr), (ss, _, sd, sr) = res["fast"], res["strong"]
        if fs is None or ss is None:
            print(f"{spec.slug:<22} {spec.metric:<26} invalid: {fr or sr}")
            continue
        arrow = "↓" if spec.direction == "lower" else "↑"
        print(f"{spec.slug:<22} {spec.metric + ' ' + arrow:<26} {fs:>10.4f} {fd:>6.1f} {ss:>12.4f} {sd:>6.1f}  "
              f"{'yes' if spec.better(ss, fs) else 'NO'}")


if __name__ == "__main__":
    main()
