"""Build the text observation: the prompt an agent needs to write its next program."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

from mle_gym.diagnostics import format_diagnostics
from mle_gym.spec import TaskSpec

MAX_OBSERVATION_CHARS = 1 << 16
PROGRAM_CHARS = 12_000
OUTPUT_CHARS = 3_000

# Every character an observation may hold: printable ASCII, tab, newline and the Basic
# Multilingual Plane minus surrogates. Anything else is replaced by "?".
CHARSET = "\t\n" + string.printable[:95] + "".join(
    chr(c) for r in ((0xA0, 0xD800), (0xE000, 0xFFFE)) for c in range(*r)
)
_ALLOWED = frozenset(CHARSET)


def sanitise(text: str, limit: int = MAX_OBSERVATION_CHARS) -> str:
    """Fit text into the observation space: allowed characters, bounded length."""
    if len(text) > limit:
        text = text[: limit - 40] + "\n[... observation truncated ...]\n"
    if all(ch in _ALLOWED for ch in text):
        return text
    return "".join(ch if ch in _ALLOWED else "?" for ch in text)


def clip(text: str, limit: int, keep: str = "tail") -> str:
    if len(text) <= limit:
        return text
    if keep == "tail":
        return "[... earlier output cut ...]\n" + text[-limit:]
    return text[:limit] + "\n[... rest cut ...]"


@dataclass
class Attempt:
    """One earlier program and what came of it, as the agent may see it."""

    program: str
    milestones: list[str] = field(default_factory=list)
    score: float | None = None
    valid: bool = False
    invalid_reason: str | None = None
    duration: float = 0.0
    stdout: str = ""
    stderr: str = ""
    reward: float | None = None
    diagnostics: dict = field(default_factory=dict)

    @classmethod
    def from_previous(cls, previous: str | dict) -> Attempt:
        """``reset(options={"previous": ...})`` accepts a program or a dict of these fields."""
        if isinstance(previous, str):
            return cls(program=previous, valid=True)
        known = set(cls.__dataclass_fields__)
        unknown = set(previous) - known
        if unknown:
            raise ValueError(f"unknown fields in 'previous': {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{"valid": previous.get("score") is not None, **previous})


def _describe_files(spec: TaskSpec, public: Path) -> str:
    lines = []
    for entry in spec.public_files:
        path = public / entry.name
        size = ""
        if path.is_file():
            n = path.stat().st_size
            size = f", {n / 2**20:.1f} MiB" if n >= 2**20 else f", {n / 2**10:.0f} KiB"
        cols = f"; columns: {', '.join(entry.columns)}" if entry.columns else ""
        lines.append(f"- `{entry.name}`{size}: {entry.description}{cols}")
    return "\n".join(lines)


def task_prompt(spec: TaskSpec, public: Path, time_limit: float, memory_limit: str, cpus: float) -> str:
    """The part of the observation that never changes within an episode."""
    better = "lower is better" if spec.direction == "lower" else "higher is better"
    return f"""# Task: {spec.title} ({spec.env_id})

{(public / "description.md").read_text().strip()}

## Data files (read-only, in `input/`, also `$MLE_INPUT_DIR`)
{_describe_files(spec, public)}

## How your program runs
- One Python 3 program, run with the working directory holding `input/` (read-only),
  `working/` (scratch) and `submission/`.
- Write the submission to `submission/{spec.submission_file}` (also `$MLE_SUBMISSION_PATH`),
  columns: {", ".join([spec.id_column, *spec.target_columns])}.
- Metric: {spec.metric} ({better}), computed on held-out test answers you cannot see.
- Limits: {time_limit:g} s wall-clock, {memory_limit} memory, {cpus:g} CPU(s), no network.
- Installed: numpy, pandas, scipy, scikit-learn, lightgbm, Pillow.
- Print your validation score and a line `MODEL APPROACH: ...`; they are shown back to you.

Answer with a short plan, then the whole program in one ```python block."""


def attempt_report(attempt: Attempt, title: str) -> str:
    outcome = (
        f"valid submission, score {attempt.score:.5g}"
        if attempt.valid and attempt.score is not None
        else f"no valid submission ({attempt.invalid_reason or 'unknown reason'})"
    )
    parts = [
        f"## {title}",
        f"Outcome: {outcome}; ran {attempt.duration:.1f} s; "
        f"milestones reached: {', '.join(attempt.milestones) or 'none'}.",
        "```python\n" + clip(attempt.program, PROGRAM_CHARS, keep="head") + "\n```",
    ]
    reported = format_diagnostics(attempt.diagnostics)
    if reported:
        parts.append("What the program reported (model, validation):\n" + reported)
    if attempt.stdout.strip():
        parts.append("Standard output (tail):\n```\n" + clip(attempt.stdout, OUTPUT_CHARS) + "\n```")
    if attempt.stderr.strip():
        parts.append("Standard error (tail):\n```\n" + clip(attempt.stderr, OUTPUT_CHARS) + "\n```")
    return "\n".join(parts)


def observation(base: str, history: list[Attempt], previous: Attempt | None) -> str:
    """Base prompt, then the solution to improve (improve mode), then this episode's attempts."""
    sections = [base]
    if previous is not None:
        sections.append(
            attempt_report(previous, "Improve this solution")
            + "\n\nWrite an improved version of this program: a better score within the limits."
        )
    if history:
        earlier = [
            f"- attempt {i + 1}: "
            + (f"score {a.score:.5g}" if a.valid and a.score is not None else "invalid")
            + f", {a.duration:.1f} s, milestones {len(a.milestones)}"
            for i, a in enumerate(history[:-1])
        ]
        if earlier:
            sections.append("## Earlier attempts in this episode\n" + "\n".join(earlier))
        sections.append(attempt_report(history[-1], f"Your last attempt (attempt {len(history)})"))
        sections.append("Fix or improve it and answer with the whole new program.")
    return sanitise("\n\n".join(sections))
