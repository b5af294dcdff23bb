"""The paper's best score per task (full data, Kaggle's real test sets), as reference rows.

From "Reinforcement Learning for Machine Learning Engineering Agents" (arXiv 2509.01684);
``None`` where the paper reports no valid result. These scores were measured on Kaggle's
data, so they are comparable with full-data runs only, never with lite data.
"""

from __future__ import annotations

PAPER_RESULTS: dict[str, dict[str, float | None]] = {
    "GPT-4o AIDE (paper)": {
        "detecting-insults": None, "essay-scoring": 0.720, "random-acts-of-pizza": 0.645,
        "tweet-sentiment": 0.294, "tabular-may-2022": 0.884, "tabular-dec-2021": 0.957,
        "us-patent-phrase": 0.756, "plant-pathology-2020": 0.980, "leaf-classification": 0.656,
        "nomad2018": 0.144, "spooky-author": 0.576, "lmsys-chatbot-arena": 1.323,
    },
    "GPT-4o OpenHands (paper)": {
        "detecting-insults": 0.867, "essay-scoring": 0.681, "random-acts-of-pizza": 0.591,
        "tweet-sentiment": 0.415, "tabular-may-2022": 0.882, "tabular-dec-2021": 0.957,
        "us-patent-phrase": 0.366, "plant-pathology-2020": 0.680, "leaf-classification": 0.902,
        "nomad2018": 0.183, "spooky-author": 0.582, "lmsys-chatbot-arena": 1.131,
    },
    "GPT-4o MLAB (paper)": {
        "detecting-insults": 0.749, "essay-scoring": 0.533, "random-acts-of-pizza": 0.520,
        "tweet-sentiment": 0.158, "tabular-may-2022": 0.711, "tabular-dec-2021": 0.828,
        "us-patent-phrase": None, "plant-pathology-2020": 0.735, "leaf-classification": 4.383,
        "nomad2018": 0.294, "spooky-author": 0.992, "lmsys-chatbot-arena": 10.324,
    },
    "Qwen2.5-3B RL (paper)": {
        "detecting-insults": 0.895, "essay-scoring": 0.746, "random-acts-of-pizza": 0.663,
        "tweet-sentiment": 0.596, "tabular-may-2022": 0.913, "tabular-dec-2021": 0.951,
        "us-patent-phrase": 0.527, "plant-pathology-2020": 0.970, "leaf-classification": 0.124,
        "nomad2018": 0.059, "spooky-author": 0.404, "lmsys-chatbot-arena": 1.081,
    },
}


def paper_records(tasks: list[str] | None = None) -> list[dict]:
    """The paper's results as full-data episode records (one seed, one step each)."""
    records = []
    for agent, scores in PAPER_RESULTS.items():
        for task, score in scores.items():
            if tasks is not None and task not in tasks:
                continue
            step = {"score": score, "private_score": score, "valid": score is not None,
                    "duration": None, "milestones": [], "invalid_reason": None}
            records.append({"key": f"paper:{agent}:{task}", "agent": agent, "task": task,
                            "seed": 0, "data": "full", "steps": [step], "reference": True})
    return records
