"""Self-reflections grounded in executed outcomes: why the expert's program was the better one.

A :class:`Group` is one state's expert step and its alternatives' steps (records from
:func:`mle_gym.experience.collect.collect`). A reflector turns it into text or None:

* :class:`TemplateReflector` (no model): a fixed-wording comparison built only from the
  recorded outcomes (validity and why, score, run time, milestones).
* :class:`ChatReflector`: a chat model through :class:`mle_gym.llm.ChatClient`, with the
  fixed template :data:`REFLECTION_PROMPT`. The programs are shown under neutral names in a
  seeded order; the model must end with ``Best: Program N``.

Either way the reflection's conclusion is checked against the outcomes: when the program it
names best is not the expert's (or the expert's is not the best by the recorded outcomes),
the reflection is dropped (None), as the paper does.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Any, Protocol

from mle_gym.prompt import clip

MAX_PROGRAM_CHARS = 2500


@dataclass
class Group:
    """One expert state: the expert's record and the alternatives' records."""

    task: str
    state: str
    direction: str  # "higher" or "lower": the metric's better direction
    metric: str
    expert: dict[str, Any]
    alternatives: list[dict[str, Any]]


def _ok(record: dict[str, Any]) -> bool:
    return bool(record.get("valid")) and not record.get("no_model_trained") and (
        record.get("score") is not None and math.isfinite(float(record["score"])))


def rank_key(record: dict[str, Any], direction: str) -> tuple:
    """Sort key, smallest best: valid first, then the better score, then the shorter run;
    invalid programs by milestones reached."""
    if _ok(record):
        score = float(record["score"])
        return (0, -score if direction == "higher" else score, float(record.get("duration") or 0))
    return (1, -len(record.get("milestones") or []), float(record.get("duration") or 0))


def best_of(group: Group) -> dict[str, Any]:
    """The best record by the recorded outcomes (the expert on ties: it is listed first)."""
    return min([group.expert, *group.alternatives], key=lambda r: rank_key(r, group.direction))


def expert_is_best(group: Group) -> bool:
    return _ok(group.expert) and best_of(group) is group.expert


def outcome_sentence(record: dict[str, Any]) -> str:
    """What happened when the program ran, in one sentence, from the record alone."""
    milestones = record.get("milestones") or []
    reached = f"reached {len(milestones)} milestone(s)" + (f" (last: {milestones[-1]})"
                                                          if milestones else "")
    duration = float(record.get("duration") or 0.0)
    if _ok(record):
        return f"valid submission, score {float(record['score']):.5g}, in {duration:.1f} s; {reached}"
    why = record.get("invalid_reason") or "no valid submission"
    if record.get("no_model_trained"):
        why = f"its submission does not come from a trained model ({record.get('invalid_reason')})"
    tail = (record.get("stderr_tail") or "").strip().splitlines()
    error = f"; the error was: {tail[-1][:200]}" if tail and not _ok(record) else ""
    return f"no valid submission ({why}) after {duration:.1f} s; {reached}{error}"


def _describe(record: dict[str, Any]) -> str:
    return record.get("description") or record.get("kind") or "a program"


def _why_better(group: Group, expert: dict[str, Any]) -> str:
    valid = [r for r in group.alternatives if _ok(r)]
    if not valid:
        return "it is the only program here that produced a valid submission"
    runner_up = min(valid, key=lambda r: rank_key(r, group.direction))
    e, r = float(expert["score"]), float(runner_up["score"])
    if e != r:
        return (f"it scored {e:.5g} against the best alternative's {r:.5g} "
                f"({group.metric}, {group.direction} is better)")
    return (f"it scored as well as the best alternative ({e:.5g}) and ran "
            f"{float(expert.get('duration') or 0):.1f} s against "
            f"{float(runner_up.get('duration') or 0):.1f} s")


class Reflector(Protocol):
    def __call__(self, group: Group) -> str | None: ...


class TemplateReflector:
    """A deterministic reflection from the recorded outcomes; None unless the expert's step is
    the best of its group."""

    name = "template"

    def __call__(self, group: Group) -> str | None:
        if not expert_is_best(group):
            return None
        lines = ["Before writing the program, compare what similar programs did when they ran "
                 "on this task:"]
        for record in group.alternatives:
            lines.append(f"- A program that {_describe(record)}: {outcome_sentence(record)}.")
        lines.append(f"- The program below: {outcome_sentence(group.expert)}.")
        lines.append(f"Conclusion: the program below is the best choice because "
                     f"{_why_better(group, group.expert)}.")
        return "\n".join(lines)


REFLECTION_PROMPT = """You are reviewing programs written for one machine-learning task. Each program was \
run in the task's environment; its real outcome is given. Compare the outcomes, explain in a \
few sentences what made the best program better than the others (validity, score, run time, \
errors), and finish with one line exactly of the form "Best: Program N".

Task: {task} (metric {metric}, {direction} is better).

{programs}"""

_BEST = re.compile(r"^\s*Best:\s*Program\s+(\d+)\s*\.?\s*$", re.MULTILINE | re.IGNORECASE)


class ChatReflector:
    """Reflections written by a chat model (``client``: a :class:`mle_gym.llm.ChatClient`)."""

    name = "chat"

    def __init__(self, client: Any, seed: int = 0, max_tokens: int = 600) -> None:
        self.client = client
        self.seed = seed
        self.max_tokens = max_tokens

    def prompt(self, group: Group) -> tuple[str, int]:
        """The request text and the expert's program number in it."""
        records = [group.expert, *group.alternatives]
        order = list(range(len(records)))
        random.Random(f"{self.seed}:{group.task}:{group.state}").shuffle(order)
        parts = []
        for number, index in enumerate(order, 1):
            record = records[index]
            program = clip(record.get("extracted_program") or record.get("program") or "",
                           MAX_PROGRAM_CHARS, keep="head")
            parts.append(f"## Program {number}\nOutcome: {outcome_sentence(record)}.\n"
                         f"```python\n{program}\n```")
        text = REFLECTION_PROMPT.format(task=group.task, metric=group.metric,
                                        direction=group.direction, programs="\n\n".join(parts))
        return text, order.index(0) + 1

    def __call__(self, group: Group) -> str | None:
        if not expert_is_best(group):
            return None
        text, expert_number = self.prompt(group)
        answer = self.client.chat([{"role": "user", "content": text}], temperature=0.0,
                                  max_tokens=self.max_tokens)
        found = _BEST.findall(answer)
        if not found or int(found[-1]) != expert_number:
            return None  # its conclusion is not the expert's action: dropped
        # The numbers mean nothing without the request: name the chosen one plainly.
        body = _BEST.sub("", answer).strip()
        body = re.sub(rf"\bProgram {expert_number}\b", "the program below", body)
        return f"{body}\nConclusion: the program below is the best choice."


__all__ = ["REFLECTION_PROMPT", "ChatReflector", "Group", "Reflector", "TemplateReflector",
           "best_of", "expert_is_best", "outcome_sentence", "rank_key"]
