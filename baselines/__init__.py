"""Agents and trainers that use mle-gym: TRL GRPO with duration-aware weights, ..."""
