"""A typed OpenEnv client for an mle-gym server (openenv's ``EnvClient``)."""

from __future__ import annotations

from typing import Any

from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient

from mle_gym.integrations.openenv.models import EpisodeState, ProgramAction, StepObservation

# openenv's client gives up on an answer after 60 s by default: a step runs for up to the
# task's time limit (hours on full data). The WebSocket's keep-alive pings detect a dead
# server instead, so the answer's own timeout can be long.
MESSAGE_TIMEOUT = 24 * 3600.0


class MLEGymClient(EnvClient[ProgramAction, StepObservation, EpisodeState]):
    """``MLEGymClient(base_url="http://127.0.0.1:8000")``: async; ``.sync()`` for a
    synchronous wrapper. ``step`` takes a :class:`ProgramAction` or the program's text."""

    def __init__(self, base_url: str, message_timeout_s: float = MESSAGE_TIMEOUT,
                 **kwargs: Any) -> None:
        super().__init__(base_url, message_timeout_s=message_timeout_s, **kwargs)

    def _step_payload(self, action: ProgramAction | str) -> dict[str, Any]:
        if isinstance(action, str):
            action = ProgramAction(program=action)
        return action.model_dump(exclude={"metadata"})

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[StepObservation]:
        observation = StepObservation(**payload.get("observation", {}),
                                      reward=payload.get("reward"),
                                      done=payload.get("done", False))
        return StepResult(observation=observation, reward=payload.get("reward"),
                          done=payload.get("done", False))

    def _parse_state(self, payload: dict[str, Any]) -> EpisodeState:
        return EpisodeState(**payload)
