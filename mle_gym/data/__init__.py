"""Task data: prepare a task's data into the cache (``public/`` for the program,
``private/`` for grading) as "lite", "full" or a folder the user prepared.

One direction of imports: errors <- cache, integrity <- folder <- lite, full, custom <- here.
"""

from __future__ import annotations

from pathlib import Path

from mle_gym.data.cache import SECRET_ENV, SECRET_FILE, cache_root, data_secret
from mle_gym.data.custom import from_folder
from mle_gym.data.errors import DataCorrupted, DataNotAvailable
from mle_gym.data.folder import TaskData, write_split
from mle_gym.data.full import full_root, prepare_full
from mle_gym.data.integrity import MARKER, answers_in_public, file_sha256, read_answers
from mle_gym.data.lite import lite_generator_seed, prepare_lite
from mle_gym.spec import TaskSpec, load_task, load_task_module

FLAVOURS = ("lite", "full")


def prepare(
    task: str | TaskSpec,
    data: str | Path = "lite",
    seed: int = 0,
    raw: Path | None = None,
    progress: bool = False,
    force: bool = False,
) -> TaskData:
    """Prepare (or find in the cache) the data of ``task``: "lite", "full" or a folder path.

    For "full", ``raw`` may point at the Kaggle download (the zip or its extracted folder);
    see :func:`mle_gym.data.full.prepare_full` for the other sources it tries. ``force``
    rebuilds a cached folder. Whatever comes back was checked against its marker's record.
    """
    spec = task if isinstance(task, TaskSpec) else load_task(task)
    if data == "lite":
        return prepare_lite(spec, seed, force=force)
    if data == "full":
        return prepare_full(spec, raw=raw, progress=progress, force=force)
    return from_folder(spec, Path(data))


__all__ = [
    "FLAVOURS",
    "MARKER",
    "SECRET_ENV",
    "SECRET_FILE",
    "DataCorrupted",
    "DataNotAvailable",
    "TaskData",
    "answers_in_public",
    "cache_root",
    "data_secret",
    "file_sha256",
    "from_folder",
    "full_root",
    "lite_generator_seed",
    "load_task_module",
    "prepare",
    "prepare_full",
    "prepare_lite",
    "read_answers",
    "write_split",
]
