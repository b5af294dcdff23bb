"""The report's figures, drawn from the results JSON only (so they can be redrawn offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLOURS = {"fast": "tab:orange", "medium": "tab:green", "strong": "tab:blue", "broken": "tab:red"}
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


def _shares(runs: list[dict[str, Any]], axis: str, ax: Any, title: str) -> None:
    names = runs[0]["programs"]
    key = "t" if axis == "time" else "update"
    grid = np.linspace(0, _end(runs, "snapshots", key), 200)
    for i, name in enumerate(names):
        colour = COLOURS.get(name)
        traces = []
        for run in runs:
            xs, ys = _trace(run, "snapshots", key, lambda p, i=i: p["probs"][i])
            ax.step(xs, ys, where="post", color=colour, alpha=0.25, lw=0.8)
            traces.append(_step_interp(xs, ys, grid))
        ax.plot(grid, np.mean(traces, axis=0), color=colour, lw=2.2, label=name)
    ax.set_ylim(0, 1)
    ax.set_xlabel("wall time (s)" if axis == "time" else "policy updates")
    ax.set_ylabel("policy share")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)


def duration_figures(result: dict[str, Any], out: Path) -> list[Path]:
    """Shares vs wall time and vs updates for both settings; expected duration over time."""
    paths = []
    for regime, runs_by_label in result["runs"].items():
        labels = [lbl for lbl in ("unweighted", "duration-weighted") if runs_by_label.get(lbl)]
        if not labels:
            continue
        fig, axes = plt.subplots(2, len(labels), figsize=(5.5 * len(labels), 7.5), squeeze=False)
        for col, label in enumerate(labels):
            runs = runs_by_label[label]
            n = len(runs)
            _shares(runs, "time", axes[0][col], f"{label} ({n} seed{'s' * (n > 1)}): vs wall time")
            _shares(runs, "updates", axes[1][col], f"{label}: vs updates")
        axes[0][0].legend(loc="upper left", fontsize=8)
        fig.suptitle(
            f"Duration bias on spooky-author lite ({regime} regime): policy shares", fontsize=11
        )
        fig.tight_layout()
        path = out / f"duration_shares_{regime}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)

    fig, ax = plt.subplots(figsize=(7, 4))
    for regime, runs_by_label in result["runs"].items():
        for label, runs in runs_by_label.items():
            if not runs:
                continue
            grid = np.linspace(0, _end(runs, "snapshots", "t"), 200)
            traces = [
                _step_interp(*_trace(r, "snapshots", "t", lambda p: p["expected_duration"]), grid)
                for r in runs
            ]
            style = "-" if regime == "episodes" else ":"
            ax.plot(
                grid,
                np.mean(traces, axis=0),
                style,
                color=SETTING_COLOURS[label],
                lw=2,
                label=f"{label}, {regime}",
            )
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("expected program duration\nunder the policy (s)")
    ax.set_title(
        "Mean duration over training: sum of pi(x) * measured duration(x), mean over seeds",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "duration_mean_duration.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
    return paths


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
