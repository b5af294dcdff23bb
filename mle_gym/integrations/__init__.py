"""Adapters to third-party trainers. Import the one you need; ``import mle_gym`` loads none.

* :mod:`mle_gym.integrations.trl`: an environment for ``GRPOTrainer(environment_factory=...)``.
"""
