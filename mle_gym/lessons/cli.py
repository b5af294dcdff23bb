"""``mle-gym lessons show|export|prune BOOK`` and the ``--lessons`` options of ``mle-gym run``.

Kept light: the book is opened inside the commands, so ``mle-gym --help`` imports nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _open(path: str, must_exist: bool = True) -> Any:
    from mle_gym.lessons.book import LessonBook

    if must_exist and not Path(path).is_file():
        raise FileNotFoundError(
            f"no lesson book at {path}; one is made by `mle-gym run TASK --agent llm --lessons {path}`")
    return LessonBook(path)


def cmd_show(args: argparse.Namespace) -> int:
    from mle_gym.lessons.book import task_scopes
    from mle_gym.lessons.curate import Curator, rank_key
    from mle_gym.spec import load_task

    book = _open(args.book)
    if args.task:
        spec = load_task(args.task)
        lessons = sorted(book.for_task(spec), key=rank_key)
        shown = {x.id for x in Curator().select(lessons)}
    else:
        lessons, shown, spec = sorted(book.lessons(), key=lambda x: (x.scope, rank_key(x))), set(), None
    if args.json:
        print(json.dumps([{**x.as_dict(), "in_prompt": x.id in shown} for x in lessons], indent=2))
        return 0
    episodes = book.episodes()
    print(f"{args.book}: {len(book)} lesson(s), {len(episodes)} episode(s) recorded"
          + (f"; for {spec.slug} (scopes {', '.join(task_scopes(spec))}), * = in the prompt"
             if spec else ""))
    for x in lessons:
        mark = "*" if x.id in shown else " "
        print(f"{mark}{x.id:>4}  {x.scope:<28} +{x.helpful:<3} -{x.harmful:<3} used {x.uses:<4} "
              f"{x.origin}")
        print(f"      {x.text}")
    refused = book.entries("reflection-refused")
    if refused:
        print(f"{len(refused)} reflection(s) changed nothing; the last because: "
              f"{refused[-1]['detail'].get('reason')}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from mle_gym.lessons.distill import sft_pairs, write_pairs

    book = _open(args.book)
    if args.sft:
        rows = sft_pairs(book, trajectories=args.trajectories, min_reward=args.min_reward)
        n = write_pairs(rows, args.sft)
        print(f"wrote {n} supervised pair(s) (prompt without lessons -> answer written with them) "
              f"to {args.sft}", file=sys.stderr)
        if not args.out:
            return 0
    text = json.dumps(book.export(), indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"wrote {len(book)} lesson(s) to {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from mle_gym.lessons.curate import Curator

    book = _open(args.book)
    curator = Curator(max_per_scope=args.max_per_scope, similarity=args.similarity,
                      max_net_harm=args.max_net_harm, max_age_days=args.max_age_days)
    report = curator.curate(book, dry_run=args.dry_run)
    trimmed = 0 if args.dry_run or args.keep_attempts is None else book.trim_attempts(args.keep_attempts)
    verb = "would go" if args.dry_run else "went"
    print(f"{report.before} lesson(s) before, {report.after} after; merged {len(report.merged)}, "
          f"{len(report.pruned_harmful)} harmful, {len(report.pruned_old)} old and "
          f"{len(report.pruned_cap)} over the cap {verb}"
          + (f"; {trimmed} old attempt(s) trimmed" if trimmed else ""))
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("lessons", help="the lesson book: show, export, prune")
    lsub = p.add_subparsers(dest="lessons_command", required=True)

    s = lsub.add_parser("show", help="list a book's lessons with their counters")
    s.add_argument("book")
    s.add_argument("--task", default=None, help="only the lessons for TASK; * marks the prompt's")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    e = lsub.add_parser("export", help="the book as JSON, or supervised pairs for distillation")
    e.add_argument("book")
    e.add_argument("--out", default=None, help="write the JSON here (default: stdout)")
    e.add_argument("--sft", default=None, metavar="PAIRS.jsonl",
                   help="write SFT pairs: prompt without lessons -> answer written with them")
    e.add_argument("--trajectories", default=None,
                   help="with --sft: trajectory files to take the steps from (default: the book's)")
    e.add_argument("--min-reward", type=float, default=None, help="with --sft: reward floor")
    e.set_defaults(func=cmd_export)

    r = lsub.add_parser("prune", help="merge near-duplicates, drop harmful and stale lessons, cap")
    r.add_argument("book")
    r.add_argument("--max-per-scope", type=int, default=12)
    r.add_argument("--similarity", type=float, default=0.8, help="merge threshold, 0-1 (0.8)")
    r.add_argument("--max-net-harm", type=int, default=3,
                   help="drop a lesson when harmful - helpful reaches this (3)")
    r.add_argument("--max-age-days", type=float, default=60.0,
                   help="drop lessons unchanged this long that never helped (60)")
    r.add_argument("--keep-attempts", type=int, default=None,
                   help="also keep only the newest N recorded attempts")
    r.add_argument("--dry-run", action="store_true", help="report, change nothing")
    r.set_defaults(func=cmd_prune)


def add_run_options(p: argparse.ArgumentParser) -> None:
    """``--lessons BOOK`` and ``--reflector`` for commands that run agents."""
    p.add_argument("--lessons", default=None, metavar="BOOK",
                   help="a lesson book (made if missing): its lessons go into the agent's "
                   "system prompt, and each episode's attempts teach it")
    p.add_argument("--reflector", default="rule", choices=["rule", "model", "both", "none"],
                   help="with --lessons: who learns from attempts (rule: no model; model: the "
                   "MLE_GYM_LLM_* chat endpoint)")


def wrap(agent: Any, book: str, reflector: str = "rule") -> Any:
    from mle_gym.lessons.agent import LessonsAgent

    return LessonsAgent(agent, book, reflector=reflector)


__all__ = ["add_parser", "add_run_options", "wrap"]
