"""Diagnostics the paper feeds back: what the program says about its model and validation.

The paper asks programs to print lines such as ``MODEL APPROACH: tf-idf + logistic
regression`` and ``NUM FEATURES: 20000`` and their validation metric; the improve-mode
prompt shows them back. This module pulls them out of the program's standard output:

* ``KEY: value`` lines whose key is upper case (``MODEL APPROACH``, ``NUM FEATURES``, ...);
* validation scores: a line that names validation (``validation``, ``val``, ``valid``,
  ``cv``, ``oof``, ``holdout``) next to a number, e.g. ``Validation log loss: 0.512`` or
  ``cv_auc=0.91``.

Only standard output counts, and the program controls it, so diagnostics are shown to the
agent and recorded, never used in the reward.
"""

from __future__ import annotations

import re
from typing import Any

MAX_NOTES = 20
MAX_SCORES = 20
MAX_VALUE_CHARS = 200

_NOTE = re.compile(r"^\s*([A-Z][A-Z0-9 _\-]{1,40}?)\s*[:=]\s*(\S.*?)\s*$")
_NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
# "validation log loss: 0.51", "val_auc=0.9", "CV score 0.83", "holdout accuracy - 0.7"
_SCORE = re.compile(
    r"(?P<name>\b(?:validation|valid|val|cv|oof|holdout|hold-out|cross[- ]validat\w*)\b"
    r"[\w \-/()]{0,40}?)\s*(?:[:=]|\bis\b|-)?\s*(?P<value>" + _NUMBER + r")(?![\w.])",
    re.IGNORECASE,
)


def _number(text: str) -> float | str:
    try:
        return float(text) if re.fullmatch(_NUMBER, text) else text
    except ValueError:
        return text


def extract_diagnostics(stdout: str) -> dict[str, Any]:
    """``{"notes": {KEY: value}, "validation": [{"name", "value"}]}`` from a program's output.

    Later lines win for repeated keys (a program that prints per-fold scores, then a final
    one, is summarised by the final one); at most 20 of each kind are kept.
    """
    notes: dict[str, float | str] = {}
    scores: list[dict[str, Any]] = []
    for line in stdout.splitlines():
        if len(line) > 1000:
            continue
        note = _NOTE.match(line)
        if note and not note.group(1).strip().isdigit():
            key = " ".join(note.group(1).replace("_", " ").split())
            if key in notes or len(notes) < MAX_NOTES:
                notes.pop(key, None)
                notes[key] = _number(note.group(2)[:MAX_VALUE_CHARS])
        for match in _SCORE.finditer(line):
            name = " ".join(match.group("name").split()).lower()
            scores = [s for s in scores if s["name"] != name]
            scores.append({"name": name, "value": float(match.group("value"))})
            scores = scores[-MAX_SCORES:]
    return {"notes": notes, "validation": scores}


def format_diagnostics(diagnostics: dict[str, Any]) -> str:
    """One short block for the observation, or "" when the program reported nothing."""
    lines = [f"- {key}: {value}" for key, value in diagnostics.get("notes", {}).items()]
    lines += [f"- {s['name']}: {s['value']:.6g}" for s in diagnostics.get("validation", [])]
    return "\n".join(lines)


__all__ = ["extract_diagnostics", "format_diagnostics"]
