"""mle-gym as an OpenEnv environment: a server per task, and a typed client.

OpenEnv (``openenv-core``) is the client-server standard TRL, torchforge, SkyRL, ART and
Unsloth read environments through: ``reset``/``step``/``state`` over a WebSocket session
(and stateless HTTP). ``mle-gym serve --task T`` starts the server; a trainer connects with
:class:`MLEGymClient` (or openenv's own ``GenericEnvClient``, with ``{"program": ...}``
actions)::

    from mle_gym.integrations.openenv import MLEGymClient, ProgramAction

    with MLEGymClient(base_url="http://127.0.0.1:8000").sync() as env:
        first = env.reset()
        result = env.step(ProgramAction(program=code))
        result.reward, result.observation.score, result.observation.duration

Modules: :mod:`.models` (action, observation, state), :mod:`.environment` (one session:
its episode and its sandbox), :mod:`.app` (the FastAPI app from openenv's ``create_fastapi_app``
and the uvicorn server), :mod:`.client`. Needs ``pip install 'mle-gym[openenv]'``; ``import
mle_gym`` loads none of it.
"""

from __future__ import annotations

from mle_gym.integrations.openenv.app import ServerOptions, create_server_app, serve
from mle_gym.integrations.openenv.client import MLEGymClient
from mle_gym.integrations.openenv.environment import MLEGymEnvironment, SessionContext
from mle_gym.integrations.openenv.models import EpisodeState, ProgramAction, StepObservation

__all__ = [
    "EpisodeState",
    "MLEGymClient",
    "MLEGymEnvironment",
    "ProgramAction",
    "ServerOptions",
    "SessionContext",
    "StepObservation",
    "create_server_app",
    "serve",
]
