"""Instrumenters: rewrite an agent's program so that it reports milestones while it runs.

An instrumenter takes the program text and returns an :class:`InstrumentedProgram` whose
``source`` calls the runner's builtin ``__mle_milestone__`` hook (see
:mod:`mle_gym.instrument.milestones`) when the program reaches a milestone. The default is
the :class:`StaticInstrumenter` (standard-library ``ast`` heuristics, no model calls); the
:class:`LMInstrumenter` asks a language model and checks its answer.

The modules, from the bottom up: ``milestones`` (the names and the hook), ``threadsafe``
(one lock for syntax-tree work), ``base`` (the protocol and its result), ``markdown``
(``extract_code``: the program in a markdown answer), ``source`` and ``syntax`` (parsing and
statement shapes), ``rules`` (what counts as each milestone), ``plan`` (where hooks go),
``edit`` (putting them into the text), ``check`` (the result is the original plus hooks),
``static``, ``lm_backends``, ``lm``, ``registry`` (by name); ``tamper`` flags programs that
reach for the hook's internals.
"""

from mle_gym.instrument.base import (
    MAX_PROGRAM_CHARS,
    InstrumentationError,
    InstrumentedProgram,
    Instrumenter,
)
from mle_gym.instrument.lm import LMInstrumenter
from mle_gym.instrument.markdown import extract_code
from mle_gym.instrument.milestones import DESCRIPTIONS, HOOK, MILESTONES, REPORTED
from mle_gym.instrument.registry import INSTRUMENTERS, get_instrumenter
from mle_gym.instrument.static import StaticInstrumenter

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
