"""Task specifications: the pydantic model behind every ``tasks/<slug>/task.yaml``, and
the task folders' own Python modules (``lite.py``, ``prepare.py``, grader hooks)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mle_gym.task_folders import read_yaml, tasks_root  # noqa: F401 (tasks_root's old home)

Direction = Literal["lower", "higher"]


class DataFile(BaseModel):
    """One public file (or folder) the program may read."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str
    columns: list[str] = Field(default_factory=list)


LITE_DISK_LIMIT = "1g"
FULL_DISK_LIMIT = "8g"


class Limits(BaseModel):
    """Resources one program gets: wall-clock seconds, memory (docker syntax), CPUs, and
    ``disk_limit`` (docker syntax): the room for what it writes, in /step (working/ and
    submission/) and in /tmp, each. The Docker sandbox keeps those in memory (tmpfs), so what
    a program writes also counts against its memory limit. Default 1g, 8g for full data."""

    model_config = ConfigDict(extra="forbid")
    time_limit: float = 600.0
    memory_limit: str = "4g"
    cpus: float = 2.0
    disk_limit: str = LITE_DISK_LIMIT


class Scores(BaseModel):
    """Reference points on one data flavour.

    ``sample`` is the constant sample submission's score (the natural zero). On full data
    the medal thresholds come from Kaggle's private leaderboard; on lite data ``fast`` and
    ``strong`` are the two reference solutions' measured scores.
    """

    model_config = ConfigDict(extra="forbid")
    sample: float | None = None
    gold: float | None = None
    silver: float | None = None
    bronze: float | None = None
    median: float | None = None
    fast: float | None = None
    strong: float | None = None

    @property
    def reference(self) -> float | None:
        """The 'good solution' anchor used to normalise rewards: strong, else gold."""
        return self.strong if self.strong is not None else self.gold


class PaperScores(BaseModel):
    """The best score each agent reached on this task in "Reinforcement Learning for Machine
    Learning Engineering Agents" (arXiv 2509.01684); ``None`` where the paper reports no
    valid result. Measured on Kaggle's real data: comparable with full-data runs only."""

    model_config = ConfigDict(extra="forbid")
    # No defaults: a task in the paper states every agent, null included.
    gpt4o_aide: float | None
    gpt4o_openhands: float | None
    gpt4o_mlab: float | None
    qwen2_5_3b_rl: float | None


class TaskSpec(BaseModel):
    """Everything the environment needs to know about one task."""

    model_config = ConfigDict(extra="forbid")
    slug: str
    kaggle_id: str
    title: str
    metric: str
    direction: Direction
    id_column: str
    target_columns: list[str]
    metric_options: dict[str, object] = Field(default_factory=dict)
    extra_columns: list[str] = Field(default_factory=list)  # allowed in a submission, ignored
    submission_file: str = "submission.csv"
    public_files: list[DataFile]
    limits: Limits = Field(default_factory=Limits)
    full_limits: Limits = Field(default_factory=Limits)
    lite_scores: Scores = Field(default_factory=Scores)
    full_scores: Scores = Field(default_factory=Scores)
    paper: PaperScores | None = None  # None: a task the paper did not run
    folder: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        if not self.target_columns:
            raise ValueError("target_columns must name at least one column")
        if "disk_limit" not in self.full_limits.model_fields_set:
            self.full_limits.disk_limit = FULL_DISK_LIMIT  # real data needs more room
        return self

    @property
    def env_id(self) -> str:
        return f"mle/{self.slug}-v0"

    @property
    def description(self) -> str:
        return (self.folder / "description.md").read_text()

    def better(self, a: float, b: float) -> bool:
        """True when score ``a`` is strictly better than ``b`` under this task's direction."""
        return a < b if self.direction == "lower" else a > b

    def scores(self, flavour: str) -> Scores:
        return self.full_scores if flavour == "full" else self.lite_scores


@functools.cache
def load_task(slug: str) -> TaskSpec:
    """Load one task by slug or Kaggle id."""
    for spec in all_tasks():
        if slug in (spec.slug, spec.kaggle_id):
            return spec
    known = ", ".join(s.slug for s in all_tasks())
    raise KeyError(f"unknown task {slug!r}; known tasks: {known}")


@functools.cache
def all_tasks() -> tuple[TaskSpec, ...]:
    specs = []
    for yaml_path in sorted(tasks_root().glob("*/task.yaml")):
        raw = read_yaml(yaml_path)
        specs.append(TaskSpec(**raw, folder=yaml_path.parent))
    return tuple(specs)


def load_task_module(spec: TaskSpec, name: str) -> ModuleType:
    """Import ``tasks/<slug>/<name>.py`` by path (task folders are not Python packages)."""
    path = spec.folder / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"task {spec.slug} has no {name}.py")
    module_spec = importlib.util.spec_from_file_location(f"mle_gym_tasks.{spec.slug}.{name}", path)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module
