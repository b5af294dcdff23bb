"""Gymnasium wrappers for mle-gym environments: trajectory recording and episode rewards.

Not imported by ``import mle_gym`` (which stays light); import them from here.
"""

from mle_gym.wrappers.record import RecordTrajectory
from mle_gym.wrappers.rewards import BestSoFarReward, ImprovementReward, program_sha256

__all__ = ["BestSoFarReward", "ImprovementReward", "RecordTrajectory", "program_sha256"]
