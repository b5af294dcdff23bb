"""`make demo-llm`: one episode of the LLM agent with a real local model, and what came of it.

Serves the model (default: SmolLM2-135M-Instruct from `make model`) on 127.0.0.1 with
`mle-gym model serve`, runs the `llm` agent (or `--agent aide`) for a few steps on a lite
task, and prints each program the model wrote with the grader's verdict and the error tail.
A 135M model does not write valid programs: the demo shows the plumbing end to end.

    python scripts/demo_llm.py [--model PATH] [--task spooky-author] [--steps 2] [--agent llm]
"""

from __future__ import annotations

import argparse
import sys
import time

import gymnasium as gym

import mle_gym  # noqa: F401 - registers the environments
from mle_gym.agents import load_agent, run_episode
from mle_gym.models import default_gguf, start_server, stop_server


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a .gguf file or a model folder (default: make model's)")
    p.add_argument("--task", default="spooky-author")
    p.add_argument("--agent", default="llm", choices=["llm", "aide"])
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=512, help="tokens per answer")
    p.add_argument("--sandbox", default="auto")
    args = p.parse_args()
    model = args.model or default_gguf()
    if model is None:
        print("no model: run `make model` first, or pass --model", file=sys.stderr)
        return 2
    server, url = start_server(model, "local", threads=1)
    print(f"model server: local at {url}", flush=True)
    try:
        kwargs = {"model": "local", "base_url": url, "max_tokens": args.max_tokens}
        if args.agent == "aide":
            kwargs.update(num_drafts=1, retries=1)
        agent = load_agent(args.agent, **kwargs)
        env = gym.make(f"mle/{args.task}-v0", sandbox=args.sandbox, max_steps=args.steps)
        started = time.monotonic()
        try:
            result = run_episode(env, agent, seed=0)
            attempts = list(env.unwrapped.episode.history)
        finally:
            env.close()
        for i, (step, attempt) in enumerate(zip(result.steps, attempts, strict=False), 1):
            verdict = (f"VALID, score {step.score:.5g}" if step.valid
                       else f"no valid submission: {step.invalid_reason}")
            print(f"\n=== step {i}: the model wrote ({step.agent_seconds:.0f} s) ===\n"
                  f"{attempt.program.strip()[:2500]}\n--- {verdict}; ran {step.duration:.1f} s; "
                  f"milestones: {', '.join(step.milestones) or 'none'}")
            if not step.valid and attempt.stderr.strip():
                print("--- why (stderr tail):\n" + attempt.stderr.strip()[-1200:])
        print(f"\n{len(result.steps)} steps in {time.monotonic() - started:.0f} s")
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
