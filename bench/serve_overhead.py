"""What the OpenEnv server adds to a step: `mle-gym serve` against `env.step` in process.

    python bench/serve_overhead.py [--steps 20] [--task spooky-author] [--quick]

Runs the same short program (it copies the sample submission: a valid submission in a few
milliseconds of run time) ``--steps`` times through ``env.step`` in this process and
through ``mle-gym serve`` (its own process, openenv's WebSocket session, the typed client),
both on the docker-warm sandbox, after one warm-up step each that starts the container,
alternating one step of each.
Prints the median and p90 wall time per step and the server's overhead (the difference of
the medians). The machine's load average is printed too: the numbers only compare at
similar load.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

from tqdm.auto import tqdm

PROGRAM = ("import os, shutil\n"
           "shutil.copy(os.path.join(os.environ['MLE_INPUT_DIR'], 'sample_submission.csv'),\n"
           "            os.environ['MLE_SUBMISSION_PATH'])\n")


def _p90(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(0.9 * len(values)))]


def measure(task: str, steps: int) -> tuple[list[float], list[float]]:
    """(env.step walls, server walls), interleaved so load changes hit both alike."""
    import gymnasium as gym
    import httpx

    import mle_gym  # noqa: F401 - registers the tasks
    from mle_gym.integrations.openenv import MLEGymClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mle_gym.cli", "serve", "--task", task, "--port", str(port),
         "--sandbox", "docker-warm", "--max-sessions", "1", "--max-steps", str(steps + 1)],
        stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    env = gym.make(f"mle/{task}-v0", sandbox="docker-warm", max_steps=steps + 1)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        local: list[float] = []
        served: list[float] = []
        with MLEGymClient(base_url=url).sync() as client:
            env.reset(seed=0)
            client.reset()
            env.step(PROGRAM)  # warm-up: each starts its container
            client.step(PROGRAM)
            for _ in tqdm(range(steps), desc="steps (both)"):
                start = time.perf_counter()
                env.step(PROGRAM)
                local.append(time.perf_counter() - start)
                start = time.perf_counter()
                client.step(PROGRAM)
                served.append(time.perf_counter() - start)
        return local, served
    finally:
        env.close()
        server.terminate()
        server.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--task", default="spooky-author")
    parser.add_argument("--quick", action="store_true", help="5 steps: a smoke run")
    args = parser.parse_args(argv)
    steps = 5 if args.quick else args.steps
    local, served = measure(args.task, steps)
    print(f"{steps} steps of the same short program, docker-warm, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'':<22}{'median ms':>10}{'p90 ms':>10}")
    for name, walls in (("env.step in process", local), ("mle-gym serve (ws)", served)):
        print(f"{name:<22}{1000 * statistics.median(walls):>10.1f}{1000 * _p90(walls):>10.1f}")
    overhead = statistics.median(served) - statistics.median(local)
    print(f"server overhead per step (difference of medians): {1000 * overhead:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
