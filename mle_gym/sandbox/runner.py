"""Moved to :mod:`mle_gym.sandbox.inside.step_supervisor`; this name stays for existing imports."""

from mle_gym.sandbox.inside.step_supervisor import *  # noqa: F403
