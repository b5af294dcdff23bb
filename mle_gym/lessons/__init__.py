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

from mle_gym.lessons.agent import LessonsAgent, set_system_prompt
from mle_gym.lessons.book import BookError, Lesson, LessonBook, metric_family, task_scopes
from mle_gym.lessons.curate import Curator, credit_episode, similarity
from mle_gym.lessons.distill import sft_pairs, write_pairs
from mle_gym.lessons.reflect import (
    AttemptRecord,
    ModelReflector,
    Reflection,
    RuleReflector,
    failure_signature,
    parse_operations,
)

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
