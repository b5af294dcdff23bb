"""The AIDE-like LLM agent against a local chat-completions server."""

from __future__ import annotations

import gymnasium as gym
import pytest

from mle_gym.agents import load_agent, run_episode
from mle_gym.agents.llm_agent import LLMAgent
from mle_gym.llm import LLMError
from mle_gym.prompt import Attempt, observation
from mle_gym.spec import load_task
from tests.chat_server import ChatServer

TASK = "spooky-author"
KEY = "sk-test-123"

CRASHING = """Plan: TF-IDF features and a logistic regression.

```python
import os
import pandas as pd
train = pd.read_csv(os.path.join(os.environ["MLE_INPUT_DIR"], "train.csv"))
print("rows", len(train))
raise ValueError("could not convert string to float: 'EAP-sentinel-42'")
```
"""


def answer(plan: str, program: str) -> str:
    return f"{plan}\n\n```python\n{program}\n```\n"


def task_prompt() -> str:
    env = gym.make(f"mle/{TASK}-v0")  # no step is taken, so no sandbox is started
    obs, _ = env.reset(seed=0)
    env.close()
    return obs


def agent_for(server: ChatServer, **kwargs) -> LLMAgent:
    return LLMAgent(model=server.model, base_url=server.url, api_key=KEY, **kwargs)


def user_text(request) -> str:
    return next(m["content"] for m in request.messages if m["role"] == "user")


@pytest.mark.docker
def test_crash_then_fix_in_a_real_episode(docker_sandbox, chat_server, solutions):
    chat_server.api_key = KEY
    chat_server.answers.extend(
        [CRASHING, answer("Fix: train the model before predicting.", solutions["fast"])]
    )
    env = gym.make(f"mle/{TASK}-v0", sandbox=docker_sandbox, max_steps=2, time_limit=900)
    agent = load_agent(
        "llm", model=chat_server.model, base_url=chat_server.url, api_key=KEY, temperature=0.2
    )
    try:
        result = run_episode(env, agent, seed=0)
    finally:
        env.close()

    first, second = result.steps
    assert not first.valid and "data_loaded" in first.milestones
    assert second.valid, second.invalid_reason
    assert load_task(TASK).better(second.score, load_task(TASK).lite_scores.sample)
    assert [n.stage for n in agent.nodes] == ["draft", "debug"]

    requests = chat_server.chat_requests
    assert len(requests) == 2
    for request in requests:  # well-formed chat-completions JSON with the model and the key
        assert request.path == "/v1/chat/completions"
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        assert request.headers["Content-Type"] == "application/json"
        body = request.body
        assert body["model"] == "test-model"
        assert body["temperature"] == 0.2 and isinstance(body["max_tokens"], int)
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert all(isinstance(m["content"], str) and m["content"] for m in body["messages"])
    draft, fix = (user_text(r) for r in requests)
    assert draft.startswith("# Task: Spooky Author Identification (mle/spooky-author-v0)")
    assert "Write a first solution" in draft
    # the second request shows the crash: the program, its error tail, and asks for a fix
    assert "EAP-sentinel-42" in fix and "Traceback" in fix and "ValueError" in fix
    assert 'raise ValueError("could not convert' in fix
    assert "no valid submission" in fix and "fix it" in fix
    assert "Write a first solution" not in fix


def test_tree_debugs_up_to_max_debug_then_drafts_then_improves_the_best(chat_server):
    """Observations in the env's own format drive the choice of what to ask next."""
    n = iter(range(100))
    chat_server.respond = lambda messages: answer(f"Plan {next(n)}.", f"print({next(n)})")
    agent = agent_for(chat_server, max_debug=1)
    agent.reset(TASK, 0)
    base = task_prompt()
    history: list[Attempt] = []

    def step(valid: bool, score: float | None = None, stderr: str = "") -> str:
        node = agent.nodes[-1]
        history.append(
            Attempt(program=node.code, valid=valid, score=score, duration=3.0, stderr=stderr,
                    invalid_reason=None if valid else "the program exited with status 1")
        )
        return observation(base, history, None)

    agent.act(base)
    agent.act(step(False, stderr="KeyError: 'text'"))
    agent.act(step(False, stderr="NameError: name 'model' is not defined"))
    agent.act(step(True, 0.71))  # a fresh draft after the failed fix, valid
    agent.act(step(True, 0.52))  # the improvement, better (log loss: lower)
    agent.act(step(True, 0.60))  # a worse improvement
    assert [n.stage for n in agent.nodes] == ["draft", "debug", "draft", "improve", "improve", "improve"]
    assert [n.parent for n in agent.nodes] == [None, 1, None, 3, 4, 4]  # improves the best
    assert agent.best().id == 4

    texts = [user_text(r) for r in chat_server.chat_requests]
    assert "KeyError: 'text'" in texts[1] and "The program that failed" in texts[1]
    assert "Write a first solution" in texts[2]  # debug budget spent: draft again
    assert "attempt 2 (debug): failed" in texts[2]  # ... remembering what failed
    assert "The best solution so far" in texts[5] and agent.nodes[3].code in texts[5]
    assert "score 0.52" in texts[5] and "attempt 5 (improve): valid, score 0.6" in texts[5]


def test_improve_mode_starts_from_the_given_solution(chat_server, solutions):
    chat_server.answers.append(answer("Add character n-grams.", solutions["strong"]))
    env = gym.make(f"mle/{TASK}-v0")
    previous = {"program": solutions["fast"], "score": 0.64, "duration": 2.0}
    obs, _ = env.reset(seed=0, options={"mode": "improve", "previous": previous})
    env.close()
    agent = agent_for(chat_server)
    agent.act(obs)
    assert [n.stage for n in agent.nodes] == ["given", "improve"]
    text = user_text(chat_server.chat_requests[0])
    assert "The best solution so far" in text and "valid submission, score 0.64" in text
    assert "Earlier attempts" not in text


def test_server_error_raises_a_clear_exception(chat_server):
    chat_server.fail(500, "model crashed: CUDA out of memory")
    agent = agent_for(chat_server, max_retries=0)
    with pytest.raises(LLMError, match="draft request.*HTTP 500.*CUDA out of memory"):
        agent.act(task_prompt())
    assert agent.nodes == []  # nothing recorded: the run stops, no fake failed step


def test_server_errors_are_retried(chat_server, solutions):
    chat_server.fail(503, "loading model", times=2, retry_after=0)
    chat_server.answers.append(answer("Plan.", solutions["fast"]))
    agent = agent_for(chat_server, max_retries=2)
    assert "```python" in agent.act(task_prompt())
    assert len(chat_server.chat_requests) == 3


def test_wrong_key_and_missing_endpoint_say_what_to_set(chat_server, monkeypatch):
    chat_server.api_key = KEY
    agent = LLMAgent(model=chat_server.model, base_url=chat_server.url, api_key="wrong")
    with pytest.raises(LLMError, match="HTTP 401.*MLE_GYM_LLM_API_KEY"):
        agent.act(task_prompt())
    for name in ("MLE_GYM_LLM_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LLMError, match="MLE_GYM_LLM_BASE_URL"):
        load_agent("llm", model="m")


def test_defaults_come_from_the_environment(chat_server, monkeypatch, solutions):
    monkeypatch.setenv("MLE_GYM_LLM_BASE_URL", chat_server.url)
    monkeypatch.setenv("MLE_GYM_LLM_MODEL", chat_server.model)
    monkeypatch.setenv("MLE_GYM_LLM_API_KEY", KEY)
    chat_server.api_key = KEY
    chat_server.answers.append(answer("Plan.", solutions["fast"]))
    assert isinstance(load_agent("llm"), LLMAgent)
    load_agent("llm").act(task_prompt())
    assert chat_server.chat_requests[0].body["model"] == "test-model"
