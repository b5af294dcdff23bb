"""The lessons agent: any agent with a system prompt, given the book's best lessons for the task.

    agent = LessonsAgent(load_agent("llm"), "lessons.db")
    result = run_episode(env, agent, seed=0)
    agent.end_episode()   # credit, reflect, curate (reset() does it too for the last episode)

At ``reset`` it picks the lessons for the task (its own, its metric family's and every
task's; ranked and budgeted by the :class:`~mle_gym.lessons.curate.Curator`) and puts them
into the wrapped agent's system prompt through the optional system-prompt hook of the agent
protocol: ``set_system_prompt(text)``, else a ``system_prompt`` attribute. It passes every
call through and keeps each step's program and ``info``. When the episode ends it credits
the lessons it showed, records the episode and its attempts in the book, lets the
reflectors learn from the attempts and curates the book. ``learn=False`` only reads.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from mle_gym.lessons.book import LessonBook
from mle_gym.lessons.curate import Curator, credit_episode
from mle_gym.lessons.reflect import AttemptRecord, failure_signature, make_reflectors
from mle_gym.prompt import parse_observation
from mle_gym.spec import TaskSpec, load_task


def has_system_prompt(agent: Any) -> bool:
    return callable(getattr(agent, "set_system_prompt", None)) or isinstance(
        getattr(agent, "system_prompt", None), str)


def set_system_prompt(agent: Any, text: str) -> None:
    """The agent protocol's optional hook: ``set_system_prompt(text)`` or ``system_prompt``."""
    setter = getattr(agent, "set_system_prompt", None)
    if callable(setter):
        setter(text)
    elif isinstance(getattr(agent, "system_prompt", None), str):
        agent.system_prompt = text
    else:
        raise TypeError(
            f"{type(agent).__name__} has no system prompt to put lessons into: give it a "
            "`system_prompt` str attribute or a `set_system_prompt(text)` method (the llm "
            "agent has both)")


class LessonsAgent:
    """Wraps ``agent`` (an agent with a system-prompt hook) with the lesson book at ``book``.

    ``reflector``: ``"rule"`` (default, no model), ``"model"`` (the chat model of the
    ``MLE_GYM_LLM_*`` variables, or ``client``), ``"both"``, ``"none"``, or a list of
    reflector objects. ``learn=False`` shows lessons but changes nothing in the book.
    """

    def __init__(self, agent: Any, book: LessonBook | str | os.PathLike[str], *,
                 learn: bool = True, reflector: str | list[Any] = "rule",
                 curator: Curator | None = None, client: Any = None) -> None:
        if not has_system_prompt(agent):
            set_system_prompt(agent, "")  # raises the error that says what to add
        self.agent = agent
        self.book = book if isinstance(book, LessonBook) else LessonBook(book)
        self.learn = learn
        self.reflectors = make_reflectors(reflector, client) if isinstance(reflector, str) else list(reflector)
        self.curator = curator or Curator()
        getter = getattr(agent, "system_prompt", "")
        self.base_prompt: str = getter if isinstance(getter, str) else ""
        self.spec: TaskSpec | None = None
        self.seed: int | None = None
        self.episode: str | None = None
        self.shown: list[int] = []
        self.attempts: list[AttemptRecord] = []
        self.records: list[dict[str, Any]] = []
        self._pending: tuple[str, str] | None = None  # (observation, answer) awaiting its info

    # -- Agent protocol ---------------------------------------------------------------------

    def reset(self, task: str, seed: int | None = None) -> None:
        self.end_episode()
        self.seed = seed
        if callable(getattr(self.agent, "reset", None)):
            self.agent.reset(task, seed)
        self._begin(load_task(task))

    def act(self, observation: str) -> str:
        if self.spec is None or parse_observation(observation).last is None and self.attempts:
            self.end_episode()  # a new episode without reset(): read the task from the prompt
            from mle_gym.agents.templates import task_from_observation

            self._begin(load_task(task_from_observation(observation)))
        answer = self.agent.act(observation)
        self._pending = (observation, answer)
        return answer

    def observe(self, reward: float, info: dict[str, Any]) -> None:
        if self._pending is not None and self.spec is not None:
            observation, answer = self._pending
            self._pending = None
            attempt = AttemptRecord.from_info(self.spec.slug, answer, info, self.episode or "",
                                              reward=reward)
            attempt.step = len(self.attempts) + 1
            self.attempts.append(attempt)
            self.records.append({
                "episode": self.episode, "step": attempt.step, "task": self.spec.slug,
                "reset_seed": self.seed, "observation": observation, "program": answer,
                "valid": attempt.valid, "score": attempt.score, "reward": float(reward),
                "raw_reward": float(info.get("reward", reward)),
                "invalid_reason": attempt.invalid_reason,
                "no_model_trained": bool(info.get("no_model_trained")),
                "failure": failure_signature(attempt), "lessons": list(self.shown),
            })
        if callable(getattr(self.agent, "observe", None)):
            self.agent.observe(reward, info)

    # -- the episode's beginning and end ----------------------------------------------------

    def _begin(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.episode = f"{spec.slug}-{self.seed}-{uuid.uuid4().hex[:10]}"
        self.attempts, self.records, self._pending = [], [], None
        chosen = self.curator.select(self.book.for_task(spec))
        self.shown = [x.id for x in chosen]
        section = self.curator.section(chosen)
        set_system_prompt(self.agent, "\n\n".join(p for p in (self.base_prompt, section) if p))

    @property
    def system_prompt(self) -> str:
        """The wrapped agent's system prompt as it is now (lessons included)."""
        return getattr(self.agent, "system_prompt", "") or ""

    def end_episode(self) -> dict[str, Any] | None:
        """Credit the lessons shown, record the episode, reflect and curate; once per episode
        (a second call, or one before any step, does nothing). Returns what it did."""
        if self.spec is None or not self.attempts:
            return None
        spec, attempts, records, episode = self.spec, self.attempts, self.records, self.episode or ""
        self.attempts, self.records = [], []
        if not self.learn:
            return None
        valid = [a for a in attempts if a.valid]
        best = max((a.reward for a in valid), default=None)
        failures = [s for s in map(failure_signature, attempts) if s]
        credit = credit_episode(self.book, episode, spec.slug, self.shown, failures,
                                bool(valid), best, steps=len(attempts))
        with self.book.transaction() as conn:
            for record in records:
                self.book.record_attempt(record, conn=conn)
        reflections = [r.reflect(self.book, spec, attempts, episode) for r in self.reflectors]
        report = self.curator.curate(self.book)
        return {"episode": episode, "credit": credit, "reflections": reflections,
                "curation": report, "book_size": len(self.book)}

    def close(self) -> None:
        self.end_episode()
        if callable(getattr(self.agent, "close", None)):
            self.agent.close()


__all__ = ["LessonsAgent", "has_system_prompt", "set_system_prompt"]
