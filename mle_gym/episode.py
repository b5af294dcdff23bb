"""One episode's memory: its attempts, the best of them, the next observation, truncation.

An :class:`Episode` is fed :class:`~mle_gym.step.StepResult` s however they were run (in
this process by the env, in the rollout pool for the leaderboard and the trainers) and
composes what the agent sees next. :func:`start` reads ``reset`` options (``mode``:
scratch, improve or the paper's 50/50 mixed draw; ``previous``: the solution to improve).
:class:`Best` keeps the best valid attempt by the task's metric direction, within an
episode or across many (mixed mode, the GRPO baseline's improve prompts).
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mle_gym.limits import DEFAULT_MAX_STEPS
from mle_gym.prompt import Attempt, observation
from mle_gym.spec import TaskSpec
from mle_gym.step import StepResult

MODES = ("scratch", "improve", "mixed")


@dataclass
class Best:
    """The best valid attempt seen so far, by the task's metric direction."""

    spec: TaskSpec
    attempt: Attempt | None = None

    def offer(self, attempt: Attempt) -> bool:
        """Keep ``attempt`` if it is valid and better than the best; True when kept."""
        if not attempt.valid or attempt.score is None:
            return False
        if self.attempt is not None and not self.spec.better(attempt.score, self.attempt.score):
            return False
        self.attempt = attempt
        return True


@dataclass
class Episode:
    """The attempts of one episode and what the agent sees next.

    ``prompt`` is the task's fixed prompt (:meth:`mle_gym.step.TaskRuntime.prompt`);
    ``previous`` the solution improve mode starts from; ``max_steps`` None for no limit.
    """

    spec: TaskSpec
    prompt: str
    max_steps: int | None = DEFAULT_MAX_STEPS
    mode: str = "scratch"
    previous: Attempt | None = None
    results: list[StepResult] = field(default_factory=list)
    history: list[Attempt] = field(default_factory=list)
    best: Best = field(init=False)
    _best_step: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.best = Best(self.spec)

    @property
    def steps(self) -> int:
        return len(self.results)

    @property
    def truncated(self) -> bool:
        return self.max_steps is not None and self.steps >= self.max_steps

    @property
    def observation(self) -> str:
        return observation(self.prompt, self.history, self.previous)

    @property
    def best_result(self) -> StepResult | None:
        """The valid step with the best public score (what a submitter would pick)."""
        return None if self._best_step is None else self.results[self._best_step]

    def record(self, result: StepResult, number: int | None = None) -> StepResult:
        """Add one step's result; returns it numbered as this episode's step (or ``number``:
        the TRL adapter counts validations too)."""
        result = result.numbered(self.steps + 1 if number is None else number)
        self.results.append(result)
        self.history.append(result.attempt())
        if self.best.offer(self.history[-1]):
            self._best_step = len(self.results) - 1
        return result


def start(
    spec: TaskSpec,
    prompt: str,
    *,
    mode: str = "scratch",
    previous: str | dict | None = None,
    best: Attempt | None = None,
    rng: np.random.Generator | None = None,
    max_steps: int | None = DEFAULT_MAX_STEPS,
) -> Episode:
    """A new episode in ``mode``. Improve mode starts from ``previous`` (a program or an
    attempt's dict), else from ``best`` (the best attempt of earlier episodes); mixed mode
    draws improve or scratch 50/50 with ``rng``, scratch when there is nothing to improve."""
    check_mode(mode)
    check_previous(previous)
    if mode == "mixed":  # the paper's 50/50 draw between scratch and improve prompts
        wants_improve = (rng or np.random.default_rng()).random() < 0.5
        mode = "improve" if wants_improve and (previous or best) else "scratch"
    start_from = None
    if mode == "improve":
        if previous is None and best is None:
            raise ValueError("improve mode needs options={'previous': <program or dict>}")
        start_from = Attempt.from_previous(previous) if previous else best
    return Episode(spec, prompt, max_steps=max_steps, mode=mode, previous=start_from)


def check_mode(mode: Any) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")


def check_max_steps(max_steps: Any) -> None:
    if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or max_steps < 1:
        raise ValueError(f"max_steps must be a whole number >= 1, not {max_steps!r}")


def check_previous(previous: Any) -> None:
    """``reset(options={"previous": ...})`` takes a program's text or an attempt's dict."""
    if previous is None or isinstance(previous, str):
        return
    if isinstance(previous, dict):
        if not isinstance(previous.get("program"), str):
            raise ValueError(
                "options['previous'] as a dict needs 'program' (the program's text); "
                f"it has {sorted(map(str, previous))}"
            )
        score = previous.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, numbers.Real)):
            raise ValueError(f"options['previous']['score'] must be a number or None, not {score!r}")
        return
    raise TypeError(
        "options['previous'] must be a program's text (str) or a dict with 'program' "
        f"(as attempt_as_dict gives), not {type(previous).__name__}"
    )


def attempt_as_dict(attempt: Attempt) -> dict[str, Any]:
    """An attempt in the form ``reset(options={"previous": ...})`` accepts."""
    return dataclasses.asdict(attempt)


__all__ = [
    "DEFAULT_MAX_STEPS",
    "MODES",
    "Best",
    "Episode",
    "attempt_as_dict",
    "check_previous",
    "start",
]
