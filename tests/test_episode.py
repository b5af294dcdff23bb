"""The episode's home, typed step results, runtime options and the prompt's reader, without
a sandbox: programs that never run (refused before the sandbox) and hand-made results."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

import mle_gym  # noqa: F401 - registers the environments
from mle_gym.episode import Best, Episode, start
from mle_gym.grading import Grade
from mle_gym.limits import LimitError
from mle_gym.options import RuntimeOptions
from mle_gym.pool import JobResult, StepJob
from mle_gym.prompt import Attempt, observation, parse_observation
from mle_gym.sandbox.local import LocalSandbox
from mle_gym.spec import load_task
from mle_gym.step import ExitCode, Score, StepOutcome, StepResult

ENV_ID = "mle/spooky-author-v0"
UNPARSABLE = "def broken(:\n"
SPOOKY = load_task("spooky-author")  # log loss: lower is better
BASE = "# Task: Spooky (mle/spooky-author-v0)\n\n- Limits: 90 s wall-clock, 2g memory, 1.5 CPU(s), no network."


def result(score=None, program="print(1)", **fields):
    valid = score is not None
    grade = Grade(score=score, public=score, private=score + 0.5, n_rows=3) if valid else None
    return StepResult(program=program, score=score, valid_submission=valid, grade=grade,
                      exit_code=0, **fields)


def local_env(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return gym.make(ENV_ID, sandbox=LocalSandbox(warn=False), **kwargs)


def test_info_is_derived_with_todays_keys_and_types():
    info = result(0.4, duration=1.5, milestones=("imports",), reward=1.2, step=2).info()
    assert list(info) == [
        "duration", "milestones", "milestone_times", "valid_submission", "score",
        "invalid_reason", "exit_code", "timed_out", "oom", "no_model_trained",
        "no_model_reason", "tampering", "stdout_tail", "stderr_tail", "diagnostics",
        "instrumenter", "instrumenter_note", "sandbox", "submission_sha256", "step", "reward",
        "reward_components",
    ]
    assert type(info["score"]) is Score and type(info["exit_code"]) is ExitCode
    assert info["milestones"] == ["imports"] and isinstance(info["milestones"], list)
    info["milestones"].append("changed")  # a fresh dict each time: wrappers add keys
    assert result(0.4, milestones=("imports",)).info()["milestones"] == ["imports"]
    assert result().info()["score"] is None
    assert StepOutcome is StepResult


def test_a_job_result_reads_its_step_and_pickles():
    step = result(0.4, duration=2.0, reward=1.5)
    job = JobResult(StepJob("spooky-author", "x"), order=0, step=step, error=None,
                    wall_time=3.0, worker="local-0")
    assert (job.reward, job.duration, job.private_score) == (1.5, 2.0, 0.9)
    assert job.info == step.info()
    failed = JobResult(StepJob("spooky-author", "x"), 1, None, "cancelled", 0.0, "")
    assert (failed.reward, failed.info, failed.duration, failed.private_score) == (
        None, None, 0.0, None)
    assert pickle.loads(pickle.dumps(step)) == step  # Ray sends it back from its workers


def test_episode_keeps_history_best_by_direction_and_truncates():
    episode = Episode(SPOOKY, BASE, max_steps=3)
    episode.record(result(0.6, program="a"))
    episode.record(result(0.4, program="b"))  # lower log loss: better
    assert not episode.truncated
    third = episode.record(result(None, program="c", invalid_reason="crashed"))
    assert third.step == 3 and episode.truncated and episode.steps == 3
    assert episode.best.attempt.program == "b" and episode.best_result.private_score == 0.9
    assert "Your last attempt (attempt 3)" in episode.observation
    higher = Best(load_task("detecting-insults"))  # AUC: higher is better
    assert higher.offer(Attempt("a", score=0.6, valid=True))
    assert not higher.offer(Attempt("b", score=0.5, valid=True))
    assert not higher.offer(Attempt("c", score=None, valid=False))


def test_start_resolves_improve_and_mixed_modes():
    given = start(SPOOKY, BASE, mode="improve", previous={"program": "p", "score": 0.5})
    assert given.mode == "improve" and given.previous.program == "p"
    assert "Improve this solution" in given.observation
    with pytest.raises(ValueError, match="improve mode needs"):
        start(SPOOKY, BASE, mode="improve")
    best = Attempt("best", score=0.3, valid=True)
    modes = {start(SPOOKY, BASE, mode="mixed", best=best, rng=np.random.default_rng(s)).mode
             for s in range(20)}
    assert modes == {"scratch", "improve"}  # the paper's 50/50 draw
    assert start(SPOOKY, BASE, mode="mixed", rng=np.random.default_rng(0)).mode == "scratch"
    with pytest.raises(ValueError, match="mode must be one of"):
        start(SPOOKY, BASE, mode="sideways")


def test_parse_observation_gives_back_what_observation_put_in():
    previous = Attempt("import os\nprint('given')", ["imports"], score=0.61234, valid=True,
                       duration=3.0, stdout="given out")
    history = [
        Attempt("print(1)", [], valid=False, invalid_reason="failed (exit code 1) (really)",
                duration=0.5),
        Attempt("print(2)", ["imports", "data_loaded"], score=0.5, valid=True, duration=12.5),
        Attempt("x = 1\nprint(x)", ["imports"], valid=False, invalid_reason="no file",
                duration=2.0, stderr="Traceback"),
    ]
    parsed = parse_observation(observation(BASE, history, previous))
    assert (parsed.task, parsed.env_id) == ("spooky-author", "mle/spooky-author-v0")
    assert (parsed.time_limit, parsed.memory_limit, parsed.cpus) == (90.0, "2g", 1.5)
    assert parsed.task_prompt == BASE
    assert parsed.previous.program == previous.program and parsed.previous.score == 0.61234
    assert parsed.previous.milestones == ["imports"] and parsed.previous.number is None
    assert [(a.number, a.valid, a.score, a.duration, a.milestone_count) for a in parsed.earlier] == [
        (1, False, None, 0.5, 0), (2, True, 0.5, 12.5, 2)]
    last = parsed.last
    assert (last.number, last.valid, last.reason, last.duration, last.milestones, last.program) == (
        3, False, "no file", 2.0, ["imports"], "x = 1\nprint(x)")
    assert "Traceback" in last.report and "Fix or improve" not in last.report
    assert parse_observation(observation(BASE, history[:1], None)).earlier == []
    assert parse_observation(observation(BASE, history[:1], None)).last.reason == (
        "failed (exit code 1) (really)")
    fresh = parse_observation(observation(BASE, [], None))
    assert fresh.last is None and fresh.previous is None and fresh.attempts == []


def test_the_env_prompt_parses_back_to_its_task_and_limits():
    env = local_env(time_limit=77, cpus=0.5)
    obs, _ = env.reset(seed=0)
    parsed = parse_observation(obs)
    assert (parsed.task, parsed.time_limit, parsed.cpus) == ("spooky-author", 77.0, 0.5)
    assert parsed.lower_is_better
    env.close()


def test_runtime_options_check_cheaply_and_list_the_known_names():
    with pytest.raises(LimitError, match="between 1"):
        RuntimeOptions(time_limit=0)
    with pytest.raises(ValueError, match="data_seed must be"):
        RuntimeOptions(data_seed=-1)
    with pytest.raises(TypeError, match="known: data, data_seed, time_limit"):
        RuntimeOptions.of({"time_limt": 5})
    options = RuntimeOptions.of({"data": "lite"}, time_limit=60, memory_limit=2**30)
    assert (options.time_limit, options.memory_limit) == (60.0, "1073741824")
    assert options.key() == RuntimeOptions.of(options.as_dict()).key()


def test_episode_length_by_max_steps_or_max_episode_steps():
    for kwargs, length in (({}, 3), ({"max_steps": 5}, 5), ({"max_episode_steps": 5}, 5),
                           ({"max_episode_steps": 1}, 1)):
        env = local_env(**kwargs)
        assert isinstance(env.env, gym.wrappers.TimeLimit) and env.spec.max_episode_steps == length
        env.reset(seed=0)
        truncated = [env.step(UNPARSABLE)[3] for _ in range(length)]
        assert truncated == [False] * (length - 1) + [True], kwargs
        with pytest.raises(ResetNeeded, match=f"truncated after max_steps={length}"):
            env.step(UNPARSABLE)
        env.close()
    with pytest.raises(ValueError, match="disagree"):
        local_env(max_steps=4, max_episode_steps=5)


def test_unknown_keyword_lists_the_known_ones_and_check_env_passes():
    with pytest.raises(TypeError, match="unknown keyword argument.*known: data, sandbox"):
        local_env(max_step=3)
    env = local_env(render_mode="ansi")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=False)
    assert [str(w.message) for w in caught] == []
    env.close()
