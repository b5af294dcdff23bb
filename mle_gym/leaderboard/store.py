"""The results store: a folder of JSONL files, one per run, one record per episode.

A record is self-describing (agent, arguments, the model an LLM agent asked, task, seed,
data, budgets, every step's
public and private score, validity and duration) so a table can be rebuilt from the files
alone, years later. An episode is identified by :meth:`EpisodeSpec.key`; a rerun skips the
keys already stored without an error, which is what makes runs resumable.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Agent arguments that say how to reach a model, not what the agent does: left out of the
# episode key, so the same model behind another port (``--port 0``) is the same episode.
TRANSPORT_ARGS = frozenset({"base_url", "api_key", "timeout", "max_retries"})
SECRET_ARGS = frozenset({"api_key"})


@dataclass(frozen=True)
class EpisodeSpec:
    """One cell of agents x tasks x seeds, with the budgets it runs under."""

    agent: str
    task: str
    seed: int
    data: str = "lite"
    max_steps: int = 3
    time_budget: float | None = None  # seconds of wall time per episode
    agent_args: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        """Stable id of the episode's configuration: the same spec gives the same key."""
        identity = {k: v for k, v in self.agent_args.items() if k not in TRANSPORT_ARGS}
        blob = json.dumps(
            [self.agent, identity, self.task, self.seed, self.data, self.max_steps,
             self.time_budget],
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def model(self) -> str | None:
        """The model an LLM agent asks (its ``model`` argument), None for other agents."""
        model = self.agent_args.get("model")
        return None if model is None else str(model)

    def as_dict(self) -> dict[str, Any]:
        """The spec as a record stores it: an API key is never written to the results."""
        out = asdict(self)
        out["agent_args"] = {k: v for k, v in self.agent_args.items() if k not in SECRET_ARGS}
        return out


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class ResultsStore:
    """``<root>/<run_id>.jsonl`` files. Appends are flushed per record, so a killed run keeps
    every finished episode, and a half-written last line is skipped when reading."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def records(self) -> list[dict[str, Any]]:
        return list(self._iter_records())

    def _iter_records(self) -> Iterator[dict[str, Any]]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("*.jsonl")):
            with path.open() as handle:
                for line in handle:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a run killed mid-write; the episode will rerun
                    if isinstance(record, dict) and "key" in record:
                        yield record

    def finished_keys(self) -> set[str]:
        """Episodes that ended (with or without a valid submission), not those that crashed
        on an infrastructure error: those are worth running again."""
        return {r["key"] for r in self._iter_records() if not r.get("error")}

    def writer(self, run_id: str | None = None) -> RunWriter:
        return RunWriter(self.root, run_id or new_run_id())


class RunWriter:
    """Appends one run's records to its own file (one writer per file, so no interleaving)."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.run_id = run_id
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / f"{run_id}.jsonl"
        self._handle = self.path.open("a")

    def append(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps({"run_id": self.run_id, **record}, default=_jsonable) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.append(record)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a results record")
