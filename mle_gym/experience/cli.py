"""``mle-gym experience collect|datasets``: the command-line face of :mod:`mle_gym.experience`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def cmd_collect(args: argparse.Namespace) -> int:
    from mle_gym.experience.collect import collect

    reports = []
    for task in args.task:
        report = collect(task, args.alternatives, args.out, workers=args.workers,
                         sandbox=args.sandbox, data=args.data, data_seed=args.data_seed,
                         seed=args.seed, states=args.states, time_limit=args.time_limit)
        reports.append(report)
        print(f"{report.task}: ran {report.ran} step(s), skipped {report.skipped} already in "
              f"{report.path}, {len(report.errors)} sandbox error(s); {report.records} record(s); "
              f"{report.steps_per_minute:.1f} steps/min")
        for error in report.errors[:5]:
            print(f"  error: {error}")
    return 1 if any(r.errors for r in reports) else 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from mle_gym.experience.datasets import imitation_dataset, iwm_dataset, sr_dataset
    from mle_gym.experience.reflect import ChatReflector

    reflector = None
    if args.reflect_model:
        from mle_gym.llm import ChatClient

        reflector = ChatReflector(ChatClient(base_url=args.reflect_base_url,
                                             model=args.reflect_model))
    built: dict[str, Any] = {
        "iwm": iwm_dataset(args.source),
        "sr": sr_dataset(args.source, reflector),
        "imitation": imitation_dataset(args.source),
    }
    sizes = {}
    for name, dataset in built.items():
        dataset.save_to_disk(str(Path(args.out) / name))
        sizes[name] = len(dataset)
    print(json.dumps({"out": args.out, "rows": sizes}))
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("experience", help="early experience: collect steps, build IWM/SR datasets")
    esub = p.add_subparsers(dest="action", required=True)
    c = esub.add_parser(
        "collect", help="run each state's expert and K alternatives; append records to OUT/<task>.jsonl",
        description="Runs the task's strong reference program (the expert) and K alternative "
        "programs (bugs at each stage, weaker or slower models) from the scratch state and the "
        "improve state, through the rollout pool. Resumable: records already in OUT are skipped.")
    c.add_argument("--task", required=True, action="append",
                   help="task slug (repeat for several)")
    c.add_argument("--alternatives", type=int, required=True, metavar="K",
                   help="alternative programs per state")
    c.add_argument("--out", required=True, help="folder for the <task>.jsonl records")
    c.add_argument("--workers", type=int, default=2, help="programs running at once")
    c.add_argument("--sandbox", default="docker-warm",
                   choices=["docker-warm", "docker", "local", "auto"])
    c.add_argument("--data", default="lite")
    c.add_argument("--data-seed", type=int, default=0)
    c.add_argument("--seed", type=int, default=0, help="seed of the alternatives")
    c.add_argument("--states", nargs="+", default=["scratch", "improve"],
                   choices=["scratch", "improve"])
    c.add_argument("--time-limit", type=float, default=None,
                   help="seconds per program (the task's default)")
    c.set_defaults(func=cmd_collect)
    d = esub.add_parser("datasets", help="build the IWM, SR and imitation datasets (save_to_disk)")
    d.add_argument("source", help="the collect --out folder (or a .jsonl file)")
    d.add_argument("--out", required=True, help="folder: writes iwm/, sr/ and imitation/")
    d.add_argument("--reflect-model", default=None,
                   help="write SR reflections with this chat model (default: the grounded template)")
    d.add_argument("--reflect-base-url", default=None,
                   help="its OpenAI-compatible endpoint (default $MLE_GYM_LLM_BASE_URL)")
    d.set_defaults(func=cmd_datasets)
