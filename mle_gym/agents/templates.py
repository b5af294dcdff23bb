"""Template agents: a sanity baseline that submits each task's reference programs.

``TemplateAgent("fast")`` and ``TemplateAgent("strong")`` answer with the task's own
scikit-learn programs (``tasks/<slug>/solutions/{fast,strong}.py``), wrapped in a short
markdown answer with a plan. They read the observation like any agent must: whether the
last attempt was valid, its score, how long it ran and the time limit, and pick what to
submit next:

* the fast agent submits the fast program, then the strong one when the fast run suggests
  it fits the time limit, then whichever scored better;
* the strong agent submits the strong program and falls back to the fast one when it
  fails (a timeout, a crash, running out of memory);
* in improve mode the previous solution counts as an attempt of the level it matches.

No model is called; what they score is what a careful human baseline scores, which makes
them the floor every learning agent should clear.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from mle_gym.instrument.threadsafe import AST_LOCK
from mle_gym.prompt import ParsedObservation, ReportedAttempt, parse_observation
from mle_gym.spec import load_task, tasks_root

LEVELS = ("fast", "strong")
# The strong programs run about 3-6x longer than the fast ones on every lite task (see the
# timings in tasks/*/task.yaml); assume 6x so "fits the limit" errs on the safe side.
STRONG_SLOWDOWN = 6.0

@dataclass
class Outcome:
    """What became of one program, as read from the observation."""

    level: str | None  # "fast", "strong", or None when it is not a reference program
    valid: bool
    score: float | None
    duration: float
    reason: str | None = None


@functools.cache
def reference_program(slug: str, level: str) -> str:
    """The text of ``tasks/<slug>/solutions/<level>.py``."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    path = tasks_root() / slug / "solutions" / f"{level}.py"
    if not path.is_file():
        raise FileNotFoundError(
            f"no reference program at {path}; a task needs solutions/fast.py and "
            "solutions/strong.py for the template agents (or set MLE_GYM_TASKS_DIR)"
        )
    return path.read_text()


def task_from_observation(observation: str) -> str:
    """The task slug named on the observation's first line (``# Task: ... (mle/<slug>-v0)``)."""
    task = parse_observation(observation).task
    if task is None:
        first = observation.lstrip().split("\n", 1)[0]
        raise ValueError(
            "cannot tell the task: call agent.reset(task, seed) first, or pass an observation "
            f"whose first line names the env id 'mle/<task>-v0' (got {first[:120]!r})"
        )
    return load_task(task).slug


def _plan_of(source: str) -> str:
    """The first paragraph of the program's docstring, on one line."""
    try:
        with AST_LOCK:  # agents act in threads beside the pool's workers (leaderboard)
            doc = ast.get_docstring(ast.parse(source)) or ""
    except SyntaxError:
        doc = ""
    return " ".join(doc.split("\n\n", 1)[0].split())


class TemplateAgent:
    """Submits the task's fast or strong reference program, adapting to what happened.

    ``level`` is the program it starts with: ``"fast"`` (then the strong one if time
    allows) or ``"strong"`` (then the fast one if the strong one fails).
    """

    def __init__(self, level: str = "fast") -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
        self.level = level
        self.other = "strong" if level == "fast" else "fast"
        self.task: str | None = None
        self._sent: list[str] = []  # levels submitted in this episode, in order

    # -- Agent protocol ---------------------------------------------------------------------

    def reset(self, task: str, seed: int | None = None) -> None:
        self.task = load_task(task).slug
        self._sent = []

    def act(self, observation: str) -> str:
        task = self.task or task_from_observation(observation)
        parsed = parse_observation(observation)
        if parsed.last is None:
            self._sent = []  # a fresh episode, even when reset() was not called
        outcomes = self._read_outcomes(parsed, task)
        level, why = self._choose(parsed, outcomes)
        self._sent.append(level)
        source = reference_program(task, level)
        return (
            f"Plan: {why} This program: {_plan_of(source)}\n\n"
            f"```python\n{source.rstrip()}\n```\n"
        )

    # -- reading the observation ------------------------------------------------------------

    def _level_of(self, task: str, program: str | None) -> str | None:
        if program is None:
            return None
        for level in LEVELS:
            if program.strip() == reference_program(task, level).strip():
                return level
        return None

    def _read_outcomes(self, parsed: ParsedObservation, task: str) -> list[Outcome]:
        """The previous solution (improve mode) then this episode's attempts, in order."""
        outcomes: list[Outcome] = []
        if parsed.previous is not None:
            previous = parsed.previous
            outcomes.append(self._outcome(previous, self._level_of(task, previous.program)))
        if parsed.last is None:
            return outcomes
        count = parsed.last.number or len(parsed.attempts)
        # Our own log names each attempt's program when it matches the observation's count.
        levels: list[str | None] = list(self._sent) if len(self._sent) == count else [None] * count
        levels[-1] = self._level_of(task, parsed.last.program) or levels[-1]
        for attempt in parsed.earlier:
            if attempt.number is not None and 1 <= attempt.number < count:
                outcomes.append(self._outcome(attempt, levels[attempt.number - 1]))
        outcomes.append(self._outcome(parsed.last, levels[-1]))
        return outcomes

    @staticmethod
    def _outcome(attempt: ReportedAttempt, level: str | None) -> Outcome:
        return Outcome(level, attempt.valid, attempt.score, attempt.duration, attempt.reason)

    # -- choosing -----------------------------------------------------------------------------

    def _choose(self, parsed: ParsedObservation, outcomes: list[Outcome]) -> tuple[str, str]:
        """The level to submit next and a one-line reason, shown as the plan."""
        seen = [o for o in outcomes if o.level is not None]
        by_level: dict[str, list[Outcome]] = {lv: [o for o in seen if o.level == lv] for lv in LEVELS}
        lower = parsed.lower_is_better
        limit = parsed.time_limit

        def best(level: str) -> Outcome | None:
            valid = [o for o in by_level[level] if o.valid and o.score is not None]
            if not valid:
                return None
            return min(valid, key=lambda o: o.score) if lower else max(valid, key=lambda o: o.score)

        mine, other = by_level[self.level], by_level[self.other]
        if not mine:
            if self.level == "fast" and other and best("strong") is not None:
                return "strong", "The strong program already gave a valid submission; resubmit it."
            return self.level, f"Start with the {self.level} reference model."
        if not other:
            last = mine[-1]
            if not last.valid:
                return self.other, (
                    f"The {self.level} program failed ({last.reason or 'no valid submission'}); "
                    f"fall back to the {self.other} one."
                )
            if self.level == "fast":
                projected = last.duration * STRONG_SLOWDOWN
                if limit is None or projected <= limit:
                    return "strong", (
                        f"The fast program was valid (score {last.score:.5g}) in "
                        f"{last.duration:.1f} s, so the stronger, slower model should fit "
                        f"the {'unknown' if limit is None else f'{limit:g} s'} limit "
                        f"(about {projected:.0f} s)."
                    )
                return "fast", (
                    f"The fast program took {last.duration:.1f} s; the strong one would need "
                    f"about {projected:.0f} s, over the {limit:g} s limit, so keep the fast one."
                )
        # Both tried (or nothing left to try): resubmit the better valid one.
        candidates = [(lv, best(lv)) for lv in LEVELS if best(lv) is not None]
        if candidates:
            pick = (min if lower else max)(candidates, key=lambda c: c[1].score)
            return pick[0], f"Resubmit the best valid program so far (score {pick[1].score:.5g})."
        return self.level, (
            "Neither reference program gave a valid submission; retry the "
            f"{self.level} one (failures under load can be transient)."
        )


class FastTemplateAgent(TemplateAgent):
    """``template-fast``: the fast program first, then the strong one if time allows."""

    def __init__(self) -> None:
        super().__init__("fast")


class StrongTemplateAgent(TemplateAgent):
    """``template-strong``: the strong program, the fast one if it fails."""

    def __init__(self) -> None:
        super().__init__("strong")


__all__ = [
    "LEVELS",
    "FastTemplateAgent",
    "Outcome",
    "StrongTemplateAgent",
    "TemplateAgent",
    "reference_program",
    "task_from_observation",
]
