"""One OpenEnv session: its own episode and its own sandbox, on a task the server shares.

The server builds a :class:`SessionContext` once (the task's data, grader and limits, so a
bad option fails at start) and openenv's HTTPEnvServer calls the factory for each WebSocket
session (and for each stateless HTTP request). A step runs :func:`mle_gym.step.run_step`,
as ``env.step`` does, so a program earns the same reward here as in process.

Long steps: the program runs in a worker thread, never on the event loop, so the server
keeps answering the transport's keep-alive pings however long the step takes. A client that
disconnects mid-step does not wait for its program: the session's sandbox is interrupted
(its running container removed) at once, and openenv then closes the session, which removes
the sandbox's warm containers.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import EnvironmentMetadata

from mle_gym.episode import Best, Episode, check_mode, start
from mle_gym.integrations.openenv.models import (
    EpisodeState,
    ProgramAction,
    StepObservation,
    step_fields,
)
from mle_gym.sandbox import Sandbox, make_sandbox
from mle_gym.step import TaskRuntime, run_step

# Set by the app's middleware for a WebSocket connection: an event set when the client has
# gone. A step awaits it beside the program, so a disconnect interrupts the program.
CLIENT_GONE: contextvars.ContextVar[asyncio.Event | None] = contextvars.ContextVar(
    "mle_gym_openenv_client_gone", default=None)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mle-gym")
    except PackageNotFoundError:  # a source tree without install metadata
        return "0+unknown"


class ClientDisconnected(RuntimeError):
    """The client left during a step; the step was interrupted and its session ends."""


@dataclass
class SessionContext:
    """What every session of one server shares: the task's runtime and the session options.

    ``sandbox``: a backend name (each session makes its own sandbox: ``docker-warm`` keeps one
    started container per session). ``max_steps``: programs per episode (None: no limit).
    """

    runtime: TaskRuntime
    sandbox: str = "docker-warm"
    max_steps: int | None = 8
    mode: str = "scratch"
    max_sessions: int = 4
    executor: ThreadPoolExecutor = field(init=False)
    sessions: weakref.WeakSet = field(default_factory=weakref.WeakSet, init=False)

    def __post_init__(self) -> None:
        check_mode(self.mode)
        # Each session runs at most one step at a time; a few more for stateless HTTP steps.
        self.executor = ThreadPoolExecutor(max_workers=self.max_sessions + 4,
                                           thread_name_prefix="mle-openenv-step")

    def close_all(self) -> None:
        """Close every live session (server shutdown): no container outlives the server."""
        for session in list(self.sessions):
            session.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


class MLEGymEnvironment(Environment[ProgramAction, StepObservation, EpisodeState]):
    """An mle-gym task as an OpenEnv environment (one instance per session)."""

    SUPPORTS_CONCURRENT_SESSIONS = True  # each instance has its own episode and sandbox

    def __init__(self, context: SessionContext) -> None:
        super().__init__()
        self.context = context
        self.runtime = context.runtime
        self.episode: Episode | None = None
        self._best = Best(self.runtime.spec)  # across this session's episodes (mixed mode)
        self._episode_id: str | None = None
        self._sandbox: Sandbox | None = None
        self._lock = threading.Lock()  # the sandbox against close() from another thread
        self._closed = False
        context.sessions.add(self)

    # -- OpenEnv's interface ----------------------------------------------------------------

    def reset(self, seed: int | None = None, episode_id: str | None = None,
              mode: str | None = None, previous: str | dict | None = None,
              **kwargs: Any) -> StepObservation:
        """Start an episode; ``mode`` and ``previous`` as in ``env.reset(options=...)``."""
        if kwargs:
            raise ValueError(f"unknown reset field(s) {sorted(kwargs)}; known: seed, "
                             "episode_id, mode, previous")
        import numpy as np

        self.episode = start(self.runtime.spec, self.runtime.prompt(),
                             mode=mode or self.context.mode, previous=previous,
                             best=self._best.attempt, rng=np.random.default_rng(seed),
                             max_steps=self.context.max_steps)
        self._episode_id = episode_id or uuid.uuid4().hex
        spec = self.runtime.spec
        return StepObservation(text=self.episode.observation, task=spec.slug,
                               metric=spec.metric, direction=spec.direction,
                               mode=self.episode.mode, done=False, reward=None)

    def step(self, action: ProgramAction, timeout_s: float | None = None,
             **kwargs: Any) -> StepObservation:
        """Run one program as a step. Without a reset first (stateless HTTP ``/step``), it
        is the first step of a new scratch episode."""
        if self.episode is None:
            self.reset()
        episode = self.episode
        assert episode is not None
        if episode.truncated:
            raise RuntimeError(f"the episode ended after max_steps={episode.max_steps} "
                               "programs; reset to start a new one")
        result = run_step(self.runtime, self._get_sandbox(), action.program,
                          step=episode.steps + 1)
        result = episode.record(result)
        self._best.offer(episode.history[-1])
        spec = self.runtime.spec
        return StepObservation(text=episode.observation, task=spec.slug, metric=spec.metric,
                               direction=spec.direction, mode=episode.mode,
                               truncated=episode.truncated, done=episode.truncated,
                               reward=result.reward, **step_fields(result))

    async def step_async(self, action: ProgramAction, timeout_s: float | None = None,
                         **kwargs: Any) -> StepObservation:
        """The step in a worker thread; interrupted if the WebSocket client leaves."""
        loop = asyncio.get_running_loop()
        running = loop.run_in_executor(self.context.executor, self.step, action)
        gone = CLIENT_GONE.get()
        if gone is None:  # stateless HTTP: the request itself is the connection
            return await running
        waiter = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait({running, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if running.done():
            return running.result()
        self.interrupt()  # its container goes now; the program does not run on
        with contextlib.suppress(Exception):  # the interrupted step fails: expected
            await running
        raise ClientDisconnected("the client disconnected during the step; it was stopped")

    @property
    def state(self) -> EpisodeState:
        episode = self.episode
        if episode is None:
            return EpisodeState(task=self.runtime.spec.slug, max_steps=self.context.max_steps)
        best = episode.best.attempt
        return EpisodeState(
            episode_id=self._episode_id, step_count=episode.steps, task=self.runtime.spec.slug,
            mode=episode.mode, max_steps=episode.max_steps, truncated=episode.truncated,
            rewards=[r.reward for r in episode.results],
            durations=[float(r.duration) for r in episode.results],
            best_score=None if best is None else best.score,
        )

    def get_metadata(self) -> EnvironmentMetadata:
        spec = self.runtime.spec
        return EnvironmentMetadata(
            name=f"mle-gym/{spec.slug}",
            description=(f"Kaggle task {spec.slug} ({spec.metric}, "
                         f"{spec.direction} is better): each action is a Python program, "
                         "run in a locked-down container and graded; reward with partial "
                         "credit, plus the seconds it ran"),
            version=_version(),
        )

    def close(self) -> None:
        """Remove this session's containers (a step still running is stopped)."""
        with self._lock:
            self._closed = True
            sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            self._interrupt(sandbox)
            sandbox.close()
        self.context.sessions.discard(self)

    # -- internals --------------------------------------------------------------------------

    def interrupt(self) -> None:
        """Stop the program running now, if any (its container is removed)."""
        with self._lock:
            sandbox = self._sandbox
        if sandbox is not None:
            self._interrupt(sandbox)

    @staticmethod
    def _interrupt(sandbox: Sandbox) -> None:
        interrupt = getattr(sandbox, "interrupt", None)  # the local backend has none
        if callable(interrupt):
            interrupt()

    def _get_sandbox(self) -> Sandbox:
        with self._lock:
            if self._closed:
                raise RuntimeError("this session is closed; connect again for a new one")
            if self._sandbox is None:  # made on the first step: a reset alone starts nothing
                self._sandbox = make_sandbox(self.context.sandbox)
            return self._sandbox
