"""The ``mle-gym`` command line: list tasks, prepare data, build the sandbox, run, grade."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mle_gym.spec import all_tasks, load_task


def cmd_tasks(args: argparse.Namespace) -> int:
    rows = [(s.slug, s.metric, s.direction, s.kaggle_id) for s in all_tasks()]
    if args.json:
        keys = ("slug", "metric", "direction", "kaggle_id")
        print(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=2))
        return 0
    w_task, w_metric = (max(len(r[i]) for r in rows) for i in (0, 1))
    print(f"{'task':<{w_task}}  {'metric':<{w_metric}}  better  kaggle id")
    for slug, metric, direction, kaggle in rows:
        print(f"{slug:<{w_task}}  {metric:<{w_metric}}  {direction:<6}  {kaggle}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from mle_gym.data import prepare

    raw = Path(args.raw) if args.raw else None
    data = prepare(args.task, "full" if args.full else "lite", seed=args.seed, raw=raw, progress=True)
    print(f"public:  {data.public}")
    print(f"private: {data.private}")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from mle_gym.sandbox.docker_backend import docker_client
    from mle_gym.sandbox.image import build_image

    tag = build_image(docker_client(), base=args.base, bootstrap=args.bootstrap)
    print(f"sandbox image ready: {tag}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import mle_gym  # noqa: F401 - registers the environments

    code = Path(args.program).read_text()
    kwargs = {"data": args.data, "sandbox": args.sandbox, "max_steps": 1}
    if args.time_limit:
        kwargs["time_limit"] = args.time_limit
    env = gym.make(load_task(args.task).env_id, **kwargs)
    try:
        env.reset(seed=0)
        _, reward, _, _, info = env.step(code)
    finally:
        env.close()
    if args.json:
        print(json.dumps({"reward": reward, **info}, default=str))
        return 0
    score = "invalid" if info["score"] is None else f"{info['score']:.5f}"
    print(f"reward      {reward:.4f}")
    print(f"score       {score}  (public half)")
    print(f"milestones  {', '.join(info['milestones']) or 'none'}")
    print(f"duration    {info['duration']:.2f} s")
    if info["invalid_reason"]:
        print(f"invalid     {info['invalid_reason']}")
    if info["stderr_tail"].strip() and not info["valid_submission"]:
        print("stderr (tail):\n" + info["stderr_tail"][-1500:])
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from mle_gym.data import prepare
    from mle_gym.grading import InvalidSubmission, grade_file
    from mle_gym.grading.grader import medal

    spec = load_task(args.task)
    data = prepare(spec, args.data)
    try:
        grade = grade_file(data, Path(args.submission))
    except InvalidSubmission as exc:
        if args.json:
            print(json.dumps({"task": spec.slug, "valid": False, "reason": exc.reason}))
        else:
            print(f"invalid submission: {exc.reason}")
        return 1
    # Medal thresholds are Kaggle's: they mean something on the full data only.
    flags = medal(spec, grade.score) if data.flavour == "full" else {}
    if args.json:
        print(json.dumps({"task": spec.slug, "valid": True, "metric": spec.metric,
                          "data": data.flavour, **grade.as_dict(), **flags}))
    else:
        print(f"{spec.metric} ({spec.direction} is better), {grade.n_rows} rows")
        print(f"public half   {grade.public:.6f}")
        print(f"private half  {grade.private:.6f}")
        print(f"whole test    {grade.score:.6f}")
        if flags:
            print(f"medal         {flags['medal'] or 'none'}; above median: {flags['above_median']}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mle_gym.demo import run_demo

    return run_demo(args.task, sandbox=args.sandbox)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mle-gym", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tasks", help="list the tasks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("prepare", help="prepare a task's data and print its folders")
    p.add_argument("task")
    p.add_argument("--full", action="store_true", help="the real competition data")
    p.add_argument("--seed", type=int, default=0, help="seed of the lite data")
    p.add_argument("--raw", default=None,
                   help="with --full: the Kaggle download (zip or folder) to prepare from")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("sandbox", help="manage the Docker sandbox image")
    ssub = p.add_subparsers(dest="action", required=True)
    b = ssub.add_parser("build", help="build the sandbox image")
    b.add_argument("--bootstrap", action="store_true", help="build the base from Debian packages")
    b.add_argument("--base", default=None, help="base image (default debian:bookworm-slim)")
    b.set_defaults(func=cmd_sandbox)

    p = sub.add_parser("run", help="run one program as one step and print the outcome")
    p.add_argument("task")
    p.add_argument("program")
    p.add_argument("--data", default="lite")
    p.add_argument("--sandbox", default="auto", choices=["auto", "docker", "local"])
    p.add_argument("--time-limit", type=float, default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("grade", help="grade a submission file")
    p.add_argument("task")
    p.add_argument("submission")
    p.add_argument("--data", default="lite")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("demo", help="run a fast and a strong reference solution and compare")
    p.add_argument("--task", default="spooky-author")
    p.add_argument("--sandbox", default="auto", choices=["auto", "docker", "local"])
    p.set_defaults(func=cmd_demo)

    from mle_gym.leaderboard.cli import add_parser as add_leaderboard

    add_leaderboard(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, RuntimeError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"mle-gym: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
