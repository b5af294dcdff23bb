"""Do lessons stop repeated failures? Episodes in sequence, with a lesson book and without.

    python bench/lessons_effect.py [--tasks T ...] [--seeds 0 1 2] [--episodes 3]
                                   [--max-steps 3] [--sandbox docker-warm] [--json OUT]

For each seed, the tasks are played in order, ``--episodes`` episodes each, by the
scripted :class:`mle_gym.lessons.scripted.HabitAgent` (reference programs with two habits
that break them: importing a module the sandbox lacks, upper-casing the submission's
columns; fixed within an episode from the error, forgotten at the next). Without lessons it
is the agent alone; with lessons it is wrapped in a :class:`~mle_gym.lessons.LessonsAgent`
with a fresh book per seed (rule reflector, no model), so what is learnt on one task may
help the next. Every step is real: the lite data, the sandbox, the grader.

Reported per condition: steps, failed steps, repeated failures (a failed step whose
failure signature, or invalid reason when no rule names it, was already seen earlier on
the same task and seed), their rate per step and per failure, the mean best reward per
episode (0 for an episode with no valid submission), the mean step of an episode's first
valid submission, and the book's size after each episode.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
from tqdm.auto import tqdm

import mle_gym  # noqa: F401 - registers the environments
from mle_gym.agents import run_episode
from mle_gym.lessons.agent import LessonsAgent
from mle_gym.lessons.book import LessonBook
from mle_gym.lessons.reflect import AttemptRecord, failure_signature
from mle_gym.lessons.scripted import HabitAgent
from mle_gym.spec import load_task

TASKS = ["tabular-may-2022", "spooky-author", "tabular-dec-2021"]


def failure_key(result: Any, task: str) -> str | None:
    if result.valid_submission:
        return None
    return failure_signature(AttemptRecord.from_result(task, result)) or (result.invalid_reason or "?")


def run_condition(lessons: bool, tasks: list[str], seeds: list[int], episodes: int,
                  envs: dict[str, gym.Env], folder: Path, bar: Any, strong: bool = True
                  ) -> dict[str, Any]:
    steps = failures = repeats = 0
    best_rewards: list[float] = []
    book_sizes: list[int] = []
    first_valid: list[int | None] = []  # the step of the episode's first valid submission
    per_episode: list[dict[str, Any]] = []
    for seed in seeds:
        book = LessonBook(folder / f"seed{seed}.db") if lessons else None
        for task in tasks:
            seen: set[str] = set()
            for e in range(episodes):
                env, results = envs[task], []
                agent: Any = HabitAgent(strong=strong)
                if book is not None:
                    agent = LessonsAgent(agent, book)
                run_episode(env, agent, seed=1000 * seed + e,
                            on_step=lambda _, results=results, env=env: (
                                results.append(env.unwrapped.last_result), bar.update()))
                shown = len(agent.shown) if book is not None else 0  # set at reset
                if book is not None:
                    agent.end_episode()
                keys = [failure_key(r, task) for r in results]
                steps += len(results)
                failures += sum(k is not None for k in keys)
                for k in keys:
                    if k is not None:
                        repeats += k in seen
                        seen.add(k)
                best = max((r.reward for r in results if r.valid_submission), default=0.0)
                best_rewards.append(best)
                first = next((i for i, r in enumerate(results, 1) if r.valid_submission), None)
                first_valid.append(first)
                size = len(book) if book is not None else 0
                book_sizes.append(size)
                per_episode.append({"seed": seed, "task": task, "episode": e, "best_reward": best,
                                    "failures": [k for k in keys if k], "lessons_shown": shown, "first_valid_step": first,
                                    "book_size": size})
    return {
        "lessons": lessons, "episodes": len(best_rewards), "steps": steps, "failed_steps": failures,
        "repeated_failures": repeats, "repeat_rate_per_step": repeats / steps if steps else 0.0,
        "repeat_share_of_failures": repeats / failures if failures else 0.0,
        "mean_best_reward": statistics.fmean(best_rewards) if best_rewards else 0.0,
        "valid_episodes": sum(b > 0 for b in best_rewards),
        "mean_first_valid_step": statistics.fmean(f for f in first_valid if f is not None)
        if any(f is not None for f in first_valid) else None,
        "book_size_max": max(book_sizes, default=0), "per_episode": per_episode,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=3, help="episodes per task and seed")
    parser.add_argument("--max-steps", type=int, default=3)
    parser.add_argument("--sandbox", default="docker-warm")
    parser.add_argument("--fast-only", action="store_true",
                        help="the agent submits only the fast reference program (a busy machine)")
    parser.add_argument("--json", default=None, help="write the full results here")
    args = parser.parse_args(argv)
    tasks = [load_task(t).slug for t in args.tasks]
    envs = {t: gym.make(load_task(t).env_id, sandbox=args.sandbox, max_steps=args.max_steps)
            for t in tasks}
    started = time.monotonic()
    out: dict[str, Any] = {"tasks": tasks, "seeds": args.seeds, "episodes": args.episodes,
                           "max_steps": args.max_steps, "sandbox": args.sandbox,
                           "fast_only": args.fast_only}
    total = 2 * len(tasks) * len(args.seeds) * args.episodes * args.max_steps
    try:
        with tempfile.TemporaryDirectory(prefix="lessons-bench-") as tmp, \
                tqdm(total=total, unit="step", file=sys.stderr) as bar:
            for lessons in (False, True):
                key = "with_lessons" if lessons else "without_lessons"
                out[key] = run_condition(lessons, tasks, args.seeds, args.episodes, envs,
                                         Path(tmp), bar, strong=not args.fast_only)
    finally:
        for env in envs.values():
            env.close()
    out["wall_seconds"] = round(time.monotonic() - started, 1)
    print(f"{len(tasks)} tasks x {len(args.seeds)} seeds x {args.episodes} episodes x "
          f"{args.max_steps} steps, {args.sandbox}, {out['wall_seconds']} s")
    print(f"{'':16}{'steps':>6}{'failed':>8}{'repeated':>10}{'rep/step':>10}{'rep/fail':>10}"
          f"{'best reward':>13}{'valid eps':>11}{'1st valid':>10}{'book max':>10}")
    for key in ("without_lessons", "with_lessons"):
        r = out[key]
        print(f"{key:16}{r['steps']:>6}{r['failed_steps']:>8}{r['repeated_failures']:>10}"
              f"{r['repeat_rate_per_step']:>10.3f}{r['repeat_share_of_failures']:>10.3f}"
              f"{r['mean_best_reward']:>13.4f}{r['valid_episodes']:>7}/{r['episodes']:<3}"
              f"{r['mean_first_valid_step'] or float('nan'):>10.2f}{r['book_size_max']:>10}")
    sizes = [e["book_size"] for e in out["with_lessons"]["per_episode"]]
    print("book size after each episode (with lessons, seeds in turn): " + " ".join(map(str, sizes)))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
