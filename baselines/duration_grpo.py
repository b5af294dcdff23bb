"""Duration-aware GRPO on one mle-gym task, with TRL. One file, read top to bottom.

The paper (arXiv 2509.01684) weights each sample's policy gradient by how long its program
ran, normalised by the batch mean:

    grad J = E[ sum_k  (dt_k / mean dt) * grad log pi(a_k | s_k) * A(s_k, a_k) ]

so that slow, strong programs (gradient boosting, stacks) are not crowded out by fast, weak
ones. We charge a floor time (no weight is 0); ``--charge-failures`` charges a program that
timed out or never produced a valid submission the full time limit; ``--duration-norm
running|batch`` picks D (a running mean of consumed durations by default, or the batch mean);
``--no-duration-weights`` turns it off. The weights live in ``baselines/duration_weights.py``.

This trainer is the *synchronous control*. TRL's GRPOTrainer waits for the whole batch, so
every sample of a batch is learned from whatever its duration: the 1/dt bias the weights
correct cannot arise here, and the weights only tilt learning towards slow programs. The
paper's setting, results consumed in completion order, is ``baselines/async_grpo.py``.

The hook: TRL's GRPOTrainer computes per-sample advantages in
``_generate_and_score_completions``; we multiply them by the weights there. For every TRL
loss the advantage enters linearly (the clipped PPO term min(r*A, clip(r)*A) with w > 0 is
w * min(r*A, clip(r)*A)), so this weights exactly the dt_k * grad log pi * A term, and leaves
the KL penalty unweighted, without copying any of TRL's loss code.

Rewards come from the environment: each completion is a program that runs as an env step
(instrumented, sandboxed, graded, with partial credit) through ``mle_gym.pool.RolloutPool``;
its duration feeds the weights. Prompts are half "scratch", half "improve" (the best valid
program so far with its output, starting from the task's fast reference solution), as in
the paper.

CPU, tiny random model (tests, smoke runs)::

    python -m baselines.duration_grpo --model tiny --max-steps 2

GPU, Qwen2.5-3B-Instruct (bf16, vLLM colocated; see the README, "Training baselines")::

    python -m baselines.duration_grpo --model Qwen/Qwen2.5-3B-Instruct --use-vllm --bf16 ...
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `baselines` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from accelerate.utils import gather_object
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from baselines.duration_weights import (  # noqa: F401  (re-exported: the weights live there)
    NORMS,
    DurationNormaliser,
    charged_duration,
    duration_weights,
)
from mle_gym.episode import Best, Episode
from mle_gym.options import RuntimeOptions
from mle_gym.pool import RolloutPool, StepJob
from mle_gym.prompt import Attempt
from mle_gym.step import TaskRuntime

# --------------------------------------------------------------------------------------------
# 1. Arguments. The same script runs both scales; only these change.
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def build_parser(prog: str = "python -m baselines.duration_grpo") -> argparse.ArgumentParser:
    """The options both trainers share (baselines/async_grpo.py adds its own)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Duration-aware GRPO (TRL) on an mle-gym task.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--task", default="spooky-author", help="mle-gym task slug")
    p.add_argument("--data", default="lite", help='"lite", "full" or a prepared folder')
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument(
        "--model",
        default="tiny",
        help='"tiny" (random Qwen2, hidden 64, 2 layers, offline tokenizer; CPU), a .gguf '
        "file (converted once, cached), a model folder, or a Hub id already in the local "
        "cache, e.g. Qwen/Qwen2.5-3B-Instruct (never downloaded)",
    )
    p.add_argument("--output-dir", default="runs/duration-grpo")
    p.add_argument("--max-steps", type=int, default=100, help="optimizer steps")
    p.add_argument(
        "--num-generations", type=int, default=4, help="completions per prompt (a group)"
    )
    p.add_argument("--batch-size", type=int, default=4, help="completions per device per step")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--max-completion-length", type=int, default=1024, help="new tokens per answer")
    p.add_argument("--learning-rate", type=float, default=1e-5)
    p.add_argument("--beta", type=float, default=0.0, help="KL coefficient (0: no reference model)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument(
        "--num-prompts", type=int, default=256, help="dataset rows, half scratch, half improve"
    )
    p.add_argument(
        "--sandbox", default="docker-warm", choices=["docker-warm", "docker", "local", "auto"]
    )
    p.add_argument("--workers", type=int, default=4, help="programs running at once")
    p.add_argument(
        "--backend", default="local", choices=["local", "ray"],
        help="where programs run: threads here, or one Ray actor per worker across a cluster",
    )
    p.add_argument(
        "--ray-address", default=None,
        help='--backend ray: "auto", "ray://head:10001" or host:port; unset: RAY_ADDRESS, '
        "else a local Ray",
    )
    p.add_argument(
        "--time-limit", type=float, default=None, help="seconds per program (task's default)"
    )
    p.add_argument("--duration-floor", type=float, default=1.0, help="seconds charged at least")
    p.add_argument(
        "--duration-norm",
        default="running",
        choices=NORMS,
        help="D in dt/D: running mean of consumed durations, or the batch mean",
    )
    p.add_argument(
        "--charge-failures",
        action="store_true",
        help="charge a failed or timed-out program the full time limit (default: its own duration)",
    )
    p.add_argument(
        "--no-duration-weights",
        dest="duration_weighting",
        action="store_false",
        help="plain GRPO: every sample weighs 1",
    )
    p.add_argument("--use-vllm", action="store_true", help="generate with vLLM (GPU)")
    p.add_argument("--vllm-mode", default="colocate", choices=["colocate", "server"])
    p.add_argument("--vllm-gpu-memory-utilization", type=float, default=0.35)
    p.add_argument("--bf16", action="store_true", help="bfloat16 weights and training (GPU)")
    p.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="recompute activations to save memory (default: on for a real model on the CPU, "
        "where it took one 135M-model step from 14.5 to 8.4 GB)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: half the cores, at least one; on a busy 2-core "
        "machine one thread is much faster than two)",
    )
    p.add_argument(
        "--warm-start-steps",
        type=int,
        default=None,
        help="supervised steps on reference programs first (default: 150 for the tiny "
        "model, 0 for a real one; a weak real model scores -1 everywhere without it, so "
        "every advantage is 0 and nothing is learnt)",
    )
    p.add_argument(
        "--warm-start-lr",
        type=float,
        default=None,
        help="the warm start's learning rate (default: 5e-3 for the tiny model, 2e-5 for a "
        "real one)",
    )
    p.add_argument(
        "--warm-start-programs",
        nargs="*",
        default=None,
        help="programs to warm-start on (default: the task's solutions/*.py)",
    )
    p.add_argument(
        "--init-from",
        default=None,
        metavar="CHECKPOINT",
        help="start RL from this saved model folder (e.g. baselines/early_experience.py's "
        "--output-dir) instead of --model; no warm start unless --warm-start-steps is given",
    )
    p.add_argument("--logging-steps", type=int, default=1)
    p.add_argument("--save-steps", type=int, default=0, help="0: save only at the end")
    p.add_argument("--report-to", default="none", help='TRL/transformers loggers, e.g. "wandb"')
    p.add_argument("--seed", type=int, default=0)
    return p


def rollout_pool(args: argparse.Namespace) -> RolloutPool:
    """The pool the trainers' programs run in: ``--workers`` slots, here or on Ray. On Ray
    the slots' actors are spread over the cluster's nodes (one per node before a second)."""
    if args.backend == "ray":
        return RolloutPool(backend="ray", workers=args.workers, sandbox=args.sandbox,
                           address=args.ray_address,
                           actor_options={"scheduling_strategy": "SPREAD"})
    return RolloutPool(backend="local", workers=args.workers, sandbox=args.sandbox)


# --------------------------------------------------------------------------------------------
# 2. The weights: charged time / D (baselines/duration_weights.py, shared with the async trainer).
# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# 3. The reward: run each completion as an env step, remember its duration.
# --------------------------------------------------------------------------------------------


@dataclass
class Rollout:
    """One completion's step, as the trainer needs it."""

    reward: float | None  # None: the sandbox broke (TRL gives it no advantage)
    duration: float
    failed: bool
    score: float | None
    milestones: int
    program: str
    error: str | None = None


def text_of(completion: Any) -> str:
    """A completion is text, or (chat models) a list of messages; the answer is the last."""
    if isinstance(completion, str):
        return completion
    return str(completion[-1]["content"])


class EnvReward:
    """A TRL reward function whose rewards are mle-gym steps, run through a RolloutPool.

    It keeps the rollouts of the last call (``take()``) for the trainer's weights, and the
    best valid program so far, which improve prompts show the policy.
    """

    __name__ = "env_reward"  # TRL names the reward in its logs after this

    def __init__(
        self, runtime: TaskRuntime, pool: RolloutPool, options: RuntimeOptions | dict[str, Any]
    ) -> None:
        self.runtime = runtime
        self.pool = pool
        self.options = RuntimeOptions.of(options)
        self._best = Best(runtime.spec)
        self._last: list[Rollout] = []

    @property
    def best(self) -> Attempt | None:
        """The best valid program so far (by the task's metric), with its output."""
        return self._best.attempt

    def offer(self, attempt: Attempt) -> None:
        """A valid program run elsewhere (the async trainer) competes for ``best``."""
        self._best.offer(attempt)

    def run(self, programs: Sequence[str]) -> list[Rollout]:
        """Submit every program at once; the pool runs ``workers`` of them at a time."""
        task = self.runtime.spec.slug
        handles = [self.pool.submit(StepJob(task, program, self.options)) for program in programs]
        rollouts = []
        for handle, program in zip(handles, programs, strict=True):
            result = handle.result()
            step = result.step
            if step is None:  # infrastructure, not the program: no learning signal
                rollouts.append(Rollout(None, 0.0, True, None, 0, program, error=result.error))
                continue
            failed = step.timed_out or not step.valid_submission or step.no_model_trained
            rollouts.append(
                Rollout(
                    reward=float(step.reward),
                    duration=float(step.duration),
                    failed=failed,
                    score=step.score,
                    milestones=len(step.milestones),
                    program=program,
                )
            )
            if not failed:
                self._best.offer(step.attempt())
        return rollouts

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        self._last = self.run([text_of(c) for c in completions])
        log_extra = kwargs.get("log_extra")
        if log_extra is not None:  # columns of TRL's completions table
            log_extra("duration", [r.duration for r in self._last])
            log_extra("score", [r.score for r in self._last])
        broken = [r.error for r in self._last if r.error]
        if broken:
            print(
                f"[duration-grpo] {len(broken)} step(s) had no result: {broken[0]}", file=sys.stderr
            )
        return [r.reward for r in self._last]

    def take(self) -> list[Rollout]:
        """The rollouts of the last call, once (the trainer consumes them per batch)."""
        rollouts, self._last = self._last, []
        return rollouts


# --------------------------------------------------------------------------------------------
# 4. Prompts: scratch and improve, 50/50.
# --------------------------------------------------------------------------------------------


class Prompts:
    """The task's observation texts. Improve prompts show ``reward.best`` when it is set."""

    def __init__(self, runtime: TaskRuntime, reward: EnvReward) -> None:
        self.spec = runtime.spec
        self.base = runtime.prompt()
        self.reward = reward

    def scratch(self) -> str:
        return Episode(self.spec, self.base).observation

    def improve(self) -> str | None:
        best = self.reward.best
        return None if best is None else Episode(self.spec, self.base, previous=best).observation

    def dataset(self, rows: int) -> Dataset:
        """Rows alternate scratch and improve; an improve row's text is filled in per batch
        (the trainer asks ``improve()``), so it always shows the best program so far."""
        modes = ["scratch" if i % 2 == 0 else "improve" for i in range(rows)]
        prompt = [{"role": "user", "content": self.scratch()}]
        return Dataset.from_dict({"prompt": [prompt] * rows, "mode": modes})


def reference_programs(runtime: TaskRuntime) -> dict[str, str]:
    folder = runtime.spec.folder / "solutions"
    return {p.stem: p.read_text() for p in sorted(folder.glob("*.py"))}


def seed_improve_prompts(reward: EnvReward, runtime: TaskRuntime) -> None:
    """Run the task's fast reference solution once, so improve prompts have a start."""
    programs = reference_programs(runtime)
    if "fast" not in programs:
        print(
            f"[duration-grpo] {runtime.spec.slug} has no solutions/fast.py; improve prompts "
            "start once a rollout is valid",
            file=sys.stderr,
        )
        return
    (rollout,) = reward.run([programs["fast"]])
    if reward.best is None:
        print(
            f"[duration-grpo] the fast reference solution did not run ({rollout.error or 'invalid'}); "
            "improve prompts start once a rollout is valid",
            file=sys.stderr,
        )


# --------------------------------------------------------------------------------------------
# 5. The trainer: GRPO with advantages scaled by duration weights.
# --------------------------------------------------------------------------------------------


class DurationAwareGRPOTrainer(GRPOTrainer):
    """TRL's GRPOTrainer whose policy term weighs each sample by dt_k / mean(dt).

    ``env_reward`` must be one of ``reward_funcs`` (it supplies the durations);
    ``prompts`` (optional) fills in improve rows with the best program so far.
    """

    def __init__(
        self,
        *args: Any,
        env_reward: EnvReward,
        prompts: Prompts | None = None,
        duration_weighting: bool = True,
        duration_floor: float = 1.0,
        duration_norm: str = "running",
        charge_failures: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.env_reward = env_reward
        self.prompts = prompts
        self.duration_weighting = duration_weighting
        self.duration_floor = duration_floor
        self.normaliser = DurationNormaliser(
            duration_norm, duration_floor, charge_failures, enabled=duration_weighting
        )

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        inputs = self._fill_improve_prompts(inputs)
        output = super()._generate_and_score_completions(inputs)
        rollouts = self.env_reward.take()
        if len(rollouts) != len(output["advantages"]):
            raise RuntimeError(
                f"{len(rollouts)} env steps for {len(output['advantages'])} completions: the env "
                "reward must run once per batch, on this batch's completions"
            )
        mode = "train" if self.model.training else "eval"
        everything = gather_object(rollouts)  # every process's batch, in process order
        durations = [r.duration for r in everything]
        failed = [r.failed for r in everything]
        limit = self.env_reward.runtime.time_limit
        if mode == "train":  # only training batches move the running mean
            weights = self.normaliser.weights(durations, failed, limit)
        else:
            weights = [1.0] * len(everything)
        if mode == "train":
            start = self.accelerator.process_index * len(rollouts)
            local = torch.tensor(weights[start : start + len(rollouts)], dtype=torch.float32)
            output = self.apply_weights(output, local)
        self._log_rollouts(mode, everything, weights)
        return output

    def _fill_improve_prompts(self, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        text = self.prompts.improve() if self.prompts is not None else None
        if text is None:  # nothing valid yet: improve rows stay scratch prompts
            return inputs
        improved = [{"role": "user", "content": text}]
        return [{**x, "prompt": improved} if x.get("mode") == "improve" else x for x in inputs]

    @staticmethod
    def apply_weights(output: dict[str, Any], weights: torch.Tensor) -> dict[str, Any]:
        """Scale each sample's advantage (shape (B,) or (B, T)) by its weight."""
        advantages = output["advantages"]
        w = weights.to(advantages.device, advantages.dtype)
        output["advantages"] = advantages * (w if advantages.dim() == 1 else w.unsqueeze(1))
        return output

    def _log_rollouts(self, mode: str, rollouts: list[Rollout], weights: list[float]) -> None:
        """Durations, weights and env outcomes, averaged into the trainer's log history."""
        limit = self.env_reward.runtime.time_limit
        charged = self.normaliser.charge(
            [r.duration for r in rollouts], [r.failed for r in rollouts], limit
        )
        n = max(len(rollouts), 1)
        w = torch.tensor(weights or [1.0])
        metrics = {
            "duration/mean": sum(r.duration for r in rollouts) / n,
            "duration/max": max((r.duration for r in rollouts), default=0.0),
            "duration/charged_mean": sum(charged) / n,
            "duration/running_mean": self.normaliser.running_mean,
            "duration_weight/mean": w.mean().item(),
            "duration_weight/min": w.min().item(),
            "duration_weight/max": w.max().item(),
            "duration_weight/std": w.std().item() if w.numel() > 1 else 0.0,
            "env/valid_fraction": sum(not r.failed for r in rollouts) / n,
            "env/milestones_mean": sum(r.milestones for r in rollouts) / n,
            "env/reward_mean": _nanmean([r.reward for r in rollouts]),
        }
        for name, value in metrics.items():
            self._metrics[mode][name].append(value)


def _nanmean(values: list[float | None]) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return sum(kept) / len(kept) if kept else float("nan")


# --------------------------------------------------------------------------------------------
# 6. The policy: the tiny CPU model, or a real one by name.
# --------------------------------------------------------------------------------------------


def load_policy(
    args: argparse.Namespace, prompts: Prompts, runtime: TaskRuntime
) -> tuple[Any, Any]:
    from baselines.tiny_model import build_tiny_policy, warm_start

    init_from = getattr(args, "init_from", None)
    tiny = args.model == "tiny" and not init_from
    if args.warm_start_programs:
        programs = [Path(p).read_text() for p in args.warm_start_programs]
    else:
        programs = list(reference_programs(runtime).values())
    scratch = prompts.scratch()
    improve = prompts.improve() or scratch
    if tiny:
        model, tokenizer = build_tiny_policy([scratch, improve, *programs], seed=args.seed)
    else:  # by path: a .gguf file, a folder, or a Hub id in the local cache
        from mle_gym.models import load_causal_lm

        dtype = torch.bfloat16 if args.bf16 else torch.float32
        model, tokenizer = load_causal_lm(init_from or args.model, dtype=dtype)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    steps = args.warm_start_steps if args.warm_start_steps is not None else (150 if tiny else 0)
    if steps and programs:
        lr = args.warm_start_lr or (5e-3 if tiny else 2e-5)
        answers = ["```python\n" + p.strip() + "\n```" for p in programs]
        pairs = [(scratch, a) for a in answers] + [(improve, a) for a in answers]
        losses = warm_start(model, tokenizer, pairs, steps=steps, lr=lr, seed=args.seed)
        print(f"[duration-grpo] {'tiny' if tiny else args.model} model warm-started "
              f"({steps} steps, lr {lr:g}): loss {losses[0]:.2f} -> {losses[-1]:.2f}")
    return model, tokenizer


# --------------------------------------------------------------------------------------------
# 7. Putting it together.
# --------------------------------------------------------------------------------------------


def grpo_config(args: argparse.Namespace) -> GRPOConfig:
    on_gpu = torch.cuda.is_available()
    return GRPOConfig(
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        learning_rate=args.learning_rate,
        beta=args.beta,
        temperature=args.temperature,
        bf16=args.bf16,
        model_init_kwargs=None,  # load_policy loads every model itself
        gradient_checkpointing=(not on_gpu and args.model != "tiny")
        if args.gradient_checkpointing is None
        else args.gradient_checkpointing,
        use_vllm=args.use_vllm,
        vllm_mode=args.vllm_mode,
        vllm_gpu_memory_utilization=args.vllm_gpu_memory_utilization,
        logging_steps=args.logging_steps,
        save_strategy="steps" if args.save_steps else "no",
        save_steps=args.save_steps or 500,
        report_to=args.report_to,
        seed=args.seed,
        use_cpu=not on_gpu,
        shuffle_dataset=True,
        log_completions=False,
    )


def train(args: argparse.Namespace) -> DurationAwareGRPOTrainer:
    """Build everything from ``args``, train, save the policy; returns the trainer."""
    from mle_gym.models import set_torch_threads

    threads = set_torch_threads(args.threads)  # explicit: torch's default oversubscribes
    print(f"[duration-grpo] torch threads: {threads}")
    options = RuntimeOptions(data=args.data, data_seed=args.data_seed, time_limit=args.time_limit)
    runtime = TaskRuntime.create(args.task, options)
    # The pool's runtimes run under the limits this one resolved: one source of truth.
    options = RuntimeOptions.of(options, time_limit=runtime.time_limit,
                                memory_limit=runtime.memory_limit, cpus=runtime.cpus)
    with rollout_pool(args) as pool:
        reward = EnvReward(runtime, pool, options)
        prompts = Prompts(runtime, reward)
        seed_improve_prompts(reward, runtime)
        model, tokenizer = load_policy(args, prompts, runtime)
        trainer = DurationAwareGRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=grpo_config(args),
            train_dataset=prompts.dataset(args.num_prompts),
            processing_class=tokenizer,
            env_reward=reward,
            prompts=prompts,
            duration_weighting=args.duration_weighting,
            duration_floor=args.duration_floor,
            duration_norm=args.duration_norm,
            charge_failures=args.charge_failures,
        )
        started = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - started
    trainer.save_model(args.output_dir)
    trainer.save_state()  # trainer_state.json: the log history, one entry per logged step
    print(
        f"[duration-grpo] {trainer.state.global_step} steps in {elapsed:.1f} s "
        f"({elapsed / max(trainer.state.global_step, 1):.1f} s/step); policy saved to {args.output_dir}"
    )
    return trainer


def main(argv: Sequence[str] | None = None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
