"""Soak: many steps through the rollout pool, watching for anything that grows.

    python bench/soak.py [--steps 1000] [--workers 2] [--every 50] [--sandbox docker-warm] [--quick]

Runs ``--steps`` trivial valid spooky-author programs (they copy the sample submission)
through ``RolloutPool`` and, every ``--every`` steps, samples: this process's open files and
RSS, the containers carrying this run's session label, the files and bytes under the step
work dir (a fresh ``MLE_GYM_WORKDIR``), and the engine's total container count. Prints a
table, then fails (exit 1) if any of them grew beyond its tolerance, or if anything is left
once the pool is closed. ``tests/test_soak.py`` runs the same check.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

PROGRAM = (
    "import os, shutil\n"
    "shutil.copy(os.path.join(os.environ['MLE_INPUT_DIR'], 'sample_submission.csv'),\n"
    "            os.environ['MLE_SUBMISSION_PATH'])\n"
)

# Growth allowed from the first sample (taken after warm-up) to the last one.
TOLERANCE = {
    "open_files": 8,
    "rss_mib": 64.0,
    "engine_containers": 20,  # the engine is shared: other runs start and stop containers
}
# docker-py keeps one connection pool per URL, least recently used first out, at most
# DEFAULT_NUM_POOLS (25) per client: every new container's URLs add a pool with an idle socket
# until it is evicted. Bounded, so allowed: per Docker client (one per worker, one here).
def tolerance(key: str, workers: int) -> float:
    if key == "open_files":
        from docker.constants import DEFAULT_NUM_POOLS

        return TOLERANCE[key] + DEFAULT_NUM_POOLS * (workers + 1)
    return TOLERANCE[key]


@dataclass
class Sample:
    steps: int
    seconds: float
    open_files: int
    rss_mib: float
    containers: int  # with this run's session label
    workdir_entries: int
    workdir_mib: float
    engine_containers: int


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def tree_size(root: Path) -> tuple[int, float]:
    """(entries directly under ``root``, MiB in all files below it)."""
    entries, total = 0, 0
    try:
        entries = len(os.listdir(root))
    except OSError:
        return 0, 0.0
    for folder, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):  # removed while we looked
                total += os.lstat(os.path.join(folder, name)).st_size
    return entries, total / 2**20


def take_sample(client: Any, session: str, workdir: Path, steps: int, started: float) -> Sample:
    from mle_gym.sandbox.docker_backend import SESSION_LABEL

    ours = client.api.containers(all=True, filters={"label": f"{SESSION_LABEL}={session}"})
    entries, mib = tree_size(workdir)
    return Sample(
        steps=steps,
        seconds=time.monotonic() - started,
        open_files=open_files(),
        rss_mib=rss_mib(),
        containers=len(ours),
        workdir_entries=entries,
        workdir_mib=mib,
        engine_containers=int(client.info().get("Containers", 0)),
    )


def run_soak(
    steps: int = 1000,
    workers: int = 2,
    every: int = 50,
    sandbox: str = "docker-warm",
    progress: bool = True,
) -> tuple[list[Sample], dict[str, Any]]:
    """Run the soak; (samples, summary). The last sample is taken after the pool closed."""
    from mle_gym.pool import RolloutPool, StepJob
    from mle_gym.sandbox.docker_backend import docker_client

    session = os.environ.setdefault("MLE_GYM_SESSION", f"soak-{uuid.uuid4().hex[:8]}")
    workdir = Path(tempfile.mkdtemp(prefix="mle-soak-"))
    previous = os.environ.get("MLE_GYM_WORKDIR")
    os.environ["MLE_GYM_WORKDIR"] = str(workdir)
    client = docker_client()
    samples: list[Sample] = []
    failures: list[str] = []
    durations: list[float] = []
    started = time.monotonic()
    try:
        job = StepJob(task="spooky-author", program=PROGRAM,
                      options={"data": "lite", "data_seed": 0, "time_limit": 60})
        with RolloutPool(backend="local", workers=workers, sandbox=sandbox,
                         max_pending=2 * workers) as pool, \
                tqdm(total=steps, desc=f"soak ({sandbox})", disable=not progress) as bar:
            submitted = done = 0
            while done < steps:
                while submitted < steps and pool.pending < 2 * workers:
                    pool.submit(job)
                    submitted += 1
                result = next(pool.as_completed(timeout=600))
                done += 1
                bar.update()
                if result.error or not result.info["valid_submission"]:
                    failures.append(result.error or str(result.info["invalid_reason"]))
                else:
                    durations.append(result.wall_time)
                if done % every == 0 or done == steps:
                    samples.append(take_sample(client, session, workdir, done, started))
        samples.append(take_sample(client, session, workdir, steps, started))  # after close
    finally:
        if previous is None:
            os.environ.pop("MLE_GYM_WORKDIR", None)
        else:
            os.environ["MLE_GYM_WORKDIR"] = previous
        shutil.rmtree(workdir, ignore_errors=True)
        client.close()
    elapsed = time.monotonic() - started
    summary = {
        "steps": steps,
        "failed": len(failures),
        "first_failures": failures[:3],
        "seconds": elapsed,
        "steps_per_min": steps / elapsed * 60,
        "median_wall_s": sorted(durations)[len(durations) // 2] if durations else float("nan"),
    }
    return samples, summary


def problems(samples: list[Sample], summary: dict[str, Any], workers: int) -> list[str]:
    """What grew beyond its tolerance or was left behind; empty when the soak is clean."""
    found = []
    if summary["failed"]:
        found.append(f"{summary['failed']} step(s) failed, e.g. {summary['first_failures']}")
    during, closed = samples[:-1], samples[-1]
    if len(during) >= 2:
        first, last = during[0], during[-1]
        for key in TOLERANCE:
            limit = tolerance(key, workers)
            grew = getattr(last, key) - getattr(first, key)
            if grew > limit:
                found.append(f"{key} grew by {grew:g} (from {getattr(first, key):g} to "
                             f"{getattr(last, key):g}; tolerance {limit:g})")
    for s in during:
        if s.containers > workers:
            found.append(f"{s.containers} containers at step {s.steps}, more than {workers} workers")
        if s.workdir_entries > workers:
            found.append(f"{s.workdir_entries} step folders at step {s.steps}, more than {workers}")
    if closed.containers:
        found.append(f"{closed.containers} container(s) left after the pool closed")
    if closed.workdir_entries:
        found.append(f"{closed.workdir_entries} step folder(s) left after the pool closed")
    return found


def print_table(samples: list[Sample], summary: dict[str, Any]) -> None:
    print(f"\n{'steps':>6} {'time':>7} {'open files':>10} {'RSS MiB':>8} {'containers':>10} "
          f"{'workdir':>8} {'wd MiB':>7} {'engine':>7}")
    for i, s in enumerate(samples):
        label = "closed" if i == len(samples) - 1 else f"{s.steps}"
        print(f"{label:>6} {s.seconds:>6.0f}s {s.open_files:>10} {s.rss_mib:>8.1f} {s.containers:>10} "
              f"{s.workdir_entries:>8} {s.workdir_mib:>7.2f} {s.engine_containers:>7}")
    print(f"\n{summary['steps']} steps in {summary['seconds']:.0f} s "
          f"({summary['steps_per_min']:.0f} steps/min, median {summary['median_wall_s']:.2f} s "
          f"per step), {summary['failed']} failed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--every", type=int, default=50, help="sample every this many steps")
    parser.add_argument("--sandbox", default="docker-warm", choices=["docker", "docker-warm"])
    parser.add_argument("--quick", action="store_true", help="50 steps, sampled every 10")
    args = parser.parse_args()
    steps, every = (50, 10) if args.quick else (args.steps, args.every)
    samples, summary = run_soak(steps, args.workers, every, args.sandbox)
    print_table(samples, summary)
    found = problems(samples, summary, args.workers)
    for line in found:
        print(f"FAIL: {line}")
    if not found:
        print("OK: nothing grew beyond its tolerance, nothing was left behind")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
