"""Asynchronous duration-aware GRPO on one mle-gym task, with TRL: the paper's setting.

**Built how, and why.** A ``GRPOTrainer`` subclass that overlaps generation with learning,
not an extension of TRL 1.16's ``trl.experimental.async_grpo``. That trainer generates only
through a vLLM *server* (HTTP; no CPU path), packs sequences for a custom fused forward
(``fused_lm_head``, tree attention), runs rollouts in a child process that scores whole
groups, and bounds staleness by *dropping* samples older than ``max_staleness`` versions
(``RolloutQueueDataset``): exactly the pattern that starves slow programs, since the late
samples are the slow ones. Subclassing ``GRPOTrainer`` keeps TRL's loss, logging and saving,
its generation settings (``generation_config``, chat template, EOS handling) and its vLLM
engine under ``--use-vllm``, and replaces where a training batch comes from
(``_prepare_inputs``) and who generates (an actor thread, below).

**The loop** (``baselines/async_loop.py``): ``--workers`` lanes (plus ``--prefetch`` lanes
whose jobs wait in the pool's queue and start the moment a worker frees up) each run one
program at a time in the ``RolloutPool``. Two roles:

* the *actor* (two daemon threads of the loop) takes finished programs from the pool as they
  finish and refills each free lane at once, while admission allows, with a completion of its
  own copy of the policy (``ActorPolicy``: HF ``generate`` on a deep copy of the model, or
  TRL's vLLM engine under ``--use-vllm``), synced with the learner's weights after every
  optimizer step; while every lane is busy it draws the next group ahead, so a lane that
  frees up starts its next program without waiting for a generation;
* the *learner* (TRL's training loop, this thread) takes finished samples in completion
  order from a thread-safe queue, ``--batch-size`` at a time, and computes the update.

So lanes are refilled while the learner computes: with one thread (``--no-actor``, the
previous design) a lane whose program finished during an update, or while the learner
generated, sat idle until the learner came back; ``bench/async_vs_sync.py`` measures both.
Each sample carries its behaviour policy version (the actor copy's version when it was
generated), per-token log-probabilities (vLLM's under ``--use-vllm``, else the actor copy's
own, scored at generation time), reward and duration. Staleness is bounded without dropping
anything: the learner never updates past a sample ``--max-staleness`` (k) versions old, it
waits for it (its batch is then everything that finished up to it, still in completion
order), so every sample is consumed at most k versions late. Admission control: no new
generation while k batches of finished samples already wait for the learner (the learner is
k versions behind the actor), so when the learner is the bottleneck lanes wait rather than
pile up samples that go stale. While the learner waits for a late sample the other lanes keep
running, at the current version.

**Off-policy correction.** Per token, rho_t = min(pi_theta_now(a_t) / pi_behaviour(a_t),
``--is-cap``), with pi_theta_now the policy at the update (the proximal policy of decoupled
PPO). rho multiplies the advantage, which TRL's loss takes per token ((B, T) advantages), and
the clipped PPO ratio is taken against pi_theta_now (``old_per_token_logps``). On-policy,
rho = 1. The effective sample size of the sample weights, (sum w)^2 / sum w^2, is logged per
update (``async/ess_fraction`` is ESS / n).

**GRPO groups that finish at different times.** Completions are generated in groups (one
prompt, ``--num-generations`` samples, generated together), but each member is consumed the
moment it finishes, on its own. Its advantage is its reward minus a running baseline
(exponential moving average of consumed rewards, ``--baseline-rate``) instead of its group's
mean: a group mean would make the learner wait for the group's slowest member, which is
lockstep again, with the slowest program setting the pace.

**Where the 1/dt bias enters, and how the weights cancel it.** Let lane time be allocated to
an action x in proportion to pi(x) (an agent that keeps improving its own kind of solution
for a while: ``--regime episodes``). In a wall-clock window T a lane that spends pi(x)*T
seconds on x finishes x about pi(x)*T/dt_x times, so the gradient of everything consumed in
the window is

    sum_k g_k  ~  sum_x (pi(x) T / dt_x) * A(x) grad log pi(x),

the policy gradient reweighted by 1/dt_x: fast actions are over-learned. Multiplying each
sample by dt_k / D gives

    sum_x (pi(x) T / dt_x) * (dt_x / D) * A(x) grad log pi(x) = (T / D) * sum_x pi(x) A(x) grad log pi(x),

the true gradient up to the positive scalar T/D, i.e. a learning-rate scale, *provided D does
not depend on which actions the batch holds*. A running mean of consumed durations
(``--duration-norm running``, the default) is nearly constant; the batch mean is not (a batch
of only fast results has D = dt_fast and weights 1, so it is learned from at full strength:
part of the bias comes back). When every job is a fresh draw (``--regime resample``), a
lane's completions are draws from pi whatever their duration (renewal: a slow draw holds its
lane longer, but the lane's next draw is again from pi), so arrivals carry no 1/dt factor
beyond the transient of the first dt_slow seconds, and the weights then tilt learning
towards slow programs. The reproduction (``baselines/repro``) measures both.

Run (CPU, tiny model)::

    python -m baselines.async_grpo --model tiny --max-steps 4 --workers 2

A real model takes the same code path, by path or Hub id in the local cache (``load_policy``
of ``baselines/duration_grpo.py``: a ``.gguf`` file, converted once, or a model folder)::

    python -m baselines.async_grpo --model ~/.cache/mle-gym/models/SmolLM2-135M-Instruct.Q4_1.gguf ...
    python -m baselines.async_grpo --model Qwen/Qwen2.5-3B-Instruct --use-vllm --bf16 ...   # GPU

Under ``--use-vllm`` the actor thread generates with TRL's vLLM engine (no model copy) and the
learner pushes its weights to vLLM after each step; this path was not run here (no GPU).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `baselines` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from transformers import TrainerCallback
from trl import GRPOTrainer
from trl.trainer.utils import pad

from baselines.async_loop import REGIMES, AsyncLoop, Lane, PoolBackend, Sample
from baselines.duration_grpo import (
    EnvReward,
    Prompts,
    build_parser,
    grpo_config,
    load_policy,
    rollout_pool,
    seed_improve_prompts,
    text_of,
)
from baselines.duration_weights import DurationNormaliser, effective_sample_size
from mle_gym.episode import Episode
from mle_gym.options import RuntimeOptions
from mle_gym.pool import RolloutPool
from mle_gym.step import TaskRuntime


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = build_parser("python -m baselines.async_grpo")
    p.description = "Asynchronous duration-aware GRPO (TRL) on an mle-gym task."
    p.add_argument(
        "--max-staleness",
        type=int,
        default=2,
        help="k: no sample is consumed more than k versions late (the learner waits for it), and "
        "no generation while k batches of finished samples wait for the learner",
    )
    p.add_argument("--is-cap", type=float, default=2.0, help="truncation of the token importance ratio")
    p.add_argument("--regime", default="resample", choices=REGIMES, help="fresh draw per job, or episodes")
    p.add_argument(
        "--episode-seconds", type=float, default=60.0, help="episodes regime: a lane's time budget"
    )
    p.add_argument("--baseline-rate", type=float, default=0.1, help="EMA rate of the reward baseline")
    p.add_argument(
        "--prefetch",
        type=int,
        default=0,
        help="lanes beyond --workers: their jobs wait in the pool's queue and start the moment a "
        "worker frees up (counted by admission control like any outstanding job)",
    )
    p.add_argument(
        "--fresh-prompt",
        default="mixed",
        choices=("mixed", "scratch"),
        help="what a fresh draw answers: the scratch prompt and improve-the-best in turn (mixed), "
        "or only the scratch prompt (one fixed text: the improve prompt changes with every new "
        "best program, which a policy warm-started on a few programs answers with noise)",
    )
    p.add_argument(
        "--no-actor",
        action="store_true",
        help="one thread: the learner refills lanes itself between updates (lanes that finish "
        "during an update wait for it)",
    )
    p.epilog = (
        "A real model: --model PATH (a .gguf file or a model folder) or a Hub id in the local "
        "cache, the same code path as --model tiny. GPU: --model Qwen/Qwen2.5-3B-Instruct "
        "--use-vllm --bf16 (the actor generates with TRL's vLLM engine)."
    )
    return p.parse_args(argv)


class EMABaseline:
    """Running mean of consumed rewards; starts at the first batch's mean."""

    def __init__(self, rate: float = 0.1) -> None:
        if not 0 < rate <= 1:
            raise ValueError("the baseline rate must be in (0, 1]")
        self.rate = rate
        self.value: float | None = None

    def advantages(self, rewards: Sequence[float]) -> list[float]:
        mean = sum(rewards) / len(rewards)
        if self.value is None:
            self.value = mean
        adv = [r - self.value for r in rewards]
        self.value += self.rate * (mean - self.value)
        return adv


def truncated_ratio(
    current: torch.Tensor, behaviour: torch.Tensor, mask: torch.Tensor, cap: float
) -> torch.Tensor:
    """Per-token min(pi_now / pi_behaviour, cap); 1 where masked out or unscored (NaN)."""
    ratio = torch.exp(current - behaviour).clamp(max=cap)
    ratio = torch.where(torch.isnan(ratio), torch.ones_like(ratio), ratio)
    return torch.where(mask.bool(), ratio, torch.ones_like(ratio))


class ActorPolicy:
    """The actor thread's policy: its own copy of the learner's weights (HF ``generate``), or
    TRL's vLLM engine under ``--use-vllm``.

    After each optimizer step the learner ``publish``es its weights: a snapshot (a clone,
    since the next step changes the weights in place) that the actor loads before its next
    generation, so the learner never waits for a generation in progress. Under vLLM the
    learner pushes its weights into the engine itself, between generations (one lock).
    Memory: without vLLM, a second copy of the weights and, per step, a snapshot (for a
    3B model in bf16 about 6 GB each on the GPU)."""

    def __init__(self, trainer: GRPOTrainer) -> None:
        self.trainer = trainer
        self.lock = threading.Lock()  # held while generating or loading weights
        self.version = 0  # the learner's version these weights are
        self._pending: tuple[int, dict[str, torch.Tensor]] | None = None
        self._pending_lock = threading.Lock()
        # The tokenizer is not shared with the learner's thread (fast tokenizers are not
        # thread-safe).
        self.tokenizer = copy.deepcopy(trainer.processing_class)
        self.model = None
        if not trainer.use_vllm:
            model = copy.deepcopy(trainer.accelerator.unwrap_model(trainer.model))
            if hasattr(model, "gradient_checkpointing_disable"):
                model.gradient_checkpointing_disable()  # generation wants its KV cache
            model.config.use_cache = True
            model.eval().requires_grad_(False)
            self.model = model

    def publish(self, version: int) -> None:
        """The learner's weights after an optimizer step (call from the learner's thread)."""
        if self.model is None:  # vLLM reads the live weights: now, between two generations
            with self.lock:
                self.trainer.vllm_generation.sync_weights()
                self.version = version
            return
        learner = self.trainer.accelerator.unwrap_model(self.trainer.model)
        state = {k: v.detach().clone() for k, v in learner.state_dict().items()}
        with self._pending_lock:
            self._pending = (version, state)

    def _refresh(self) -> None:
        # Holding self.lock: load the newest published weights, if any.
        with self._pending_lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self.model.load_state_dict(pending[1])
            self.version = pending[0]

    @torch.no_grad()
    def group(self, text: str, n: int) -> tuple[int, list[dict[str, Any]]]:
        """``n`` completions of one prompt with their behaviour log-probs, and the version of
        the weights that drew them (the same steps as TRL's ``_generate`` for text prompts)."""
        t = self.trainer
        prompts = [[{"role": "user", "content": text}]] * n
        with self.lock:
            if self.model is not None:
                self._refresh()
            prompt_ids = self.tokenizer.apply_chat_template(
                conversation=prompts,
                chat_template=t.chat_template,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                **t.chat_template_kwargs,
            )["input_ids"]
            if self.model is None:  # TRL's vLLM engine: its own sampled-token log-probs
                _, completion_ids, logprobs, _ = t.vllm_generation.generate(
                    prompts=prompt_ids, images=None, num_generations=n, profiler=contextlib.nullcontext()
                )
                logps = [[math.nan if lp[0] is None else float(lp[0]) for lp in seq] for seq in logprobs]
            else:
                completion_ids, logps = self._hf_generate(prompt_ids)
            version = self.version
        texts = self.tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
        return version, [
            {"prompt_ids": list(p), "completion_ids": list(c), "logps": lp, "program": text_of(done)}
            for p, c, lp, done in zip(prompt_ids, completion_ids, logps, texts, strict=True)
        ]

    def _hf_generate(self, prompt_ids: list[list[int]]) -> tuple[list[list[int]], list[list[float]]]:
        t = self.trainer
        device = t.accelerator.device
        pad_id = t._tokenizer.pad_token_id
        rows = [torch.tensor(ids) for ids in prompt_ids]
        input_ids = pad(rows, padding_value=pad_id, padding_side="left").to(device)
        mask = pad([torch.ones_like(x) for x in rows], padding_value=0, padding_side="left").to(device)
        out = self.model.generate(input_ids=input_ids, attention_mask=mask, generation_config=t.generation_config)
        completions = out[:, input_ids.size(1) :]
        # Keep each completion up to and including its first EOS, as TRL does.
        is_eos = torch.isin(completions, torch.tensor(t.eos_token_ids, device=completions.device))
        first = torch.where(is_eos.any(1), is_eos.int().argmax(1), torch.full_like(is_eos[:, 0], is_eos.size(1), dtype=torch.long))
        keep = torch.arange(completions.size(1), device=completions.device).unsqueeze(0) <= first.unsqueeze(1)
        completion_ids = [c[k].tolist() for c, k in zip(completions.cpu(), keep.cpu(), strict=True)]
        # Behaviour log-probs: the drawn tokens scored by the weights that drew them.
        c_rows = [torch.tensor(c) for c in completion_ids]
        c_ids = pad(c_rows, padding_value=pad_id, padding_side="right").to(device)
        c_mask = pad([torch.ones_like(x) for x in c_rows], padding_value=0, padding_side="right").to(device)
        logps, _, _ = GRPOTrainer._get_per_token_logps_and_entropies(
            t,
            self.model, torch.cat([input_ids, c_ids], 1), torch.cat([mask, c_mask], 1), c_ids.size(1)
        )
        return completion_ids, [row[: len(c)].tolist() for row, c in zip(logps, completion_ids, strict=True)]


class _AfterOptimizerStep(TrainerCallback):
    """Tells the loop that the policy is one version newer, once the optimizer has stepped."""

    def __init__(self, trainer: AsyncDurationGRPOTrainer) -> None:
        self.trainer = trainer

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.trainer._after_step()
        return control


class AsyncDurationGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose training batches come from an :class:`AsyncLoop` over the pool.

    ``env_reward`` seeds and tracks the best program (improve prompts); ``pool`` and
    ``options`` run the steps. See the module docstring for the design.
    """

    def __init__(
        self,
        *args: Any,
        env_reward: EnvReward,
        prompts: Prompts,
        pool: RolloutPool,
        options: RuntimeOptions,
        workers: int,
        normaliser: DurationNormaliser,
        max_staleness: int = 2,
        is_cap: float = 2.0,
        regime: str = "resample",
        episode_seconds: float = 60.0,
        baseline_rate: float = 0.1,
        prefetch: int = 0,
        actor: bool = True,
        fresh_prompt: str = "mixed",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.beta != 0.0:
            raise ValueError("the async trainer has no reference model: use --beta 0")
        if self.args.gradient_accumulation_steps != 1 or self.num_iterations != 1:
            raise ValueError("the async trainer takes one batch per update: --grad-accum 1")
        self.env_reward = env_reward
        self.prompts = prompts
        self.fresh_prompt = fresh_prompt
        self.normaliser = normaliser
        self.is_cap = is_cap
        self.baseline = EMABaseline(baseline_rate)
        self.runtime = env_reward.runtime
        self.loop = AsyncLoop(
            PoolBackend(pool, self.runtime.spec.slug, options),
            self._generate_sample,
            lanes=workers + prefetch,
            batch_size=self.args.per_device_train_batch_size,
            max_staleness=max_staleness,
            regime=regime,
            episode_seconds=episode_seconds,
            actor=actor,
        )
        self.workers = workers
        self.actor_policy: ActorPolicy | None = None  # made when training starts
        self._prefetched: dict[str, list[dict[str, Any]]] = {}
        self._stats_lock = threading.Lock()  # the actor thread adds, the learner reads
        self._generate_seconds = 0.0  # generation time since the last update was logged
        self._scratch_turn = 0
        self.updates: list[dict[str, Any]] = []  # one record per update, for reports
        self.add_callback(_AfterOptimizerStep(self))

    # -- generation ----------------------------------------------------------------------------

    def _prompt_for(self, lane: Lane | None, new_episode: bool) -> str:
        if not new_episode and lane is not None and lane.last is not None and lane.last.info.get("attempt") is not None:
            # Episodes: improve this lane's own last program.
            return Episode(self.runtime.spec, self.prompts.base, previous=lane.last.info["attempt"]).observation
        self._scratch_turn += 1
        turn = self.fresh_prompt == "mixed" and self._scratch_turn % 2 == 0
        improve = self.prompts.improve() if turn else None
        return improve or self.prompts.scratch()  # half scratch, half improve the best so far

    def _generate_sample(self, lane: Lane, version: int, new_episode: bool) -> Sample:
        """One completion for a free lane: the next member of a group generated ahead
        (fresh draws share one group), or a new group. Members keep the version that
        generated them; stale ones are drawn again (``_drop_stale``: they never ran, so
        nothing finished is discarded)."""
        own = not new_episode and lane.last is not None and lane.last.info.get("attempt") is not None
        key = f"lane-{lane.index}" if own else "fresh"
        cache = self._prefetched.setdefault(key, [])
        self._drop_stale(cache, version)
        if not cache:
            cache.extend(self._new_group(self._prompt_for(lane, new_episode), version))
        item = cache.pop(0)
        return Sample(id=-1, version=item["version"], lane=lane.index, program=item["program"], payload=item)

    def _drop_stale(self, cache: list[dict[str, Any]], version: int) -> None:
        """Completions drawn ahead that never ran are dropped (nothing finished is) once too
        old: with an actor as soon as the weights are newer, since it draws on a thread of
        its own and a sample that starts already a version old reaches k sooner, making the
        learner wait for it; without one (generation costs the learner's time) at k."""
        oldest = version if self.actor_policy is not None else version - self.loop.max_staleness + 1
        cache[:] = [x for x in cache if x["version"] >= oldest]

    def _new_group(self, text: str, version: int) -> list[dict[str, Any]]:
        """A group of completions of ``text``, each tagged with the version that drew it."""
        if self.actor_policy is not None:  # the actor thread, with its own weights
            started = time.perf_counter()
            drawn, group = self.actor_policy.group(text, self.num_generations)
            with self._stats_lock:
                self._generate_seconds += time.perf_counter() - started
        else:
            drawn, group = version, self._generate_group(text)
        for item in group:
            item["version"] = drawn
        return group

    def _draw_ahead(self, version: int) -> bool:
        """The actor thread while every lane is busy: draw the next group of fresh
        completions if none is waiting, so the next free lane needs no generation."""
        cache = self._prefetched.setdefault("fresh", [])
        self._drop_stale(cache, version)
        if cache:
            return False
        cache.extend(self._new_group(self._prompt_for(None, True), version))
        return True

    @torch.no_grad()
    def _generate_group(self, text: str) -> list[dict[str, Any]]:
        """``num_generations`` completions of one prompt with their behaviour log-probs."""
        started = time.perf_counter()
        prompts = [[{"role": "user", "content": text}]] * self.num_generations
        was_training = self.model.training
        prompt_ids, completion_ids, _, completions, logprobs, *_ = self._generate(prompts)
        if logprobs is None:  # HF generation: score the tokens under the policy that sampled them
            logprobs = self._logps(prompt_ids, completion_ids)
        else:
            logprobs = [[math.nan if x is None else float(x) for x in seq] for seq in logprobs]
        self.model.train(was_training)
        with self._stats_lock:
            self._generate_seconds += time.perf_counter() - started
        return [
            {"prompt_ids": p, "completion_ids": c, "logps": lp, "program": text_of(done)}
            for p, c, lp, done in zip(prompt_ids, completion_ids, logprobs, completions, strict=True)
        ]

    def _pad(self, prompt_ids: list, completion_ids: list) -> dict[str, torch.Tensor]:
        device = self.accelerator.device
        pad_id = self._tokenizer.pad_token_id
        p = [torch.tensor(x) for x in prompt_ids]
        c = [torch.tensor(x) for x in completion_ids]
        return {
            "prompt_ids": pad(p, padding_value=pad_id, padding_side="left").to(device),
            "prompt_mask": pad([torch.ones_like(x) for x in p], padding_value=0, padding_side="left").to(device),
            "completion_ids": pad(c, padding_value=pad_id, padding_side="right").to(device),
            "completion_mask": pad([torch.ones_like(x) for x in c], padding_value=0, padding_side="right").to(
                device
            ),
        }

    def _logps_padded(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
        mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
        logps, _, _ = self._get_per_token_logps_and_entropies(
            self.model, input_ids, mask, batch["completion_ids"].size(1)
        )
        return logps

    @torch.no_grad()
    def _logps(self, prompt_ids: list, completion_ids: list) -> list[list[float]]:
        batch = self._pad(prompt_ids, completion_ids)
        logps = self._logps_padded(batch)
        return [row[: len(c)].tolist() for row, c in zip(logps, completion_ids, strict=True)]

    # -- learning ------------------------------------------------------------------------------

    def _prepare_inputs(self, generation_batch: Any) -> dict[str, Any]:
        if not self.model.training:  # evaluation: TRL's own synchronous path
            return super()._prepare_inputs(generation_batch)
        if self.loop.actor and self.actor_policy is None:
            # The model is prepared now: copy it, start the actor's threads.
            self.actor_policy = ActorPolicy(self)
            self.actor_policy.version = self.loop.version
            self.loop.ahead = self._draw_ahead
            self.loop.start()
        started = time.perf_counter()
        batch = self.loop.next_batch()
        learnable = [s for s in batch if s.reward is not None]
        while not learnable:  # only sandbox failures: nothing to learn from, take more
            batch += self.loop.next_batch()
            learnable = [s for s in batch if s.reward is not None]
        waited = time.perf_counter() - started
        for s in learnable:
            attempt = s.info.get("attempt")
            if attempt is not None:
                self.env_reward.offer(attempt)
        output = self.build_batch(learnable)
        self._log_update(batch, learnable, output.pop("_stats"), waited)
        return output  # the optimizer step that follows makes the next version: _after_step

    def _after_step(self) -> None:
        """After the optimizer step: the learner's policy is one version newer; the actor
        gets its weights."""
        if self.actor_policy is not None:  # first, so the actor's next draw has them
            self.actor_policy.publish(self.loop.version + 1)
        self.loop.advance()

    def build_batch(self, samples: list[Sample]) -> dict[str, Any]:
        """TRL's training inputs for consumed samples. The per-token advantages are
        A_k * w_k * rho_k,t (reward minus baseline, duration weight, truncated IS ratio); rho
        needs the current policy's log-probs, which the loss's own forward computes, so it is
        folded in there (``_compute_loss``): no separate scoring pass per update."""
        batch = self._pad([s.payload["prompt_ids"] for s in samples], [s.payload["completion_ids"] for s in samples])
        mask = batch["completion_mask"]
        behaviour = pad(
            [torch.tensor(s.payload["logps"], dtype=torch.float32) for s in samples],
            padding_value=0.0,
            padding_side="right",
        ).to(mask.device)
        limit = self.runtime.time_limit
        weights = self.normaliser.weights(
            [s.duration for s in samples], [s.failed for s in samples], limit
        )
        advantages = self.baseline.advantages([float(s.reward) for s in samples])
        w = torch.tensor(weights, dtype=torch.float32, device=mask.device)
        a = torch.tensor(advantages, dtype=torch.float32, device=mask.device)
        if self.use_vllm and self.vllm_importance_sampling_correction:
            # TRL's loss multiplies by its own vLLM ratio; ours (behaviour = vLLM's log-probs,
            # so it covers the vLLM/trainer mismatch too) goes into the advantages.
            batch["importance_sampling_ratio"] = torch.ones_like(behaviour)
        batch.update(
            advantages=a * w,  # times rho per token in _compute_loss
            num_items_in_batch=mask.sum(),
            _behaviour=behaviour,
            _weights=w,
            _stats={"weights": weights, "advantages": advantages},
        )
        return batch

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        behaviour = inputs.pop("_behaviour", None)
        weights = inputs.pop("_weights", None)
        if behaviour is None:  # not a batch of ours (evaluation)
            return super()._compute_loss(model, inputs)
        scale, mask = inputs["advantages"], inputs["completion_mask"]
        score = GRPOTrainer._get_per_token_logps_and_entropies

        def scored(*args: Any, **kwargs: Any) -> Any:
            # TRL's loss scores the batch under the current policy first, then reads the
            # advantages: the ratio to the behaviour policy goes in between. With no
            # old_per_token_logps TRL takes these same log-probs, detached, as pi_theta_now.
            logps, entropies, aux = score(self, *args, **kwargs)
            rho = truncated_ratio(logps.detach(), behaviour, mask, self.is_cap)
            inputs["advantages"] = scale.unsqueeze(1) * rho
            self._log_ratio(rho, weights, mask)
            return logps, entropies, aux

        # Only for this call, and only here: the actor thread scores through the class's
        # method (GRPOTrainer._get_per_token_logps_and_entropies), never this attribute.
        self._get_per_token_logps_and_entropies = scored
        try:
            return super()._compute_loss(model, inputs)
        finally:
            del self._get_per_token_logps_and_entropies

    def _log_ratio(self, rho: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor) -> None:
        """The importance ratios and the effective sample size of this update."""
        keep = mask.bool()
        token_weights = (weights.unsqueeze(1) * rho)[keep].tolist()
        ess = effective_sample_size(token_weights)
        kept = rho[keep]
        per_sample = ((rho * mask).sum(1) / mask.sum(1).clamp(min=1)).tolist()
        ratio_mean = kept.mean().item() if kept.numel() else 1.0
        metrics = {
            "async/ess": ess,
            "async/ess_fraction": ess / max(len(token_weights), 1),
            "async/is_ratio_mean": ratio_mean,
            "async/is_truncated_fraction": (kept >= self.is_cap).float().mean().item() if kept.numel() else 0.0,
        }
        for name, value in metrics.items():
            self._metrics["train"][name].append(value)
        update = self.updates[-1]
        learnable = [x["id"] for x in update["samples"] if x["reward"] is not None]
        update.update(
            rho_mean=dict(zip(learnable, per_sample, strict=True)), ess=ess, is_ratio_mean=ratio_mean
        )

    def _log_update(
        self, batch: list[Sample], learnable: list[Sample], stats: dict[str, Any], waited: float
    ) -> None:
        stale = [s.staleness or 0 for s in batch]
        n = len(learnable)
        metrics = {
            "async/staleness_mean": sum(stale) / len(stale),
            "async/staleness_max": float(max(stale)),
            "async/batch_size": float(len(batch)),
            "async/learner_wait_s": waited,  # next_batch: waiting for programs, and generating
            "async/generate_s": self._take_generate_seconds(),
            "async/completion_length_mean": sum(len(s.payload["completion_ids"]) for s in learnable) / n,
            "async/blocked_admissions": float(self.loop.blocked),
            "duration/mean": sum(s.duration for s in learnable) / n,
            "duration/running_mean": self.normaliser.running_mean,
            "duration_weight/min": min(stats["weights"]),
            "duration_weight/max": max(stats["weights"]),
            "env/valid_fraction": sum(not s.failed for s in learnable) / n,
            "env/reward_mean": sum(float(s.reward) for s in learnable) / n,
        }
        for name, value in metrics.items():
            self._metrics["train"][name].append(value)
        self.updates.append(
            {
                "version": self.loop.version,
                "t": self.loop.backend.now(),
                "samples": [
                    {
                        "id": s.id,
                        "version": s.version,
                        "staleness": s.staleness,
                        "duration": s.duration,
                        "reward": s.reward,
                        "failed": s.failed,
                        "error": s.error,
                        "program": s.program,
                        "started_at": s.started_at,
                        "finished_at": s.finished_at,
                        "busy": s.busy,
                    }
                    for s in batch
                ],
                "weights": stats["weights"],
                # filled in by the loss (_log_ratio): per-sample mean ratio, ESS, mean ratio
                "rho_mean": {},
                "ess": None,
                "is_ratio_mean": None,
            }
        )

    def _take_generate_seconds(self) -> float:
        with self._stats_lock:
            seconds, self._generate_seconds = self._generate_seconds, 0.0
        return seconds

    def close(self) -> None:
        self.loop.close()


def train(args: argparse.Namespace) -> AsyncDurationGRPOTrainer:
    """Build everything from ``args``, train asynchronously, save the policy."""
    from mle_gym.models import set_torch_threads

    threads = set_torch_threads(args.threads)  # explicit: torch's default oversubscribes
    print(f"[async-grpo] torch threads: {threads} per thread (learner, actor)")
    options = RuntimeOptions(data=args.data, data_seed=args.data_seed, time_limit=args.time_limit)
    runtime = TaskRuntime.create(args.task, options)
    options = RuntimeOptions.of(
        options, time_limit=runtime.time_limit, memory_limit=runtime.memory_limit, cpus=runtime.cpus
    )
    if args.batch_size % args.num_generations:
        raise SystemExit("--batch-size must be a multiple of --num-generations (TRL's sampler)")
    with rollout_pool(args) as pool:
        reward = EnvReward(runtime, pool, options)
        prompts = Prompts(runtime, reward)
        seed_improve_prompts(reward, runtime)
        model, tokenizer = load_policy(args, prompts, runtime)
        trainer = AsyncDurationGRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=grpo_config(args),
            train_dataset=prompts.dataset(args.num_prompts),
            processing_class=tokenizer,
            env_reward=reward,
            prompts=prompts,
            pool=pool,
            options=options,
            workers=args.workers,
            normaliser=DurationNormaliser(
                args.duration_norm, args.duration_floor, args.charge_failures, args.duration_weighting
            ),
            max_staleness=args.max_staleness,
            is_cap=args.is_cap,
            regime=args.regime,
            episode_seconds=args.episode_seconds,
            baseline_rate=args.baseline_rate,
            prefetch=args.prefetch,
            actor=not args.no_actor,
            fresh_prompt=args.fresh_prompt,
        )
        started = time.perf_counter()
        try:
            trainer.train()
        finally:
            trainer.close()  # cancel what still runs: the pool can then close
        elapsed = time.perf_counter() - started
    trainer.save_model(args.output_dir)
    trainer.save_state()
    consumed = len(trainer.loop.consumed)
    print(
        f"[async-grpo] {trainer.state.global_step} updates, {consumed} samples learned in {elapsed:.1f} s "
        f"({60 * consumed / max(elapsed, 1e-9):.1f} samples/min); policy saved to {args.output_dir}"
    )
    return trainer


def main(argv: Sequence[str] | None = None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
