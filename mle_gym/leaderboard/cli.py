"""``mle-gym leaderboard run|build``: the command-line face of the leaderboard."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DEFAULT_RESULTS = Path("leaderboard/results")
DEFAULT_OUT = Path("leaderboard")


def _agent_args(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``agent.key=value`` pairs; values are parsed as JSON when they can be."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        agent, dot, key = name.rpartition(".")
        if not sep or not dot:
            raise SystemExit(f"--agent-arg {pair!r}: expected AGENT.KEY=VALUE")
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out.setdefault(agent, {})[key] = parsed
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from mle_gym.leaderboard.runner import plan, run, with_models
    from mle_gym.leaderboard.store import ResultsStore
    from mle_gym.limits import validate_limits
    from mle_gym.spec import all_tasks, load_task

    validate_limits(time_limit=args.time_limit)  # refused now, not in every episode
    tasks = [s.slug for s in all_tasks()] if args.tasks == ["all"] else args.tasks
    tasks = [load_task(t).slug for t in tasks]  # unknown names fail here, listing the known
    episodes = plan(
        args.agents, tasks, args.seeds, args.data, args.max_steps, args.time_budget,
        with_models(args.agents, _agent_args(args.agent_arg)), lessons=bool(args.lessons),
    )
    store = ResultsStore(args.results)
    # ``is not None``: --time-limit 0 is refused by the env, not read as "the default".
    env_options = {"time_limit": args.time_limit} if args.time_limit is not None else {}
    try:
        summary = run(
            episodes, store, workers=args.workers, backend=args.backend, sandbox=args.sandbox,
            parallel_episodes=args.parallel_episodes, env_options=env_options,
            progress=not args.quiet, lessons=args.lessons, reflector=args.reflector,
        )
    except KeyboardInterrupt:
        saved = len(store.finished_keys() & {e.key() for e in episodes})
        print(f"\ninterrupted: {saved} of {len(episodes)} episodes are saved in {args.results}; "
              "run the same command again to finish the rest")
        return 130
    print(
        f"{summary.planned} episodes planned, {summary.skipped} already in {args.results}, "
        f"{summary.finished} run now ({summary.errors} with errors)"
        + (f"; results in {summary.path}" if summary.finished else "")
    )
    if args.build:
        return cmd_build(args)
    return 1 if summary.errors and summary.errors == summary.finished else 0


def cmd_build(args: argparse.Namespace) -> int:
    from mle_gym.leaderboard.aggregate import aggregate
    from mle_gym.leaderboard.render import PLOTS_SKIPPED, build, timeout_warnings
    from mle_gym.leaderboard.store import ResultsStore

    records = ResultsStore(args.results).records()
    if not records:
        print(f"no results in {args.results}; run `mle-gym leaderboard run` first")
        return 1
    rows = aggregate(records)
    paths = build(rows, Path(args.out), include_paper=not args.no_paper)
    for row in rows:
        timed_out = f"  timed out {row.timed_out_steps}/{row.steps}" if row.timed_out_steps else ""
        print(f"{row.label:30s} {row.data:5s} normalised {row.score:.3f}  "
              f"valid {100 * row.valid_rate:.0f}%  episodes {row.episodes}{timed_out}")
    for line in timeout_warnings(rows):
        print(f"warning: {line}")
    print(f"wrote {paths['markdown']} and {paths['html']}")
    if "normalised" not in paths:
        print(PLOTS_SKIPPED)
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("leaderboard", help="run agents over tasks and seeds; build the ranked page")
    lsub = p.add_subparsers(dest="leaderboard_command", required=True)

    r = lsub.add_parser("run", help="run agents x tasks x seeds (resumable) through the pool")
    r.add_argument("--agents", nargs="+", required=True,
                   help="registered names (template-fast, template-strong, llm, aide) or "
                   "module:Class")
    r.add_argument("--tasks", nargs="+", default=["all"], help="task slugs, or all (default)")
    r.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    r.add_argument("--data", default="lite", help="lite (default), full, or a folder")
    r.add_argument("--max-steps", type=int, default=3, help="programs per episode (step budget)")
    r.add_argument("--time-budget", type=float, default=None,
                   help="seconds of wall time per episode; no new step starts after it")
    r.add_argument("--time-limit", type=float, default=None, help="seconds per program")
    r.add_argument("--workers", type=int, default=2, help="programs running at once")
    r.add_argument("--parallel-episodes", type=int, default=None)
    r.add_argument("--backend", default="local", choices=["local", "ray"])
    r.add_argument("--sandbox", default="docker", choices=["docker", "docker-warm", "local"],
                   help="docker, docker-warm or local")
    r.add_argument("--agent-arg", action="append", default=[], metavar="AGENT.KEY=VALUE",
                   help="a keyword argument of an agent, e.g. llm.max_tokens=512 or "
                   "aide.base_url=http://127.0.0.1:8000/v1; an LLM agent given no model "
                   "gets MLE_GYM_LLM_MODEL's, and the row names it")
    r.add_argument("--results", default=str(DEFAULT_RESULTS), help="results store folder")
    r.add_argument("--out", default=str(DEFAULT_OUT), help="where --build writes the page")
    r.add_argument("--build", action="store_true", help="build the page afterwards")
    r.add_argument("--no-paper", action="store_true", help="leave out the paper's numbers")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    from mle_gym.lessons.cli import add_run_options

    add_run_options(r)  # --lessons BOOK: each agent runs as "<agent>+lessons"
    r.set_defaults(func=cmd_run)

    b = lsub.add_parser("build", help="aggregate the results store into LEADERBOARD.md and HTML")
    b.add_argument("--results", default=str(DEFAULT_RESULTS))
    b.add_argument("--out", default=str(DEFAULT_OUT))
    b.add_argument("--no-paper", action="store_true", help="leave out the paper's numbers")
    b.set_defaults(func=cmd_build)
