"""Finding 1 with the TRL async trainer: the tiny model warm-started on the three programs,
trained by ``baselines.async_grpo`` with real Docker steps, with and without weights.

Every consumed completion is classified as the program it copies exactly (whitespace aside),
or "other" (a mutation: the three programs differ in one line, so a near copy of one may be
another or none), and the share of fast programs among them is followed over training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

OTHER = "other"
WARM_START = ("fast", "slow", "slow", "broken")  # the warm start's (prompt, program) draws
SETTINGS = {"warm_start_steps": 300, "temperature": 0.7, "learning_rate": 3e-4, "batch": 4}


def classify(program: str, programs: dict[str, str]) -> str:
    """The program a completion copies (its code, as the env extracts it from a fenced
    answer), or ``other``."""
    from mle_gym.instrument import extract_code

    words = extract_code(program).split()
    return next((name for name, text in programs.items() if text.split() == words), OTHER)


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

    The ``resample`` regime, every draw answering the scratch prompt: the tiny model answers
    the fixed text it was warm-started on reliably, but not the improve-the-best prompt once
    it shows a new best program and its score (more than half of the completions were then
    mutations), nor a lane's own last program (the episodes regime's prompt). The warm start sees the slow program twice as
    often as each of the others (``WARM_START``): the programs part at the ``vec =`` line,
    where the fast and broken ones agree, so an even warm start made a policy that wrote the
    slow program in about 1 of 10 draws; this way it starts near half."""
    import torch

    from baselines.async_grpo import parse_args, train

    folder.mkdir(parents=True, exist_ok=True)
    for name, text in programs.items():
        (folder / f"{name}.py").write_text(text)
    paths = [str(folder / f"{name}.py") for name in WARM_START]
    argv = [
        "--model", "tiny",
        "--max-steps", str(steps),
        "--num-generations", "2",
        "--batch-size", str(SETTINGS["batch"]),
        "--max-completion-length", "260",
        "--num-prompts", "64",
        "--learning-rate", str(SETTINGS["learning_rate"]),
        "--temperature", str(SETTINGS["temperature"]),
        "--warm-start-steps", str(SETTINGS["warm_start_steps"]),
        "--warm-start-programs", *paths,
        "--workers", str(workers),
        "--regime", "resample",
        "--fresh-prompt", "scratch",
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
        "settings": {**SETTINGS, "warm_start": list(WARM_START), "workers": workers, "steps": steps},
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
