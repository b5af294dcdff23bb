"""Finding 1 with the TRL async trainer: the tiny model warm-started on the three programs,
trained by ``baselines.async_grpo`` with real Docker steps, with and without weights.

Every consumed completion is classified as the program it copies (the nearest of fast, slow,
broken by ``difflib`` similarity, or "other" when it is like none of them: a mutation), and
the share of fast programs among them is followed over training.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

OTHER = "other"


def classify(program: str, programs: dict[str, str], threshold: float = 0.8) -> str:
    """The program a completion copies, or ``other``."""
    best, name = 0.0, OTHER
    for key, text in programs.items():
        ratio = difflib.SequenceMatcher(None, program.strip(), text.strip()).ratio()
        if ratio > best:
            best, name = ratio, key
    return name if best >= threshold else OTHER


def run_trl(
    programs: dict[str, str],
    weighted: bool,
    seed: int,
    folder: Path,
    steps: int,
    workers: int,
    time_limit: float = 180.0,
) -> dict[str, Any]:
    """One async TRL run; returns the classified completions per update.

    The ``resample`` regime: the tiny model was warm-started to answer the scratch and
    improve-the-best prompts, not to copy a lane's own last program (the episodes regime's
    prompt), which it would answer with noise."""
    import torch

    from baselines.async_grpo import parse_args, train

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in programs.items():
        path = folder / f"{name}.py"
        path.write_text(text)
        paths.append(str(path))
    argv = [
        "--model", "tiny",
        "--max-steps", str(steps),
        "--num-generations", "2",
        "--batch-size", "4",
        "--max-completion-length", "260",
        "--num-prompts", "64",
        "--learning-rate", "3e-4",
        "--temperature", "0.7",
        "--warm-start-steps", "300",
        "--warm-start-programs", *paths,
        "--workers", str(workers),
        "--regime", "resample",
        "--max-staleness", "2",
        "--time-limit", str(time_limit),
        "--seed", str(seed),
        "--output-dir", str(folder / "run"),
    ]  # fmt: skip
    if not weighted:
        argv.append("--no-duration-weights")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on two busy cores are several times slower
    try:
        trainer = train(parse_args(argv))
    finally:
        torch.set_num_threads(before)
    updates = []
    for u in trainer.updates:
        kinds = [classify(s["program"], programs) for s in u["samples"]]
        updates.append(
            {
                "version": u["version"],
                "t": round(u["t"], 2),
                "kinds": kinds,
                "durations": [s["duration"] for s in u["samples"]],
                "rewards": [s["reward"] for s in u["samples"]],
                "staleness": [s["staleness"] for s in u["samples"]],
                "ess": u["ess"],
                "is_ratio_mean": u["is_ratio_mean"],
            }
        )
    return {
        "label": "duration-weighted" if weighted else "unweighted",
        "seed": seed,
        "updates": updates,
        "summary": summarise(updates),
    }


def summarise(updates: list[dict[str, Any]]) -> dict[str, Any]:
    """Share of fast programs among consumed completions, first and last third of updates."""
    n = len(updates)
    third = max(n // 3, 1)

    def share(part: list[dict[str, Any]], kind: str) -> float | None:
        kinds = [k for u in part for k in u["kinds"]]
        return sum(k == kind for k in kinds) / len(kinds) if kinds else None

    return {
        "updates": n,
        "fast_first": share(updates[:third], "fast"),
        "fast_last": share(updates[-third:], "fast"),
        "slow_first": share(updates[:third], "slow"),
        "slow_last": share(updates[-third:], "slow"),
        "other_all": share(updates, OTHER),
    }
