"""The paper's best scores as reference rows of the leaderboard.

The numbers are facts about each task, so they live in its ``task.yaml`` (``paper:``, typed
by :class:`mle_gym.spec.PaperScores`); this module names the paper's agents and turns those
numbers into records. They were measured on Kaggle's data ("Reinforcement Learning for
Machine Learning Engineering Agents", arXiv 2509.01684), so they compare with full-data
runs only, never with lite data.
"""

from __future__ import annotations

from mle_gym.spec import all_tasks

# mle_gym.spec.PaperScores field -> the agent's name on the leaderboard, in the paper's column order.
AGENTS: dict[str, str] = {
    "gpt4o_aide": "GPT-4o AIDE (paper)",
    "gpt4o_openhands": "GPT-4o OpenHands (paper)",
    "gpt4o_mlab": "GPT-4o MLAB (paper)",
    "qwen2_5_3b_rl": "Qwen2.5-3B RL (paper)",
}


def paper_results(tasks: list[str] | None = None) -> dict[str, dict[str, float | None]]:
    """Agent name -> task slug -> the paper's score, for the tasks whose spec has them
    (all of them, or those in ``tasks``), slugs in sorted order."""
    specs = [s for s in all_tasks() if s.paper is not None and (tasks is None or s.slug in tasks)]
    return {name: {s.slug: getattr(s.paper, field) for s in specs}
            for field, name in AGENTS.items()}


def paper_records(tasks: list[str] | None = None) -> list[dict]:
    """The paper's results as full-data episode records (one seed, one step each)."""
    records = []
    for agent, scores in paper_results(tasks).items():
        for task, score in scores.items():
            step = {"score": score, "private_score": score, "valid": score is not None,
                    "duration": None, "milestones": [], "invalid_reason": None}
            records.append({"key": f"paper:{agent}:{task}", "agent": agent, "task": task,
                            "seed": 0, "data": "full", "steps": [step], "reference": True})
    return records
