"""From episode records to a ranked table.

Rules (also printed on the page):

* An episode's score is the **private-half** score of its best submission, the one with the
  best public-half score (what a Kaggle competitor would pick without seeing the private
  leaderboard). An episode with no valid submission has no score.
* Per task and agent: mean and standard error of the mean (SEM, sample standard deviation
  over sqrt(n)) over the seeds that produced a score, and the valid rate (episodes with at
  least one valid submission, over all episodes).
* Normalised score per episode: ``(score - sample) / (reference - sample)``, where sample
  is the constant sample submission's score and the reference is the strong reference
  solution on lite data or the gold threshold on full data; so 0 = sample, 1 = reference,
  whatever the metric and its direction. An episode with no valid submission, or one worse
  than the sample submission, counts as 0: one catastrophic log loss cannot swamp the mean.
* An agent's rank comes from its mean normalised score over the tasks it ran. An LLM agent
  with another model is another row: a row is an (agent, model, data) triple.
* Medals and above-median rates use Kaggle's thresholds and mean something on full data
  only; on lite data they are left out.
* Episodes that ended with an infrastructure error (not the agent's fault) are left out
  and counted separately.
* Steps stopped at the time limit are counted per agent and task; a row where every step
  timed out is flagged: its score measures the machine or the limit, not the agent.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mle_gym.grading.grader import medal
from mle_gym.spec import TaskSpec, load_task


def sem(values: list[float]) -> float | None:
    """Standard error of the mean; None with fewer than two values."""
    if len(values) < 2:
        return None
    return statistics.stdev(values) / math.sqrt(len(values))


def normalise(spec: TaskSpec, flavour: str, score: float | None) -> float:
    """0 at the sample submission (and for no valid submission), 1 at the reference."""
    if score is None:
        return 0.0
    scores = spec.scores(flavour)
    sample, reference = scores.sample, scores.reference
    if sample is None or reference is None or sample == reference:
        return 0.0
    return max(0.0, (score - sample) / (reference - sample))


def best_step(record: dict[str, Any], spec: TaskSpec) -> dict[str, Any] | None:
    """The valid step with the best public score; the first among equals."""
    best = None
    for step in record.get("steps", []):
        if not step.get("valid") or step.get("score") is None:
            continue
        if best is None or spec.better(step["score"], best["score"]):
            best = step
    return best


@dataclass
class TaskCell:
    """One agent on one task, over seeds."""

    task: str
    episodes: int = 0
    scores: list[float] = field(default_factory=list)  # private half of the best submission
    normalised: list[float] = field(default_factory=list)  # one per episode
    valid_episodes: int = 0
    medals: list[str | None] = field(default_factory=list)
    above_median: list[bool] = field(default_factory=list)
    step_durations: list[float] = field(default_factory=list)
    agent_seconds: list[float] = field(default_factory=list)  # writing each program
    steps: int = 0
    valid_steps: int = 0
    timed_out_steps: int = 0

    @property
    def all_timed_out(self) -> bool:
        return self.steps > 0 and self.timed_out_steps == self.steps

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    @property
    def sem(self) -> float | None:
        return sem(self.scores)

    @property
    def mean_normalised(self) -> float:
        return statistics.fmean(self.normalised) if self.normalised else 0.0

    @property
    def sem_normalised(self) -> float | None:
        return sem(self.normalised)

    @property
    def valid_rate(self) -> float:
        return self.valid_episodes / self.episodes if self.episodes else 0.0

    @property
    def medal_rate(self) -> float | None:
        return sum(m is not None for m in self.medals) / self.episodes if self.medals else None

    @property
    def above_median_rate(self) -> float | None:
        return sum(self.above_median) / self.episodes if self.above_median else None

    @property
    def median_step_seconds(self) -> float | None:
        return statistics.median(self.step_durations) if self.step_durations else None

    @property
    def median_agent_seconds(self) -> float | None:
        return statistics.median(self.agent_seconds) if self.agent_seconds else None


@dataclass
class AgentRow:
    """One agent (with one model, for LLM agents) over every task it ran, for one data
    flavour."""

    agent: str
    data: str
    cells: dict[str, TaskCell] = field(default_factory=dict)
    errors: int = 0
    model: str | None = None  # the model an LLM agent asked; None for other agents

    @property
    def label(self) -> str:
        """The agent and its model, for a plot's legend."""
        return self.agent if self.model is None else f"{self.agent} [{self.model}]"

    @property
    def score(self) -> float:
        """Mean over tasks of the mean normalised score: the ranking key."""
        if not self.cells:
            return 0.0
        return statistics.fmean(c.mean_normalised for c in self.cells.values())

    @property
    def score_sem(self) -> float | None:
        """SEM of the mean over tasks, combining the per-task SEMs (tasks independent)."""
        sems = [c.sem_normalised for c in self.cells.values()]
        if not sems or any(s is None for s in sems):
            return None
        return math.sqrt(sum(s * s for s in sems)) / len(sems)  # type: ignore[operator]

    def _pooled(self, attr: str) -> float:
        total = sum(c.episodes for c in self.cells.values())
        return sum(getattr(c, attr) for c in self.cells.values()) / total if total else 0.0

    @property
    def valid_rate(self) -> float:
        return self._pooled("valid_episodes")

    @property
    def episodes(self) -> int:
        return sum(c.episodes for c in self.cells.values())

    @property
    def medal_rate(self) -> float | None:
        if self.data != "full" or not self.episodes:
            return None
        return sum(sum(m is not None for m in c.medals) for c in self.cells.values()) / self.episodes

    @property
    def above_median_rate(self) -> float | None:
        if self.data != "full" or not self.episodes:
            return None
        return sum(sum(c.above_median) for c in self.cells.values()) / self.episodes

    @property
    def median_step_seconds(self) -> float | None:
        durations = [d for c in self.cells.values() for d in c.step_durations]
        return statistics.median(durations) if durations else None

    @property
    def median_agent_seconds(self) -> float | None:
        """Median seconds the agent took to write a program (an LLM agent's answer)."""
        seconds = [s for c in self.cells.values() for s in c.agent_seconds]
        return statistics.median(seconds) if seconds else None

    @property
    def steps(self) -> int:
        return sum(c.steps for c in self.cells.values())

    @property
    def timed_out_steps(self) -> int:
        return sum(c.timed_out_steps for c in self.cells.values())

    @property
    def all_timed_out(self) -> bool:
        """Every step of this agent hit the time limit: a tie at 0 that says nothing."""
        return self.steps > 0 and self.timed_out_steps == self.steps


def aggregate(records: Iterable[dict[str, Any]]) -> list[AgentRow]:
    """Ranked rows, best first, one per (agent, data flavour)."""
    rows: dict[tuple[str, str | None, str], AgentRow] = {}

    def row_of(record: dict[str, Any]) -> AgentRow:
        agent, model, flavour = record["agent"], record.get("model"), record.get("data", "lite")
        return rows.setdefault((agent, model, flavour), AgentRow(agent, flavour, model=model))

    seen: dict[str, dict[str, Any]] = {}
    for record in records:
        # A rerun of the same episode (same key) replaces the earlier record.
        if record.get("error"):
            row_of(record).errors += 1
            continue
        seen[record["key"]] = record
    for record in seen.values():
        flavour = record.get("data", "lite")
        spec = load_task(record["task"])
        row = row_of(record)
        cell = row.cells.setdefault(spec.slug, TaskCell(spec.slug))
        cell.episodes += 1
        steps = record.get("steps", [])
        cell.steps += len(steps)
        cell.valid_steps += sum(bool(s.get("valid")) for s in steps)
        cell.timed_out_steps += sum(bool(s.get("timed_out")) for s in steps)
        cell.step_durations += [float(s["duration"]) for s in steps if s.get("duration") is not None]
        cell.agent_seconds += [float(s["agent_seconds"]) for s in steps
                               if s.get("agent_seconds") is not None]
        best = best_step(record, spec)
        private = None if best is None else best.get("private_score")
        if private is not None:
            cell.valid_episodes += 1
            cell.scores.append(float(private))
        cell.normalised.append(normalise(spec, flavour, private))
        if flavour == "full":
            flags = medal(spec, private) if private is not None else {"medal": None}
            cell.medals.append(flags["medal"])  # type: ignore[arg-type]
            cell.above_median.append(bool(flags.get("above_median")))
    ranked = sorted(rows.values(),
                    key=lambda r: (r.data != "full", -r.score, r.agent, r.model or ""))
    return [row for row in ranked if row.cells or row.errors]


__all__ = ["AgentRow", "TaskCell", "aggregate", "best_step", "normalise", "sem"]
