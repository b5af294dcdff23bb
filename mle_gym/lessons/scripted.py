"""A scripted agent with bad habits that lessons can cure: the lessons mechanism, measured
without a language model.

:class:`HabitAgent` submits a task's reference programs (``tasks/<slug>/solutions/``): the
fast one until it is valid, then the strong one, then the better of the two (``strong=False``:
the fast one only). It has habits
that break its programs:

* ``missing-module``: it starts every program with ``import xgboost``, which the sandbox
  does not have;
* ``columns``: it rewrites the submission with its column names in upper case.

Like a forgetful engineer it fixes a habit within an episode once the observation shows
the error it causes (the missing module in the error output; the header the grader asked
for), and forgets the fix at the next episode. What it keeps across episodes is what its
system prompt says: it reads the lesson text there (``Do not import xgboost``, ``exactly
the columns id,target``) and acts on what the text names, so a lesson helps only if it is
specific, and a wrong header in a lesson breaks it.
"""

from __future__ import annotations

import re

from mle_gym.agents.templates import reference_program, task_from_observation
from mle_gym.prompt import parse_observation
from mle_gym.spec import load_task

HABITS = ("missing-module", "columns")
_DO_NOT_IMPORT = re.compile(r"Do not import ([A-Za-z0-9_]+)")
_COLUMNS_LESSON = re.compile(r"exactly the columns ([^\s(]+)")
_HEADER_ASKED = re.compile(r"The header must be: ([^\s;)]+)")
_NO_MODULE = re.compile(r"No module named '([A-Za-z0-9_]+)'")


class HabitAgent:
    """Reference programs with habits (:data:`HABITS`); ``system_prompt`` is read each step."""

    def __init__(self, habits: tuple[str, ...] | list[str] = HABITS, module: str = "xgboost",
                 strong: bool = True) -> None:
        unknown = set(habits) - set(HABITS)
        if unknown:
            raise ValueError(f"unknown habits {sorted(unknown)}; known: {', '.join(HABITS)}")
        self.habits = tuple(habits)
        self.module = module
        self.strong = strong  # False: only the fast program (short measurement runs)
        self.system_prompt = ""
        self.task: str | None = None
        self._avoid: set[str] = set()  # modules this episode's errors named
        self._header: str | None = None  # the header this episode's grader asked for
        self._levels: list[str] = []

    def reset(self, task: str, seed: int | None = None) -> None:
        self.task = load_task(task).slug
        self._avoid, self._header, self._levels = set(), None, []

    def act(self, observation: str) -> str:
        parsed = parse_observation(observation)
        task = self.task or task_from_observation(observation)
        if parsed.last is None:  # a new episode: within-episode fixes are forgotten
            self._avoid, self._header, self._levels = set(), None, []
        else:
            report = parsed.last.report
            self._avoid |= set(_NO_MODULE.findall(report))
            asked = _HEADER_ASKED.search(report)
            if asked:
                self._header = asked[1]
        level = self._level(parsed)
        self._levels.append(level)
        code = reference_program(task, level)
        avoid = self._avoid | set(_DO_NOT_IMPORT.findall(self.system_prompt))
        if "missing-module" in self.habits and self.module not in avoid:
            code = f"import {self.module}  # boosted trees, just in case\n" + code
        if "columns" in self.habits:
            told = _COLUMNS_LESSON.search(self.system_prompt)
            header = self._header or (told[1].rstrip(".,;") if told else None)
            names = repr(header.split(",")) if header else "[c.upper() for c in _sub.columns]"
            code += (
                "\n# tidy the submission's column names\n"
                "import os as _os\nimport pandas as _pd\n"
                "_path = _os.environ.get('MLE_SUBMISSION_PATH', 'submission/submission.csv')\n"
                "_sub = _pd.read_csv(_path)\n"
                f"_sub.columns = {names}\n"
                "_sub.to_csv(_path, index=False)\n"
            )
        return f"Plan: the {level} reference model.\n\n```python\n{code.rstrip()}\n```\n"

    def _level(self, parsed) -> str:  # type: ignore[no-untyped-def]
        """fast until one is valid, then strong, then the better of the two."""
        if not self.strong:
            return "fast"
        outcomes = list(zip(self._levels, parsed.attempts, strict=False))
        valid = {lv: a.score for lv, a in outcomes if a.valid and a.score is not None}
        if "fast" not in valid:
            return "fast" if "strong" not in valid else "strong"
        if "strong" not in valid and self._levels.count("strong") == 0:
            return "strong"
        if "strong" not in valid:
            return "fast"
        better_strong = (valid["strong"] < valid["fast"]) if parsed.lower_is_better else (
            valid["strong"] > valid["fast"])
        return "strong" if better_strong else "fast"


__all__ = ["HABITS", "HabitAgent"]
