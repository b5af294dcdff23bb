"""Step overhead: the same program run by ``env.step`` and by a bare ``python`` on the host.

    python bench/step_overhead.py [--repeats 10] [--program fast] [--backends docker,local]

Prints, per way of running, the median and spread of wall time; the overhead of a step
over the bare run in ms and as a ratio; and how much of the step the program itself ran
(``info["duration"]``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import gymnasium as gym

import mle_gym  # noqa: F401
from mle_gym.data import prepare
from mle_gym.spec import load_task

TRIVIAL = "import os\nopen(os.environ['MLE_SUBMISSION_PATH'], 'w').write('id\\n')\n"


def bare_run(code: str, public: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        step = Path(tmp)
        (step / "input").symlink_to(public)
        (step / "working").mkdir()
        (step / "submission").mkdir()
        (step / "program.py").write_text(code)
        env = dict(os.environ, MLE_INPUT_DIR=str(step / "input"),
                   MLE_SUBMISSION_PATH=str(step / "submission" / "submission.csv"))
        started = time.perf_counter()
        subprocess.run([sys.executable, "program.py"], cwd=step, env=env, check=True,
                       capture_output=True)
        return time.perf_counter() - started


def stats(values: list[float]) -> str:
    values = sorted(values)
    q1, q3 = values[len(values) // 4], values[(3 * len(values)) // 4]
    return f"{statistics.median(values) * 1000:8.0f} ms  [{q1 * 1000:.0f}–{q3 * 1000:.0f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--program", default="fast", help="fast, strong, or trivial")
    parser.add_argument("--backends", default="docker,local")
    args = parser.parse_args()

    spec = load_task("spooky-author")
    data = prepare(spec, "lite")
    code = TRIVIAL if args.program == "trivial" else (spec.folder / "solutions" / f"{args.program}.py").read_text()

    rows: list[tuple[str, list[float], list[float]]] = []
    bare = [bare_run(code, data.public) for _ in range(args.repeats)]
    rows.append(("bare python", bare, bare))
    for backend in args.backends.split(","):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = gym.make(spec.env_id, sandbox=backend, max_steps=10**6)
        env.reset(seed=0)
        env.step(code)  # warm-up: image lookup, imports, page cache
        walls, inner = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            _, _, _, _, info = env.step(code)
            walls.append(time.perf_counter() - started)
            inner.append(info["duration"])
        env.close()
        rows.append((f"env.step ({backend})", walls, inner))

    base = statistics.median(bare)
    print(f"\nprogram: {args.program}   repeats: {args.repeats}   task: {spec.slug} lite\n")
    print(f"{'how':<20} {'wall time (median [IQR])':>30} {'overhead':>10} {'ratio':>7} {'program ran':>12}")
    for name, walls, inner in rows:
        med = statistics.median(walls)
        print(f"{name:<20} {stats(walls):>30} {(med - base) * 1000:>8.0f}ms {med / base:>6.2f}x "
              f"{statistics.median(inner) * 1000:>10.0f}ms")


if __name__ == "__main__":
    main()
