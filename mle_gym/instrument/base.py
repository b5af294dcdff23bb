"""What an instrumenter is: the protocol, what it returns, and how it refuses a program.

An instrumenter takes the program text and returns an :class:`InstrumentedProgram` whose
``source`` calls the runner's builtin ``__mle_milestone__`` hook (see
:mod:`mle_gym.instrument.milestones`) when the program reaches a milestone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# The longest program (or markdown answer) a step accepts: the action space's bound
# (gymnasium Text max_length). Longer ones are refused before any parsing, which costs time
# and memory in proportion to the text.
MAX_PROGRAM_CHARS = 1 << 16


class InstrumentationError(ValueError):
    """The program cannot be instrumented (it does not parse, is empty, or forges the hook)."""


@dataclass(frozen=True)
class InstrumentedProgram:
    """A program ready for the sandbox.

    ``source`` is what runs; ``original`` is what the agent wrote. ``milestones`` lists the
    milestones with a hook somewhere in ``source`` (those the program *can* reach), in
    canonical order; ``submission_written`` is never among them (the host checks it).
    ``note`` says how the program was instrumented when that is worth knowing (the LM
    instrumenter: ``"lm"``, or ``"static fallback: <why>"``); the environment reports it as
    ``info["instrumenter_note"]``.
    """

    source: str
    original: str
    milestones: tuple[str, ...]
    note: str | None = None


@runtime_checkable
class Instrumenter(Protocol):
    """Anything with a ``name`` and an ``instrument(code)`` method."""

    name: str

    def instrument(self, code: str) -> InstrumentedProgram: ...


class _Named:
    """Gives a nameless instrumenter object the ``name`` the environment reports."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = type(inner).__name__

    def instrument(self, code: str) -> InstrumentedProgram:
        return self.inner.instrument(code)  # type: ignore[attr-defined]


def as_instrumenter(obj: object) -> Instrumenter:
    """An object with ``instrument(code)`` as an :class:`Instrumenter`: itself when it has a
    ``name``, else wrapped to be named after its type; anything else raises ``TypeError``."""
    if callable(getattr(obj, "instrument", None)):
        if isinstance(getattr(obj, "name", None), str):
            return obj  # type: ignore[return-value]
        return _Named(obj)
    raise TypeError(
        f"instrumenter must be a name or an object with instrument(code), not {type(obj).__name__}"
    )
