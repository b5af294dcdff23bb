"""A prepared data folder: what it holds (:class:`TaskData`), and writing one atomically.

Preparation is idempotent and safe to interrupt: everything is written into a temporary
sibling folder, checked, recorded in its marker, then renamed into place in one step.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mle_gym.data.errors import DataNotAvailable
from mle_gym.data.integrity import MARKER, MARKER_FORMAT, answers_in_public, manifest, verify_folder
from mle_gym.spec import TaskSpec


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

    def verify(self) -> None:
        """Raise :class:`DataCorrupted` unless every file matches the marker's record.

        Cheap after the first call in a process: a folder whose files have the same paths,
        sizes and modification times as when it was last verified is not hashed again."""
        verify_folder(self.spec, self.flavour, self.root)


def write_split(answers: pd.DataFrame, id_column: str, seed: int, path: Path) -> None:
    """Assign each test id to the public (reward) or private (leaderboard) half, 50/50."""
    ids = answers[id_column].astype(str).to_numpy()
    rng = np.random.default_rng([seed, 20250901])
    half = np.where(rng.permutation(len(ids)) < (len(ids) + 1) // 2, "public", "private")
    pd.DataFrame({id_column: ids, "half": half}).to_csv(path, index=False)


def atomic_prepare(
    target: Path, build: Callable[[Path], dict], replace: bool = False, spec: TaskSpec | None = None
) -> None:
    """Run ``build(tmp)`` in a sibling temp folder, record every file in the marker, then
    rename it to ``target`` (``replace``: even over a complete folder there)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    trash = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
    try:
        meta = build(tmp)
        if spec is not None and (leak := answers_in_public(spec, tmp)):
            raise DataNotAvailable(f"the prepared data of {spec.slug} is unsafe: {leak}")
        meta.update(format=MARKER_FORMAT, files=manifest(tmp, meta.get("flavour") != "full"))
        (tmp / MARKER).write_text(json.dumps(meta, indent=2))
        if replace:
            with contextlib.suppress(FileNotFoundError):
                os.rename(target, trash)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / MARKER).exists():  # a half-written leftover: replace it
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)
