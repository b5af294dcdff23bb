"""Validation of the options an environment is made with: limits, data, data seed.

``gym.make``, :meth:`mle_gym.step.TaskRuntime.create`, the env's limit setters and the rollout
pool's job options all go through :func:`validate_limits`, so a limit that would switch itself
off (``memory_limit="0"`` starts a container with no memory limit, ``cpus=1e-10`` rounds to no
CPU quota) or fail late (negative, infinite, not a number) is refused when the env is made,
with a message that says what is allowed.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from pathlib import Path
from typing import Any

MIN_TIME_LIMIT = 1.0  # seconds: the container alone takes longer than this to start
MAX_TIME_LIMIT = 7 * 24 * 3600.0  # one week; beyond it socket timeouts overflow
MIN_MEMORY = 64 << 20  # below this the Python interpreter in the sandbox cannot start
MAX_MEMORY = 1 << 50  # 1 PiB: far above any host, far below Docker's int64
MIN_CPUS = 0.01  # Docker's smallest quota; smaller values round to 0, i.e. no quota
MAX_CPUS = 4096.0
MIN_DISK = 1 << 20  # 1 MiB: room for a submission file
MAX_DISK = 1 << 50
# Programs per episode: the registry's max_episode_steps and Episode's default. Here, in
# the lowest layer, because both the light registry and the episode need it.
DEFAULT_MAX_STEPS = 3

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*", re.IGNORECASE)
_SCALE = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class LimitError(ValueError):
    """A resource limit that is not allowed; the message says what is."""


def _size_text(n: int) -> str:
    for unit, scale in (("t", 1 << 40), ("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def _number(name: str, value: Any, low: float, high: float, unit: str) -> float:
    # bool is an int to Python, but time_limit=True is a bug, not one second.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LimitError(
            f"{name} must be a number of {unit} between {low:g} and {high:g}, "
            f"not {value!r} ({type(value).__name__})"
        )
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise LimitError(f"{name} must be a number of {unit} between {low:g} and {high:g}, "
                         f"not {value!r}")
    return number


def validate_time_limit(value: Any) -> float:
    """Seconds of wall-clock time per program: finite, from 1 s to one week."""
    return _number("time_limit", value, MIN_TIME_LIMIT, MAX_TIME_LIMIT, "seconds")


def validate_cpus(value: Any) -> float:
    """CPUs per program: finite, from 0.01 (Docker's smallest quota) to 4096."""
    return _number("cpus", value, MIN_CPUS, MAX_CPUS, "CPUs")


def size_bytes(name: str, value: Any, low: int, high: int) -> int:
    """A Docker-style size ("512m", "4g", "1.5g", or an int of bytes) within [low, high]."""
    allowed = (f"{name} must be a size like '512m' or '4g' (k, m, g, t; or a number of bytes) "
               f"from {_size_text(low)} to {_size_text(high)}")
    if isinstance(value, bool):
        raise LimitError(f"{allowed}, not {value!r}")
    if isinstance(value, numbers.Integral):
        n = int(value)
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        n = int(float(match.group(1)) * _SCALE[match.group(2).lower()])
    else:
        raise LimitError(f"{allowed}, not {value!r}")
    if not low <= n <= high:
        raise LimitError(f"{allowed}, not {value!r} ({n} bytes)")
    return n


def validate_memory_limit(value: Any) -> str:
    """Memory per program, as the Docker-style text the sandboxes parse (at least 64m)."""
    size_bytes("memory_limit", value, MIN_MEMORY, MAX_MEMORY)
    return value.strip() if isinstance(value, str) else str(int(value))


def validate_disk_limit(value: Any) -> str:
    """Disk a program may write (its writable folders together), as Docker-style text."""
    size_bytes("disk_limit", value, MIN_DISK, MAX_DISK)
    return value.strip() if isinstance(value, str) else str(int(value))


VALIDATORS = {
    "time_limit": validate_time_limit,
    "memory_limit": validate_memory_limit,
    "cpus": validate_cpus,
    "disk_limit": validate_disk_limit,
}


def validate_data(data: Any) -> str | os.PathLike[str]:
    """``"lite"``, ``"full"``, or the path of an existing prepared data folder."""
    if isinstance(data, str) and data in ("lite", "full"):
        return data
    allowed = ("data must be 'lite', 'full' or the path of a prepared data folder "
               "(one with public/ and private/answers.csv)")
    if not isinstance(data, (str, os.PathLike)):
        raise ValueError(f"{allowed}, not {data!r} ({type(data).__name__})")
    if not Path(data).expanduser().is_dir():
        raise ValueError(f"{allowed}; {str(data)!r} is neither a flavour nor an existing folder")
    return data


def validate_data_seed(seed: Any) -> int:
    """The lite data's seed: a whole number >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"data_seed must be a whole number >= 0, not {seed!r}")
    return int(seed)


def validate_limits(**limits: Any) -> dict[str, Any]:
    """Check the limits given (``None`` means "the task's default" and is passed through);
    returns them normalised. Raises :class:`LimitError` naming what is allowed."""
    unknown = sorted(set(limits) - set(VALIDATORS))
    if unknown:
        raise TypeError(f"unknown limit(s) {', '.join(unknown)}; known: {', '.join(VALIDATORS)}")
    return {name: None if value is None else VALIDATORS[name](value)
            for name, value in limits.items()}


__all__ = [
    "LimitError",
    "validate_cpus",
    "validate_data",
    "validate_data_seed",
    "validate_disk_limit",
    "validate_limits",
    "validate_memory_limit",
    "validate_time_limit",
]
