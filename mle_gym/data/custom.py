"""A data folder the user prepared: used as it is, once its files pass the checks."""

from __future__ import annotations

from pathlib import Path

from mle_gym.data.errors import DataNotAvailable
from mle_gym.data.folder import TaskData, write_split
from mle_gym.data.integrity import read_answers
from mle_gym.spec import TaskSpec


def from_folder(spec: TaskSpec, folder: Path) -> TaskData:
    """Use an existing prepared folder (``public/`` + ``private/answers.csv``), refused when
    its files changed since they were recorded or its public/ gives the answers away."""
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
    data = TaskData(spec, "custom", folder)
    data.verify()
    return data
