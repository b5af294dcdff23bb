"""The episode loop: one agent, one episode, any way of running its programs.

:func:`play` is the loop (the agent writes a program, a :class:`Stepper` runs it, the agent
reads the next observation) with a time budget and a stop event. Steppers:

* :class:`EnvStepper`: ``env.step`` of a Gymnasium env (wrappers included), in process;
* :class:`PoolStepper`: the rollout pool runs each program; an
  :class:`mle_gym.episode.Episode` composes the observations, from one runtime's prompt and
  limits (the pool's jobs carry the same resolved limits).

:func:`run_episode` is ``play`` on an env, as ``mle-gym run`` uses it; the leaderboard plays
its episodes through the pool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import gymnasium as gym

from mle_gym.episode import Episode
from mle_gym.step import StepResult


@dataclass
class StepRecord:
    """One step of an episode: the public outcome and the private-half score."""

    reward: float
    score: float | None
    private_score: float | None
    valid: bool
    duration: float
    milestones: list[str]
    invalid_reason: str | None
    agent_seconds: float  # time the agent took to write the program
    timed_out: bool = False

    @classmethod
    def of(cls, result: StepResult, reward: float, agent_seconds: float) -> StepRecord:
        """``reward`` is what the agent received (a reward wrapper may have shaped it)."""
        return cls(
            reward=float(reward),
            score=result.score,
            private_score=result.private_score,
            valid=result.valid_submission,
            duration=float(result.duration),
            milestones=list(result.milestones),
            invalid_reason=result.invalid_reason,
            agent_seconds=agent_seconds,
            timed_out=result.timed_out,
        )


@dataclass
class EpisodeResult:
    task: str
    seed: int | None
    steps: list[StepRecord] = field(default_factory=list)
    stopped: str | None = None  # "time budget" or "interrupted" when cut short

    def best(self, better: Any) -> StepRecord | None:
        """The valid step with the best public score (what a submitter would pick)."""
        best = None
        for step in self.steps:
            if step.valid and (best is None or better(step.score, best.score)):
                best = step
        return best

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Transition:
    """What a stepper hands back for one program."""

    observation: str
    reward: float
    info: dict[str, Any]
    result: StepResult
    done: bool


class StepFailed(RuntimeError):
    """A step had no result for reasons outside the program (the sandbox, a worker)."""


class Stepper(Protocol):
    """Runs an episode's programs: ``begin`` gives the first observation."""

    task: str

    def begin(self, seed: int | None) -> str: ...

    def step(self, action: str) -> Transition: ...


class EnvStepper:
    """Steps a Gymnasium env of mle-gym (wrapped or not) in this process."""

    def __init__(self, env: gym.Env) -> None:
        self.env = env
        self.task = env.unwrapped.spec_task.slug

    def begin(self, seed: int | None) -> str:
        return self.env.reset(seed=seed)[0]

    def step(self, action: str) -> Transition:
        obs, reward, terminated, truncated, info = self.env.step(action)
        result = self.env.unwrapped.last_result
        return Transition(obs, float(reward), info, result, bool(terminated or truncated))


class PoolStepper:
    """Runs each program in a rollout pool; the episode's observations are composed here.

    ``episode`` is a fresh :class:`Episode` (its prompt states the limits); ``options`` the
    :class:`~mle_gym.options.RuntimeOptions` the pool's jobs run with, limits resolved to
    the same numbers.
    """

    def __init__(self, pool: Any, episode: Episode, options: Any, tag: Any = None) -> None:
        self.pool = pool
        self.episode = episode
        self.options = options
        self.tag = tag
        self.task = episode.spec.slug

    def begin(self, seed: int | None) -> str:
        return self.episode.observation

    def step(self, action: str) -> Transition:
        from mle_gym.pool import StepJob

        number = self.episode.steps + 1
        job = StepJob(task=self.task, program=action, options=self.options, tag=self.tag,
                      step=number)
        outcome = self.pool.submit(job).result()  # a cancelled job ends too, as an error
        if outcome.error or outcome.step is None:
            raise StepFailed(f"step {number}: {outcome.error}")
        result = self.episode.record(outcome.step)
        return Transition(self.episode.observation, result.reward, result.info(), result,
                          self.episode.truncated)


def play(
    stepper: Stepper,
    agent: Any,
    seed: int | None = None,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
) -> EpisodeResult:
    """Let the agent act until the episode ends, ``max_seconds`` have passed since it
    started, or ``stop`` is set. ``on_step`` sees each step's record as it happens."""
    if callable(getattr(agent, "reset", None)):
        agent.reset(stepper.task, seed)
    obs = stepper.begin(seed)
    started = time.monotonic()
    result = EpisodeResult(task=stepper.task, seed=seed)
    done = False
    while not done:
        if stop is not None and stop.is_set():
            result.stopped = "interrupted"
            break
        if max_seconds is not None and time.monotonic() - started >= max_seconds:
            result.stopped = "time budget"
            break
        t0 = time.monotonic()
        program = agent.act(obs)
        thinking = time.monotonic() - t0
        transition = stepper.step(program)
        obs, done = transition.observation, transition.done
        result.steps.append(StepRecord.of(transition.result, transition.reward, thinking))
        if on_step is not None:
            on_step(result.steps[-1])
        if callable(getattr(agent, "observe", None)):
            agent.observe(transition.reward, transition.info)
    return result


def run_episode(
    env: gym.Env,
    agent: Any,
    seed: int | None = None,
    max_seconds: float | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
) -> EpisodeResult:
    """Reset, then let the agent act until the episode ends or ``max_seconds`` have passed.

    ``on_step`` sees each step's record as it happens (a progress bar, a live log).
    """
    return play(EnvStepper(env), agent, seed=seed, max_seconds=max_seconds, on_step=on_step)
