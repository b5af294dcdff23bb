"""The ``mle-gym`` command line: list tasks, prepare data, build the sandbox, run, grade."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mle_gym.spec import all_tasks, load_task

if TYPE_CHECKING:
    from mle_gym.agents import EpisodeResult, StepRecord
    from mle_gym.spec import TaskSpec


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
    data = prepare(args.task, "full" if args.full else "lite", seed=args.seed, raw=raw,
                   progress=True, force=args.force)
    print(f"public:  {data.public}")
    print(f"private: {data.private}")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from mle_gym.sandbox.engine import docker_client
    from mle_gym.sandbox.image import build_image

    tag = build_image(docker_client(), base=args.base, bootstrap=args.bootstrap)
    print(f"sandbox image ready: {tag}")
    return 0


def cmd_sandbox_doctor(args: argparse.Namespace) -> int:
    from mle_gym.sandbox.doctor import as_json, format_check, run_checks

    progress = None if args.json else (lambda check: print(format_check(check), flush=True))
    checks = run_checks(progress)
    if args.json:
        print(as_json(checks))
    ok = all(c.ok for c in checks)
    if not args.json:
        failed = sum(1 for c in checks if not c.ok)
        print("all checks passed" if ok else f"{failed} check(s) did not pass")
    return 0 if ok else 1


def cmd_sandbox_gc(args: argparse.Namespace) -> int:
    from mle_gym.sandbox.engine import docker_client
    from mle_gym.sandbox.gc import collect_garbage, format_report

    report = collect_garbage(docker_client(timeout=30), older_than=args.older_than,
                             everything=args.all, dry_run=args.dry_run, session=args.session)
    print(format_report(report))
    return 1 if any(i.error for i in report.garbage) else 0


def cmd_run(args: argparse.Namespace) -> int:
    task, program = _run_target(args)
    if program is not None:
        return _run_program(args, task, program)
    return _run_agent(args, task)


def _run_target(args: argparse.Namespace) -> tuple[str, str | None]:
    """(task, program file or None) from ``run TASK PROGRAM``, ``run --task TASK [PROGRAM]``."""
    positional = [x for x in (args.task, args.program) if x]
    if args.task_option:
        if len(positional) > 1:
            raise ValueError(f"with --task, give at most one program file, not {positional}")
        task, program = args.task_option, (positional[0] if positional else None)
    elif positional:
        task, program = positional[0], (positional[1] if len(positional) > 1 else None)
    else:
        raise ValueError(
            "name a task: `mle-gym run TASK program.py` (one step) or "
            "`mle-gym run TASK --agent module:Class` (whole episodes); `mle-gym tasks` lists them"
        )
    if program and args.agent:
        raise ValueError(f"give a program file ({program}) or --agent, not both")
    if not program and not args.agent:
        raise ValueError(
            f"nothing to run on {task}: give a program file (`mle-gym run {task} program.py`) "
            f"or an agent (`mle-gym run {task} --agent module:Class`)"
        )
    agent_only = [flag for flag, value in (("--seeds", args.seeds), ("--max-steps", args.max_steps),
                  ("--agent-arg", args.agent_arg), ("--max-seconds", args.max_seconds),
                  ("--lessons", args.lessons)) if value]
    if program and agent_only:
        raise ValueError(f"{', '.join(agent_only)} go with --agent; a program file runs as one step")
    return task, program


def _env_kwargs(args: argparse.Namespace, max_steps: int | None) -> dict:
    kwargs: dict = {"data": args.data, "sandbox": args.sandbox}
    if max_steps is not None:
        kwargs["max_steps"] = max_steps
    if args.time_limit is not None:  # 0 is an error the env reports, not "the default"
        kwargs["time_limit"] = args.time_limit
    return kwargs


def _run_program(args: argparse.Namespace, task: str, program: str) -> int:
    import gymnasium as gym

    import mle_gym  # noqa: F401 - registers the environments

    code = Path(program).read_text()
    env = gym.make(load_task(task).env_id, **_env_kwargs(args, 1))
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


def _agent_kwargs(pairs: list[str]) -> dict:
    """``--agent-arg key=value``: values are JSON when they parse (numbers, true, lists), else text."""
    kwargs = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--agent-arg takes key=value, not {pair!r}")
        try:
            kwargs[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key.strip()] = value
    return kwargs


def _run_agent(args: argparse.Namespace, task: str) -> int:
    import gymnasium as gym
    from tqdm.auto import tqdm

    import mle_gym  # noqa: F401 - registers the environments
    from mle_gym.agents import load_agent, run_episode

    spec = load_task(task)
    if os.getcwd() not in sys.path:  # the console script does not see the user's folder
        sys.path.insert(0, os.getcwd())
    agent = load_agent(args.agent, **_agent_kwargs(args.agent_arg))  # a bad agent fails first
    if args.lessons:
        from mle_gym.lessons.cli import wrap

        agent = wrap(agent, args.lessons, args.reflector)
    seeds = args.seeds or [0]
    env = gym.make(spec.env_id, **_env_kwargs(args, args.max_steps))
    steps = env.unwrapped.max_steps
    results = []
    try:
        with tqdm(total=len(seeds) * steps, desc=f"{spec.slug}", unit="step", file=sys.stderr) as bar:
            for seed in seeds:
                result = run_episode(env, agent, seed=seed, max_seconds=args.max_seconds,
                                     on_step=lambda _: bar.update())
                if callable(getattr(agent, "end_episode", None)):
                    agent.end_episode()  # agents that learn across episodes (--lessons)
                bar.update(steps - len(result.steps))  # an episode cut short by --max-seconds
                results.append(result)
                if not args.json:
                    bar.write(_episode_table(result, spec, args.agent))
    finally:
        env.close()
    best = _best_step(results, spec)
    if args.json:
        print(json.dumps({
            "task": spec.slug, "agent": args.agent, "metric": spec.metric,
            "direction": spec.direction, "episodes": [r.as_dict() for r in results],
            "best": None if best is None else {"seed": best[0], "step": best[1],
                                               "score": best[2].score,
                                               "private_score": best[2].private_score},
        }))
        return 0
    if best is None:
        print(f"no valid submission in {len(results)} episode(s)")
    else:
        seed, step, record = best
        private = "-" if record.private_score is None else f"{record.private_score:.5g}"
        print(f"best score {record.score:.5g} ({spec.metric}, {spec.direction} is better) at "
              f"seed {seed}, step {step}, of {len(results)} episode(s); private half {private}")
    return 0


def _episode_table(result: EpisodeResult, spec: TaskSpec, agent: str) -> str:
    lines = [f"{spec.slug}, seed {result.seed}, agent {agent}",
             f"{'step':>4}  {'reward':>8}  {'score':>9}  valid  {'duration':>8}  {'agent':>7}  milestones"]
    for i, step in enumerate(result.steps, 1):
        score = "-" if step.score is None else f"{step.score:.5g}"
        lines.append(
            f"{i:>4}  {step.reward:>8.4f}  {score:>9}  {'yes' if step.valid else 'no':<5}  "
            f"{step.duration:>6.1f} s  {step.agent_seconds:>5.1f} s  {', '.join(step.milestones) or 'none'}"
        )
        if step.invalid_reason:
            lines.append(f"{'':>6}invalid: {step.invalid_reason}")
    best = result.best(spec.better)
    lines.append("best: " + ("no valid submission" if best is None else
                             f"score {best.score:.5g} at step {result.steps.index(best) + 1}"))
    return "\n".join(lines) + "\n"


def _best_step(
    results: list[EpisodeResult], spec: TaskSpec
) -> tuple[int | None, int, StepRecord] | None:
    """(seed, step number, record) of the best valid step over all episodes, by public score."""
    best = None
    for result in results:
        record = result.best(spec.better)
        if record is not None and (best is None or spec.better(record.score, best[2].score)):
            best = (result.seed, result.steps.index(record) + 1, record)
    return best


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


def cmd_model_serve(args: argparse.Namespace) -> int:
    from mle_gym.models.engines import load_engine
    from mle_gym.models.server import ModelHTTPServer, serve_forever

    engine = load_engine(args.model, backend=args.backend, ctx=args.ctx, threads=args.threads)
    server = ModelHTTPServer(engine, args.name or args.model, port=args.port, verbose=args.verbose)
    print(f"serving {server.model_name} ({engine.backend}, ctx {engine.ctx}, {engine.threads} "
          f"thread(s)) at {server.url}\n  export MLE_GYM_LLM_BASE_URL={server.url} "
          f"MLE_GYM_LLM_MODEL={server.model_name}", flush=True)
    serve_forever(server)
    print("model server stopped", flush=True)
    sys.stderr.flush()
    # Skip the interpreter's teardown: torch's native thread pools, destroyed after requests
    # ran on handler threads, sometimes abort the exit ("terminate called without an active
    # exception") after a clean shutdown. Everything is closed and flushed by now.
    os._exit(0)


def cmd_serve(args: argparse.Namespace) -> int:
    """``mle-gym serve --task T``: the task as an OpenEnv server (needs mle-gym[openenv])."""
    try:
        from mle_gym.integrations.openenv import ServerOptions, serve
    except ImportError as exc:
        raise ImportError(f"mle-gym serve needs OpenEnv: pip install 'mle-gym[openenv]' ({exc})"
                          ) from exc
    options = ServerOptions(host=args.host, port=args.port, sandbox=args.sandbox,
                            max_sessions=args.max_sessions, max_steps=args.max_steps,
                            idle_timeout=args.idle_timeout)
    runtime = {"data": args.data, "data_seed": args.data_seed, "time_limit": args.time_limit}
    serve(args.task, options, **{k: v for k, v in runtime.items() if v is not None})
    return 0


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve a task as an OpenEnv environment (WebSocket and HTTP)",
                       description="Serve one task to RL trainers through OpenEnv: each "
                       "WebSocket session gets its own episode and sandbox. Runs on the host, "
                       "beside the Docker engine. Needs: pip install 'mle-gym[openenv]'.")
    p.add_argument("--task", required=True, help="the task (`mle-gym tasks` lists them)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (8000)")
    p.add_argument("--sandbox", default="docker-warm",
                   choices=["auto", "docker", "docker-warm", "local"],
                   help="each session's sandbox (docker-warm: one started container per session)")
    p.add_argument("--max-sessions", type=int, default=4, help="concurrent sessions (4)")
    p.add_argument("--max-steps", type=int, default=8, help="programs per episode (8)")
    p.add_argument("--idle-timeout", type=float, default=600.0,
                   help="seconds an idle session is kept before its containers go (600)")
    p.add_argument("--data", default="lite")
    p.add_argument("--data-seed", type=int, default=None, help="seed of the lite data (0)")
    p.add_argument("--time-limit", type=float, default=None, help="seconds per program")
    p.set_defaults(func=cmd_serve)


def package_version() -> str:
    """The installed distribution's version; the source tree's when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mle-gym")
    except PackageNotFoundError:
        from mle_gym import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mle-gym", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mle-gym {package_version()}")
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
    p.add_argument("--force", action="store_true",
                   help="rebuild the data even when the cache has it (a damaged cache)")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("sandbox", help="the Docker sandbox: build, doctor, gc")
    ssub = p.add_subparsers(dest="action", required=True)
    b = ssub.add_parser("build", help="build the sandbox image")
    b.add_argument("--bootstrap", action="store_true", help="build the base from Debian packages")
    b.add_argument("--base", default=None, help="base image (default debian:bookworm-slim)")
    b.set_defaults(func=cmd_sandbox)
    d = ssub.add_parser("doctor", help="check Docker, the image, the lockdown, limits and disk")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.set_defaults(func=cmd_sandbox_doctor)
    g = ssub.add_parser("gc", help="remove step containers and folders whose owner is gone")
    g.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")
    g.add_argument("--all", action="store_true",
                   help="remove every step container and folder, in use or not")
    g.add_argument("--older-than", default=None, metavar="AGE",
                   help="also remove those older than AGE (90s, 30m, 2h, 1d)")
    g.add_argument("--session", default=None, metavar="NAME",
                   help="only the containers of this MLE_GYM_SESSION (folders of dead owners go too)")
    g.set_defaults(func=cmd_sandbox_gc)

    p = sub.add_parser(
        "run",
        help="run a program file as one step, or an agent for whole episodes",
        description="mle-gym run TASK program.py  runs one program as one step;\n"
        "mle-gym run TASK --agent module:Class [--seeds 0 1 2]  runs an agent's episodes\n"
        "(--task TASK works in place of the first argument).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("task", nargs="?", help="the task (or --task)")
    p.add_argument("program", nargs="?", help="a program file to run as one step")
    p.add_argument("--task", dest="task_option", default=None, metavar="TASK", help="the task")
    p.add_argument("--agent", default=None,
                   help="module:Class, path/to/agent.py:Class or a registered agent name")
    p.add_argument("--agent-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="keyword argument for the agent's class (repeatable; JSON values parse)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="one episode per seed (0)")
    p.add_argument("--max-steps", type=int, default=None, help="programs per episode (3)")
    p.add_argument("--max-seconds", type=float, default=None, help="wall-clock cap per episode")
    p.add_argument("--data", default="lite")
    p.add_argument("--sandbox", default="auto", choices=["auto", "docker", "docker-warm", "local"])
    p.add_argument("--time-limit", type=float, default=None)
    p.add_argument("--json", action="store_true")
    from mle_gym.lessons.cli import add_run_options

    add_run_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("grade", help="grade a submission file")
    p.add_argument("task")
    p.add_argument("submission")
    p.add_argument("--data", default="lite")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("demo", help="run a fast and a strong reference solution and compare")
    p.add_argument("--task", default="spooky-author")
    p.add_argument("--sandbox", default="auto", choices=["auto", "docker", "docker-warm", "local"])
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("model", help="local models: serve one behind an OpenAI-compatible API")
    msub = p.add_subparsers(dest="action", required=True)
    m = msub.add_parser("serve", help="serve a .gguf file, a model folder or a cached Hub id "
                        "on 127.0.0.1 (POST /v1/chat/completions, GET /health)")
    m.add_argument("model", help="a .gguf file, a folder with config.json, or a Hub id already "
                   "in the local cache (never downloaded)")
    m.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (8000; 0 picks one)")
    m.add_argument("--ctx", type=int, default=8192, help="context length in tokens (8192)")
    m.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: half the cores, at least one)")
    m.add_argument("--backend", default="transformers", choices=["transformers", "llama-cpp"],
                   help="transformers (default; a GGUF is converted once) or llama-cpp "
                   "(only when llama-cpp-python is installed)")
    m.add_argument("--name", default=None, help="the model name clients send (default: MODEL)")
    m.add_argument("--verbose", action="store_true", help="log each request")
    m.set_defaults(func=cmd_model_serve)

    add_serve_parser(sub)

    from mle_gym.leaderboard.cli import add_parser as add_leaderboard

    add_leaderboard(sub)
    from mle_gym.lessons.cli import add_parser as add_lessons

    add_lessons(sub)
    from mle_gym.experience.cli import add_parser as add_experience

    add_experience(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, RuntimeError, FileNotFoundError, ImportError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"mle-gym: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
