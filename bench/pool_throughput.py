"""Throughput of the rollout pool against Gymnasium's AsyncVectorEnv, and its scaling.

    python bench/pool_throughput.py [--programs 16] [--concurrency 2,4] [--scaling 1,2,4]
                                    [--sandbox docker-warm] [--quick]

Workload: real spooky-author programs that write a valid submission (the sample one) after
0.5 s or 5 s of work, half of each, in a fixed shuffled order. ``sleep`` programs wait;
``compute`` programs burn that much CPU time (so on a 2-core machine they cannot overlap
past 2). Part 1 runs the sleep workload through ``RolloutPool`` (completion order) and
through ``AsyncVectorEnv`` (lockstep: each batch waits for its slowest program) at the same
concurrency, same sandbox, after a warm-up round; goal: the pool at least 2x. Part 2 runs
the pool at each ``--scaling`` concurrency on both workloads.

``ideal`` is the ratio with zero overhead on both sides for this order of programs: with half
0.5 s and half 5 s programs it cannot pass 5 / 2.75 = 1.82x however large the concurrency
(a lockstep batch costs 5 s once it holds one long program; the pool averages 2.75 s).
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import statistics
import time
import warnings

import gymnasium as gym
from tqdm.auto import tqdm

import mle_gym  # noqa: F401 - registers the environments
from mle_gym.pool import RolloutPool, StepJob

TASK = "spooky-author"
OPTIONS = {"data": "lite", "data_seed": 0, "time_limit": 120}
WRITE = (
    "shutil.copy(os.path.join(os.environ['MLE_INPUT_DIR'], 'sample_submission.csv'),\n"
    "            os.environ['MLE_SUBMISSION_PATH'])\n"
)
PROGRAMS = {
    "sleep": "import os, shutil, time\ntime.sleep({seconds})\n" + WRITE,
    "compute": (
        "import os, shutil, time\n"
        "x = 0\n"
        "while time.process_time() < {seconds}:\n"
        "    x += 1\n" + WRITE
    ),
}
WARMUP = "import os, shutil\n" + WRITE


def workload(kind: str, n: int, seed: int = 0) -> list[str]:
    return [PROGRAMS[kind].format(seconds=s) for s in durations(n, seed)]


def ideal_ratio(seconds: list[float], k: int) -> float:
    """Vector env over pool with zero overhead: lockstep batches cost their slowest
    program; the pool hands each program to the first free slot."""
    lockstep = sum(max(seconds[i:i + k]) for i in range(0, len(seconds), k))
    slots = [0.0] * k
    for s in seconds:
        heapq.heapreplace(slots, slots[0] + s)
    return lockstep / max(slots)


def durations(n: int, seed: int = 0) -> list[float]:
    seconds = [0.5] * (n // 2) + [5.0] * (n - n // 2)
    random.Random(seed).shuffle(seconds)
    return seconds


def run_pool(programs: list[str], concurrency: int, sandbox: str) -> tuple[float, int]:
    """(seconds for the whole workload, valid submissions) through the pool."""
    with RolloutPool(backend="local", workers=concurrency, sandbox=sandbox,
                     max_pending=len(programs)) as pool:
        warm = [pool.submit(StepJob(TASK, WARMUP, OPTIONS)) for _ in range(concurrency)]
        list(pool.as_completed(warm))
        started = time.perf_counter()
        for program in programs:
            pool.submit(StepJob(TASK, program, OPTIONS))
        results = list(pool.as_completed(timeout=3600))
        elapsed = time.perf_counter() - started
    return elapsed, sum(1 for r in results if r.ok and r.info["valid_submission"])


def run_vector(programs: list[str], concurrency: int, sandbox: str) -> tuple[float, int]:
    """The same through AsyncVectorEnv: batches of ``concurrency`` programs in lockstep."""
    def make() -> gym.Env:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gym.make(f"mle/{TASK}-v0", sandbox=sandbox, max_steps=10**6,
                            time_limit=OPTIONS["time_limit"])

    envs = gym.vector.AsyncVectorEnv([make] * concurrency, shared_memory=False)
    try:
        envs.reset(seed=0)
        envs.step([WARMUP] * concurrency)
        valid = 0
        started = time.perf_counter()
        for i in range(0, len(programs), concurrency):
            batch = programs[i:i + concurrency]
            batch += [WARMUP] * (concurrency - len(batch))  # a short last batch: pad it
            _, _, _, _, info = envs.step(batch)
            valid += int(sum(bool(v) for v in info["valid_submission"][: len(programs) - i]))
        elapsed = time.perf_counter() - started
    finally:
        envs.close()
    return elapsed, valid


def rate(n: int, seconds: float) -> float:
    return n / seconds * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, default=16, help="programs per run (half 0.5 s, half 5 s)")
    parser.add_argument("--concurrency", default="2,4", help="pool vs vector env at these")
    parser.add_argument("--scaling", default="1,2,4", help="pool concurrency for the scaling table")
    parser.add_argument("--sandbox", default="docker-warm", choices=["docker", "docker-warm"])
    parser.add_argument("--quick", action="store_true", help="8 programs, concurrency 2, no scaling")
    args = parser.parse_args()
    n = 8 if args.quick else args.programs
    compare = [2] if args.quick else [int(c) for c in args.concurrency.split(",") if c]
    scaling = [] if args.quick else [int(c) for c in args.scaling.split(",") if c]
    runs = len(compare) * 2 + len(scaling) * 2
    bar = tqdm(total=runs, desc="throughput runs")

    rows = []
    for k in compare:
        programs = workload("sleep", n)
        pool_s, pool_ok = run_pool(programs, k, args.sandbox)
        bar.update()
        vec_s, vec_ok = run_vector(programs, k, args.sandbox)
        bar.update()
        rows.append((k, pool_s, pool_ok, vec_s, vec_ok))
    scale_rows = []
    for kind in ("sleep", "compute") if scaling else ():
        programs = workload(kind, n)
        for k in scaling:
            seconds, ok = run_pool(programs, k, args.sandbox)
            scale_rows.append((kind, k, seconds, ok))
            bar.update()
    bar.close()

    work = statistics.mean([0.5, 5.0])
    print(f"\n{n} programs (half 0.5 s, half 5 s), sandbox {args.sandbox}, {os.cpu_count()} cpus, "
          f"load {os.getloadavg()[0]:.1f}; ideal at concurrency k: {n * work:.0f} s / k\n")
    print(f"{'k':>2} {'pool':>9} {'steps/min':>9} {'vector env':>11} {'steps/min':>9} {'pool/vector':>11} "
          f"{'ideal':>6}  goal ≥2x")
    for k, pool_s, pool_ok, vec_s, vec_ok in rows:
        ratio = vec_s / pool_s
        print(f"{k:>2} {pool_s:>8.1f}s {rate(n, pool_s):>9.1f} {vec_s:>10.1f}s {rate(n, vec_s):>9.1f} "
              f"{ratio:>10.2f}x {ideal_ratio(durations(n), k):>5.2f}x  {'met' if ratio >= 2 else 'missed'}"
              + ("" if pool_ok == vec_ok == n else f"  (valid: pool {pool_ok}, vector {vec_ok} of {n})"))
    if scale_rows:
        print(f"\n{'workload':<8} {'k':>2} {'seconds':>8} {'steps/min':>9} {'speed-up':>8}")
        base = {kind: s for kind, k, s, _ in scale_rows if k == scaling[0]}
        for kind, k, seconds, ok in scale_rows:
            note = "" if ok == n else f"  ({ok}/{n} valid)"
            print(f"{kind:<8} {k:>2} {seconds:>7.1f}s {rate(n, seconds):>9.1f} "
                  f"{base[kind] / seconds:>7.2f}x{note}")


if __name__ == "__main__":
    main()
