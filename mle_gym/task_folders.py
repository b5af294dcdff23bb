"""Where the task folders are, and their names read without building the specs.

``import mle_gym`` registers every task by name only; the pydantic specs (``mle_gym.spec``,
about 70 ms to import and build) wait until an environment is made or a command asks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def tasks_root() -> Path:
    """Where the task folders are: an override, the wheel's copy, or the source tree."""
    override = os.environ.get("MLE_GYM_TASKS_DIR")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    for candidate in (here / "_tasks", here.parent / "tasks"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "mle-gym cannot find its tasks folder; reinstall the package or set MLE_GYM_TASKS_DIR"
    )


def read_yaml(path: Path) -> Any:
    """A task.yaml, with libyaml's loader where built (25x faster than the pure-Python one)."""
    import yaml

    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def task_names() -> list[tuple[str, str]]:
    """(slug, Kaggle id) of every task folder, sorted by folder; the specs are validated
    when one is loaded (``mle_gym.spec.load_task``)."""
    names = []
    for yaml_path in sorted(tasks_root().glob("*/task.yaml")):
        raw = read_yaml(yaml_path)
        if not isinstance(raw, dict) or "slug" not in raw:
            raise ValueError(f"{yaml_path} has no slug: every task.yaml starts with one")
        names.append((str(raw["slug"]), str(raw.get("kaggle_id") or raw["slug"])))
    return names
