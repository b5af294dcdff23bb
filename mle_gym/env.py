"""The Gymnasium environment: one Kaggle task, one program per step.

``step(code)`` instruments the program, runs it in the sandbox against the task's public
data, grades the submission it wrote against answers it never sees (the public half of the
test set), and returns a reward with partial credit and the time the program ran.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import gymnasium as gym
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from mle_gym.episode import (  # MODES, attempt_as_dict, check_previous: moved to episode
    DEFAULT_MAX_STEPS,
    MODES,  # noqa: F401
    Best,
    Episode,
    attempt_as_dict,
    check_max_steps,
    check_mode,
    check_previous,  # noqa: F401
    start,
)
from mle_gym.grading import Grade
from mle_gym.instrument import Instrumenter
from mle_gym.limits import validate_cpus, validate_memory_limit, validate_time_limit
from mle_gym.options import RuntimeOptions
from mle_gym.prompt import CHARSET, MAX_OBSERVATION_CHARS
from mle_gym.reward import RewardConfig
from mle_gym.sandbox import BACKENDS, Sandbox, make_sandbox
from mle_gym.step import (
    ExitCode,
    Score,
    StepResult,
    TaskRuntime,
    Validation,
    run_step,
    validate_step,
)

RENDER_MODES = ("ansi", "human")


class ProgramText(spaces.Text):
    """A Text space whose repr fits on a line: the charset is thousands of characters, so
    Gymnasium's own repr runs to about 63,000 characters in every log and error message."""

    def __repr__(self) -> str:
        return (f"ProgramText(min_length={self.min_length}, max_length={self.max_length}, "
                f"charset=<{len(self.character_set)} characters>)")


class MLEEnv(gym.Env[str, str]):
    """A Kaggle task as an environment whose actions are Python programs.

    Keyword arguments (all optional): ``data`` ("lite", "full" or a prepared folder),
    ``sandbox`` ("auto", "docker", "local" or a Sandbox), ``instrumenter`` ("static" or an
    object with ``instrument(code)``), ``reward`` (preset name, RewardConfig or dict),
    ``max_steps`` (programs per episode), ``time_limit`` (seconds per program),
    ``memory_limit`` (e.g. "4g"), ``cpus``, ``mode`` ("scratch", "improve", "mixed"),
    ``data_seed`` (seed of the lite data) and ``render_mode`` ("ansi" or "human").

    The episode itself (attempts, best attempt, observation, truncation) is an
    :class:`mle_gym.episode.Episode`, in ``episode``. After each step the harness (never
    the agent) can read ``last_grade`` for the private half's score, which is what
    leaderboards rank, and ``last_result`` for the whole :class:`~mle_gym.step.StepResult`.
    """

    # A text environment has no frame rate; declaring one keeps check_env from warning.
    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 1}

    def __new__(cls, *args: Any, **kwargs: Any) -> MLEEnv:
        # Python's own error for an unknown keyword names only that keyword; this one
        # lists the known ones, so a typo in gym.make says what was meant.
        unknown = sorted(set(kwargs) - {"task", *KNOWN_KWARGS})
        if unknown:
            raise TypeError(
                f"unknown keyword argument(s) {', '.join(unknown)} for mle-gym; "
                f"known: {', '.join(KNOWN_KWARGS)}"
            )
        return super().__new__(cls)

    def __init__(
        self,
        task: str,
        *,
        data: str | os.PathLike[str] = "lite",
        sandbox: str | Sandbox = "auto",
        instrumenter: str | Instrumenter | None = None,
        reward: str | RewardConfig | dict | None = None,
        max_steps: int | None = None,
        time_limit: float | None = None,
        memory_limit: str | None = None,
        cpus: float | None = None,
        mode: str = "scratch",
        data_seed: int = 0,
        render_mode: str | None = None,
    ) -> None:
        # The cheap checks first: the data, limits and reward are checked by
        # RuntimeOptions and TaskRuntime.create, before any data is prepared.
        check_sandbox(sandbox)
        if max_steps is not None:
            check_max_steps(max_steps)
        check_mode(mode)
        check_render_mode(render_mode)
        options = RuntimeOptions(data=data, data_seed=data_seed, time_limit=time_limit,
                                 memory_limit=memory_limit, cpus=cpus,
                                 instrumenter=instrumenter, reward=reward)
        self.runtime = runtime = TaskRuntime.create(task, options)
        self.data_seed = options.data_seed  # seed of the lite data
        self.spec_task = runtime.spec
        self.data = runtime.data
        self.grader = runtime.grader
        self.anchors = runtime.anchors
        self.instrumenter = runtime.instrumenter
        self.reward_config = runtime.reward_config
        # None: the registry's max_episode_steps (EpisodeLength sets it), else the default.
        self.max_steps_given = max_steps is not None
        self.max_steps = DEFAULT_MAX_STEPS if max_steps is None else int(max_steps)
        self.mode = mode
        self.render_mode = render_mode
        self._sandbox_choice: str | Sandbox = sandbox
        self._sandbox: Sandbox | None = None
        self._closed = False

        self.observation_space = ProgramText(max_length=MAX_OBSERVATION_CHARS, charset=CHARSET)
        self.action_space = ProgramText(max_length=MAX_OBSERVATION_CHARS, charset=CHARSET)
        self._base_prompt = runtime.prompt()
        self.episode: Episode | None = None  # None before the first reset
        self._best = Best(runtime.spec)  # best valid attempt of every episode, for mixed mode
        self._obs = ""
        self.last_result: StepResult | None = None
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
        self.episode = start(self.spec_task, self._base_prompt, mode=mode, previous=previous,
                             best=self._best.attempt, rng=self.np_random,
                             max_steps=self.max_steps)
        self.last_result = self.last_grade = None
        self._obs = self.episode.observation
        info = {
            "task": self.spec_task.slug,
            "mode": self.episode.mode,
            "data": self.data.flavour,
            "metric": self.spec_task.metric,
            "direction": self.spec_task.direction,
        }
        return self._obs, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError(f"an action is program text (str), not {type(action).__name__}")
        episode = self._check_can_step()
        return self.advance(run_step(self.runtime, self.sandbox, action, step=episode.steps + 1))

    def advance(self, result: StepResult) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Advance the episode with a program that ran elsewhere (e.g. in the rollout pool,
        via :func:`mle_gym.step.run_step` on this task): the same bookkeeping as ``step``."""
        episode = self._check_can_step()
        result = episode.record(result)
        self._best.offer(episode.history[-1])
        self.last_result = result
        self.last_grade = result.grade
        self.last_instrumented = result.instrumented
        self._obs = episode.observation
        info = result.info()
        if self.render_mode == "human":
            print(self._summary(info))
        return self._obs, result.reward, False, episode.truncated, info

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
        return validate_step(self.runtime, self.sandbox, action)

    def _refresh_prompt(self) -> None:
        # The prompt states the limits, so it must follow them when they are changed.
        self._base_prompt = self.runtime.prompt()
        if self.episode is not None:
            self.episode.prompt = self._base_prompt

    def _check_can_step(self) -> Episode:
        if self._closed:
            raise RuntimeError("this environment is closed; make a new one with gym.make")
        if self.episode is None or self.episode.truncated:
            when = ("the episode was truncated after max_steps="
                    f"{self.max_steps} programs" if self.episode else "the episode has not started")
            raise ResetNeeded(f"cannot call step(): {when}; call reset() to start a new episode")
        return self.episode

    def _summary(self, info: dict[str, Any]) -> str:
        score = "invalid" if info["score"] is None else f"{info['score']:.4f}"
        return (
            f"[{self.spec_task.slug} step {info['step']}] reward {info['reward']:.3f}  "
            f"score {score}  {info['duration']:.1f}s  milestones {','.join(info['milestones'])}"
        )


class EpisodeLength(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Makes Gymnasium's TimeLimit and the env's own step count agree on the episode length.

    The length has two spellings: ``gym.make(id, max_episode_steps=N)`` (Gymnasium's, a
    TimeLimit the env cannot see) and the env's ``max_steps=N``, which the env needs itself to
    refuse a step after truncation (ResetNeeded). ``gym.make`` puts this wrapper outside the
    TimeLimit; it reads both once: an explicit ``max_steps`` sets the TimeLimit's count (it
    would otherwise cut at the registry's default), else the env takes the TimeLimit's.
    Passing both with different values is an error.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)
        base = env.unwrapped
        limit = _time_limit(env)
        if limit is None or not isinstance(base, MLEEnv):
            return
        steps = limit._max_episode_steps
        if not base.max_steps_given:
            base.max_steps = steps
        elif base.max_steps != steps:
            if steps != DEFAULT_MAX_STEPS:
                raise ValueError(
                    f"max_steps={base.max_steps} and max_episode_steps={steps} disagree; "
                    "give one of them (they mean the same: programs per episode)"
                )
            limit._max_episode_steps = base.max_steps  # the registry's default, overridden
            limit._cached_spec = None


def _time_limit(env: gym.Env) -> gym.wrappers.TimeLimit | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def check_sandbox(sandbox: Any) -> None:
    if not isinstance(sandbox, Sandbox) and sandbox not in BACKENDS:
        raise ValueError(
            f"unknown sandbox {sandbox!r}; choose one of {', '.join(BACKENDS)} or pass a Sandbox"
        )


def check_render_mode(render_mode: Any) -> None:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(
            f"render_mode must be None or one of {', '.join(RENDER_MODES)}, not {render_mode!r}"
        )


# The keyword arguments of gym.make, in the order the error for an unknown one lists them.
KNOWN_KWARGS = tuple(inspect.signature(MLEEnv.__init__).parameters)[2:]

__all__ = ["ExitCode", "MLEEnv", "Score", "attempt_as_dict"]
