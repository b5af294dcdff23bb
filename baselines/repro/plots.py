"""Finding 2's figure (partial credit), drawn from the results JSON only (so it can be redrawn
offline). Finding 1's figures are drawn by ``baselines/repro/async_report.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

SETTING_COLOURS = {
    "unweighted": "tab:orange",
    "duration-weighted": "tab:blue",
    "partial credit": "tab:blue",
    "final score only": "tab:gray",
}


def _step_interp(xs: list[float], ys: list[float], grid: np.ndarray) -> np.ndarray:
    """Value of a piecewise-constant trace (value changes at xs) on a grid."""
    idx = np.searchsorted(np.asarray(xs), grid, side="right") - 1
    return np.asarray(ys)[np.clip(idx, 0, len(ys) - 1)]


def _trace(run: dict[str, Any], points: str, key: str, value: Any) -> tuple[list, list]:
    """A run's piecewise-constant trace, held at its last value until the run ended."""
    xs = [p[key] for p in run[points]]
    ys = [value(p) for p in run[points]]
    if key == "t" and run.get("wall_seconds", 0) > xs[-1]:
        xs.append(run["wall_seconds"])
        ys.append(ys[-1])
    return xs, ys


def _end(runs: list[dict[str, Any]], points: str, key: str) -> float:
    return min(_trace(r, points, key, lambda p: 0)[0][-1] for r in runs) or 1.0


def credit_figures(result: dict[str, Any], out: Path) -> list[Path]:
    """Reward per step, probability of the valid candidate, and steps to the first valid one."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    labels = list(result["runs"])
    for label in labels:
        runs = result["runs"][label]
        colour = SETTING_COLOURS[label]
        n = min(len(r["steps"]) for r in runs)
        window = 8
        smoothed = []
        for r in runs:
            rewards = np.array([s["reward"] for s in r["steps"][:n]])
            kernel = np.ones(window) / window
            sm = np.convolve(rewards, kernel, mode="valid") if n >= window else rewards
            smoothed.append(sm)
            axes[0].plot(np.arange(len(sm)) + min(window, n), sm, color=colour, alpha=0.25, lw=0.8)
        axes[0].plot(
            np.arange(len(smoothed[0])) + min(window, n),
            np.mean(smoothed, axis=0),
            color=colour,
            lw=2.2,
            label=label,
        )
        grid = np.linspace(0, _end(runs, "curve", "t"), 200)
        traces = []
        for r in runs:
            xs, ys = _trace(r, "curve", "t", lambda p: p["p_valid"])
            axes[1].step(xs, ys, where="post", color=colour, alpha=0.25, lw=0.8)
            traces.append(_step_interp(xs, ys, grid))
        axes[1].plot(grid, np.mean(traces, axis=0), color=colour, lw=2.2, label=label)
    axes[0].set_xlabel("rollouts (completion order)")
    axes[0].set_ylabel(f"env reward (moving mean of {8})")
    axes[0].set_title("Reward of the programs run", fontsize=10)
    axes[1].set_xlabel("wall time (s)")
    axes[1].set_ylabel("P(policy writes the bug-free program)")
    axes[1].set_yscale("log")
    axes[1].set_title("Probability of the valid candidate", fontsize=10)
    for ax in axes[:2]:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)

    ax = axes[2]
    for i, label in enumerate(labels):
        for j, r in enumerate(result["runs"][label]):
            s = r["summary"]
            x = i + (j - (len(result["runs"][label]) - 1) / 2) * 0.08
            if s["first_valid_step"] is None:
                ax.scatter(
                    x, s["steps"], facecolors="none", edgecolors=SETTING_COLOURS[label], s=60
                )
            else:
                ax.scatter(x, s["first_valid_step"], color=SETTING_COLOURS[label], s=60)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("rollouts to the first valid submission")
    ax.set_title(
        "First valid submission per seed\n(hollow: none within the run's budget)", fontsize=10
    )
    ax.grid(alpha=0.3)
    fig.suptitle("Partial credit on spooky-author lite: 243 candidates, 1 bug-free", fontsize=11)
    fig.tight_layout()
    path = out / "credit_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
