"""Trajectory recording: one JSON record per real step, read back for training."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime

import gymnasium as gym
import pytest

from mle_gym.instrument.milestones import HOOK
from mle_gym.trajectories import (
    FIELDS,
    SCHEMA,
    as_dataset,
    load_trajectories,
    to_preference_pairs,
    to_sft_pairs,
)
from mle_gym.wrappers import ImprovementReward, RecordTrajectory
from tests import programs

ENV_ID = "mle/spooky-author-v0"
COPY_SAMPLE = """
import os, shutil
shutil.copy(os.path.join(os.environ["MLE_INPUT_DIR"], "sample_submission.csv"),
            os.environ["MLE_SUBMISSION_PATH"])
"""
LOCAL = pytest.mark.filterwarnings("ignore:mle-gym is running programs with the LOCAL sandbox")


def unrunnable_steps(env: gym.Env, n: int, seed: int = 0) -> None:
    """Steps whose programs do not parse: recorded like any step, nothing runs."""
    env.reset(seed=seed)
    for i in range(n):
        env.step(f"{programs.SYNTAX_ERROR}\n# attempt {i}")


# -- real steps in Docker ------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(docker_sandbox, solutions, tmp_path_factory):
    """Two episodes on spooky-author lite data: (fast, copy of the sample), then (crash)."""
    folder = tmp_path_factory.mktemp("trajectories")
    env = RecordTrajectory(
        ImprovementReward(gym.make(ENV_ID, sandbox=docker_sandbox, max_steps=2)), folder
    )
    seen = []  # what the agent saw and got, to compare with the records
    for seed, actions in ((3, [solutions["fast"], COPY_SAMPLE]), (4, [programs.DIES_AFTER_LOADING])):
        obs, _ = env.reset(seed=seed)
        for action in actions:
            next_obs, reward, _, truncated, info = env.step(action)
            grade = env.unwrapped.last_grade
            seen.append({"obs": obs, "reward": reward, "info": info, "grade": grade,
                         "truncated": truncated})  # fmt: skip
            obs = next_obs
    env.close()
    return folder, env.run_id, seen


@pytest.mark.docker
def test_one_record_per_step_in_one_file_per_writer(recorded):
    folder, run_id, seen = recorded
    files = list(folder.iterdir())
    assert [f.name for f in files] == [f"{run_id}.jsonl"]
    lines = files[0].read_text().splitlines()
    assert len(lines) == len(seen) == 3
    for line in lines:
        assert list(json.loads(line)) == list(FIELDS)


@pytest.mark.docker
def test_a_record_holds_the_whole_step(recorded, solutions, docker_sandbox):
    folder, run_id, seen = recorded
    record, step = load_trajectories(folder)[0], seen[0]
    info = step["info"]
    assert info["valid_submission"], info["invalid_reason"]
    assert record["schema"] == SCHEMA and record["run_id"] == run_id
    assert (record["episode"], record["step"], record["reset_seed"]) == (0, 1, 3)
    assert (record["task"], record["env_id"]) == ("spooky-author", ENV_ID)
    assert (record["data"], record["data_seed"], record["mode"]) == ("lite", 0, "scratch")
    assert record["observation"] == step["obs"]
    assert record["program"] == record["extracted_program"] == solutions["fast"]
    assert HOOK in record["instrumented_program"] and HOOK not in record["program"]
    assert record["milestones"] == info["milestones"] and len(record["milestones"]) == 6
    assert set(record["milestone_times"]) == set(record["milestones"])
    assert record["diagnostics"]["notes"]["MODEL APPROACH"].startswith("word unigram TF-IDF")
    assert "Validation log loss" in record["stdout_tail"]
    assert record["score"] == info["score"]
    assert record["private_score"] == step["grade"].private != record["score"]
    assert record["private_full_score"] == step["grade"].score
    assert record["valid"] and record["invalid_reason"] is None and not record["no_model_trained"]
    # Recorded outside ImprovementReward: the shaped reward and the env's own.
    assert record["reward"] == step["reward"] == pytest.approx(record["raw_reward"] - 1.0)
    assert record["reward_components"] == info["reward_components"]
    assert record["reward_preset"] == "default"
    assert record["duration"] == info["duration"] > 0 and record["exit_code"] == 0
    assert not record["timed_out"] and not record["oom"] and not record["truncated"]
    assert (record["time_limit"], record["memory_limit"], record["cpus"]) == (120.0, "2g", 2.0)
    assert record["sandbox"] == "docker" and record["image"] == docker_sandbox.image
    assert record["image_id"].startswith("sha256:")
    assert re.fullmatch(r"[0-9a-f]{64}", record["submission_sha256"])
    # Keys other wrappers add to info are kept too.
    assert record["extra_info"]["repeat"] is False
    assert record["extra_info"]["best_reward"] == record["raw_reward"]
    assert record["mle_gym_version"] and datetime.fromisoformat(record["timestamp"]).tzinfo


@pytest.mark.docker
def test_later_steps_record_the_observation_the_agent_acted_on(recorded):
    folder, _, seen = recorded
    copy, crash = load_trajectories(folder)[1:]
    assert copy["observation"] == seen[1]["obs"] and "Your last attempt (attempt 1)" in copy["observation"]
    assert copy["valid"] and copy["no_model_trained"] and copy["truncated"]
    assert (crash["episode"], crash["step"], crash["reset_seed"]) == (1, 1, 4)
    assert crash["observation"] == seen[0]["obs"]  # a fresh episode sees the task prompt again
    assert crash["score"] is None and crash["private_score"] is None
    assert crash["exit_code"] == 1 and "boom after loading" in crash["stderr_tail"]
    assert crash["invalid_reason"].startswith("the program failed (exit code 1)")


@pytest.mark.docker
def test_loading_by_file_folder_or_glob_round_trips(recorded):
    folder, run_id, _ = recorded
    file = folder / f"{run_id}.jsonl"
    written = [json.loads(line) for line in file.read_text().splitlines()]
    assert load_trajectories(file) == load_trajectories(folder) == written
    assert load_trajectories(str(folder / "*.jsonl")) == written


@pytest.mark.docker
def test_as_dataset_has_typed_columns(recorded):
    import datasets

    folder, _, _ = recorded
    records = load_trajectories(folder)
    ds = as_dataset(folder)
    assert ds.num_rows == 3 and ds.column_names == list(FIELDS)
    assert ds.features["score"] == datasets.Value("float64")
    assert ds.features["valid"] == datasets.Value("bool")
    assert ds.features["exit_code"] == datasets.Value("int64")
    assert ds.features["diagnostics"] == datasets.Value("string")
    assert ds["score"][2] is None and ds["score"][0] == records[0]["score"]
    assert ds["milestones"][2] == ["imports", "data_loaded"]
    for column in ("diagnostics", "milestone_times", "reward_components", "extra_info"):
        assert [json.loads(v) for v in ds[column]] == [r[column] for r in records]


@pytest.mark.docker
def test_sft_pairs_keep_valid_model_answers_above_a_threshold(recorded, solutions):
    folder, _, seen = recorded
    pairs = to_sft_pairs(folder, min_reward=1.0)
    assert pairs == [
        {"prompt": seen[0]["obs"], "completion": solutions["fast"],
         "reward": seen[0]["info"]["reward"]}
    ]  # fmt: skip
    assert to_sft_pairs(folder, min_reward=10.0) == []
    # The copied sample is a valid file but no model: kept only when asked for everything.
    assert len(to_sft_pairs(folder, valid_only=False)) == 3


@pytest.mark.docker
def test_preference_pairs_rank_programs_for_the_same_observation(recorded, solutions):
    folder, _, seen = recorded
    (pair,) = to_preference_pairs(folder)  # the crash and the fast program share a prompt
    assert pair["prompt"] == seen[0]["obs"]
    assert pair["chosen"] == solutions["fast"] and pair["rejected"] == programs.DIES_AFTER_LOADING
    assert pair["chosen_reward"] == seen[0]["info"]["reward"] > 0 > pair["rejected_reward"]


# -- writing: several writers, appends, torn lines (no program runs) ------------------------


@LOCAL
def test_each_writer_gets_its_own_file_in_a_folder(tmp_path):
    a = RecordTrajectory(gym.make(ENV_ID, sandbox="local", max_steps=5), tmp_path)
    b = RecordTrajectory(gym.make(ENV_ID, sandbox="local", max_steps=5), tmp_path)
    a.reset(seed=0)
    b.reset(seed=1)
    for i in range(2):  # interleaved steps
        a.step(f"{programs.SYNTAX_ERROR}# a{i}")
        b.step(f"{programs.SYNTAX_ERROR}# b{i}")
    a.close()
    b.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{a.run_id}.jsonl", f"{b.run_id}.jsonl"]
    )
    mine = load_trajectories(a.path)
    assert [r["program"].rsplit("# ", 1)[1] for r in mine] == ["a0", "a1"]
    assert {r["run_id"] for r in mine} == {a.run_id}
    assert mine[0]["sandbox"] == "local" and mine[0]["image"] is None
    assert len(load_trajectories(tmp_path)) == 4


@LOCAL
def test_one_file_takes_one_writer_and_later_writers_append(tmp_path):
    path = tmp_path / "run.jsonl"
    first = RecordTrajectory(gym.make(ENV_ID, sandbox="local"), path)
    unrunnable_steps(first, 2)
    clash = RecordTrajectory(gym.make(ENV_ID, sandbox="local"), path)
    with pytest.raises(RuntimeError, match="another writer is recording"):
        unrunnable_steps(clash, 1)
    clash.close()
    first.close()
    second = RecordTrajectory(gym.make(ENV_ID, sandbox="local"), path)
    unrunnable_steps(second, 1)
    second.close()
    records = load_trajectories(path)
    assert [r["run_id"] for r in records] == [first.run_id] * 2 + [second.run_id]


@LOCAL
def test_a_torn_last_line_is_skipped_and_isolated(tmp_path):
    path = tmp_path / "run.jsonl"
    env = RecordTrajectory(gym.make(ENV_ID, sandbox="local"), path)
    unrunnable_steps(env, 1)
    env.close()
    with open(path, "a") as handle:  # a writer killed in the middle of a record
        handle.write('{"schema": "mle-gym-trajectory/1", "observ')
    with pytest.warns(RuntimeWarning, match=r"run.jsonl:2 is not a whole record"):
        assert len(load_trajectories(path)) == 1
    env = RecordTrajectory(gym.make(ENV_ID, sandbox="local"), path)
    unrunnable_steps(env, 1)
    env.close()
    with pytest.warns(RuntimeWarning, match=r"run.jsonl:2 is not a whole record"):
        assert [r["episode"] for r in load_trajectories(path)] == [0, 0]


@LOCAL
def test_vector_envs_record_to_distinct_files(tmp_path):
    def make() -> gym.Env:
        return RecordTrajectory(gym.make(ENV_ID, sandbox="local", max_steps=2), tmp_path)

    envs = gym.vector.AsyncVectorEnv([make, make], shared_memory=False)
    envs.reset(seed=0)
    envs.step([programs.SYNTAX_ERROR, programs.SYNTAX_ERROR + "#"])
    envs.close()
    files = sorted(tmp_path.glob("*.jsonl"))
    assert len(files) == 2  # the throwaway env the vector env builds first wrote nothing
    assert sorted(len(load_trajectories(f)) for f in files) == [1, 1]
    assert sorted(r["reset_seed"] for r in load_trajectories(tmp_path)) == [0, 1]


def test_missing_trajectories_and_missing_datasets_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="pass a .jsonl file, a folder"):
        load_trajectories(tmp_path / "nothing-*.jsonl")
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'mle-gym\[train\]'"):
        as_dataset([])
