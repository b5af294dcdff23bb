"""Step overhead: the same program run by ``env.step`` (cold container, warm container, local
subprocess), by a bare ``python`` on the host, and by a bare ``docker run`` of the image.

    python bench/step_overhead.py [--repeats 10] [--programs trivial,sleep] [--gap 0]
                                  [--backends docker,docker-cold-wait,docker-warm,local]
                                  [--no-engine] [--quick]

``docker`` is the cold sandbox as shipped (containers for the next steps started ahead);
``docker-depth<N>`` the same with N containers waiting per lockdown; ``docker-cold-wait``
with ``prestart=False``: every step waits for its container's start, as before. The last
lines give the cold step's ratios against warm and against a bare ``docker run``, all
measured in this one run.

``--gap`` pauses between steps (an agent's time to write the next program); 0, the
default, runs them back to back. ``--engine`` (on by default with a docker backend) times
the engine alone with the sandbox's lockdown: container starts (create, attach, start) and
whole lifecycles (start, then removal) per second, one at a time and 2 or 3 in parallel. Back to
back, a cold step cannot take less than a lifecycle's share of the engine's throughput.

Programs: ``trivial`` (writes an empty submission), ``sleep`` (sleeps 0.5 s, then writes
it), ``compute`` (0.1-0.2 s of CPU, then writes it), ``fast``/``strong`` (the task's reference solutions). Per program and way of running it
prints the median and spread of wall time; the overhead over the bare run; and ``step -
ran``, the wall time of the step minus the time the program itself ran
(``info["duration"]``): what the sandbox, instrumentation and grading add. Goals: at most
100 ms (cold container) and 30 ms (warm container) over the bare run.
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
from tqdm.auto import tqdm

import mle_gym  # noqa: F401
from mle_gym.data import prepare
from mle_gym.spec import load_task

TRIVIAL = "import os\nopen(os.environ['MLE_SUBMISSION_PATH'], 'w').write('id\\n')\n"
SLEEP = "import os, time\ntime.sleep(0.5)\nopen(os.environ['MLE_SUBMISSION_PATH'], 'w').write('id\\n')\n"
COMPUTE = ("import os\nsum(i * i for i in range(1_500_000))\n"
           "open(os.environ['MLE_SUBMISSION_PATH'], 'w').write('id\\n')\n")
GOALS_MS = {"docker": 100, "docker-warm": 30}  # the step-ran column for docker (issue 19)


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


def bare_docker_run(code: str, public: Path) -> float:
    """``docker run --rm`` of the sandbox image on the same program and data, no lockdown."""
    from mle_gym.sandbox.engine import docker_client
    from mle_gym.sandbox.image import ensure_image

    client = docker_client()
    image = ensure_image(client, build=False)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "program.py").write_text(code)
        os.chmod(tmp, 0o755)
        started = time.perf_counter()
        client.containers.run(
            image, ["sh", "-c", "mkdir -p /tmp/submission && cd /tmp && python3 /ctl/program.py"],
            volumes={str(public): {"bind": "/step/input", "mode": "ro"},
                     tmp: {"bind": "/ctl", "mode": "ro"}},
            environment={"MLE_INPUT_DIR": "/step/input",
                         "MLE_SUBMISSION_PATH": "/tmp/submission/submission.csv"},
            network_mode="none", remove=True)
        took = time.perf_counter() - started
    client.close()
    return took


def stats(values: list[float]) -> str:
    values = sorted(values)
    q1, q3 = values[len(values) // 4], values[(3 * len(values)) // 4]
    return f"{statistics.median(values) * 1000:8.0f} ms  [{q1 * 1000:.0f}–{q3 * 1000:.0f}]"


def program_text(name: str, spec) -> str:
    if name == "trivial":
        return TRIVIAL
    if name == "sleep":
        return SLEEP
    if name == "compute":
        return COMPUTE
    return (spec.folder / "solutions" / f"{name}.py").read_text()


def engine_throughput(public: Path, repeats: int) -> list[str]:
    """Containers per second the engine starts, and starts and removes, with the sandbox's
    lockdown: one at a time, 2 and 3 in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    from mle_gym.sandbox.base import RunRequest
    from mle_gym.sandbox.engine import docker_client
    from mle_gym.sandbox.image import ensure_image
    from mle_gym.sandbox.lockdown import sandbox_user
    from mle_gym.sandbox.prestart import start_container

    client = docker_client()
    image, user = ensure_image(client, build=False), sandbox_user()
    request = RunRequest(program="", public_dir=public)

    def start(_: int):
        return start_container(client, image, user, request)

    def lifecycle(_: int) -> None:
        start(0).discard()

    lines = []
    try:
        lifecycle(0)  # warm-up
        for workers in (1, 2, 3):
            with ThreadPoolExecutor(workers) as pool:
                began = time.perf_counter()
                started = list(pool.map(start, range(repeats)))
                starts = repeats / (time.perf_counter() - began)
                list(pool.map(lambda s: s.discard(), started))
                began = time.perf_counter()
                list(pool.map(lifecycle, range(repeats)))
                whole = repeats / (time.perf_counter() - began)
            lines.append(f"engine, {workers} at a time: {starts:4.1f} starts/s "
                         f"({1000 / starts:4.0f} ms each), {whole:4.1f} start+removals/s "
                         f"({1000 / whole:4.0f} ms each)")
    finally:
        client.close()
    return lines


def time_backend(spec, backend: str, code: str, repeats: int,
                 gap: float = 0.0) -> tuple[list[float], list[float]]:
    sandbox: object = backend
    if backend == "docker-cold-wait" or backend.startswith("docker-depth"):
        from mle_gym.sandbox.cold import DockerSandbox

        depth = backend.removeprefix("docker-depth")
        sandbox = DockerSandbox(prestart=False if backend == "docker-cold-wait" else int(depth))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make(spec.env_id, sandbox=sandbox, max_steps=10**6)
    try:
        env.reset(seed=0)
        env.step(code)  # warm-up: image lookup, imports, page cache, the warm container
        walls, inner = [], []
        for _ in range(repeats):
            time.sleep(gap)
            started = time.perf_counter()
            _, _, _, _, info = env.step(code)
            walls.append(time.perf_counter() - started)
            inner.append(info["duration"])
    finally:
        env.close()
        if not isinstance(sandbox, str):
            sandbox.close()
    return walls, inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--programs", "--program", default="trivial,sleep",
                        help="comma-separated: trivial, sleep, compute, fast, strong")
    parser.add_argument("--backends", default="docker,docker-cold-wait,docker-warm,local")
    parser.add_argument("--gap", type=float, default=0.0,
                        help="seconds between steps (0: back to back)")
    parser.add_argument("--engine", action=argparse.BooleanOptionalAction, default=True,
                        help="time the engine's container starts and removals alone")
    parser.add_argument("--quick", action="store_true", help="3 repeats: a smoke run")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats

    spec = load_task("spooky-author")
    data = prepare(spec, "lite")
    backends = [b for b in args.backends.split(",") if b]
    programs = [p for p in args.programs.split(",") if p]
    table = []
    docker = any(b.startswith("docker") for b in backends)
    engine = []
    with tqdm(total=len(programs) * (len(backends) + 1 + docker), desc="step overhead") as bar:
        for name in programs:
            code = program_text(name, spec)
            bare = [bare_run(code, data.public) for _ in range(repeats)]
            table.append((name, "bare python", bare, None))
            bar.update()
            if docker:
                bare_docker_run(code, data.public)  # warm-up: page cache, image layers
                runs = [bare_docker_run(code, data.public) for _ in range(repeats)]
                table.append((name, "bare docker run", runs, None))
                bar.update()
            for backend in backends:
                walls, inner = time_backend(spec, backend, code, repeats, args.gap)
                table.append((name, f"env.step ({backend})", walls, inner))
                bar.update()

        if docker and args.engine:
            engine = engine_throughput(data.public, max(repeats, 6))

    print(f"\nrepeats: {repeats}   gap: {args.gap:g} s   task: {spec.slug} lite   "
          f"cpus: {os.cpu_count()}   load: {os.getloadavg()[0]:.1f}\n")
    print(f"{'program':<8} {'how':<24} {'wall (median [IQR])':>26} {'overhead':>9} {'ratio':>6} "
          f"{'step-ran':>9} {'ran':>7}  goal")
    base: dict[str, float] = {}
    medians: dict[tuple[str, str], float] = {}
    for name, how, walls, inner in table:
        med = statistics.median(walls)
        medians[(name, how)] = med
        if inner is None:
            base.setdefault(name, med)  # bare python: the baseline of the overhead column
            print(f"{name:<8} {how:<24} {stats(walls):>26} {'':>9} {'':>6} {'':>9} {'':>7}")
            continue
        over = (med - base[name]) * 1000
        gaps = statistics.median(w - i for w, i in zip(walls, inner, strict=True)) * 1000
        backend = how[len("env.step ("):-1]
        goal = GOALS_MS.get(backend)
        # The cold step's goal is on step - ran (what a step adds to the program's own time).
        judged = gaps if backend == "docker" else over
        verdict = "" if goal is None else f"≤{goal} ms: {'met' if judged <= goal else 'missed'}"
        print(f"{name:<8} {how:<24} {stats(walls):>26} {over:>7.0f}ms {med / base[name]:>5.2f}x "
              f"{gaps:>7.0f}ms {statistics.median(inner) * 1000:>5.0f}ms  {verdict}")
    print()
    for name in programs:
        cold = medians.get((name, "env.step (docker)"))
        if cold is None:
            continue
        others = [how for (n, how) in medians if n == name and how != "env.step (docker)"]
        for other in others:
            if other.startswith(("env.step (docker", "bare docker")):
                print(f"{name:<8} cold step / {other:<28} {cold / medians[(name, other)]:5.2f}x")
    for line in engine:
        print(line)


if __name__ == "__main__":
    main()
