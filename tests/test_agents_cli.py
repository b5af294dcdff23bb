"""``mle-gym run --agent module:Class``: third-party agents from the command line.

The agent classes below are what a user would write; the CLI loads them by name.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mle_gym.cli import main
from mle_gym.spec import load_task

TASK = "spooky-author"
CRASH = 'import pandas as pd\nraise RuntimeError("boom-before-writing")\n'
COPY_SAMPLE = """
import os, shutil
os.makedirs(os.path.dirname(os.environ["MLE_SUBMISSION_PATH"]), exist_ok=True)
shutil.copy(os.path.join(os.environ["MLE_INPUT_DIR"], "{name}"), os.environ["MLE_SUBMISSION_PATH"])
"""


class FixingAgent:
    """Sends a crashing program, then, once the observation shows its error, the fast solution."""

    def reset(self, task: str, seed: int | None) -> None:
        self.fixed = (load_task(task).folder / "solutions" / "fast.py").read_text()
        self.rewards: list[float] = []

    def act(self, observation: str) -> str:
        if "RuntimeError: boom-before-writing" in observation:  # it read its own traceback
            return "The data loads; write the submission this time.\n```python\n" + self.fixed + "```"
        return CRASH

    def observe(self, reward: float, info: dict) -> None:
        self.rewards.append(reward)


class CopyAgent:
    """Submits a copy of a public file (valid format, no model): cheap, and takes an argument."""

    def __init__(self, name: str = "sample_submission.csv") -> None:
        self.name = name

    def act(self, observation: str) -> str:
        return COPY_SAMPLE.format(name=self.name)


class NotAnAgent:
    """Has no act method."""


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mle_gym.cli", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.docker
def test_an_agent_fixes_its_program_after_reading_the_error(docker_client):
    proc = cli("run", TASK, "--agent", "tests.test_agents_cli:FixingAgent",
               "--max-steps", "2", "--sandbox", "docker", "--time-limit", "900")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{TASK}, seed 0, agent tests.test_agents_cli:FixingAgent"
    assert lines[1].split() == ["step", "reward", "score", "valid", "duration", "agent", "milestones"]
    first, reason, second = lines[2], lines[3], lines[4]
    assert first.split()[:4] == ["1", "-0.9000", "-", "no"] and first.endswith("imports")
    assert "invalid: the program failed (exit code 1)" in reason
    step, reward, score, valid = second.split()[:4]
    assert step == "2" and valid == "yes" and float(reward) > 1 and 0.3 < float(score) < 1.0
    assert "model_trained" in second and "submission_written" in second
    assert f"best: score {score} at step 2" in proc.stdout
    assert f"best score {score} (log_loss, lower is better) at seed 0, step 2" in proc.stdout


@pytest.mark.docker
def test_json_over_seeds_with_agent_arguments_and_the_task_flag(docker_client, spooky_data):
    proc = cli("run", "--task", TASK, "--agent", "tests/test_agents_cli.py:CopyAgent",
               "--agent-arg", "name=sample_submission.csv", "--seeds", "0", "1",
               "--max-steps", "1", "--sandbox", "docker", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["task"] == TASK and out["direction"] == "lower"
    assert [e["seed"] for e in out["episodes"]] == [0, 1]
    for episode in out["episodes"]:
        (step,) = episode["steps"]
        # A valid file that no model made: the metric-hacking sentinel gives the failure reward.
        assert step["valid"] and step["reward"] == -1.0 and 1.0 < step["score"] < 1.2
        assert step["duration"] > 0 and step["private_score"] is not None
    assert out["best"]["seed"] == 0 and out["best"]["step"] == 1


@pytest.mark.docker
def test_a_program_file_still_runs_as_one_step_with_the_task_flag(docker_client, tmp_path):
    program = tmp_path / "copy.py"
    program.write_text(COPY_SAMPLE.format(name="sample_submission.csv"))
    proc = cli("run", "--task", TASK, str(program), "--sandbox", "docker")
    assert proc.returncode == 0, proc.stderr
    # The sample submission's log loss is about 1.09; its exact value depends on the data's secret.
    score = float(re.search(r"score\s+([\d.]+)", proc.stdout).group(1))
    assert 1.0 < score < 1.2, proc.stdout
    assert "milestones  imports, submission_written" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agent", "nope"], "agent 'nope' is neither a registered name (aide, llm, template-fast"),
        (["--agent", "tests.no_such_module:Agent"], "cannot import agent module 'tests.no_such_module'"),
        (["--agent", "tests.test_agents_cli:Missing"],
         "has no attribute 'Missing'; its classes: CopyAgent, FixingAgent, NotAnAgent"),
        (["--agent", "tests.test_agents_cli:NotAnAgent"], "has no act(observation) method"),
        (["--agent", "tests.test_agents_cli:CopyAgent", "--agent-arg", "bogus=1"],
         "cannot build agent tests.test_agents_cli:CopyAgent(name"),
        (["--agent", "tests.test_agents_cli:CopyAgent", "--agent-arg", "name"], "takes key=value"),
        (["--agent", "no/such/file.py:Agent"], "agent file 'no/such/file.py' does not exist"),
        (["program.py", "--agent", "template-fast"], "give a program file (program.py) or --agent, not both"),
        ([], "nothing to run on spooky-author"),
        (["program.py", "--seeds", "1"], "--seeds go with --agent"),
    ],
)
def test_bad_runs_say_what_to_do(args, message, capsys):
    assert main(["run", TASK, *args]) == 2
    assert message in capsys.readouterr().err


def test_no_task_says_how_to_name_one(capsys):
    assert main(["run", "--agent", "template-fast"]) == 2
    assert "name a task" in capsys.readouterr().err


def test_agent_classes_here_are_real_agents():
    """The CLI builds these with load_agent, as a leaderboard would."""
    from mle_gym.agents import load_agent

    agent = load_agent(f"{Path(__file__)}:CopyAgent", name="train.csv")
    assert agent.name == "train.csv" and "train.csv" in agent.act("")
