"""The text observation: the prompt an agent needs to write its next program, and its reader.

:func:`task_prompt` and :func:`observation` write it; :func:`parse_observation` reads it
back (the task, the limits, the solution to improve, this episode's attempts), so agents
never match its headings with their own regular expressions. The headings are constants here.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path

from mle_gym.diagnostics import format_diagnostics
from mle_gym.spec import TaskSpec

MAX_OBSERVATION_CHARS = 1 << 16
# The observation's headings and fixed lines (parse_observation reads them back).
TASK_HEADING = "# Task: "
IMPROVE_HEADING = "## Improve this solution"
IMPROVE_REQUEST = "Write an improved version of this program: a better score within the limits."
EARLIER_HEADING = "## Earlier attempts in this episode"
LAST_HEADING = "## Your last attempt (attempt "  # then the attempt's number and ")"
LAST_REQUEST = "Fix or improve it and answer with the whole new program."
LOWER_IS_BETTER = "(lower is better)"
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
    better = LOWER_IS_BETTER if spec.direction == "lower" else "(higher is better)"
    return f"""{TASK_HEADING}{spec.title} ({spec.env_id})

{(public / "description.md").read_text().strip()}

## Data files (read-only, in `input/`, also `$MLE_INPUT_DIR`)
{_describe_files(spec, public)}

## How your program runs
- One Python 3 program, run with the working directory holding `input/` (read-only),
  `working/` (scratch) and `submission/`.
- Write the submission to `submission/{spec.submission_file}` (also `$MLE_SUBMISSION_PATH`),
  columns: {", ".join([spec.id_column, *spec.target_columns])}.
- Metric: {spec.metric} {better}, computed on held-out test answers you cannot see.
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
            attempt_report(previous, IMPROVE_HEADING.removeprefix("## "))
            + "\n\n" + IMPROVE_REQUEST
        )
    if history:
        earlier = [
            f"- attempt {i + 1}: "
            + (f"score {a.score:.5g}" if a.valid and a.score is not None else "invalid")
            + f", {a.duration:.1f} s, milestones {len(a.milestones)}"
            for i, a in enumerate(history[:-1])
        ]
        if earlier:
            sections.append(EARLIER_HEADING + "\n" + "\n".join(earlier))
        last_title = f"{LAST_HEADING}{len(history)})".removeprefix("## ")
        sections.append(attempt_report(history[-1], last_title))
        sections.append(LAST_REQUEST)
    return sanitise("\n\n".join(sections))


# -- reading an observation back ------------------------------------------------------------

_ENV_ID = re.compile(r"\((?P<env_id>mle/(?P<slug>[A-Za-z0-9_.\-]+)-v\d+)\)")
_LIMITS = re.compile(r"Limits: (?P<seconds>[\d.]+) s wall-clock, (?P<memory>\S+) memory, "
                     r"(?P<cpus>[\d.]+) CPU")
_OUTCOME = re.compile(
    r"^Outcome: (?:valid submission, score (?P<score>\S+?)|no valid submission \((?P<reason>.*)\))"
    r"; ran (?P<duration>[\d.]+) s; milestones reached: (?P<milestones>.*?)\.$",
    re.MULTILINE,
)
_EARLIER = re.compile(
    r"^- attempt (?P<n>\d+): (?:score (?P<score>\S+)|invalid), (?P<duration>[\d.]+) s, "
    r"milestones (?P<count>\d+)",
    re.MULTILINE,
)
_CODE = re.compile(r"```python\n(?P<code>.*?)\n```", re.DOTALL)


@dataclass
class ReportedAttempt:
    """An attempt as an observation reports it (scores to 5 significant digits, durations
    to 0.1 s; earlier attempts give only their milestone count)."""

    number: int | None  # None for the solution improve mode starts from
    valid: bool
    score: float | None
    duration: float
    reason: str | None = None
    milestones: list[str] | None = None
    milestone_count: int = 0
    program: str | None = None  # as shown: long programs are cut
    report: str = ""  # the whole section, without the request that follows it


@dataclass
class ParsedObservation:
    """What :func:`observation` put in, read back from its text."""

    task: str | None  # the task's slug, from the env id on the first line
    env_id: str | None
    task_prompt: str  # the part that never changes within an episode
    lower_is_better: bool
    time_limit: float | None
    memory_limit: str | None
    cpus: float | None
    previous: ReportedAttempt | None  # improve mode's starting solution
    earlier: list[ReportedAttempt]  # this episode's attempts before the last
    last: ReportedAttempt | None

    @property
    def attempts(self) -> list[ReportedAttempt]:
        """This episode's attempts, in order (the last one in full)."""
        return [*self.earlier, *([self.last] if self.last else [])]


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _reported(section: str, number: int | None) -> ReportedAttempt:
    outcome = _OUTCOME.search(section)
    code = _CODE.search(section, outcome.end() if outcome else 0)
    if outcome is None:
        return ReportedAttempt(number, False, None, 0.0, program=code and code["code"],
                               report=section)
    score = _number(outcome["score"])
    milestones = [] if outcome["milestones"] == "none" else outcome["milestones"].split(", ")
    return ReportedAttempt(
        number=number,
        valid=score is not None,
        score=score,
        duration=float(outcome["duration"]),
        reason=outcome["reason"],
        milestones=milestones,
        milestone_count=len(milestones),
        program=code and code["code"],
        report=section,
    )


def parse_observation(text: str) -> ParsedObservation:
    """Read an observation back: the task, its limits, the solution to improve and this
    episode's attempts. Parts that are missing are None (or empty)."""
    last_at = text.rfind(LAST_HEADING)
    last = None
    if last_at >= 0:
        section = text[last_at:].rstrip()
        # sanitise() may have cut the text, or added a note after the request.
        section = section.split("\n\n" + LAST_REQUEST)[0].rstrip()
        number = re.match(re.escape(LAST_HEADING) + r"(\d+)\)", section)
        last = _reported(section, int(number[1]) if number else None)
    head = text[:last_at] if last_at >= 0 else text
    earlier: list[ReportedAttempt] = []
    earlier_at = head.find("\n\n" + EARLIER_HEADING)
    if earlier_at >= 0:
        for match in _EARLIER.finditer(head, earlier_at):
            score = _number(match["score"])
            earlier.append(ReportedAttempt(int(match["n"]), score is not None, score,
                                           float(match["duration"]),
                                           milestone_count=int(match["count"])))
        head = head[:earlier_at]
    previous = None
    improve_at = head.find("\n\n" + IMPROVE_HEADING)
    if improve_at >= 0:
        section = head[improve_at + 2:].strip().split("\n\n" + IMPROVE_REQUEST)[0].rstrip()
        previous = _reported(section, None)
        head = head[:improve_at]
    first = head.lstrip().split("\n", 1)[0]
    env_id = _ENV_ID.search(first)
    limits = _LIMITS.search(head)
    return ParsedObservation(
        task=env_id["slug"] if env_id else None,
        env_id=env_id["env_id"] if env_id else None,
        task_prompt=head.strip(),
        lower_is_better=LOWER_IS_BETTER in head,
        time_limit=_number(limits["seconds"]) if limits else None,
        memory_limit=limits["memory"] if limits else None,
        cpus=_number(limits["cpus"]) if limits else None,
        previous=previous,
        earlier=earlier,
        last=last,
    )
