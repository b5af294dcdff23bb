"""Prepare a task's data into the cache: ``public/`` for the program, ``private/`` for grading.

Layout of a prepared folder::

    <root>/public/    train/test files, sample submission, description.md  (mounted read-only)
    <root>/private/   answers.csv (a perfect submission), split.csv (id -> public | private)
    <root>/.mle-gym   metadata; written last, so its presence means "complete"

Preparation is idempotent and safe to interrupt: everything is written into a temporary
sibling folder that is renamed into place in one step.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from mle_gym.spec import TaskSpec, load_task

MARKER = ".mle-gym"
FLAVOURS = ("lite", "full")


class DataNotAvailable(RuntimeError):
    """The requested data cannot be prepared here; the message says what to do."""


@dataclass(frozen=True)
class TaskData:
    """A prepared data folder for one task."""

    spec: TaskSpec
    flavour: str  # "lite", "full" or "custom"
    root: Path

    @property
    def public(self) -> Path:
        return self.root / "public"

    @property
    def private(self) -> Path:
        return self.root / "private"

    @property
    def answers_path(self) -> Path:
        return self.private / "answers.csv"

    @property
    def split_path(self) -> Path:
        return self.private / "split.csv"


def cache_root() -> Path:
    """``$MLE_GYM_CACHE``, else ``$XDG_CACHE_HOME/mle-gym``, else ``~/.cache/mle-gym``."""
    if os.environ.get("MLE_GYM_CACHE"):
        return Path(os.environ["MLE_GYM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mle-gym"


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


def _source_digest(spec: TaskSpec) -> str:
    """Hash of the generator and description: editing either re-prepares the lite data."""
    h = hashlib.sha256()
    for name in ("lite.py", "description.md"):
        path = spec.folder / name
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()[:10]


def read_answers(spec: TaskSpec, path: Path) -> pd.DataFrame:
    """The answers with ids exactly as written (a converter keeps "NA" a string)."""
    return pd.read_csv(path, converters={spec.id_column: str})


def write_split(answers: pd.DataFrame, id_column: str, seed: int, path: Path) -> None:
    """Assign each test id to the public (reward) or private (leaderboard) half, 50/50."""
    ids = answers[id_column].astype(str).to_numpy()
    rng = np.random.default_rng([seed, 20250901])
    half = np.where(rng.permutation(len(ids)) < (len(ids) + 1) // 2, "public", "private")
    pd.DataFrame({id_column: ids, "half": half}).to_csv(path, index=False)


def _atomic_prepare(target: Path, build: Callable[[Path], dict]) -> None:
    """Run ``build(tmp)`` in a sibling temp folder, then rename it to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        meta = build(tmp)
        (tmp / MARKER).write_text(json.dumps(meta, indent=2))
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / MARKER).exists():  # a half-written leftover: replace it
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prepare_lite(spec: TaskSpec, seed: int = 0, root: Path | None = None) -> TaskData:
    """Generate the task's lite data (deterministic in ``seed``) unless already cached."""
    target = root or cache_root() / spec.slug / f"lite-seed{seed}-{_source_digest(spec)}"
    if not (target / MARKER).exists():

        def build(tmp: Path) -> dict:
            load_task_module(spec, "lite").generate(tmp, seed=seed)
            shutil.copy(spec.folder / "description.md", tmp / "public" / "description.md")
            write_split(read_answers(spec, tmp / "private" / "answers.csv"), spec.id_column,
                        seed, tmp / "private" / "split.csv")
            return {"task": spec.slug, "flavour": "lite", "seed": seed}

        _atomic_prepare(target, build)
    return TaskData(spec, "lite", target)


def from_folder(spec: TaskSpec, folder: Path) -> TaskData:
    """Use an existing prepared folder (``public/`` + ``private/answers.csv``)."""
    folder = Path(folder).expanduser().resolve()
    for sub in ("public", "private"):
        if not (folder / sub).is_dir():
            raise DataNotAvailable(
                f"{folder} is not a prepared data folder: it needs public/ and private/ "
                f"subfolders (run `mle-gym prepare {spec.slug}` to see the expected layout)"
            )
    answers = folder / "private" / "answers.csv"
    if not answers.is_file():
        raise DataNotAvailable(f"{answers} is missing: the grader needs the test answers there")
    split = folder / "private" / "split.csv"
    if not split.is_file():
        write_split(read_answers(spec, answers), spec.id_column, 0, split)
    return TaskData(spec, "custom", folder)


def full_root(spec: TaskSpec) -> Path:
    return cache_root() / spec.slug / "full"


def prepare(
    task: str | TaskSpec,
    data: str | Path = "lite",
    seed: int = 0,
    raw: Path | None = None,
    progress: bool = False,
) -> TaskData:
    """Prepare (or find in the cache) the data of ``task``: "lite", "full" or a folder path.

    For "full", ``raw`` may point at the Kaggle download (the zip or its extracted folder);
    see :func:`mle_gym.full_data.prepare_full` for the other sources it tries.
    """
    spec = task if isinstance(task, TaskSpec) else load_task(task)
    if data == "lite":
        return prepare_lite(spec, seed)
    if data == "full":
        from mle_gym.full_data import prepare_full

        return prepare_full(spec, raw=raw, progress=progress)
    return from_folder(spec, Path(data))
