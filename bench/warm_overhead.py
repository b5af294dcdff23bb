"""Warm-container overhead: what a sandbox adds to a program's own run time.

    python bench/warm_overhead.py [--backend docker-warm] [--steps 20] [--level sandbox|env]

Runs ``print(1)`` and a 0.5 s program ``--steps`` times each through the sandbox (after one
warm-up step that starts the container), interleaved with the same program run by a bare
``python`` on the host, and prints median and p90 of:

* ``wall``: the step's wall time;
* ``over ran``: wall time minus the time the program itself ran (the runner's own clock,
  ``RunResult.duration``), i.e. what the sandbox adds: the goal is at most 30 ms warm;
* ``over bare``: wall time minus the bare host run's wall time (which also counts the
  program's Python start-up, so it is a little smaller than the sandbox's real cost).

``--backend`` is a ``make_sandbox`` name (docker-warm, docker, local) or ``FILE.py:Class``
to compare another implementation. ``--level env`` times ``env.step`` instead (grading and
instrumentation included). The machine's load average is printed with the table: the numbers
are only comparable at similar load.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

PROGRAMS = {
    "print(1)": "print(1)\n",
    "sleep 0.5 s": "import time\ntime.sleep(0.5)\nprint(1)\n",
}


def make(backend: str) -> Any:
    """A sandbox by name, or ``file.py:Class`` for another implementation."""
    if ":" in backend:
        path, name = backend.rsplit(":", 1)
        spec = importlib.util.spec_from_file_location("bench_sandbox_module", path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while defining
        spec.loader.exec_module(module)
        return getattr(module, name)()
    from mle_gym.sandbox import make_sandbox

    return make_sandbox(backend)


def bare_run(code: str, folder: Path) -> float:
    """Wall time of ``python program.py`` on the host, output captured like a sandbox does."""
    program = folder / "program.py"
    program.write_text(code)
    started = time.perf_counter()
    subprocess.run([sys.executable, str(program)], cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - started


class SandboxLevel:
    """Times ``sandbox.run`` (the backend alone)."""

    def __init__(self, backend: str) -> None:
        from mle_gym.data import prepare

        self.sandbox = make(backend)
        self.public = prepare("spooky-author", "lite", seed=0).public

    def step(self, code: str) -> tuple[float, float]:
        from mle_gym.sandbox import RunRequest

        request = RunRequest(program=code, public_dir=self.public, time_limit=60,
                             memory_limit="2g", cpus=1.0)
        started = time.perf_counter()
        with self.sandbox.run(request) as result:
            pass
        wall = time.perf_counter() - started
        if result.sandbox_error or result.exit_code != 0:
            raise SystemExit(f"the step failed: {result.sandbox_error or result.stderr[-500:]}")
        return wall, result.duration

    def close(self) -> None:
        self.sandbox.close()


class EnvLevel:
    """Times ``env.step`` (instrumentation, sandbox and grading)."""

    def __init__(self, backend: str) -> None:
        import gymnasium as gym

        import mle_gym  # noqa: F401 - registers the environments

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.env = gym.make("mle/spooky-author-v0", sandbox=make(backend), max_steps=10**6)
        self.env.reset(seed=0)

    def step(self, code: str) -> tuple[float, float]:
        started = time.perf_counter()
        _, _, _, _, info = self.env.step(code)
        return time.perf_counter() - started, info["duration"]

    def close(self) -> None:
        self.env.close()


def quantiles(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
    return f"{statistics.median(values) * 1000:7.1f} {p90 * 1000:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="docker-warm",
                        help="docker-warm (default), docker, local, or FILE.py:Class")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per program")
    parser.add_argument("--level", choices=("sandbox", "env"), default="sandbox")
    args = parser.parse_args()

    runner = (SandboxLevel if args.level == "sandbox" else EnvLevel)(args.backend)
    loads = [os.getloadavg()[0]]
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp, \
                tqdm(total=len(PROGRAMS) * args.steps, desc=f"{args.backend} steps") as bar:
            for name, code in PROGRAMS.items():
                runner.step(code)  # warm-up: starts the container, fills the page cache
                walls, ran, bare = [], [], []
                for _ in range(args.steps):  # interleaved, so load drift hits both alike
                    wall, duration = runner.step(code)
                    walls.append(wall)
                    ran.append(duration)
                    bare.append(bare_run(code, Path(tmp)))
                    bar.update()
                loads.append(os.getloadavg()[0])
                over_ran = [w - d for w, d in zip(walls, ran, strict=True)]
                over_bare = [w - b for w, b in zip(walls, bare, strict=True)]
                rows.append((name, walls, bare, over_ran, over_bare))
    finally:
        runner.close()

    print(f"\nbackend: {args.backend}   level: {args.level}   steps: {args.steps}   "
          f"cpus: {os.cpu_count()}   load (1 min) during the run: "
          f"{min(loads):.1f}–{max(loads):.1f}")
    print(f"{'program':<12} {'wall':>15} {'bare python':>15} {'over ran':>15} {'over bare':>15}")
    print(f"{'':<12}" + f" {'median     p90':>15}" * 4 + "   (ms)")
    for name, walls, bare, over_ran, over_bare in rows:
        print(f"{name:<12} {quantiles(walls):>15} {quantiles(bare):>15} "
              f"{quantiles(over_ran):>15} {quantiles(over_bare):>15}")


if __name__ == "__main__":
    main()
