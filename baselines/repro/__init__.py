"""Reproductions of the paper's two findings (duration bias, partial credit) on a CPU with
real environment steps: ``python -m baselines.repro.run``; see ``baselines/repro/REPORT.md``."""
