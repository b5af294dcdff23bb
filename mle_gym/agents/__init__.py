"""The agent protocol: anything with ``act(observation) -> program`` can be run and ranked.

An agent is an object with one required method::

    class MyAgent:
        def act(self, observation: str) -> str:   # the prompt in, a program (or markdown) out
            ...

and optional ones: ``reset(task: str, seed: int) -> None`` at the start of each
episode, ``observe(reward: float, info: dict) -> None`` after each step, and a system-prompt
hook, ``set_system_prompt(text: str) -> None`` or a ``system_prompt`` str attribute, for
agents whose prompts can carry extra instructions (the lessons agent,
:class:`mle_gym.lessons.LessonsAgent`, puts learnt lessons there; the ``llm`` agent has both).
A harness that wraps agents that learn across episodes calls ``end_episode()`` when an
episode is over, if the agent has it.

Agents are named as ``module:Class`` (any importable class, constructed with no arguments
or with the keyword arguments given), as ``path/to/file.py:Class``, or by a registered name
(see ``REGISTERED``). A name that cannot be loaded is a ValueError that says why.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
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


# Baseline agents shipped with mle-gym (imported only when loaded).
register_agent("template-fast", "mle_gym.agents.templates:FastTemplateAgent")
register_agent("template-strong", "mle_gym.agents.templates:StrongTemplateAgent")
register_agent("llm", "mle_gym.agents.llm_agent:LLMAgent")
register_agent("aide", "mle_gym.agents.aide:AIDEAgent")  # AIDE itself (aideml)


def resolve(name: str) -> type:
    """The agent class for a registered name, a ``module:Class`` or a ``path/to/file.py:Class``."""
    target = REGISTERED.get(name, name)
    module_name, colon, attr = target.rpartition(":")
    if not colon or not module_name or not attr:
        known = ", ".join(sorted(REGISTERED)) or "none"
        raise ValueError(
            f"agent {name!r} is neither a registered name ({known}) nor a 'module:Class' "
            "or 'path/to/file.py:Class' path"
        )
    module = _import_agent_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            found = sorted(
                n for n, v in vars(module).items()
                if isinstance(v, type) and v.__module__ == module.__name__ and not n.startswith("_")
            )
            raise ValueError(
                f"module {module_name!r} has no attribute {attr!r}; its classes: {', '.join(found) or 'none'}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{target} is a {type(obj).__name__}, not a class that builds an agent")
    return obj


def _import_agent_module(module_name: str) -> ModuleType:
    """Import by dotted name, or load a ``.py`` file (a script next to the user's work)."""
    if module_name.endswith(".py"):
        path = Path(module_name).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"agent file {module_name!r} does not exist")
        spec = importlib.util.spec_from_file_location(f"mle_gym_agent_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses and pickling look the module up here
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[spec.name]
            raise ValueError(f"agent file {module_name!r} failed to load: {type(exc).__name__}: {exc}") from exc
        return module
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"cannot import agent module {module_name!r}: {exc}. Run from the folder that holds "
            "it, add that folder to PYTHONPATH, or name the file: path/to/agent.py:Class"
        ) from exc


def load_agent(name: str, /, **kwargs: Any) -> Agent:
    """Build an agent from a registered name or ``module:Class`` with keyword arguments."""
    factory = resolve(name)
    try:
        agent = factory(**kwargs)
    except TypeError as exc:
        # Usually keyword arguments the class does not take: show what it does take.
        try:
            signature = f"{name}{inspect.signature(factory)}"
        except (TypeError, ValueError):
            signature = name
        given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no arguments"
        raise ValueError(f"cannot build agent {signature} with {given}: {exc}") from exc
    if not callable(getattr(agent, "act", None)):
        raise ValueError(f"{name} has no act(observation) method, so it is not an agent")
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
