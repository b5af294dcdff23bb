"""Template agents: the reference programs as a baseline, run through real episodes."""

from __future__ import annotations

import gymnasium as gym
import pytest

from mle_gym.agents import load_agent, run_episode
from mle_gym.agents.templates import (
    FastTemplateAgent,
    StrongTemplateAgent,
    TemplateAgent,
    reference_program,
)
from mle_gym.instrument import extract_code
from mle_gym.prompt import Attempt, observation
from mle_gym.spec import all_tasks, load_task

DOCKER_TASKS = ["spooky-author", "tabular-may-2022"]


def level_of(answer: str, task: str) -> str:
    code = extract_code(answer).strip()
    for level in ("fast", "strong"):
        if code == reference_program(task, level).strip():
            return level
    raise AssertionError(f"the answer is neither reference program of {task}:\n{answer[:300]}")


def first_observation(task: str) -> str:
    env = gym.make(f"mle/{task}-v0")  # no step is taken, so no sandbox is started
    obs, _ = env.reset(seed=0)
    env.close()
    return obs


def after(base: str, task: str, *runs: tuple[str, float | None, float]) -> str:
    """The observation after attempts (level, score or None for invalid, duration)."""
    history = [
        Attempt(
            program=reference_program(task, level),
            score=score,
            valid=score is not None,
            invalid_reason=None if score is not None else "the program timed out",
            duration=duration,
            milestones=["imports", "data_loaded"],
        )
        for level, score, duration in runs
    ]
    return observation(base, history, None)


# -- loading and answers ---------------------------------------------------------------------


def test_registered_names_load_the_two_levels():
    fast, strong = load_agent("template-fast"), load_agent("template-strong")
    assert isinstance(fast, FastTemplateAgent) and fast.level == "fast"
    assert isinstance(strong, StrongTemplateAgent) and strong.level == "strong"
    with pytest.raises(ValueError, match="level must be one of fast, strong"):
        TemplateAgent("medium")


def test_answer_is_markdown_with_a_plan_and_the_reference_program():
    task = "spooky-author"
    answer = load_agent("template-strong").act(first_observation(task))
    assert answer.startswith("Plan: ")
    assert "```python\n" in answer
    assert level_of(answer, task) == "strong"


def test_task_is_read_from_the_observation_without_reset():
    for task in ("essay-scoring", "nomad2018"):
        agent = TemplateAgent("fast")  # reset() never called
        assert level_of(agent.act(first_observation(task)), task) == "fast"
    with pytest.raises(ValueError, match="call agent.reset"):
        TemplateAgent("fast").act("an observation that names no task")


# -- what to submit next, read from the observation -------------------------------------------


def test_fast_agent_tries_strong_when_time_allows_then_keeps_the_best():
    task = "spooky-author"
    base = first_observation(task)
    agent = FastTemplateAgent()
    agent.reset(task, 0)
    assert level_of(agent.act(base), task) == "fast"
    assert level_of(agent.act(after(base, task, ("fast", 0.64, 2.0))), task) == "strong"
    # log loss: lower is better, so the strong run (0.46) is the one to keep
    third = agent.act(after(base, task, ("fast", 0.64, 2.0), ("strong", 0.46, 9.0)))
    assert level_of(third, task) == "strong"
    assert "0.46" in third


def test_fast_agent_keeps_fast_when_strong_would_not_fit_the_limit():
    task = "spooky-author"  # 120 s limit
    base = first_observation(task)
    agent = FastTemplateAgent()
    agent.reset(task, 0)
    agent.act(base)
    answer = agent.act(after(base, task, ("fast", 0.64, 60.0)))
    assert level_of(answer, task) == "fast"
    assert "over the 120 s limit" in answer


def test_invalid_result_falls_back_to_the_other_program():
    task = "tabular-may-2022"
    base = first_observation(task)
    strong = StrongTemplateAgent()
    strong.reset(task, 0)
    strong.act(base)
    answer = strong.act(after(base, task, ("strong", None, 120.0)))
    assert level_of(answer, task) == "fast"
    assert "timed out" in answer
    fast = FastTemplateAgent()
    fast.reset(task, 0)
    fast.act(base)
    assert level_of(fast.act(after(base, task, ("fast", None, 3.0))), task) == "strong"


def test_improve_mode_from_the_fast_program_submits_the_strong_one():
    task = "spooky-author"
    env = gym.make(f"mle/{task}-v0")
    previous = {"program": reference_program(task, "fast"), "score": 0.64, "duration": 2.0}
    obs, _ = env.reset(seed=0, options={"mode": "improve", "previous": previous})
    env.close()
    assert level_of(StrongTemplateAgent().act(obs), task) == "strong"
    assert level_of(FastTemplateAgent().act(obs), task) == "strong"


# -- real episodes in the Docker sandbox ------------------------------------------------------


# The programs take 2-20 s on an idle host; a generous limit keeps a loaded CI host from
# turning a slow run into a timeout (and the fast agent from judging the strong one too slow).
LIMIT = 600


@pytest.mark.docker
@pytest.mark.timeout(3 * LIMIT)
@pytest.mark.parametrize("task", DOCKER_TASKS)
def test_template_episodes_are_valid_and_strong_beats_fast(docker_sandbox, task):
    # One episode of the fast agent runs both levels: the fast program, then (it was valid)
    # the strong one. The strong agent's own episode would run that same strong program again
    # (it answers it first; checked without Docker above), so it is not run a second time.
    spec = load_task(task)
    env = gym.make(f"mle/{task}-v0", sandbox=docker_sandbox, max_steps=2, time_limit=LIMIT)
    obs, _ = env.reset(seed=0)
    strong_first = StrongTemplateAgent().act(obs)
    try:
        fast = run_episode(env, load_agent("template-fast"), seed=0)
        programs = [attempt.program for attempt in env.unwrapped.episode.history]
    finally:
        env.close()
    assert len(fast.steps) == 2
    assert [level_of(p, task) for p in programs] == ["fast", "strong"]
    assert extract_code(strong_first).strip() == programs[1].strip()
    for step in fast.steps:
        assert step.valid, step.invalid_reason
        assert step.private_score is not None
    fast_first, fast_second = fast.steps
    # strong >= fast on the private half (the number a leaderboard ranks)
    assert not spec.better(fast_first.private_score, fast_second.private_score)
    assert spec.better(fast_second.private_score, spec.lite_scores.sample)


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.timeout(2 * LIMIT)
@pytest.mark.parametrize("task", [spec.slug for spec in all_tasks()])
def test_strong_template_beats_the_sample_submission_on_every_task(docker_sandbox, task):
    spec = load_task(task)
    env = gym.make(f"mle/{task}-v0", sandbox=docker_sandbox, max_steps=1, time_limit=LIMIT)
    try:
        result = run_episode(env, load_agent("template-strong"), seed=0)
    finally:
        env.close()
    step = result.steps[0]
    assert step.valid, step.invalid_reason
    assert spec.better(step.private_score, spec.lite_scores.sample)
    assert spec.better(step.score, spec.lite_scores.sample)
