"""Distillation: supervised pairs that teach a model what its lessons taught it.

A pair is ``{"prompt": the observation, "completion": the answer}`` where the answer was
written with lessons in the system prompt and scored well, and the prompt is the
observation alone, without the lessons: trained on such pairs, a model answers as if it had
read them, and the prompt need not carry them any more (Karpathy's "sleep").

The steps come from the book (the lessons agent records every attempt it makes, with the
lessons it showed, in the trajectory layout of :mod:`mle_gym.trajectories`) or from
trajectory files joined with the book: a trajectory step counts as written with lessons
when the book holds an attempt with lessons for the same observation and program.
Filtering (valid, a model trained, reward at least ``min_reward``, duplicates dropped) is
:func:`mle_gym.trajectories.to_sft_pairs`'.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mle_gym.lessons.book import LessonBook
from mle_gym.trajectories import load_trajectories, to_sft_pairs


def _key(observation: str | None, program: str | None) -> str:
    blob = json.dumps([observation or "", program or ""])
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def with_lessons(book: LessonBook) -> dict[str, dict[str, Any]]:
    """The book's attempts that had lessons in their prompt, by (observation, program)."""
    return {_key(r.get("observation"), r.get("program")): r for r in book.attempts() if r.get("lessons")}


def sft_pairs(
    book: LessonBook | str | os.PathLike[str],
    trajectories: str | os.PathLike[str] | Iterable[dict[str, Any]] | None = None,
    min_reward: float | None = None,
    better_than_without: bool = True,
) -> list[dict[str, Any]]:
    """``{"prompt", "completion", "reward", "task", "lessons"}`` rows for SFT.

    ``trajectories``: None for the book's own attempts, else trajectory records (a file, a
    folder, a glob or the records) of which the steps written with lessons are kept.
    ``better_than_without``: also require a reward above the task's best without lessons in
    the same source (when there is one): lessons that did not beat the plain agent teach nothing.
    """
    book = book if isinstance(book, LessonBook) else LessonBook(book)
    known = with_lessons(book)
    lesson_text = {x.id: x.text for x in book.lessons()}
    if trajectories is None:
        records = book.attempts()
    elif isinstance(trajectories, (str, os.PathLike)):
        records = load_trajectories(trajectories)
    else:
        records = list(trajectories)
    used, plain_best = [], {}
    for record in records:
        found = known.get(_key(record.get("observation"), record.get("program")))
        if found is None:
            reward = record.get("raw_reward", record.get("reward"))
            if record.get("valid") and reward is not None:
                task = record.get("task")
                plain_best[task] = max(plain_best.get(task, float("-inf")), float(reward))
            continue
        used.append({**record, "task": record.get("task") or found["task"],
                     "lessons": found["lessons"]})
    rows = []
    for record in used:
        pair = to_sft_pairs([record], min_reward=min_reward)
        if not pair:
            continue
        floor = plain_best.get(record["task"]) if better_than_without else None
        if floor is not None and pair[0]["reward"] is not None and pair[0]["reward"] <= floor:
            continue
        rows.append({**pair[0], "task": record["task"],
                     "lessons": [lesson_text.get(i, "") for i in record["lessons"] if i in lesson_text]})
    seen, unique = set(), []
    for row in rows:  # one pair per (prompt, completion)
        key = (row["prompt"], row["completion"])
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


def write_pairs(rows: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> int:
    """Write pairs as JSONL (what ``baselines/distill_lessons.py --pairs`` reads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def read_pairs(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


__all__ = ["read_pairs", "sft_pairs", "with_lessons", "write_pairs"]
