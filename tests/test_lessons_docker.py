"""Lessons with real steps: the CLI, the leaderboard and distillation, in the Docker sandbox.

The agent is the scripted HabitAgent (mle_gym/lessons/scripted.py): it imports xgboost,
which the sandbox lacks, and upper-cases its submission's columns, unless its system
prompt's lessons tell it otherwise. One-step episodes keep the runs short.
"""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

from mle_gym.agents import run_episode
from mle_gym.cli import main
from mle_gym.lessons.agent import LessonsAgent
from mle_gym.lessons.book import LessonBook
from mle_gym.lessons.distill import read_pairs, sft_pairs
from mle_gym.lessons.reflect import AttemptRecord, lesson_for
from mle_gym.lessons.scripted import HabitAgent
from mle_gym.spec import load_task

pytestmark = pytest.mark.docker
TASK = "tabular-may-2022"
HABIT = "mle_gym.lessons.scripted:HabitAgent"


def test_run_with_lessons_learns_the_missing_module_and_the_agent_acts_on_it(
        docker_client, tmp_path, capsys):
    book_path = tmp_path / "lessons.db"
    code = main(["run", TASK, "--agent", HABIT, "--lessons", str(book_path), "--seeds", "0", "1", "2",
                 "--max-steps", "1", "--sandbox", "docker-warm", "--json"])
    assert code == 0
    episodes = json.loads(capsys.readouterr().out)["episodes"]
    reasons = [e["steps"][0]["invalid_reason"] for e in episodes]
    # Twice the same crash; then the lesson is in the prompt and the crash is gone: the
    # next habit (upper-case columns) is what fails.
    assert "exit code 1" in reasons[0] and "exit code 1" in reasons[1]
    assert "missing column" in reasons[2] and "The header must be: id,target" in reasons[2]

    book = LessonBook(book_path)
    (lesson,) = book.lessons()
    assert lesson.signature == "missing-module:xgboost" and lesson.scope == "all"
    assert "Do not import xgboost" in lesson.text
    assert len(lesson.sources) == 2 and lesson.uses == 1
    assert (lesson.helpful, lesson.harmful) == (0, 0)  # not repeated, but nothing valid either
    attempts = book.attempts(TASK)
    assert [a["failure"] for a in attempts] == ["missing-module:xgboost"] * 2 + ["submission-columns"]
    assert attempts[2]["lessons"] == [lesson.id] and "import xgboost" not in attempts[2]["program"]

    assert main(["lessons", "show", str(book_path), "--task", TASK]) == 0
    shown = capsys.readouterr().out
    assert "1 lesson(s), 3 episode(s)" in shown and "*" in shown and "Do not import xgboost" in shown
    assert main(["lessons", "export", str(book_path)]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["lessons"][0]["text"] == lesson.text and len(exported["episodes"]) == 3
    assert main(["lessons", "prune", str(book_path), "--dry-run"]) == 0
    assert "1 lesson(s) before, 1 after" in capsys.readouterr().out
    assert main(["run", TASK, "prog.py", "--lessons", str(book_path)]) == 2  # not for one program


def test_leaderboard_runs_agents_with_a_shared_book(docker_client, tmp_path, capsys):
    book_path, results = tmp_path / "lb.db", tmp_path / "results"
    code = main(["leaderboard", "run", "--agents", HABIT, "--tasks", TASK, "--seeds", "0", "1",
                 "--max-steps", "1", "--workers", "1", "--parallel-episodes", "2",
                 "--results", str(results), "--lessons", str(book_path), "--quiet"])
    assert code == 0
    records = [json.loads(line) for f in results.glob("*.jsonl") for line in f.read_text().splitlines()]
    assert len(records) == 2
    assert {r["agent"] for r in records} == {HABIT + "+lessons"}
    assert all(r["lessons"] == str(book_path) and r["error"] is None for r in records)
    book = LessonBook(book_path)
    assert len(book.episodes(TASK)) == 2  # both episode threads wrote the one book
    assert [x.signature for x in book.lessons()] == ["missing-module:xgboost"]


def test_answers_written_with_lessons_become_pairs_without_them(docker_client, tmp_path):
    spec = load_task(TASK)
    book = LessonBook(tmp_path / "d.db")
    for signature in ("missing-module:xgboost", "submission-columns"):
        scope, text = lesson_for(signature, spec, AttemptRecord(TASK, ""))
        book.add(scope, text, signature=signature, origin="user")
    env = gym.make(spec.env_id, sandbox="docker-warm", max_steps=1)
    try:
        plain = HabitAgent()
        run_episode(env, plain, seed=0)
        plain_result = env.unwrapped.last_result
        agent = LessonsAgent(HabitAgent(), book)
        run_episode(env, agent, seed=1)
        agent.end_episode()
        taught = env.unwrapped.last_result
    finally:
        env.close()
    assert not plain_result.valid_submission and taught.valid_submission
    assert all(x.helpful == 1 for x in book.lessons())  # no repeat, a valid submission

    pairs = sft_pairs(book)
    assert len(pairs) == 1
    (pair,) = pairs
    assert "Do not import" not in pair["prompt"] and "# Task:" in pair["prompt"]
    assert "import xgboost" not in pair["completion"] and "['id', 'target']" in pair["completion"]
    assert len(pair["lessons"]) == 2

    out = tmp_path / "pairs.jsonl"
    assert main(["lessons", "export", str(book.path), "--sft", str(out)]) == 0
    assert read_pairs(out) == pairs

