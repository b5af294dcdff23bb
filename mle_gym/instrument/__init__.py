"""Instrumenters: rewrite an agent's program so that it reports milestones while it runs.

An instrumenter takes the program text and returns an :class:`InstrumentedProgram` whose
``source`` calls the runner's builtin ``__mle_milestone__`` hook (see
:mod:`mle_gym.instrument.milestones`) when the program reaches a milestone. The default is
the :class:`StaticInstrumenter` (standard-library ``ast`` heuristics, no model calls).

``extract_code`` pulls the program out of a markdown answer (plan + fenced code block).
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from mle_gym.instrument.milestones import DESCRIPTIONS, HOOK, MILESTONES, REPORTED
from mle_gym.instrument.threadsafe import AST_LOCK

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


# --------------------------------------------------------------------------- markdown

# An opening fence: up to any indentation, 3+ backticks or tildes, an optional info string.
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*?)[ \t]*$")
_PYTHON_TAGS = {"", "python", "py", "python3", "py3", "ipython", "python2"}


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, content) for every fenced block; an unclosed fence runs to the end."""
    lines = text.splitlines()
    blocks: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        info = match["info"].strip()
        lang = info.split()[0].lstrip("{.").rstrip("}").lower() if info else ""
        body: list[str] = []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            # A closing fence: same character, at least as long, nothing else on the line.
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                break
            line = lines[i]
            # Remove up to the fence's own indentation (code blocks nested in list items).
            cut = len(line) - len(line.lstrip(" \t"))
            body.append(line[min(cut, indent) :])
            i += 1
        i += 1
        blocks.append((lang, "\n".join(body) + "\n" if body else ""))
    return blocks


def extract_code(text: str) -> str:
    """The program in an agent's answer.

    If ``text`` holds fenced blocks tagged python/py (or untagged), the longest of them is
    returned (agents often write a plan, then one program). Otherwise, or when ``text`` is
    already valid Python (a program that merely contains a fence inside a string), ``text``
    comes back unchanged. Backtick and tilde fences both count; an unclosed fence runs to
    the end of the text.
    """
    if "```" not in text and "~~~" not in text or len(text) > MAX_PROGRAM_CHARS:
        return text  # too long: the step refuses it unparsed
    candidates = [body for lang, body in _fenced_blocks(text) if lang in _PYTHON_TAGS]
    if not candidates:
        return text
    try:
        with AST_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
        return text
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    # max() keeps the first of equally long blocks.
    return max(candidates, key=len)


# --------------------------------------------------------------------------- selection

from mle_gym.instrument.static import StaticInstrumenter  # noqa: E402 - needs the types above

# Name -> factory with no arguments ("lm" is registered below, once get_instrumenter exists).
INSTRUMENTERS: dict[str, Callable[[], Instrumenter]] = {"static": StaticInstrumenter}


class _Named:
    """Gives a nameless instrumenter object the ``name`` the environment reports."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = type(inner).__name__

    def instrument(self, code: str) -> InstrumentedProgram:
        return self.inner.instrument(code)  # type: ignore[attr-defined]


def get_instrumenter(spec: str | Instrumenter | None = None) -> Instrumenter:
    """``None`` or ``"static"`` -> :class:`StaticInstrumenter`; ``"lm"`` -> an
    :class:`LMInstrumenter` on the chat endpoint named by ``MLE_GYM_LLM_BASE_URL`` and
    ``MLE_GYM_LLM_MODEL`` (an ``LLMError`` says what to set when they are missing); an object
    with ``instrument(code)`` is used as it is; any other name raises ``ValueError``."""
    if spec is None:
        return StaticInstrumenter()
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key not in INSTRUMENTERS:
            known = ", ".join(sorted(INSTRUMENTERS))
            raise ValueError(f"unknown instrumenter {spec!r}; known: {known}")
        return INSTRUMENTERS[key]()
    if callable(getattr(spec, "instrument", None)):
        return spec if isinstance(getattr(spec, "name", None), str) else _Named(spec)
    raise TypeError(
        f"instrumenter must be a name or an object with instrument(code), not {type(spec).__name__}"
    )


# The LM instrumenter needs the names above (and only the standard library).
from mle_gym.instrument.lm import LMInstrumenter  # noqa: E402

INSTRUMENTERS["lm"] = LMInstrumenter.from_env

__all__ = [
    "DESCRIPTIONS",
    "HOOK",
    "INSTRUMENTERS",
    "MAX_PROGRAM_CHARS",
    "MILESTONES",
    "REPORTED",
    "InstrumentationError",
    "InstrumentedProgram",
    "Instrumenter",
    "LMInstrumenter",
    "StaticInstrumenter",
    "extract_code",
    "get_instrumenter",
]
