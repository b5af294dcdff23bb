"""The agent protocol: anything with ``act(observation) -> program`` can be run and ranked.

An agent is an object with one required method::

    class MyAgent:
        def act(self, observation: str) -> str:   # the prompt in, a program (or markdown) out
            ...

and two optional ones: ``reset(task: str, seed: int) -> None`` at the start of each
episode, and ``observe(reward: float, info: dict) -> None`` after each step.

Agents are named as ``module:Class`` (any importable class, constructed with no arguments
or with the keyword arguments given) or by a registered name (see ``REGISTERED``).
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

from mle_gym.agents.episode import EpisodeResult, StepRecord, run_episode

# Registered agents, by name: "module:Class" strings, imported only when asked for.
REGISTERED: dict[str, str] = {}


@runtime_checkable
class Agent(Protocol):
    """Writes the next program from the observation."""

    def act(self, observation: str) -> str: ...


def register_agent(name: str, target: str) -> None:
    """Make ``load_agent(name)`` build ``target`` ("module:Class")."""
    REGISTERED[name] = target


def resolve(name: str) -> type:
    """The agent class for a registered name or a ``module:Class`` path."""
    target = REGISTERED.get(name, name)
    if ":" not in target:
        known = ", ".join(sorted(REGISTERED)) or "none"
        raise ValueError(
            f"agent {name!r} is neither a registered name ({known}) nor a 'module:Class' path"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import agent module {module_name!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def load_agent(name: str, **kwargs: Any) -> Agent:
    """Build an agent from a registered name or ``module:Class`` with keyword arguments."""
    agent = resolve(name)(**kwargs)
    if not callable(getattr(agent, "act", None)):
        raise TypeError(f"{name} has no act(observation) method, so it is not an agent")
    return agent


__all__ = [
    "REGISTERED",
    "Agent",
    "EpisodeResult",
    "StepRecord",
    "load_agent",
    "register_agent",
    "resolve",
    "run_episode",
]
