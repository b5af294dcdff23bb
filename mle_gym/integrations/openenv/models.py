"""The OpenEnv wire types of an mle-gym task: the program in, the step's report out.

OpenEnv serialises an observation's fields (all but ``reward``, ``done`` and ``metadata``)
as the ``observation`` object a client receives, so every field of the env's step ``info``
that an agent may see is a field here (never the private half's score).
"""

from __future__ import annotations

from typing import Any

from openenv.core.env_server.types import Action, Observation, State
from pydantic import Field

from mle_gym.step import StepResult


class ProgramAction(Action):
    """One step: a whole Python program, or markdown with a plan and a ```python block."""

    program: str = Field(description="the program to run (plain Python or markdown with a "
                                     "```python block)")


class StepObservation(Observation):
    """What the agent sees: the env's text observation and, after a step, its report.

    ``text`` is exactly what ``env.reset``/``env.step`` return as the observation; the
    other fields are the step's ``info`` (empty or None after a reset).
    """

    text: str = Field(description="the env's text observation (the next prompt)")
    task: str = ""
    metric: str = ""
    direction: str = ""
    mode: str = "scratch"
    step: int = 0
    truncated: bool = False
    duration: float = 0.0
    milestones: list[str] = Field(default_factory=list)
    milestone_times: dict[str, float] = Field(default_factory=dict)
    valid_submission: bool = False
    score: float | None = None
    invalid_reason: str | None = None
    exit_code: int | None = None
    timed_out: bool = False
    oom: bool = False
    no_model_trained: bool = False
    no_model_reason: str | None = None
    tampering: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    diagnostics: dict[str, Any] = Field(default_factory=dict)
    instrumenter: str | None = None
    instrumenter_note: str | None = None
    sandbox: str | None = None
    submission_sha256: str | None = None
    reward_components: dict[str, Any] = Field(default_factory=dict)


class EpisodeState(State):
    """A session's episode: ``episode_id``, ``step_count`` (programs run), and more."""

    task: str = ""
    mode: str = "scratch"
    max_steps: int | None = None
    truncated: bool = False
    rewards: list[float] = Field(default_factory=list)
    durations: list[float] = Field(default_factory=list)
    best_score: float | None = None


def step_fields(result: StepResult) -> dict[str, Any]:
    """A step's ``info`` as StepObservation fields (plain types, as JSON carries them)."""
    info = result.info()
    info.pop("reward")  # the observation's own ``reward``
    info["score"] = None if result.score is None else float(result.score)
    info["exit_code"] = None if result.exit_code is None else int(result.exit_code)
    return info
