"""The options a task's runtime is built with, in one type.

``gym.make``, :meth:`mle_gym.step.TaskRuntime.create`, the rollout pool's jobs, the TRL
adapter and the leaderboard all take these seven: what data, which seed, the per-program
limits (``None``: the task's default), the instrumenter and the reward. They are checked here,
cheaply and before any data is prepared, with :mod:`mle_gym.limits`; the data folder's
existence, the instrumenter and the reward are checked by ``TaskRuntime.create``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mle_gym.limits import validate_data, validate_data_seed, validate_limits


@dataclass(frozen=True)
class RuntimeOptions:
    """What a task's steps run with. Limits left ``None`` take the task's own (task.yaml)."""

    data: str | os.PathLike[str] = "lite"
    data_seed: int = 0
    time_limit: float | None = None
    memory_limit: str | None = None
    cpus: float | None = None
    instrumenter: Any = None  # "static", "lm" or an object with instrument(code)
    reward: Any = None  # a preset name, a RewardConfig or a dict of its fields

    def __post_init__(self) -> None:
        limits = validate_limits(
            time_limit=self.time_limit, memory_limit=self.memory_limit, cpus=self.cpus
        )
        for name, value in limits.items():
            object.__setattr__(self, name, value)
        if not isinstance(self.data, (str, os.PathLike)):
            # Only the kind here: TaskRuntime.create looks for a folder, since a pool job's
            # folder may exist only on the worker's node.
            validate_data(self.data)
        object.__setattr__(self, "data_seed", validate_data_seed(self.data_seed))

    @classmethod
    def of(cls, options: RuntimeOptions | Mapping[str, Any] | None = None, /,
           **overrides: Any) -> RuntimeOptions:
        """Options from an instance, a dict of these fields, or keywords (which win).
        An unknown name is a TypeError that lists the known ones."""
        if isinstance(options, RuntimeOptions):
            fields = options.as_dict()
        elif options is None:
            fields = {}
        elif isinstance(options, Mapping):
            fields = dict(options)
        else:
            raise TypeError(f"runtime options are a RuntimeOptions or a dict, not "
                            f"{type(options).__name__}")
        fields.update(overrides)
        unknown = sorted(set(fields) - set(NAMES))
        if unknown:
            raise TypeError(f"unknown runtime option(s) {', '.join(unknown)}; "
                            f"known: {', '.join(NAMES)}")
        return cls(**fields)

    def as_dict(self) -> dict[str, Any]:
        """Every field (shallow: objects stay objects), e.g. for ``StepJob(options=...)``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def key(self) -> str:
        """Text that is equal for equal options (a cache key; objects count by their repr)."""
        return json.dumps(self.as_dict(), sort_keys=True, default=repr)


NAMES = tuple(f.name for f in dataclasses.fields(RuntimeOptions))

__all__ = ["NAMES", "RuntimeOptions"]
