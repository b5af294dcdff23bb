"""Diagnostics the paper feeds back: what the program says about its model and validation.

The paper asks programs to print lines such as ``MODEL APPROACH: tf-idf + logistic
regression`` and ``NUM FEATURES: 20000`` and their validation metric; the improve-mode
prompt shows them back. This module pulls them out of the program's standard output:

* ``KEY: value`` notes whose key is upper case (``MODEL APPROACH``, ``NUM FEATURES``, ...),
  several on one line when separated by ``,``, ``;`` or ``|`` (log levels such as
  ``INFO:`` or ``WARNING:`` are not notes);
* validation scores: a name that starts with a validation word (``validation``, ``val``,
  ``valid``, ``cv``, ``oof``, ``out-of-fold``, ``holdout``, ``cross-validation``; ``_``
  separates words; a parenthesised qualifier is part of the name)
  followed by a number, e.g. ``Validation log loss: 0.512``, ``cv_auc=0.91``,
  ``val_loss: 0.45``. Names that count rather than score (``validation set size: 2000``,
  ``number of validation rows: 500``) are skipped. Lines are read up to 1000 characters.

Only standard output counts, and the program controls it, so diagnostics are shown to the
agent and recorded, never used in the reward.
"""

from __future__ import annotations

import re
from typing import Any

MAX_NOTES = 20
MAX_SCORES = 20
MAX_VALUE_CHARS = 200
MAX_LINE_CHARS = 1000  # longer lines (progress bars, printed arrays) are read this far only

_KEY = r"[A-Z][A-Z0-9 _\-]{1,40}?"
_NOTE = re.compile(r"^(" + _KEY + r")\s*[:=]\s*(\S.*?)\s*$")
# "MODEL APPROACH: tf-idf, NUM FEATURES: 20000" holds two notes: split before ", KEY: ".
_NOTE_SPLIT = re.compile(r"\s*[,;|]\s+(?=" + _KEY + r":\s)")
# Log prefixes that look like notes but say nothing about the model.
_LOG_LEVELS = frozenset({"INFO", "DEBUG", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL", "NOTE"})
_NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
# "validation log loss: 0.51", "val_auc=0.9", "CV score 0.83", "holdout accuracy - 0.7",
# "Validation log loss (5-fold CV, C=3): 0.41". "_" separates words here (cv_auc), so the
# keyword's edges are letters/digits, not \b. A parenthesised qualifier belongs to the
# name; so does a number glued to a word (F1, valid_0, 5-fold) or followed by ": <number>"
# (fold 2: 0.9).
_SCORE = re.compile(
    r"(?<![A-Za-z0-9])(?P<name>(?:validation|valid|val|cv|oof|out[- ]of[- ]fold|holdout|"
    r"hold-out|cross[- ]validat\w*)(?![A-Za-z])(?:[\w \-/']|\([^()\n]{0,80}\)){0,40}?)"
    r"\s*(?:[:=]|\bis\b|-)?\s*"
    r"(?<![\w.])(?P<value>" + _NUMBER + r")(?!\w|\.\d|-[A-Za-z])(?!\s*[:=]\s*[-+]?\.?\d)",
    re.IGNORECASE,
)
# Names that count things rather than score them ("validation set size: 2000", "CV with 200
# estimators", "number of validation rows: 500"): the last word of the name, or the words
# just before it.
_COUNT_NAME = re.compile(
    r"\b(?:size|rows?|samples?|shape|count|examples?|records|length|len|n|folds?|with|seed|"
    r"epochs?|iter(?:ation)?s?|estimators|ratio|fraction|split|splits|batch)$",
    re.IGNORECASE,
)
_COUNT_PREFIX = re.compile(r"(?:\bn|\bnum|\bnumber of|\blen|\bsize of|\bcount of)[\s_]*$", re.IGNORECASE)


def _number(text: str) -> float | int | str:
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    try:
        return float(text) if re.fullmatch(_NUMBER, text) else text
    except ValueError:
        return text


def _notes(line: str) -> list[tuple[str, float | int | str]]:
    found = []
    for part in _NOTE_SPLIT.split(line):
        note = _NOTE.match(part)
        if note is None:
            continue
        key = " ".join(note.group(1).replace("_", " ").split())
        if key not in _LOG_LEVELS:
            found.append((key, _number(note.group(2)[:MAX_VALUE_CHARS])))
    return found


def extract_diagnostics(stdout: str) -> dict[str, Any]:
    """``{"notes": {KEY: value}, "validation": [{"name", "value"}]}`` from a program's output.

    Later lines win for repeated keys and score names (a program that prints the same
    score per fold, then once more at the end, is summarised by the last line); a score
    name seen again moves to the end, so the last entry is the latest score reported.
    At most 20 of each kind are kept.
    """
    notes: dict[str, float | int | str] = {}
    scores: list[dict[str, Any]] = []
    for raw in stdout.splitlines():
        line = raw.strip()[:MAX_LINE_CHARS]
        for key, value in _notes(line):
            if key in notes or len(notes) < MAX_NOTES:
                notes.pop(key, None)
                notes[key] = value
        for match in _SCORE.finditer(line):
            name = " ".join(match.group("name").replace("_", " ").split()).lower()
            if _COUNT_NAME.search(name) or _COUNT_PREFIX.search(line[: match.start()]):
                continue
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
