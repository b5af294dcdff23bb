"""Write the leaderboard: LEADERBOARD.md, index.html and PNG plots, from aggregated rows.

The page is static (no scripts, no external assets): it opens from disk and can be served
by any web server or GitHub Pages. matplotlib draws the plots; it is imported only here, and
is optional (``pip install 'mle-gym[plots]'``): without it the tables are built and the page
says the plots were skipped.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path

from mle_gym.leaderboard.aggregate import AgentRow
from mle_gym.spec import load_task

RULES = [
    "Score: the private-half score of each episode's best submission (chosen by its "
    "public-half score); mean ± SEM over seeds.",
    "Normalised: 0 = the sample submission (or no valid submission), 1 = the strong "
    "reference solution on lite data or the gold threshold on full data; below 0 counts as 0.",
    "Rank: mean normalised score over tasks (± combined SEM).",
    "Model: the model an LLM agent asked (the name its server serves); another model is "
    "another row.",
    "Valid: share of episodes with at least one valid submission.",
    "s/step: median run time of a program; agent s/step: median time the agent took to "
    "write one (an LLM agent's answer, with any wait for a model server it shares).",
    "Medal and above-median rates: full data only (Kaggle's thresholds).",
    "Timed out: steps stopped at the time limit, of all steps run; a row where every step "
    "timed out is marked: its score reflects the limit or the machine, not the agent.",
]
PLOTS_SKIPPED = (
    "Plots skipped: matplotlib is not installed. Install it with "
    "`pip install 'mle-gym[plots]'` and build again to get them."
)
LITE_NOTE = (
    "Lite data is generated offline: its scores are not comparable with Kaggle's, the "
    "paper's or MLE-bench's. The paper's numbers are shown for reference only and are "
    "not ranked with lite results."
)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pm(mean: float | None, err: float | None, digits: int = 3) -> str:
    if mean is None:
        return "–"
    return _fmt(mean, digits) + ("" if err is None else f" ± {_fmt(err, digits)}")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _timeouts(timed_out: int, steps: int) -> str:
    if not steps:
        return "–"
    return f"{timed_out}/{steps}" + (" (all)" if timed_out == steps else "")


def timeout_warnings(rows: Sequence[AgentRow]) -> list[str]:
    """One line per agent, or agent and task, whose every step hit the time limit."""
    lines = []
    for row in rows:
        if row.all_timed_out:
            lines.append(
                f"Every step of {row.label} ({row.data}) timed out ({row.steps} steps): its "
                "score measures the time limit or the machine's load, not the agent. Rerun "
                "with a larger --time-limit or on a less loaded machine."
            )
            continue
        for task, cell in sorted(row.cells.items()):
            if cell.all_timed_out:
                lines.append(f"Every step of {row.label} ({row.data}) on {task} timed out "
                             f"({cell.steps} steps).")
    return lines


def _tasks(rows: Sequence[AgentRow]) -> list[str]:
    return sorted({task for row in rows for task in row.cells})


def ranked_table(rows: Sequence[AgentRow]) -> tuple[list[str], list[list[str]]]:
    head = ["#", "agent", "model", "data", "normalised", "valid", "medal", "> median", "s/step",
            "agent s/step", "episodes", "errors", "timed out"]
    body = []
    for i, row in enumerate(rows, 1):
        body.append([
            str(i), row.agent, row.model or "–", row.data, _pm(row.score, row.score_sem),
            _pct(row.valid_rate),
            _pct(row.medal_rate), _pct(row.above_median_rate),
            _fmt(row.median_step_seconds, 1), _fmt(row.median_agent_seconds, 1),
            str(row.episodes), str(row.errors),
            _timeouts(row.timed_out_steps, row.steps),
        ])
    return head, body


def task_table(rows: Sequence[AgentRow]) -> tuple[list[str], list[list[str]]]:
    head = ["task", "metric", "agent", "model", "score", "normalised", "valid", "s/step",
            "seeds", "timed out"]
    body = []
    for task in _tasks(rows):
        spec = load_task(task)
        arrow = "↓" if spec.direction == "lower" else "↑"
        for row in rows:
            cell = row.cells.get(task)
            if cell is None:
                continue
            body.append([
                task, f"{spec.metric} {arrow}", row.agent, row.model or "–",
                _pm(cell.mean, cell.sem, 4),
                _pm(cell.mean_normalised, cell.sem_normalised), _pct(cell.valid_rate),
                _fmt(cell.median_step_seconds, 1), str(cell.episodes),
                _timeouts(cell.timed_out_steps, cell.steps),
            ])
    return head, body


def markdown_table(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(lines)


def html_table(
    head: list[str], body: list[list[str]], reference: AbstractSet[str] = frozenset()
) -> str:
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
           + "</tr></thead>", "<tbody>"]
    for row in body:
        cls = ' class="reference"' if any(cell in reference for cell in row) else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():  # noqa: ANN202 - matplotlib is optional
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "the leaderboard's plots need matplotlib: pip install 'mle-gym[plots]'"
        ) from None
    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_normalised(rows: Sequence[AgentRow], path: Path) -> None:
    """Grouped horizontal bars: normalised score per task, one colour per agent, SEM bars."""
    plt = _pyplot()

    tasks = _tasks(rows)
    n = max(1, len(rows))
    height = 0.8 / n
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(tasks) * max(1, n / 2)))
    for i, row in enumerate(rows):
        ys = [t + i * height for t in range(len(tasks))]
        means = [row.cells[t].mean_normalised if t in row.cells else 0.0 for t in tasks]
        errs = [(row.cells[t].sem_normalised or 0.0) if t in row.cells else 0.0 for t in tasks]
        ax.barh(ys, means, height=height, xerr=errs, label=f"{row.label} ({row.data})",
                capsize=2)
    ax.set_yticks([t + 0.4 - height / 2 for t in range(len(tasks))], tasks)
    ax.invert_yaxis()
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("normalised score (0 = sample submission, 1 = reference)")
    long_labels = any(len(row.label) > 24 for row in rows)  # an agent with its model's name
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2 if long_labels else 3,
              fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # a wide legend is not cut off
    plt.close(fig)


def plot_score_vs_time(rows: Sequence[AgentRow], path: Path) -> None:
    """Per agent and task: normalised score against median seconds per step."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        points = [(t, c.median_step_seconds, c.mean_normalised) for t, c in row.cells.items()
                  if c.median_step_seconds is not None]
        if not points:
            continue
        _, xs, ys = zip(*points, strict=True)
        ax.scatter(xs, ys, label=f"{row.label} ({row.data})", alpha=0.8)
        for task, x, y in points:
            ax.annotate(task, (x, y), fontsize=6, alpha=0.7, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())  # labelled minor ticks overlap
    ax.set_xlabel("median program run time per step (s, log scale)")
    ax.set_ylabel("normalised score")
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.legend(fontsize="small")
    ax.set_title("Score vs time (one point per task)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
th { background: #f0f0f0; }
tr.reference td { color: #777; font-style: italic; }
.note { background: #fff6d5; border-left: 4px solid #e0b400; padding: 8px 12px; }
.note.warning { background: #fde2e1; border-left-color: #d33; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
"""


def build(
    rows: Sequence[AgentRow],
    out: Path,
    include_paper: bool = True,
    title: str = "mle-gym leaderboard",
) -> dict[str, Path]:
    """Write LEADERBOARD.md, index.html and the plots into ``out``; return their paths.

    Without matplotlib the plots are skipped (the page says so and how to get them) and the
    returned paths have no plot entries. With ``include_paper``, the paper's numbers appear as reference rows ranked beside
    full-data runs, and as a separate table marked not comparable beside lite runs.
    """
    from mle_gym.leaderboard.aggregate import aggregate
    from mle_gym.leaderboard.paper import paper_records

    out.mkdir(parents=True, exist_ok=True)
    full = [r for r in rows if r.data == "full"]
    lite = [r for r in rows if r.data != "full"]
    references: list[AgentRow] = []
    if include_paper and full:
        tasks = sorted({t for r in full for t in r.cells})
        references = aggregate(paper_records(tasks))
    ranked = sorted(full + references, key=lambda r: -r.score) + lite
    ref_names = {r.agent for r in references}
    paths: dict[str, Path] = {}
    if have_matplotlib():
        plots = out / "plots"
        plots.mkdir(exist_ok=True)
        paths = {"normalised": plots / "normalised_by_task.png",
                 "time": plots / "score_vs_time.png"}
        plot_normalised(rows, paths["normalised"])
        plot_score_vs_time(rows, paths["time"])
    images = {k: str(v.relative_to(out)) for k, v in paths.items()}
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head, body = ranked_table(ranked)
    thead, tbody = task_table(ranked)
    paper_aside = include_paper and bool(lite)
    warnings = timeout_warnings(rows)

    md = [f"# {title}", "", f"Built {stamp}.", ""]
    if lite:
        md += [f"> **{LITE_NOTE}**", ""]
    md += [f"> **Warning: {line}**\n" for line in warnings]
    md += ["## Ranking", "", markdown_table(head, body), ""]
    if references:
        md += ["Rows ending in *(paper)* are the paper's reported best scores on full data.", ""]
    md += ["## Per task", "", markdown_table(thead, tbody), "", "## Plots", ""]
    if images:
        md += [f"![normalised score per task]({images['normalised']})", "",
               f"![score vs time]({images['time']})", ""]
    else:
        md += [PLOTS_SKIPPED, ""]
    md += ["## Rules", ""]
    md += [f"- {rule}" for rule in RULES]
    if paper_aside:
        md += ["", "## The paper's numbers (full data; not comparable with lite)", "",
               markdown_table(*_paper_rows())]
    (out / "LEADERBOARD.md").write_text("\n".join(md) + "\n")

    page = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>", f"<p>Built {stamp}.</p>",
    ]
    if lite:
        page.append(f'<p class="note"><strong>{html.escape(LITE_NOTE)}</strong></p>')
    page += [f'<p class="note warning"><strong>Warning: {html.escape(line)}</strong></p>'
             for line in warnings]
    page += ["<h2>Ranking</h2>", html_table(head, body, ref_names),
             "<h2>Per task</h2>", html_table(thead, tbody, ref_names), "<h2>Plots</h2>"]
    if images:
        page += [f'<img src="{images["normalised"]}" alt="normalised score per task">',
                 f'<img src="{images["time"]}" alt="score vs time">']
    else:
        page.append(f"<p>{html.escape(PLOTS_SKIPPED)}</p>")
    page += ["<h2>Rules</h2><ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in RULES)
             + "</ul>"]
    if paper_aside:
        page += ["<h2>The paper's numbers (full data; not comparable with lite)</h2>",
                 html_table(*_paper_rows(), reference=set())]
    page.append("</body></html>")
    (out / "index.html").write_text("\n".join(page) + "\n")
    return {"markdown": out / "LEADERBOARD.md", "html": out / "index.html", **paths}


def _paper_rows() -> tuple[list[str], list[list[str]]]:
    from mle_gym.leaderboard.paper import paper_results

    results = paper_results()
    agents = list(results)
    tasks = sorted(next(iter(results.values())))
    head = ["task", *agents]
    body = []
    for task in tasks:
        arrow = "↓" if load_task(task).direction == "lower" else "↑"
        body.append([f"{task} {arrow}", *(_fmt(results[a][task]) for a in agents)])
    return head, body
