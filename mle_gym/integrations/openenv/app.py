"""The OpenEnv server of one task: openenv's own FastAPI app, plus what long steps need.

:func:`create_server_app` builds the app with ``openenv.core.create_fastapi_app`` (its
``/ws`` sessions, ``/reset``, ``/step``, ``/state``, ``/schema``, ``/health``), one
:class:`~mle_gym.integrations.openenv.environment.MLEGymEnvironment` per session, and adds:

* a middleware that keeps reading a WebSocket while a step runs, so a client that leaves
  mid-step is noticed at once (its program is stopped, its containers removed) instead of
  when the program ends;
* an idle timeout (openenv's session reaper) counted beyond the task's time limit, so a
  session is never reaped in the middle of a step;
* a shutdown hook that closes every session, so no container outlives the server.

:func:`serve` runs it with uvicorn, with WebSocket keep-alive pings (a dead client is
dropped within about a minute; a live one is never timed out by a long step).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

from openenv.core.env_server.http_server import create_fastapi_app
from openenv.core.env_server.types import ConcurrencyConfig

from mle_gym.integrations.openenv.environment import (
    CLIENT_GONE,
    MLEGymEnvironment,
    SessionContext,
)
from mle_gym.integrations.openenv.models import ProgramAction, StepObservation
from mle_gym.options import RuntimeOptions
from mle_gym.sandbox import BACKENDS
from mle_gym.step import TaskRuntime

# Seconds beyond the time limit a step may take (instrumenting, grading, container start).
STEP_MARGIN = 120.0
PING_SECONDS = 20.0


@dataclass
class ServerOptions:
    """How ``mle-gym serve`` runs: where it listens and what each session gets."""

    host: str = "127.0.0.1"
    port: int = 8000
    sandbox: str = "docker-warm"
    max_sessions: int = 4
    max_steps: int | None = 8
    idle_timeout: float = 600.0  # seconds a session may sit idle (between steps)
    mode: str = "scratch"

    def __post_init__(self) -> None:
        if self.sandbox not in BACKENDS:
            raise ValueError(f"unknown sandbox {self.sandbox!r}; choose one of {', '.join(BACKENDS)}")
        if self.max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be at least 1 (or None for no limit)")
        if self.idle_timeout <= 0:
            raise ValueError("idle_timeout must be a positive number of seconds")


class WatchDisconnect:
    """ASGI middleware: reads a WebSocket's incoming messages as they come and sets
    :data:`CLIENT_GONE` when the client disconnects, even while the app is busy in a step
    (openenv's handler reads the next message only after the step)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        inbox: asyncio.Queue = asyncio.Queue()
        gone = asyncio.Event()

        async def pump() -> None:
            while True:
                message = await receive()
                await inbox.put(message)
                if message["type"] == "websocket.disconnect":
                    gone.set()
                    return

        async def send_while_there(message: dict) -> None:
            # Once the client is gone, openenv's handler still sends (the step's error, the
            # close): nobody can read those, so they are dropped instead of raising.
            if gone.is_set():
                return
            try:
                await send(message)
            except OSError:  # uvicorn's ClientDisconnected: the client left meanwhile
                gone.set()

        reader = asyncio.ensure_future(pump())
        token = CLIENT_GONE.set(gone)
        try:
            await self.app(scope, inbox.get, send_while_there)
        finally:
            CLIENT_GONE.reset(token)
            reader.cancel()


def create_server_app(task: str | TaskRuntime, options: ServerOptions | None = None,
                      **runtime_options: Any) -> Any:
    """The FastAPI app serving ``task``. ``runtime_options`` are :class:`RuntimeOptions`
    fields (``data``, ``data_seed``, ``time_limit``, ``memory_limit``, ``cpus``,
    ``reward``, ``instrumenter``); the task's data is prepared here, once."""
    options = options or ServerOptions()
    runtime = task if isinstance(task, TaskRuntime) else TaskRuntime.create(
        task, RuntimeOptions(**runtime_options))
    context = SessionContext(runtime, sandbox=options.sandbox, max_steps=options.max_steps,
                             mode=options.mode, max_sessions=options.max_sessions)
    app = create_fastapi_app(
        functools.partial(MLEGymEnvironment, context), ProgramAction, StepObservation,
        concurrency_config=ConcurrencyConfig(
            max_concurrent_envs=options.max_sessions,
            # openenv reaps on time since the last reset or step ended: count the step too.
            session_timeout=options.idle_timeout + runtime.time_limit + STEP_MARGIN,
        ),
    )
    app.title = f"mle-gym: {runtime.spec.slug} (OpenEnv)"
    app.add_middleware(WatchDisconnect)
    app.router.on_shutdown.append(context.close_all)
    app.state.mle_gym = context
    return app


def serve(task: str, options: ServerOptions | None = None, **runtime_options: Any) -> None:
    """Run the server until interrupted (Ctrl-C closes every session and its containers)."""
    import uvicorn

    options = options or ServerOptions()
    app = create_server_app(task, options, **runtime_options)
    context: SessionContext = app.state.mle_gym
    print(f"mle-gym OpenEnv server for {context.runtime.spec.slug}: "
          f"ws://{options.host}:{options.port}/ws (sessions: up to {options.max_sessions}, "
          f"sandbox: {options.sandbox}, time limit {context.runtime.time_limit:g} s per step)",
          flush=True)
    try:
        uvicorn.run(app, host=options.host, port=options.port, log_level="warning",
                    ws_ping_interval=PING_SECONDS, ws_ping_timeout=PING_SECONDS,
                    timeout_graceful_shutdown=30)
    finally:
        context.close_all()
