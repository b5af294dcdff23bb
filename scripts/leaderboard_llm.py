"""`make leaderboard-llm`: the leaderboard's real-model rows (the `llm` and `aide` agents).

Serves a local model (default: SmolLM2-135M-Instruct from `make model`) on 127.0.0.1 with
`mle-gym model serve --port 0 --threads 1`, then runs `mle-gym leaderboard run` for the
agents against it and rebuilds the page. Resumable like every leaderboard run: finished
episodes in the results folder are skipped (the server's port is not part of an episode's
key, the model's name is), so an interrupted run picks up where it stopped.

    python scripts/leaderboard_llm.py [--model PATH] [--name NAME] [--tasks ...] [--seeds ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mle_gym.models import default_gguf, start_server, stop_server

REPO = Path(__file__).resolve().parents[1]
TASKS = ["spooky-author", "tabular-may-2022", "detecting-insults"]
NAME = "SmolLM2-135M-Instruct-Q4_1"  # the name the rows carry (the served GGUF's)


def start_logged_server(model: str, name: str, log: Path) -> tuple[subprocess.Popen, str]:
    """The model server (its log in ``log``) and its URL, once its health endpoint answers."""
    with log.open("a") as handle:
        try:
            server, url = start_server(model, name, threads=1, stderr=handle)
        except RuntimeError as exc:
            raise SystemExit(f"{exc} (see {log})") from None
    with urllib.request.urlopen(url.removesuffix("/v1") + "/health", timeout=30) as reply:
        health = json.load(reply)
    print(f"model server: {name} ({health.get('backend')}, {health.get('threads')} thread) "
          f"at {url}", flush=True)
    return server, url


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None,
                   help="a .gguf file or a model folder (default: make model's GGUF)")
    p.add_argument("--name", default=NAME, help=f"the model's name in the rows ({NAME})")
    p.add_argument("--agents", nargs="+", default=["llm", "aide"])
    p.add_argument("--tasks", nargs="+", default=TASKS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--max-steps", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=512, help="tokens per answer")
    p.add_argument("--results", default="leaderboard/results")
    p.add_argument("--out", default="leaderboard")
    p.add_argument("--log", default=None, help="the model server's log (default: a temp file)")
    args = p.parse_args()
    model = args.model or default_gguf()
    if model is None:
        print("no model: run `make model` first, or pass --model", file=sys.stderr)
        return 2
    log = Path(args.log or f"/tmp/mle-gym-leaderboard-llm-{os.getpid()}.log")
    started = time.monotonic()
    server, url = start_logged_server(str(model), args.name, log)
    # The address reaches the agents through the environment (it is not part of an episode's
    # key); the model's name and the answer budget are agent arguments, so they are.
    agent_args = []
    for agent in args.agents:
        agent_args += [f"{agent}.model={args.name}", f"{agent}.max_tokens={args.max_tokens}",
                       # one server answers one request at a time: a request may queue
                       # behind the other episode's, so wait rather than retry it
                       f"{agent}.timeout=3600"]
        if agent == "aide":
            agent_args.append("aide.retries=1")  # one answer per step (AIDE asks up to 3)
    command = [
        sys.executable, "-m", "mle_gym.cli", "leaderboard", "run", "--agents", *args.agents,
        "--tasks", *args.tasks, "--seeds", *map(str, args.seeds),
        "--max-steps", str(args.max_steps), "--workers", "1", "--parallel-episodes", "2",
        "--results", args.results, "--out", args.out, "--build",
        *[a for pair in agent_args for a in ("--agent-arg", pair)],
    ]
    print(" ".join(command), flush=True)
    try:
        code = subprocess.call(command, cwd=REPO, env={
            **os.environ, "OMP_NUM_THREADS": "1", "MLE_GYM_LLM_BASE_URL": url})
        with urllib.request.urlopen(url.removesuffix("/v1") + "/health", timeout=30) as reply:
            health = json.load(reply)
        print(f"model server: {health.get('requests')} requests, "
              f"{health.get('completion_tokens')} tokens, {health.get('tokens_per_second')} "
              f"tokens/s; {time.monotonic() - started:.0f} s in all", flush=True)
    finally:
        stop_server(server)
    return code


if __name__ == "__main__":
    sys.exit(main())
