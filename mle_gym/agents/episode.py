"""Run one agent for one episode of one environment and keep what a leaderboard needs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym


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


@dataclass
class EpisodeResult:
    task: str
    seed: int | None
    steps: list[StepRecord] = field(default_factory=list)

    def best(self, better: Any) -> StepRecord | None:
        """The valid step with the best public score (what a submitter would pick)."""
        best = None
        for step in self.steps:
            if step.valid and (best is None or better(step.score, best.score)):
                best = step
        return best

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    base = env.unwrapped
    task = base.spec_task.slug
    if callable(getattr(agent, "reset", None)):
        agent.reset(task, seed)
    obs, _ = env.reset(seed=seed)
    result = EpisodeResult(task=task, seed=seed)
    started = time.monotonic()
    done = False
    while not done:
        if max_seconds is not None and time.monotonic() - started >= max_seconds:
            break
        t0 = time.monotonic()
        program = agent.act(obs)
        thinking = time.monotonic() - t0
        obs, reward, terminated, truncated, info = env.step(program)
        grade = base.last_grade
        result.steps.append(
            StepRecord(
                reward=float(reward),
                score=None if info["score"] is None else float(info["score"]),
                private_score=None if grade is None else float(grade.private),
                valid=bool(info["valid_submission"]),
                duration=float(info["duration"]),
                milestones=list(info["milestones"]),
                invalid_reason=info["invalid_reason"],
                agent_seconds=thinking,
            )
        )
        if on_step is not None:
            on_step(result.steps[-1])
        if callable(getattr(agent, "observe", None)):
            agent.observe(float(reward), info)
        done = terminated or truncated
    return result
