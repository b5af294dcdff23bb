"""Moved to :mod:`mle_gym.sandbox.process`; this name stays for existing imports."""

from mle_gym.sandbox.process import WEAK_ISOLATION_WARNING, LocalSandbox

__all__ = ["WEAK_ISOLATION_WARNING", "LocalSandbox"]
