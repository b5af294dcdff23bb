"""Samples learned per minute: the async trainer against the synchronous one, same workers.

Both trainers (``baselines.async_grpo`` and ``baselines.duration_grpo``) train the tiny model,
warm-started on two programs that sleep 0.5 s and 5 s (mixed durations with nothing else to
vary: this measures throughput, not learning), with real Docker steps, ``--workers`` at once
and a batch of ``--workers`` samples per update.

The synchronous trainer waits for its whole batch, so an update takes as long as the batch's
slowest program; the async one keeps every worker busy. The lockstep bound is the most the
async trainer can gain when the pool is the bottleneck:

    bound = mean over sync batches of max(duration) / mean(duration)

(with batch = workers, a sync update costs the slowest program, an async sample costs the
mean program over the workers). It is computed from the sync run's own measured durations.

    python bench/async_vs_sync.py --quick       # ~3 min
    python bench/async_vs_sync.py --steps 12    # the measurement in the README
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FAST = 'import time\ntime.sleep(0.5)\nprint("done")\n'
SLOW = 'import time\ntime.sleep(5)\nprint("done")\n'


def _argv(folder: Path, steps: int, workers: int, paths: list[str]) -> list[str]:
    return [
        "--model", "tiny",
        "--max-steps", str(steps),
        "--num-generations", str(workers),  # one prompt's group per update (sync) or per lane set
        "--batch-size", str(workers),
        "--max-completion-length", "40",
        "--num-prompts", "256",
        "--learning-rate", "1e-5",
        "--temperature", "1.0",
        "--warm-start-steps", "150",
        "--warm-start-programs", *paths,
        "--workers", str(workers),
        "--time-limit", "60",
        "--output-dir", str(folder),
    ]  # fmt: skip


def _runtime(trainer: Any) -> float:
    return next(h["train_runtime"] for h in reversed(trainer.state.log_history) if "train_runtime" in h)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 updates each")
    p.add_argument("--steps", type=int, default=12, help="updates per trainer")
    p.add_argument("--workers", type=int, default=4)
    args = p.parse_args(argv)
    steps = 3 if args.quick else args.steps

    import torch

    from baselines import async_grpo, duration_grpo

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = []
        for name, text in (("fast", FAST), ("slow", SLOW)):
            (folder / f"{name}.py").write_text(text)
            paths.append(str(folder / f"{name}.py"))
        base = _argv(folder / "sync", steps, args.workers, paths)
        sync = duration_grpo.train(duration_grpo.parse_args(base))
        sync_time = _runtime(sync)
        sync_samples = sync.state.global_step * args.workers
        batches = [h for h in sync.state.log_history if "duration/max" in h]
        bound = sum(h["duration/max"] for h in batches) / max(
            sum(h["duration/mean"] for h in batches), 1e-9
        )
        asy = async_grpo.train(async_grpo.parse_args(_argv(folder / "async", steps, args.workers, paths)))
        async_time = _runtime(asy)
        async_samples = len(asy.loop.consumed)
        durations = [s.duration for s in asy.loop.consumed]
    sync_rate = 60 * sync_samples / sync_time
    async_rate = 60 * async_samples / async_time
    ratio = async_rate / sync_rate
    print()
    print(f"workers {args.workers}, batch {args.workers}, {steps} updates each, programs 0.5 s and 5 s")
    print(f"sync : {sync_samples:4d} samples in {sync_time:6.1f} s = {sync_rate:6.1f} samples/min")
    print(f"async: {async_samples:4d} samples in {async_time:6.1f} s = {async_rate:6.1f} samples/min")
    print(
        f"async / sync = {ratio:.2f}; lockstep bound = {bound:.2f} "
        f"({100 * ratio / bound:.0f}% of the bound)"
    )
    sync_mean = sum(h["duration/mean"] for h in batches) / max(len(batches), 1)
    async_mean = sum(durations) / max(len(durations), 1)
    print(f"mean program duration: sync {sync_mean:.2f} s, async {async_mean:.2f} s (the mixes agree?)")
    learner = [h["step_time"] for h in asy.state.log_history if "step_time" in h]
    print(f"async learner compute {sum(learner):.1f} s of {async_time:.1f} s (serial with generation on one CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
