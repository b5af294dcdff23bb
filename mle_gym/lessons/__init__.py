"""Lessons: agents that reflect on their attempts and keep what they learn.

After each episode the attempts and their outcomes go to a reflector (rules over failure
signatures, or a chat model answering JSON operations); what it learns is kept as short,
actionable lessons in a :class:`LessonBook` (SQLite, several writers); a :class:`Curator`
merges near-duplicates, prunes by credit and age, caps each scope, and picks the lessons
that fit a prompt budget; a :class:`LessonsAgent` puts them into any agent's system prompt
and credits them with the episode's outcome; :func:`sft_pairs` turns answers written with
lessons into supervised pairs without them, for distillation into the weights.

    mle-gym run spooky-author --agent llm --lessons lessons.db
    mle-gym lessons show lessons.db
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported when first used, so that the CLI's parser (which imports mle_gym.lessons.cli)
# stays light.
_WHERE = {
    "LessonsAgent": "agent", "set_system_prompt": "agent",
    "BookError": "book", "Lesson": "book", "LessonBook": "book", "metric_family": "book",
    "task_scopes": "book",
    "Curator": "curate", "credit_episode": "curate", "similarity": "curate",
    "sft_pairs": "distill", "write_pairs": "distill",
    "AttemptRecord": "reflect", "ModelReflector": "reflect", "Reflection": "reflect",
    "RuleReflector": "reflect", "failure_signature": "reflect", "parse_operations": "reflect",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'mle_gym.lessons' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mle_gym.lessons.{_WHERE[name]}"), name)


__all__ = [
    "AttemptRecord",
    "BookError",
    "Curator",
    "Lesson",
    "LessonBook",
    "LessonsAgent",
    "ModelReflector",
    "Reflection",
    "RuleReflector",
    "credit_episode",
    "failure_signature",
    "metric_family",
    "parse_operations",
    "set_system_prompt",
    "sft_pairs",
    "similarity",
    "task_scopes",
    "write_pairs",
]
