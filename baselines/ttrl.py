"""Test-time RL on one mle-gym task with the consensus reward only: answers never read.

Two policies, one reward (:mod:`mle_gym.consensus`: each program's submission scored by the
task's metric against the pseudo-label the other programs of its group make):

* ``softmax``: a softmax over a family of programs (the task's reference programs, and
  variants trained on a fraction of the rows), trained by GRPO on the logits: each step
  samples a group, rewards it by consensus, and moves the logits by the group-normalised
  advantage. The programs are deterministic, so each is run once (through the pool) and its
  submission reused whenever it is sampled again: the same as running it again.
* ``grpo``: TRL's GRPOTrainer with the tiny CPU model (or a real one by name), whose
  completions run through the pool and are rewarded by
  :class:`mle_gym.pool.consensus.ConsensusReward`, one group per batch.

The true private-half score is logged over training for analysis only; nothing the policy
sees depends on it. ::

    python -m baselines.ttrl --task tabular-dec-2021 --policy softmax --seeds 0 1 2
    python -m baselines.ttrl --task spooky-author --policy grpo --model tiny --max-steps 2
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `baselines` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from mle_gym.consensus import ConsensusScorer, public_folder
from mle_gym.spec import TaskSpec, load_task

_TRAIN_LINE = re.compile(r"^train = .*$", re.MULTILINE)


def subsample(program: str, fraction: float, seed: int = 0) -> str | None:
    """The program trained on ``fraction`` of its training rows (a weaker variant), or None
    when it has no ``train = ...`` line to follow."""
    found = _TRAIN_LINE.search(program)
    if found is None:
        return None
    line = f"\ntrain = train.sample(frac={fraction}, random_state={seed}).reset_index(drop=True)"
    return program[: found.end()] + line + program[found.end():]


def program_family(spec: TaskSpec, fractions: Sequence[float] = (1.0, 0.2)) -> dict[str, str]:
    """The task's reference programs, each at every training fraction (1.0: as written)."""
    family = {}
    for path in sorted((spec.folder / "solutions").glob("*.py")):
        source = path.read_text()
        for fraction in fractions:
            variant = source if fraction >= 1.0 else subsample(source, fraction)
            if variant is not None:
                family[path.stem if fraction >= 1.0 else f"{path.stem}@{fraction:g}"] = variant
    return family


@dataclass(frozen=True)
class Arm:
    """One program of the family, as it ran: its submission (None: it wrote none), its
    milestones, whether it trained a model, and (analysis only) its true private score."""

    name: str
    path: Path | None
    milestones: int
    no_model: bool
    true_private: float | None


def softmax_ttrl(
    scorer: ConsensusScorer,
    arms: Sequence[Arm],
    steps: int = 40,
    group: int = 8,
    lr: float = 0.5,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """GRPO on the logits of a softmax over ``arms``, rewarded by consensus within each
    sampled group. Returns one row per step: the policy's expected true score (analysis),
    its entropy, the group's mean reward and the arm it favours."""
    rng = np.random.default_rng(seed)
    logits = np.zeros(len(arms))
    sign = 1.0 if scorer.spec.direction == "higher" else -1.0
    true = np.array([np.nan if a.true_private is None else a.true_private for a in arms])
    # An arm with no valid submission counts at the worst valid score, for the log alone.
    worst = np.nanmin(sign * true) * sign if np.isfinite(true).any() else np.nan
    true = np.where(np.isnan(true), worst, true)
    history = []
    for step in range(steps + 1):
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        row = {"step": step, "expected_true": float(probs @ true),
               "entropy": float(-(probs * np.log(probs + 1e-12)).sum()),
               "favoured": arms[int(probs.argmax())].name, "best_true": float(true[int(probs.argmax())])}
        if step == steps:
            history.append(row)
            break
        picks = rng.choice(len(arms), size=group, p=probs)
        results = scorer.score([arms[k].path for k in picks], [arms[k].milestones for k in picks],
                               [arms[k].no_model for k in picks])
        rewards = np.array([r.reward for r in results])
        advantage = (rewards - rewards.mean()) / (rewards.std() + 1e-6)
        grad = np.zeros_like(logits)
        for k, a in zip(picks, advantage, strict=True):  # d log p_k / d logits = onehot - p
            grad += a * (np.eye(len(arms))[k] - probs)
        logits += lr * grad / group
        row["reward_mean"] = float(rewards.mean())
        history.append(row)
    return history


def run_family(spec: TaskSpec, programs: dict[str, str], workers: int, sandbox: str,
               data: str = "lite", data_seed: int = 0) -> list[Arm]:
    """Run each program once through the pool, keeping its submission."""
    from mle_gym.pool import RolloutPool, StepJob
    from mle_gym.pool.consensus import SubmissionStore

    store = SubmissionStore(Path("runs/ttrl-submissions") / spec.slug)
    options = {"data": data, "data_seed": data_seed}
    with RolloutPool(workers=workers, sandbox=store.sandbox(sandbox)) as pool:
        handles = {name: pool.submit(StepJob(spec.slug, p, options)) for name, p in programs.items()}
        arms = []
        for name, handle in handles.items():
            result = handle.result()
            step = result.step
            milestones = [] if step is None else list(step.milestones)
            arms.append(Arm(name, store.path(result), len(milestones),
                            step is None or bool(step.tampering) or "model_trained" not in milestones,
                            result.private_score))
    return arms


def train_softmax(args: argparse.Namespace) -> dict[str, Any]:
    spec = load_task(args.task)
    arms = run_family(spec, program_family(spec, args.fractions), args.workers, args.sandbox,
                      args.data, args.data_seed)
    scorer = ConsensusScorer(spec, public_folder(spec, args.data, args.data_seed))
    runs = {}
    for seed in args.seeds:
        history = softmax_ttrl(scorer, arms, steps=args.steps, group=args.group, lr=args.lr, seed=seed)
        runs[seed] = history
        print(f"[ttrl] seed {seed}: expected true score {history[0]['expected_true']:.4f} -> "
              f"{history[-1]['expected_true']:.4f} (favours {history[-1]['favoured']})")
    return {"arms": [a.__dict__ | {"path": str(a.path)} for a in arms], "runs": runs}


def train_grpo(args: argparse.Namespace) -> Any:
    """TRL's GRPOTrainer, rewarded by consensus alone (one group per batch)."""
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from mle_gym.episode import Episode
    from mle_gym.pool import RolloutPool
    from mle_gym.pool.consensus import ConsensusReward, SubmissionStore
    from mle_gym.step import TaskRuntime

    torch.set_num_threads(1)
    runtime = TaskRuntime.create(args.task, data=args.data, data_seed=args.data_seed, time_limit=args.time_limit)
    prompt = Episode(runtime.spec, runtime.prompt()).observation
    options = {"data": args.data, "data_seed": args.data_seed, "time_limit": runtime.time_limit}
    with SubmissionStore() as store, RolloutPool(workers=args.workers, sandbox=store.sandbox(args.sandbox)) as pool:
        reward = ConsensusReward(runtime.spec, pool, store, options, min_voters=args.min_voters)
        model, tokenizer = _policy(args, runtime, prompt)
        config = GRPOConfig(
            output_dir=args.output_dir, max_steps=args.max_steps, per_device_train_batch_size=args.group,
            num_generations=args.group, max_completion_length=args.max_completion_length,
            learning_rate=args.learning_rate, beta=0.0, temperature=1.0, logging_steps=1,
            save_strategy="no", report_to="none", seed=args.seeds[0], use_cpu=not torch.cuda.is_available(),
            log_completions=False,
        )
        true_log: list[dict[str, Any]] = []

        def reward_fn(prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
            rewards = reward(prompts, completions, **kwargs)
            valid = [s.true_private for s in reward.last if s.true_private is not None]
            true_log.append({"rewards": rewards, "true_private_mean": float(np.mean(valid)) if valid else None,
                             "valid": len(valid), "cases": [s.consensus.case if s.consensus else None
                                                            for s in reward.last]})
            print(f"[ttrl] batch: consensus rewards {[round(r, 3) for r in rewards if r is not None]}, "
                  f"{len(valid)} valid, true private mean {true_log[-1]['true_private_mean']}")
            return rewards

        reward_fn.__name__ = "consensus_reward"
        dataset = Dataset.from_dict({"prompt": [[{"role": "user", "content": prompt}]] * max(args.group * 4, 8)})
        trainer = GRPOTrainer(model=model, reward_funcs=[reward_fn], args=config, train_dataset=dataset,
                              processing_class=tokenizer)
        trainer.train()
    trainer.true_log = true_log  # type: ignore[attr-defined]
    return trainer


def _policy(args: argparse.Namespace, runtime: Any, prompt: str) -> tuple[Any, Any]:
    if args.model != "tiny":  # by path: a .gguf file, a folder, or a Hub id in the local cache
        from mle_gym.models import load_causal_lm

        model, tokenizer = load_causal_lm(args.model, dtype="auto")
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return model, tokenizer
    from baselines.tiny_model import build_tiny_policy, warm_start

    programs = list(program_family(runtime.spec, (1.0,)).values())
    model, tokenizer = build_tiny_policy([prompt, *programs], seed=args.seeds[0])
    if args.warm_start_steps:
        pairs = [(prompt, "```python\n" + p.strip() + "\n```") for p in programs]
        warm_start(model, tokenizer, pairs, steps=args.warm_start_steps, seed=args.seeds[0])
    return model, tokenizer


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m baselines.ttrl", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--task", default="tabular-dec-2021")
    p.add_argument("--policy", choices=["softmax", "grpo"], default="softmax")
    p.add_argument("--data", default="lite")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--sandbox", default="docker-warm", choices=["docker-warm", "docker", "local", "auto"])
    p.add_argument("--group", type=int, default=8, help="programs per group (GRPO group)")
    p.add_argument("--min-voters", type=int, default=3)
    p.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.5, 0.2, 0.05],
                   help="softmax: training fractions of each reference program")
    p.add_argument("--steps", type=int, default=40, help="softmax: policy updates")
    p.add_argument("--lr", type=float, default=0.5, help="softmax: step size on the logits")
    p.add_argument("--model", default="tiny", help='grpo: "tiny", a model folder, a .gguf file or a Hub id in the cache')
    p.add_argument("--max-steps", type=int, default=2, help="grpo: optimizer steps")
    p.add_argument("--max-completion-length", type=int, default=256)
    p.add_argument("--learning-rate", type=float, default=1e-5)
    p.add_argument("--warm-start-steps", type=int, default=60)
    p.add_argument("--time-limit", type=float, default=None)
    p.add_argument("--output-dir", default="runs/ttrl")
    p.add_argument("--json", type=Path, default=None, help="softmax: write the histories here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.policy == "grpo":
        train_grpo(args)
        return 0
    report = train_softmax(args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if all(math.isfinite(h[-1]["expected_true"]) for h in report["runs"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
