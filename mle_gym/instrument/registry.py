"""Instrumenters by name: what ``gym.make(..., instrumenter=...)`` accepts."""

from __future__ import annotations

from collections.abc import Callable

from mle_gym.instrument.base import Instrumenter, as_instrumenter
from mle_gym.instrument.lm import LMInstrumenter
from mle_gym.instrument.static import StaticInstrumenter

# Name -> factory with no arguments.
INSTRUMENTERS: dict[str, Callable[[], Instrumenter]] = {
    "static": StaticInstrumenter,
    "lm": LMInstrumenter.from_env,
}


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
    return as_instrumenter(spec)
