"""AIDE (aideml) as a plugged-in agent: its search loop, our sandboxed steps, our grader."""

from __future__ import annotations

import json
import os

import gymnasium as gym
import pytest

from mle_gym.agents import load_agent, run_episode
from mle_gym.agents.aide import map_submission
from mle_gym.cli import main

TASK = "spooky-author"

CRASHING = """The plan: TF-IDF features and a logistic regression, validated on a hold-out set.

```python
import pandas as pd
train = pd.read_csv("./input/train.csv")
print("Validation log loss: 0.01")  # what the program prints is not the score
raise ValueError("could not convert string to float: 'EAP-sentinel-42'")
```
"""


def aide_installed() -> bool:
    from mle_gym.agents.aide import _import_aide  # imports AIDE without muting warnings

    try:
        _import_aide()
    except ImportError:
        return False
    return True


needs_aide = pytest.mark.skipif(
    not aide_installed() and not os.environ.get("CI"),
    reason="AIDE is not installed: pip install --no-deps aideml==0.2.2 && pip install "
    "'mle-gym[aide]' (CI installs it and runs these)",
)


def to_working(program: str) -> str:
    """A program that writes its submission where AIDE tells it to: ./working/."""
    return program.replace('"submission/submission.csv"', '"working/submission.csv"').replace(
        'os.environ.get("MLE_SUBMISSION_PATH", "working/submission.csv")',
        '"working/submission.csv"')


def test_the_preamble_maps_aides_submission_path(tmp_path, monkeypatch):
    program = 'from __future__ import annotations\nopen("working/submission.csv", "w").write("id\\n")\n'
    mapped = map_submission(program)
    assert mapped.startswith("from __future__ import annotations\n")
    (tmp_path / "working").mkdir()
    (tmp_path / "submission").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLE_SUBMISSION_PATH", raising=False)
    script = tmp_path / "p.py"
    script.write_text(mapped)
    assert os.system(f"python3 {script}") == 0
    assert (tmp_path / "submission" / "submission.csv").read_text() == "id\n"


@needs_aide
@pytest.mark.docker
def test_aide_crash_then_debug_in_a_real_episode(docker_sandbox, chat_server, solutions):
    fixed = to_working(solutions["fast"])
    assert "working/submission.csv" in fixed and "MLE_SUBMISSION_PATH" not in fixed
    chat_server.answers.extend([CRASHING, f"Fix: train before predicting.\n\n```python\n{fixed}\n```\n"])
    env = gym.make(f"mle/{TASK}-v0", sandbox=docker_sandbox, max_steps=2, time_limit=900)
    agent = load_agent("aide", model=chat_server.model, base_url=chat_server.url,
                       num_drafts=1, debug_prob=1.0, data_preview=True)
    try:
        result = run_episode(env, agent, seed=3)
    finally:
        env.close()
    first, second = result.steps
    assert not first.valid and first.score is None  # it printed a score; the grader gave none
    assert second.valid and second.score is not None and second.private_score is not None
    # AIDE's journal holds our grader's verdicts: a buggy draft, then its debugged child
    draft, debugged = agent.journal.nodes
    assert draft.is_buggy and draft.metric.value is None and "EAP-sentinel-42" in draft.term_out
    assert debugged.parent is draft and debugged.stage_name == "debug"
    assert debugged.metric.value == pytest.approx(second.score)
    assert debugged.metric.maximize is False  # log loss: lower is better
    # AIDE's own prompts: the debug request shows the failing program's output
    draft_prompt, debug_prompt = (r.messages[0]["content"] for r in chat_server.chat_requests)
    assert "# Data Overview" in draft_prompt and "submission.csv" in draft_prompt
    assert "Previous (buggy) implementation" in debug_prompt and "EAP-sentinel-42" in debug_prompt
    assert [r.body["seed"] for r in chat_server.chat_requests] == [3, 4]


@needs_aide
def test_aide_without_a_server_says_what_to_set(monkeypatch, capsys):
    for name in ("MLE_GYM_LLM_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["run", TASK, "--agent", "aide", "--sandbox", "local"]) == 2
    assert "MLE_GYM_LLM_BASE_URL" in capsys.readouterr().err


@needs_aide
@pytest.mark.docker
def test_mle_gym_run_agent_aide(docker_sandbox, chat_server, solutions, monkeypatch, capsys):
    monkeypatch.setenv("MLE_GYM_LLM_BASE_URL", chat_server.url)
    monkeypatch.setenv("MLE_GYM_LLM_MODEL", chat_server.model)
    chat_server.answers.append(f"Plan: the fast model.\n\n```python\n{to_working(solutions['fast'])}\n```\n")
    code = main(["run", TASK, "--agent", "aide", "--max-steps", "1", "--sandbox", "docker",
                 "--agent-arg", "data_preview=false", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["agent"] == "aide" and out["best"]["score"] is not None


def test_importing_aide_leaves_python_warnings_working():
    """aideml mutes ``warnings.warn`` process-wide on import (``shutup.please()``); the
    agent's import must give it back, or mle-gym's own warnings would vanish."""
    import warnings

    from mle_gym.agents.aide import _import_aide

    _import_aide()
    with pytest.warns(UserWarning, match="still heard"):
        warnings.warn("still heard", UserWarning, stacklevel=1)
