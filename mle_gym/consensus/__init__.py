"""Rewards without answers: a submission scored by its agreement with the others' predictions.

TTRL (arXiv 2504.16084) rewards a sampled answer for agreeing with the majority of the
samples. Here an answer is a whole prediction file, so the vote is per test row, and the
agreement is the task's own metric against the pseudo-label the other submissions make::

    from mle_gym.consensus import consensus_rewards
    rewards = consensus_rewards("spooky-author", ["a.csv", "b.csv", ...], data="lite")

:mod:`.votes` makes pseudo-labels, :mod:`.scorer` turns a group into rewards. Runs through the
rollout pool and the TRL reward function are in :mod:`mle_gym.pool.consensus`.
"""

from mle_gym.consensus.scorer import (
    MIN_VOTERS,
    ConsensusResult,
    ConsensusScorer,
    consensus_rewards,
    public_folder,
)

__all__ = ["MIN_VOTERS", "ConsensusResult", "ConsensusScorer", "consensus_rewards", "public_folder"]
