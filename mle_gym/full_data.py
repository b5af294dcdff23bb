"""Moved to :mod:`mle_gym.data.full`; this name stays for existing imports."""

from mle_gym.data.full import extract_all, full_root, prepare_full, rules_url

__all__ = ["extract_all", "full_root", "prepare_full", "rules_url"]
