"""Trajectories on disk: one JSON line per step, written append-safe, read back for training.

:class:`~mle_gym.wrappers.RecordTrajectory` writes the records (see :data:`FIELDS` for
what each holds); this module owns the format and the readers:

* :func:`load_trajectories` — every record from a file, a folder of ``*.jsonl`` files or
  a glob, in file order then write order;
* :func:`as_dataset` — the records as a Hugging Face ``datasets.Dataset`` with typed
  columns (nested fields as JSON strings);
* :func:`to_sft_pairs` — ``{"prompt", "completion"}`` rows (observation, program) for
  supervised fine-tuning, filtered by validity and a reward threshold;
* :func:`to_preference_pairs` — ``{"prompt", "chosen", "rejected"}`` rows: two programs
  written for the same observation that earned different rewards, for reward modelling.

``private_score`` and ``private_full_score`` are the leaderboard's held-out numbers, for
analysis only: never feed them to a policy or a reward model.
"""

from __future__ import annotations

import glob
import json
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mle_gym.step import StepResult, TaskRuntime

SCHEMA = "mle-gym-trajectory/1"

# Column -> type. "json" columns are objects in the JSONL and JSON strings in a Dataset.
FIELDS: dict[str, str] = {
    "schema": "string",
    "run_id": "string",  # one per writer
    "episode": "int64",  # index of the episode within the run, from 0
    "step": "int64",  # index of the step within the episode, from 1
    "task": "string",
    "env_id": "string",
    "data": "string",  # data flavour: lite, full or a folder
    "data_seed": "int64",
    "reset_seed": "int64",  # the seed passed to reset (None when not given)
    "mode": "string",  # scratch or improve (as drawn, in mixed mode)
    "observation": "string",  # the observation the agent acted on
    "program": "string",  # the raw action
    "extracted_program": "string",  # the code that was run, before instrumentation
    "instrumented_program": "string",  # the code that ran, with milestone hooks
    "program_sha256": "string",  # syntax-tree hash (see mle_gym.wrappers.program_sha256)
    "submission_sha256": "string",
    "stdout_tail": "string",
    "stderr_tail": "string",
    "milestones": "list[string]",
    "milestone_times": "json",
    "diagnostics": "json",
    "score": "float64",  # public half: what the reward used
    "private_score": "float64",  # PRIVATE half (leaderboard); never show it to an agent
    "private_full_score": "float64",  # PRIVATE: the whole test set
    "valid": "bool",
    "invalid_reason": "string",
    "no_model_trained": "bool",
    "reward": "float64",  # what this wrapper's caller received
    "raw_reward": "float64",  # the env's own reward (before any reward wrapper)
    "reward_components": "json",
    "reward_preset": "string",
    "duration": "float64",  # seconds the program ran
    "agent_seconds": "float64",  # seconds between the observation and the action
    "timed_out": "bool",
    "oom": "bool",
    "exit_code": "int64",
    "terminated": "bool",
    "truncated": "bool",
    "time_limit": "float64",
    "memory_limit": "string",
    "cpus": "float64",
    "instrumenter": "string",
    "instrumenter_note": "string",
    "sandbox": "string",  # backend: docker or local
    "image": "string",  # Docker image the sandbox ran (None for the local backend)
    "image_id": "string",
    "mle_gym_version": "string",
    "timestamp": "string",  # UTC, ISO 8601
    "extra_info": "json",  # info keys not listed above (e.g. added by other wrappers)
}
JSON_FIELDS = tuple(name for name, kind in FIELDS.items() if kind == "json")


def trajectory_fields(result: StepResult, runtime: TaskRuntime, data_seed: int) -> dict[str, Any]:
    """The columns of a record that come from the step itself and the task's runtime."""
    grade, lite = result.grade, runtime.data.flavour == "lite"
    return {
        "task": runtime.spec.slug,
        "env_id": runtime.spec.env_id,
        "data": runtime.data.flavour,
        "data_seed": data_seed if lite else None,
        "extracted_program": result.program,
        "instrumented_program": result.instrumented,
        "submission_sha256": result.submission_sha256,
        "stdout_tail": result.stdout_tail,
        "stderr_tail": result.stderr_tail,
        "milestones": list(result.milestones),
        "milestone_times": result.milestone_times,
        "diagnostics": result.diagnostics,
        "score": result.score,
        "private_score": None if grade is None else grade.private,
        "private_full_score": None if grade is None else grade.score,
        "valid": result.valid_submission,
        "invalid_reason": result.invalid_reason,
        "no_model_trained": result.no_model_trained,
        "reward_components": result.reward_components,
        "reward_preset": runtime.reward_config.preset,
        "duration": result.duration,
        "timed_out": result.timed_out,
        "oom": result.oom,
        "exit_code": result.exit_code,
        "time_limit": runtime.time_limit,
        "memory_limit": runtime.memory_limit,
        "cpus": runtime.cpus,
        "instrumenter": result.instrumenter,
        "instrumenter_note": result.instrumenter_note,
    }


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite floats to None, unknown objects to str."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    item = getattr(value, "item", None)  # numpy scalars and 0-d arrays
    if callable(item):
        try:
            return _plain(item())
        except (TypeError, ValueError):
            pass
    return str(value)


class TrajectoryWriter:
    """Appends records to one JSONL file; one writer per file, enforced with a lock.

    The file is opened on the first record (so a writer that records nothing leaves no
    file: vector envs build a throwaway env to read its spaces). Each record is one
    ``write`` of a whole line on a file opened with ``O_APPEND``, passed to the OS before
    ``write`` returns, so a crash loses at most the record being written; a torn last line
    is closed off before the next writer appends.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._closed = False

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self._lock(fd)
            if os.fstat(fd).st_size and _last_byte(self.path) != b"\n":
                os.write(fd, b"\n")  # isolate a line a crashed writer left unfinished
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _lock(self, fd: int) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; distinct paths are the caller's job
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(
                f"another writer is recording to {self.path}; give each environment its own "
                f"file, or pass a folder and each writer gets its own <run_id>.jsonl there"
            ) from None

    def write(self, record: dict[str, Any]) -> None:
        if self._closed:
            raise RuntimeError(f"the trajectory writer for {self.path} is closed")
        if self._fd is None:
            self._fd = self._open()
        line = json.dumps(_plain(record), ensure_ascii=False, allow_nan=False) + "\n"
        data = line.encode("utf-8", "surrogatepass")
        while data:
            data = data[os.write(self._fd, data) :]

    def close(self) -> None:
        self._closed = True
        if self._fd is not None:
            os.close(self._fd)  # also releases the lock
            self._fd = None

    def __del__(self) -> None:
        self.close()


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1)


def trajectory_files(path_or_glob: str | os.PathLike[str]) -> list[Path]:
    """The files a path names: itself, the ``*.jsonl`` in a folder, or a glob's matches."""
    text = os.fspath(path_or_glob)
    path = Path(text)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
    elif path.is_file():
        files = [path]
    else:
        files = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
    if not files:
        raise FileNotFoundError(
            f"no trajectory files at {text!r}: pass a .jsonl file, a folder holding .jsonl "
            f"files, or a glob such as 'runs/**/*.jsonl'"
        )
    return files


def load_trajectories(path_or_glob: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every record under ``path_or_glob``; lines that are not JSON (a writer killed
    mid-line) are skipped with a warning that names them."""
    records: list[dict[str, Any]] = []
    for file in trajectory_files(path_or_glob):
        with open(file, encoding="utf-8", errors="surrogatepass") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    warnings.warn(
                        f"{file}:{number} is not a whole record (a writer stopped mid-line?); "
                        f"skipped",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    continue
                if isinstance(record, dict):
                    records.append(record)
    return records


def _records(source: str | os.PathLike[str] | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(source, (str, os.PathLike)):
        return load_trajectories(source)
    return list(source)


def as_dataset(source: str | os.PathLike[str] | Iterable[dict[str, Any]]) -> Any:
    """The records as a ``datasets.Dataset``: one row per step, a column per :data:`FIELDS`
    entry, typed even when a column is all None; ``json`` columns hold JSON strings."""
    try:
        import datasets
    except ImportError:
        raise ImportError(
            "as_dataset needs the 'datasets' package: pip install 'mle-gym[train]' "
            "(or pip install datasets)"
        ) from None
    kinds = {
        "string": datasets.Value("string"),
        "json": datasets.Value("string"),
        "int64": datasets.Value("int64"),
        "float64": datasets.Value("float64"),
        "bool": datasets.Value("bool"),
        "list[string]": datasets.Sequence(datasets.Value("string")),
    }
    features = datasets.Features({name: kinds[kind] for name, kind in FIELDS.items()})
    columns: dict[str, list[Any]] = {name: [] for name in FIELDS}
    for record in _records(source):
        for name, kind in FIELDS.items():
            value = record.get(name)
            if kind == "json":
                value = None if value is None else json.dumps(value, ensure_ascii=False)
            columns[name].append(value)
    return datasets.Dataset.from_dict(columns, features=features)


def _reward(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    if value is None and key == "raw_reward":
        value = record.get("reward")
    return None if value is None else float(value)


def to_sft_pairs(
    source: str | os.PathLike[str] | Iterable[dict[str, Any]],
    min_reward: float | None = None,
    valid_only: bool = True,
    completion: str = "program",
    reward_key: str = "raw_reward",
    dedupe: bool = True,
) -> list[dict[str, Any]]:
    """``{"prompt": observation, "completion": program, "reward"}`` rows for SFT.

    Keeps steps with a valid submission from a program that trained a model (``valid_only``;
    the no-model sentinel catches copied or hand-made answers) whose reward
    (``reward_key``, the env's own by default) is at least ``min_reward``. ``completion`` is ``"program"`` (the
    agent's whole answer, plan included) or ``"extracted_program"`` (the code alone).
    ``dedupe`` drops repeated (prompt, completion) pairs, keeping the first.
    """
    if completion not in ("program", "extracted_program"):
        raise ValueError("completion must be 'program' or 'extracted_program'")
    rows, seen = [], set()
    for record in _records(source):
        reward = _reward(record, reward_key)
        if valid_only and (not record.get("valid") or record.get("no_model_trained")):
            continue
        if min_reward is not None and (reward is None or reward < min_reward):
            continue
        pair = (record.get("observation") or "", record.get(completion) or "")
        if not pair[1] or (dedupe and pair in seen):
            continue
        seen.add(pair)
        rows.append({"prompt": pair[0], "completion": pair[1], "reward": reward})
    return rows


def to_preference_pairs(
    source: str | os.PathLike[str] | Iterable[dict[str, Any]],
    min_margin: float = 1e-9,
    max_pairs_per_prompt: int | None = None,
    completion: str = "program",
    reward_key: str = "raw_reward",
) -> list[dict[str, Any]]:
    """Pairs of programs for the same observation with different rewards, for reward models.

    Programs written for the same observation are grouped (a program seen several times
    gets its mean reward), and every two whose rewards differ by more than ``min_margin``
    make a row ``{"prompt", "chosen", "rejected", "chosen_reward", "rejected_reward"}``,
    widest margins first, at most ``max_pairs_per_prompt`` per observation.
    """
    if completion not in ("program", "extracted_program"):
        raise ValueError("completion must be 'program' or 'extracted_program'")
    groups: dict[str, dict[str, list[float]]] = {}
    for record in _records(source):
        reward = _reward(record, reward_key)
        program = record.get(completion)
        if reward is None or not program:
            continue
        groups.setdefault(record.get("observation") or "", {}).setdefault(program, []).append(reward)
    rows: list[dict[str, Any]] = []
    for prompt, programs in groups.items():
        means: Sequence[tuple[str, float]] = [(p, sum(r) / len(r)) for p, r in programs.items()]
        pairs = []
        for (a, ra), (b, rb) in combinations(means, 2):
            if abs(ra - rb) <= min_margin:
                continue
            (chosen, rc), (rejected, rr) = ((a, ra), (b, rb)) if ra > rb else ((b, rb), (a, ra))
            pairs.append(
                {
                    "prompt": prompt,
                    "chosen": chosen,
                    "rejected": rejected,
                    "chosen_reward": rc,
                    "rejected_reward": rr,
                }
            )
        pairs.sort(key=lambda row: row["rejected_reward"] - row["chosen_reward"])
        rows.extend(pairs[:max_pairs_per_prompt])
    return rows


__all__ = [
    "FIELDS",
    "SCHEMA",
    "TrajectoryWriter",
    "as_dataset",
    "load_trajectories",
    "to_preference_pairs",
    "to_sft_pairs",
    "trajectory_files",
]
