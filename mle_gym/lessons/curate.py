"""The curator: keep the book small and useful, pick what goes into a prompt, move counters.

**Curation** (:meth:`Curator.curate`), in this order, within each scope:

1. near-duplicates merge: two lessons with the same failure signature, or whose normalised
   texts (lower case, words only) are similar (the larger of token Jaccard and difflib's
   ratio, at least ``similarity``), become one: the older id, counters summed, sources
   joined, the text of the one with more credit (the older on a tie);
2. pruning by credit: a lesson whose ``harmful - helpful`` reaches ``max_net_harm`` goes;
3. pruning by age: a lesson unchanged for ``max_age_days`` that never earned helpful credit goes;
4. a cap: at most ``max_per_scope`` lessons per scope, the best ranked kept.

**Ranking** (what is kept and what is shown first): confidence
``(helpful + 1) / (helpful + harmful + 2)``, then specificity (task, metric family, all),
then the most recently changed. **The prompt section** takes ranked lessons while they fit
``prompt_chars`` characters and ``prompt_lessons`` lines (a cap on lessons used, separate
from the cap on lessons stored).

**Credit** (:func:`credit_episode`), once per finished episode, for each lesson that was in
its system prompt (``uses`` += 1 for each):

* a lesson about a failure (it has a signature): ``harmful`` += 1 when the episode had that
  failure again (the lesson did not prevent it); ``helpful`` += 1 when it did not and the
  episode made a valid submission; otherwise nothing;
* any other lesson: ``harmful`` += 1 when the episode made no valid submission; ``helpful``
  += 1 when it did and its best reward is at least the mean best reward of the task's
  earlier episodes in the book (or there were none); a valid but worse episode moves nothing.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mle_gym.lessons.book import Lesson, LessonBook

SECTION_HEADING = "# Lessons from earlier attempts"
SECTION_INTRO = "Follow these; each comes from what went wrong or right in earlier attempts."
DAY = 86_400.0


def normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9_]+", text.lower()))


def similarity(a: str, b: str) -> float:
    """How alike two lesson texts are, 0 to 1: the larger of token Jaccard and difflib's ratio."""
    na, nb = normalise(a), normalise(b)
    if not na or not nb:
        return 0.0
    ta, tb = set(na.split()), set(nb.split())
    jaccard = len(ta & tb) / len(ta | tb)
    return max(jaccard, difflib.SequenceMatcher(None, na, nb).ratio())


def specificity(lesson: Lesson) -> int:
    return 2 if lesson.scope.startswith("task:") else 1 if lesson.scope.startswith("metric:") else 0


def rank_key(lesson: Lesson) -> tuple[float, int, float]:
    return (-lesson.confidence, -specificity(lesson), -lesson.changed)


@dataclass
class CurationReport:
    merged: list[tuple[int, int]] = field(default_factory=list)  # (kept, merged into it)
    pruned_harmful: list[int] = field(default_factory=list)
    pruned_old: list[int] = field(default_factory=list)
    pruned_cap: list[int] = field(default_factory=list)
    before: int = 0
    after: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"merged": self.merged, "pruned_harmful": self.pruned_harmful,
                "pruned_old": self.pruned_old, "pruned_cap": self.pruned_cap,
                "before": self.before, "after": self.after}


@dataclass
class Curator:
    max_per_scope: int = 12
    similarity: float = 0.8
    max_net_harm: int = 3
    max_age_days: float | None = 60.0
    prompt_chars: int = 2000
    prompt_lessons: int = 8

    def __post_init__(self) -> None:
        if self.max_per_scope < 1 or self.prompt_chars < 0 or self.prompt_lessons < 0:
            raise ValueError("max_per_scope must be >= 1; prompt_chars and prompt_lessons >= 0")
        if not 0 < self.similarity <= 1:
            raise ValueError(f"similarity is a threshold in (0, 1], not {self.similarity}")

    def duplicates(self, a: Lesson, b: Lesson) -> bool:
        if a.scope != b.scope:
            return False
        if a.signature and a.signature == b.signature:
            return True
        return similarity(a.text, b.text) >= self.similarity

    def curate(self, book: LessonBook, now: float | None = None, dry_run: bool = False) -> CurationReport:
        """Merge, prune and cap the whole book in one transaction; ``dry_run`` only reports."""
        now = time.time() if now is None else now
        report = CurationReport()
        with book.transaction() as conn:
            lessons = [book._get(conn, r[0]) for r in conn.execute("SELECT id FROM lessons ORDER BY id")]
            report.before = len(lessons)
            alive: list[Lesson] = []
            for lesson in lessons:  # oldest first: the older one is kept
                twin = next((k for k in alive if self.duplicates(k, lesson)), None)
                if twin is None:
                    alive.append(lesson)
                    continue
                text = lesson.text if lesson.confidence > twin.confidence else twin.text
                report.merged.append((twin.id, lesson.id))
                if not dry_run:
                    merged = book.merge([twin.id, lesson.id], text, conn=conn)
                    alive[alive.index(twin)] = merged
            kept: list[Lesson] = []
            for lesson in alive:
                if lesson.harmful - lesson.helpful >= self.max_net_harm:
                    report.pruned_harmful.append(lesson.id)
                elif (self.max_age_days is not None and lesson.helpful == 0
                      and now - lesson.changed > self.max_age_days * DAY):
                    report.pruned_old.append(lesson.id)
                else:
                    kept.append(lesson)
            by_scope: dict[str, list[Lesson]] = {}
            for lesson in kept:
                by_scope.setdefault(lesson.scope, []).append(lesson)
            for group in by_scope.values():
                report.pruned_cap += [x.id for x in sorted(group, key=rank_key)[self.max_per_scope:]]
            gone = report.pruned_harmful + report.pruned_old + report.pruned_cap
            if not dry_run:
                for lesson_id in gone:
                    book.remove(lesson_id, conn=conn)
            report.after = len(alive) - len(gone)
            if not dry_run and (report.merged or gone):
                book.log("curation", report.as_dict(), conn=conn)
        return report

    def select(self, lessons: Sequence[Lesson]) -> list[Lesson]:
        """The lessons a prompt shows: best ranked, within the line and character budgets."""
        chosen, used = [], len(SECTION_HEADING) + len(SECTION_INTRO) + 2
        for lesson in sorted(lessons, key=rank_key):
            if len(chosen) >= self.prompt_lessons:
                break
            line = len(lesson.text) + 3
            if used + line > self.prompt_chars:
                continue  # a shorter one may still fit
            chosen.append(lesson)
            used += line
        return chosen

    @staticmethod
    def section(lessons: Sequence[Lesson]) -> str:
        """The system prompt's lessons section ("" when there are none)."""
        if not lessons:
            return ""
        return "\n".join([SECTION_HEADING, SECTION_INTRO, *(f"- {x.text}" for x in lessons)])


def credit_episode(
    book: LessonBook,
    episode: str,
    task: str,
    shown: Sequence[int],
    failures: Sequence[str],
    valid: bool,
    best_reward: float | None,
    steps: int = 0,
) -> dict[str, list[int]]:
    """Move the counters of the lessons shown in an episode (see the module's rules), and
    record the episode. Returns the ids credited helpful and harmful."""
    earlier = [e["best_reward"] for e in book.episodes(task)
               if e["id"] != episode and e["best_reward"] is not None]
    baseline = sum(earlier) / len(earlier) if earlier else None
    improved = valid and (baseline is None or (best_reward is not None and best_reward >= baseline))
    helpful, harmful = [], []
    failed = set(failures)
    with book.transaction() as conn:
        present = {r[0]: r[1] for r in conn.execute("SELECT id, signature FROM lessons")}
        for lesson_id in dict.fromkeys(shown):
            if lesson_id not in present:
                continue  # merged away or removed while the episode ran
            signature = present[lesson_id]
            if signature:
                if signature in failed:
                    harmful.append(lesson_id)
                elif valid:
                    helpful.append(lesson_id)
            elif not valid:
                harmful.append(lesson_id)
            elif improved:
                helpful.append(lesson_id)
        book.counts(list(dict.fromkeys(shown)), uses=1, conn=conn)
        book.counts(helpful, helpful=1, conn=conn)
        book.counts(harmful, harmful=1, conn=conn)
        book.record_episode(episode, task, best_reward, valid, steps, failures, list(shown), conn=conn)
    return {"helpful": helpful, "harmful": harmful}


__all__ = ["CurationReport", "Curator", "credit_episode", "normalise", "rank_key", "similarity"]
