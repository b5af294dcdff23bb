"""The Gymnasium environment: one Kaggle task, one program per step.

``step(code)`` instruments the program, runs it in the sandbox against the task's public
data, grades the submission it wrote against answers it never sees (the public half of the
test set), and returns a reward with partial credit and the time the program ran.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import gymnasium as gym
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from mle_gym.grading import Grade
from mle_gym.instrument import extract_code
from mle_gym.limits import validate_cpus, validate_memory_limit, validate_time_limit
from mle_gym.prompt import CHARSET, MAX_OBSERVATION_CHARS, Attempt, observation, task_prompt
from mle_gym.sandbox import BACKENDS, Sandbox, make_sandbox
from mle_gym.step import (
    ExitCode,
    Score,
    StepOutcome,
    TaskRuntime,
    Validation,
    run_step,
    validate_step,
)

MODES = ("scratch", "improve", "mixed")
RENDER_MODES = ("ansi", "human")


class ProgramText(spaces.Text):
    """A Text space whose repr fits on a line: the charset is thousands of characters, so
    Gymnasium's own repr runs to about 63,000 characters in every log and error message."""

    def __repr__(self) -> str:
        return (f"ProgramText(min_length={self.min_length}, max_length={self.max_length}, "
                f"charset=<{len(self.character_set)} characters>)")


KNOWN_KWARGS = (
    "data",
    "sandbox",
    "instrumenter",
    "reward",
    "max_steps",
    "time_limit",
    "memory_limit",
    "cpus",
    "mode",
    "data_seed",
    "render_mode",
)


class MLEEnv(gym.Env[str, str]):
    """A Kaggle task as an environment whose actions are Python programs.

    Keyword arguments (all optional): ``data`` ("lite", "full" or a prepared folder),
    ``sandbox`` ("auto", "docker", "local" or a Sandbox), ``instrumenter`` ("static" or an
    object with ``instrument(code)``), ``reward`` (preset name, RewardConfig or dict),
    ``max_steps`` (programs per episode), ``time_limit`` (seconds per program),
    ``memory_limit`` (e.g. "4g"), ``cpus``, ``mode`` ("scratch", "improve", "mixed"),
    ``data_seed`` (seed of the lite data) and ``render_mode`` ("ansi" or "human").

    After each step the harness (never the agent) can read ``last_grade`` for the private
    half's score, which is what leaderboards rank.
    """

    # A text environment has no frame rate; declaring one keeps check_env from warning.
    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 1}

    def __init__(self, task: str, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(KNOWN_KWARGS))
        if unknown:
            raise TypeError(
                f"unknown keyword argument(s) {', '.join(unknown)} for mle-gym; "
                f"known: {', '.join(KNOWN_KWARGS)}"
            )
        check_env_options(kwargs)
        self.runtime = TaskRuntime.create(
            task,
            data=kwargs.get("data", "lite"),
            data_seed=kwargs.get("data_seed", 0),
            time_limit=kwargs.get("time_limit"),
            memory_limit=kwargs.get("memory_limit"),
            cpus=kwargs.get("cpus"),
            instrumenter=kwargs.get("instrumenter"),
            reward=kwargs.get("reward"),
        )
        runtime = self.runtime
        self.data_seed = int(kwargs.get("data_seed", 0))  # seed of the lite data
        self.spec_task = runtime.spec
        self.data = runtime.data
        self.grader = runtime.grader
        self.anchors = runtime.anchors
        self.instrumenter = runtime.instrumenter
        self.reward_config = runtime.reward_config
        self.max_steps = int(kwargs.get("max_steps", 3))
        self.mode = kwargs.get("mode", "scratch")
        self.render_mode = kwargs.get("render_mode")
        self._sandbox_choice: str | Sandbox = kwargs.get("sandbox", "auto")
        self._sandbox: Sandbox | None = None
        self._needs_reset = True  # before the first reset and after truncation
        self._closed = False

        self.observation_space = ProgramText(max_length=MAX_OBSERVATION_CHARS, charset=CHARSET)
        self.action_space = ProgramText(max_length=MAX_OBSERVATION_CHARS, charset=CHARSET)
        self._refresh_prompt()
        self._history: list[Attempt] = []
        self._previous: Attempt | None = None
        self._best: Attempt | None = None  # best valid attempt so far, for mixed mode
        self._steps = 0
        self._obs = ""
        self.last_grade: Grade | None = None
        self.last_instrumented: str | None = None

    # -- Gymnasium API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"reset options must be a dict, not {type(options).__name__}")
        options = dict(options or {})
        mode = options.pop("mode", self.mode)
        previous = options.pop("previous", None)
        if options:
            raise ValueError(f"unknown reset option(s) {sorted(options)}; known: mode, previous")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        check_previous(previous)
        if mode == "mixed":  # the paper's 50/50 draw between scratch and improve prompts
            wants_improve = self.np_random.random() < 0.5
            mode = "improve" if wants_improve and (previous or self._best) else "scratch"
        if mode == "improve":
            if previous is None and self._best is None:
                raise ValueError("improve mode needs options={'previous': <program or dict>}")
            self._previous = Attempt.from_previous(previous) if previous else self._best
        else:
            self._previous = None
        self._history = []
        self._steps = 0
        self._needs_reset = False
        self.last_grade = None
        self._obs = observation(self._base_prompt, self._history, self._previous)
        info = {
            "task": self.spec_task.slug,
            "mode": mode,
            "data": self.data.flavour,
            "metric": self.spec_task.metric,
            "direction": self.spec_task.direction,
        }
        return self._obs, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError(f"an action is program text (str), not {type(action).__name__}")
        self._check_can_step()
        code = extract_code(action)
        outcome = run_step(self.runtime, self.sandbox, code, step=self._steps + 1)
        return self.advance(code, outcome)

    def advance(
        self, code: str, outcome: StepOutcome
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Advance the episode with a program that ran elsewhere (e.g. in the rollout pool,
        via :func:`mle_gym.step.run_step` on this task): the same bookkeeping as ``step``."""
        self._check_can_step()
        self._steps += 1
        outcome.info["step"] = self._steps
        self.last_grade = outcome.grade
        self.last_instrumented = outcome.instrumented
        info = outcome.info
        self._history.append(
            Attempt(
                program=code,
                milestones=info["milestones"],
                score=info["score"],
                valid=info["valid_submission"],
                invalid_reason=info["invalid_reason"],
                duration=info["duration"],
                stdout=info["stdout_tail"],
                stderr=info["stderr_tail"],
                reward=info["reward"],
                diagnostics=info["diagnostics"],
            )
        )
        attempt = self._history[-1]
        if attempt.valid and (
            self._best is None or self.spec_task.better(attempt.score, self._best.score)
        ):
            self._best = attempt
        self._obs = observation(self._base_prompt, self._history, self._previous)
        truncated = self._steps >= self.max_steps
        self._needs_reset = truncated
        if self.render_mode == "human":
            print(self._summary(info))
        return self._obs, float(info["reward"]), False, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._obs
        return None

    def close(self) -> None:
        self._closed = True
        # A Sandbox passed in belongs to the caller (it may serve other envs): only one this
        # env made is closed here.
        if self._sandbox is not None and not isinstance(self._sandbox_choice, Sandbox):
            self._sandbox.close()
        self._sandbox = None
        super().close()

    # The limits live in the runtime, which runs the steps; these keep them settable here.
    @property
    def time_limit(self) -> float:
        return self.runtime.time_limit

    @time_limit.setter
    def time_limit(self, seconds: float) -> None:
        self.runtime.time_limit = validate_time_limit(seconds)
        self._refresh_prompt()

    @property
    def memory_limit(self) -> str:
        return self.runtime.memory_limit

    @memory_limit.setter
    def memory_limit(self, limit: str) -> None:
        self.runtime.memory_limit = validate_memory_limit(limit)
        self._refresh_prompt()

    @property
    def cpus(self) -> float:
        return self.runtime.cpus

    @cpus.setter
    def cpus(self, cpus: float) -> None:
        self.runtime.cpus = validate_cpus(cpus)
        self._refresh_prompt()

    # -- internals -------------------------------------------------------------------------

    @property
    def sandbox(self) -> Sandbox:
        """Created on first use, so making an env and stepping unparsable code stay cheap."""
        if self._closed:  # a closed env would otherwise quietly start a new (warm) sandbox
            raise RuntimeError("this environment is closed; make a new one with gym.make")
        if self._sandbox is None:
            self._sandbox = make_sandbox(self._sandbox_choice)
        return self._sandbox

    def validate(self, action: str) -> Validation:
        """Run a program and say whether its submission has the right format.

        Like MLE-bench's validation server, without a server in the container: the program
        runs in the sandbox as a step would, the submission is checked (columns, ids,
        values), and the answer is valid or invalid with a reason, never a score. It does
        not count as a step, change the observation or give a reward.
        """
        if not isinstance(action, str):
            raise TypeError(f"an action is program text (str), not {type(action).__name__}")
        return validate_step(self.runtime, self.sandbox, extract_code(action))

    def _refresh_prompt(self) -> None:
        # The prompt states the limits, so it must follow them when they are changed.
        self._base_prompt = task_prompt(
            self.spec_task, self.data.public, self.time_limit, self.memory_limit, self.cpus
        )

    def _check_can_step(self) -> None:
        if self._closed:
            raise RuntimeError("this environment is closed; make a new one with gym.make")
        if self._needs_reset:
            when = ("the episode was truncated after max_steps="
                    f"{self.max_steps} programs" if self._steps else "the episode has not started")
            raise ResetNeeded(f"cannot call step(): {when}; call reset() to start a new episode")

    def _summary(self, info: dict[str, Any]) -> str:
        score = "invalid" if info["score"] is None else f"{info['score']:.4f}"
        return (
            f"[{self.spec_task.slug} step {self._steps}] reward {info['reward']:.3f}  "
            f"score {score}  {info['duration']:.1f}s  milestones {','.join(info['milestones'])}"
        )


def check_env_options(kwargs: dict[str, Any]) -> None:
    """The cheap keyword arguments of ``gym.make``, checked before any data is prepared;
    the data, limits and reward are checked by :meth:`TaskRuntime.create`."""
    sandbox = kwargs.get("sandbox", "auto")
    if not isinstance(sandbox, Sandbox) and sandbox not in BACKENDS:
        raise ValueError(
            f"unknown sandbox {sandbox!r}; choose one of {', '.join(BACKENDS)} or pass a Sandbox"
        )
    max_steps = kwargs.get("max_steps", 3)
    if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or max_steps < 1:
        raise ValueError(f"max_steps must be a whole number >= 1, not {max_steps!r}")
    mode = kwargs.get("mode", "scratch")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    render_mode = kwargs.get("render_mode")
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(
            f"render_mode must be None or one of {', '.join(RENDER_MODES)}, not {render_mode!r}"
        )


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


__all__ = ["ExitCode", "MLEEnv", "Score", "attempt_as_dict"]
