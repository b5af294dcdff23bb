"""Leaderboards: run agents over tasks and seeds, store one record per episode, rank them.

* :mod:`~mle_gym.leaderboard.store`: the results store (one JSONL file per run) and the
  episode key that makes runs resumable;
* :mod:`~mle_gym.leaderboard.runner`: agents x tasks x seeds through the rollout pool;
* :mod:`~mle_gym.leaderboard.aggregate`: per-task mean and SEM, normalised scores,
  validity, medals, durations, and the ranking;
* :mod:`~mle_gym.leaderboard.render`: LEADERBOARD.md, a static HTML page and PNG plots.
"""

from mle_gym.leaderboard.aggregate import AgentRow, TaskCell, aggregate
from mle_gym.leaderboard.store import EpisodeSpec, ResultsStore

__all__ = ["AgentRow", "EpisodeSpec", "ResultsStore", "TaskCell", "aggregate"]
