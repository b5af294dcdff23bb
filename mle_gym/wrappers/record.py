"""RecordTrajectory: write every step of an mle-gym environment to a JSONL file."""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gymnasium as gym

import mle_gym
from mle_gym.trajectories import FIELDS, SCHEMA, TrajectoryWriter, trajectory_fields
from mle_gym.wrappers.rewards import program_sha256

# info keys the record stores under their own column (the rest go to ``extra_info``).
_INFO_COLUMNS = {
    "duration", "milestones", "milestone_times", "valid_submission", "score",
    "invalid_reason", "exit_code", "timed_out", "oom", "no_model_trained", "stdout_tail",
    "stderr_tail", "diagnostics", "instrumenter", "instrumenter_note", "sandbox",
    "submission_sha256", "step", "reward", "raw_reward", "reward_components",
}  # fmt: skip


def _file_for(path: str | os.PathLike[str], run_id: str) -> Path:
    """A folder (existing, or named with a trailing slash) gets ``<run_id>.jsonl`` inside."""
    text = os.fspath(path)
    folder = Path(text)
    if folder.is_dir() or text.endswith(("/", os.sep)):
        return folder / f"{run_id}.jsonl"
    return folder


class RecordTrajectory(gym.Wrapper):
    """Append one JSON record per step to ``path`` (see ``mle_gym.trajectories.FIELDS``).

    ``path`` is a ``.jsonl`` file (appended to, never truncated) or a folder, where this
    writer creates ``<run_id>.jsonl``: pass a folder when several environments record at
    once (vector envs, parallel workers), since each file takes one writer at a time.
    Records are flushed as they are written. Wrap outside the reward wrappers to record
    the shaped reward next to the env's own (``raw_reward``).
    """

    def __init__(
        self, env: gym.Env, path: str | os.PathLike[str], run_id: str | None = None
    ) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not hasattr(base, "runtime"):
            raise TypeError("RecordTrajectory records mle-gym environments (gym.make('mle/...'))")
        self.run_id = run_id or uuid.uuid4().hex[:16]
        self.path = _file_for(path, self.run_id)
        self.writer = TrajectoryWriter(self.path)
        self.episode = -1
        self._observation: str | None = None
        self._reset_seed: int | None = None
        self._mode: str | None = None
        self._ready = 0.0
        self._image_id: dict[str, str | None] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.episode += 1
        self._observation, self._reset_seed, self._mode = obs, seed, info.get("mode")
        self._ready = time.monotonic()
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._observation is None:
            raise RuntimeError("call reset() before step(): a record needs the observation")
        agent_seconds = time.monotonic() - self._ready
        obs, reward, terminated, truncated, info = self.env.step(action)
        record = self._record(action, float(reward), terminated, truncated, info)
        record["agent_seconds"] = agent_seconds
        self.writer.write({name: record.get(name) for name in FIELDS})
        self._observation = obs
        self._ready = time.monotonic()
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        self.writer.close()
        super().close()

    # -- the record ------------------------------------------------------------------------

    def _record(
        self, action: Any, reward: float, terminated: bool, truncated: bool, info: dict[str, Any]
    ) -> dict[str, Any]:
        base = self.env.unwrapped
        runtime = base.runtime
        result = base.last_result
        program = action if isinstance(action, str) else None
        image = self._image(base)
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "episode": self.episode,
            "reset_seed": self._reset_seed,
            "mode": self._mode,
            "observation": self._observation,
            "program": program,
            "program_sha256": None if program is None else program_sha256(program),
            **trajectory_fields(result, runtime, base.data_seed),
            # info as the caller got it: a wrapper may have added keys or shaped the reward.
            "step": info.get("step"),
            "reward": reward,
            "raw_reward": info.get("raw_reward", info.get("reward", reward)),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
            # A program that never ran (unparsable) has no backend in info; the env has one.
            "sandbox": info.get("sandbox") or base.sandbox.name,
            "image": image,
            "image_id": self._image_id.get(image) if image else None,
            "mle_gym_version": mle_gym.__version__,
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "extra_info": {k: v for k, v in info.items() if k not in _INFO_COLUMNS} or None,
        }

    def _image(self, base: Any) -> str | None:
        """The Docker image the sandbox runs, and its id (looked up once per image)."""
        sandbox = base.sandbox  # made by the step just taken
        image = getattr(sandbox, "image", None)
        if not isinstance(image, str):
            return None
        if image not in self._image_id:
            try:
                self._image_id[image] = sandbox.client.images.get(image).id
            except Exception:  # the id is a convenience; a record must not fail over it
                self._image_id[image] = None
        return image


__all__ = ["RecordTrajectory"]
