"""Episode-level reward wrappers that pay each answer once.

A policy that earns the env's reward at every step can farm it by resubmitting its best
program. These wrappers turn the per-step reward into an episode objective:

* :class:`BestSoFarReward` — ``emit="increase"`` (default): the increase of the best raw
  reward reached so far, so an episode's return equals the best reward it reached;
  ``emit="best"``: the best raw reward so far at every step (a level, not an increment:
  summed over steps it counts the best once per step, so use it where only the latest
  reward matters, e.g. a discount of 0 or a final-step objective).
* :class:`ImprovementReward` — the improvement of a valid submission's reward over the
  best valid reward so far, 0 when not better; the first valid submission is measured
  against the reward the task's sample submission would earn (1.0 under the ``default``
  preset). Invalid programs earn 0 (``invalid="raw"`` keeps their negative reward).

"Same answer" is detected two ways, and a step that matches an earlier step of the
episode on either is a repeat: it earns 0 (its raw reward still shows in ``info``) and
never raises the best:

1. the submission file: ``info["submission_sha256"]``, the SHA-256 of the bytes the
   program wrote (two different programs that write the same file are the same answer);
2. the program: the SHA-256 of its syntax tree (``ast.dump`` of the extracted code), so
   comments, blank lines and formatting do not make a resubmission new; code that does
   not parse is hashed as text.

In improve mode the starting solution given to ``reset`` counts as already submitted.
Each wrapper keeps the env's own reward in ``info["raw_reward"]`` (the innermost wrapper's
value wins when they are stacked) and adds ``info["best_reward"]`` and ``info["repeat"]``.
"""

from __future__ import annotations

import ast
import hashlib
from typing import Any, Literal

import gymnasium as gym

from mle_gym.instrument import extract_code
from mle_gym.instrument.milestones import MILESTONES
from mle_gym.instrument.threadsafe import AST_LOCK
from mle_gym.reward import compute_reward


def program_sha256(action: str) -> str:
    """A program's identity: SHA-256 of its syntax tree, or of its text if it does not parse."""
    code = extract_code(action)
    try:
        with AST_LOCK:
            canonical = ast.dump(ast.parse(code))
    except (SyntaxError, ValueError):
        canonical = code.strip()
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _previous_program(options: dict[str, Any] | None) -> str | None:
    previous = (options or {}).get("previous")
    if isinstance(previous, dict):
        previous = previous.get("program")
    return previous if isinstance(previous, str) else None


class _OncePerAnswer(gym.Wrapper):
    """Tracks, per episode, which answers were seen, and hands ``_shape`` each step's reward."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._programs: set[str] = set()
        self._submissions: set[str] = set()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._programs, self._submissions = set(), set()
        previous = _previous_program(options)
        if previous is not None:  # resubmitting the starting solution is no new answer
            self._programs.add(program_sha256(previous))
        self._start_episode(info)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        raw = float(reward)
        program = program_sha256(action) if isinstance(action, str) else None
        submission = info.get("submission_sha256")
        repeat = program in self._programs or (
            submission is not None and submission in self._submissions
        )
        if program is not None:
            self._programs.add(program)
        if submission is not None:
            self._submissions.add(submission)
        shaped = self._shape(raw, info, repeat)
        info.setdefault("raw_reward", raw)
        info["repeat"] = repeat
        info["best_reward"] = self._best_value()
        return obs, shaped, terminated, truncated, info

    def _start_episode(self, info: dict[str, Any]) -> None:
        raise NotImplementedError

    def _shape(self, raw: float, info: dict[str, Any], repeat: bool) -> float:
        raise NotImplementedError

    def _best_value(self) -> float:
        raise NotImplementedError


class BestSoFarReward(_OncePerAnswer):
    """Reward from the best raw reward reached so far in the episode.

    ``emit="increase"`` (default): the first step earns its raw reward, each later step
    ``max(0, raw - best)``, so the episode's return is the best reward it reached (partial
    credit of invalid programs included while nothing better exists). ``emit="best"``: the
    best so far at every step. Repeats of an earlier answer never raise the best.
    """

    def __init__(self, env: gym.Env, emit: Literal["increase", "best"] = "increase") -> None:
        if emit not in ("increase", "best"):
            raise ValueError(f"emit must be 'increase' or 'best', not {emit!r}")
        super().__init__(env)
        self.emit = emit
        self._best: float | None = None

    def _start_episode(self, info: dict[str, Any]) -> None:
        self._best = None

    def _shape(self, raw: float, info: dict[str, Any], repeat: bool) -> float:
        before = self._best
        if not repeat and (before is None or raw > before):
            self._best = raw
        if self.emit == "best":
            # A first step that repeats the improve-mode start has no best yet: it earns 0.
            return 0.0 if self._best is None else self._best
        if self._best is None or before == self._best:
            return 0.0
        return self._best if before is None else self._best - before

    def _best_value(self) -> float:
        return float("nan") if self._best is None else self._best


class ImprovementReward(_OncePerAnswer):
    """Reward = how much a valid submission improves on the best valid reward so far.

    The baseline before any valid submission is the reward the task's sample submission
    would earn (with every milestone), or 0 where the task has no sample score; a step
    that does not beat the best earns 0, and so does a repeat. Only steps whose reward
    case is ``valid`` count (a submission flagged by the no-model sentinel does not).
    ``invalid="raw"`` passes invalid programs' own (negative) reward through instead of 0.
    """

    def __init__(self, env: gym.Env, invalid: Literal["zero", "raw"] = "zero") -> None:
        if invalid not in ("zero", "raw"):
            raise ValueError(f"invalid must be 'zero' or 'raw', not {invalid!r}")
        super().__init__(env)
        self.invalid = invalid
        self.anchor = self._sample_reward()
        self._best = self.anchor

    def _sample_reward(self) -> float:
        runtime = self.env.unwrapped.runtime
        if runtime.anchors.sample is None:
            return 0.0
        reward, _ = compute_reward(
            runtime.reward_config,
            runtime.anchors,
            milestones=len(MILESTONES),
            score=runtime.anchors.sample,
        )
        return float(reward)

    def _start_episode(self, info: dict[str, Any]) -> None:
        self._best = self.anchor

    def _shape(self, raw: float, info: dict[str, Any], repeat: bool) -> float:
        if info.get("reward_components", {}).get("case") != "valid":
            return raw if self.invalid == "raw" else 0.0
        if repeat or raw <= self._best:
            return 0.0
        gain, self._best = raw - self._best, raw
        return gain

    def _best_value(self) -> float:
        return self._best


__all__ = ["BestSoFarReward", "ImprovementReward", "program_sha256"]
