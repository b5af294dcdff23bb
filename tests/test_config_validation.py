"""gym.make, TaskRuntime, the env's setters and the pool refuse options that would switch a
limit off or fail late, at once, with a message that says what is allowed (issue 11,
escape 8, and a new user's run). No program runs here: every check happens before one would.
"""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import pytest
from gymnasium.error import ResetNeeded

from mle_gym.limits import LimitError, validate_limits
from mle_gym.pool import StepJob
from mle_gym.sandbox.local import LocalSandbox
from mle_gym.step import TaskRuntime

ENV_ID = "mle/spooky-author-v0"
UNPARSABLE = "def broken(:\n"  # fails in the instrumenter: no program runs, no sandbox is used


def local_env(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return gym.make(ENV_ID, sandbox=LocalSandbox(warn=False), **kwargs)


# Each of these once started a container without the limit, silently became the task's
# default, or failed later with a raw error (OverflowError, a Docker API error).
SWITCHED_OFF = [
    ({"memory_limit": "0"}, "memory_limit must be a size"),
    ({"memory_limit": "0.00001g"}, "from 64m"),  # rounds to a few KiB
    ({"memory_limit": 0}, "memory_limit must be a size"),
    ({"memory_limit": -1}, "memory_limit must be a size"),
    ({"memory_limit": "32m"}, "from 64m"),
    ({"memory_limit": "lots"}, "like '512m' or '4g'"),
    ({"memory_limit": "-4g"}, "like '512m' or '4g'"),
    ({"memory_limit": "99999999t"}, "to 1024t"),
    ({"cpus": 0}, "cpus must be a number of CPUs between 0.01"),
    ({"cpus": 1e-10}, "between 0.01"),  # Docker's nano_cpus rounds it to 0: no quota
    ({"cpus": -1}, "between 0.01"),
    ({"cpus": math.inf}, "between 0.01"),
    ({"cpus": math.nan}, "between 0.01"),
    ({"cpus": "2"}, "not '2' \\(str\\)"),
    ({"time_limit": 0}, "time_limit must be a number of seconds between 1"),
    ({"time_limit": -1}, "between 1"),
    ({"time_limit": math.inf}, "between 1"),
    ({"time_limit": 1e300}, "between 1"),
    ({"time_limit": True}, "not True \\(bool\\)"),
]


@pytest.mark.parametrize(("kwargs", "message"), SWITCHED_OFF)
def test_gym_make_refuses_limits_that_switch_off_or_fail_late(kwargs, message):
    with pytest.raises(LimitError, match=message):
        gym.make(ENV_ID, sandbox="local", **kwargs)


@pytest.mark.parametrize(("kwargs", "message"), SWITCHED_OFF)
def test_task_runtime_and_pool_jobs_refuse_them_too(kwargs, message):
    with pytest.raises(LimitError, match=message):
        TaskRuntime.create("spooky-author", **kwargs)
    with pytest.raises(LimitError, match=message):
        StepJob(task="spooky-author", program="print(1)", options=kwargs).check()


def test_edge_values_are_kept_exactly_and_none_means_the_task_default():
    env = local_env(time_limit=1, memory_limit="64m", cpus=0.01)
    runtime = env.unwrapped.runtime
    assert (runtime.time_limit, runtime.memory_limit, runtime.cpus) == (1.0, "64m", 0.01)
    env.close()
    env = local_env()
    limits = env.unwrapped.spec_task.limits
    assert env.unwrapped.runtime.time_limit == limits.time_limit
    assert env.unwrapped.runtime.cpus == limits.cpus
    env.close()
    assert validate_limits(memory_limit=2**30, cpus=None) == {"memory_limit": "1073741824",
                                                              "cpus": None}


def test_setters_validate_and_the_prompt_follows_them():
    env = local_env()
    with pytest.raises(LimitError, match="between 1"):
        env.unwrapped.time_limit = 0
    with pytest.raises(LimitError, match="from 64m"):
        env.unwrapped.memory_limit = "0"
    with pytest.raises(LimitError, match="between 0.01"):
        env.unwrapped.cpus = 1e-10
    env.unwrapped.time_limit = 321
    obs, _ = env.reset(seed=0)
    assert "321 s wall-clock" in obs  # the observation states the limit the program gets
    env.close()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sandbox": "dockr"}, "unknown sandbox 'dockr'; choose one of auto, docker, docker-warm, local"),
    ({"max_steps": 0}, "max_steps must be a whole number >= 1"),
    ({"max_steps": 2.5}, "max_steps must be a whole number >= 1"),
    ({"mode": "scratchy"}, "mode must be one of scratch, improve, mixed"),
    ({"render_mode": "rgb_array"}, "render_mode must be None or one of ansi, human"),
    ({"reward": "defualt"}, "unknown reward preset 'defualt'; known: default, paper"),
    ({"reward": {"preset": "papr"}}, "unknown reward preset 'papr'"),
    ({"reward": {"milestone_credit": math.nan}}, "finite"),
    ({"data": "lit"}, "data must be 'lite', 'full' or the path of a prepared data folder"),
    ({"data": 3}, "data must be 'lite', 'full'"),
    ({"data_seed": -1}, "data_seed must be a whole number >= 0"),
    ({"data_seed": 0.5}, "data_seed must be a whole number >= 0"),
    ({"instrumenter": "statik"}, "unknown instrumenter 'statik'"),
])
@pytest.mark.filterwarnings("ignore:.*render_mode:UserWarning")
def test_bad_options_fail_before_any_data_is_prepared(kwargs, message):
    # data="full" has no source on a test machine: had the data been prepared first, the
    # error would be DataNotAvailable, not the option's own.
    options = {"data": "full", **kwargs}
    with pytest.raises(ValueError, match=message):
        gym.make(ENV_ID, **options)


def test_step_after_truncation_raises_until_reset():
    env = local_env(max_steps=2)
    env.reset(seed=0)
    assert env.step(UNPARSABLE)[3] is False
    assert env.step(UNPARSABLE)[3] is True
    with pytest.raises(ResetNeeded, match="truncated after max_steps=2 programs; call reset"):
        env.step(UNPARSABLE)
    env.reset(seed=1)
    _, reward, _, truncated, info = env.step(UNPARSABLE)
    assert info["step"] == 1 and not truncated and reward == -1.0
    env.close()


def test_unwrapped_env_needs_a_reset_before_its_first_step():
    env = local_env()
    with pytest.raises(ResetNeeded, match="call reset"):
        env.unwrapped.step(UNPARSABLE)
    env.close()


def test_step_after_close_raises_instead_of_starting_a_new_sandbox():
    env = local_env()
    env.reset(seed=0)
    env.step(UNPARSABLE)
    env.close()
    with pytest.raises(RuntimeError, match="environment is closed"):
        env.unwrapped.step(UNPARSABLE)
    with pytest.raises(RuntimeError, match="environment is closed"):
        env.unwrapped.sandbox  # noqa: B018 - the property would build a new sandbox
    assert env.unwrapped._sandbox is None
    env.close()  # closing twice is allowed, as in Gymnasium


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"previous": 42}, TypeError, "must be a program's text \\(str\\) or a dict"),
    ({"previous": ["print(1)"]}, TypeError, "not list"),
    ({"previous": {"score": 0.5}}, ValueError, "needs 'program'"),
    ({"previous": {"program": "x = 1", "score": "good"}}, ValueError, "score'\\] must be a number"),
    ({"mode": "sideways"}, ValueError, "mode must be one of scratch, improve, mixed"),
    ({"previous": "x = 1", "seed": 3}, ValueError, "unknown reset option\\(s\\) \\['seed'\\]"),
])
def test_reset_options_are_checked_with_clear_messages(options, error, message):
    env = local_env()
    with pytest.raises(error, match=message):
        env.reset(seed=0, options={"mode": "improve", **options})
    env.close()


def test_reset_accepts_a_program_or_an_attempt_dict():
    env = local_env()
    obs, info = env.reset(seed=0, options={"mode": "improve", "previous": "x = 41"})
    assert info["mode"] == "improve" and "x = 41" in obs
    obs, _ = env.reset(seed=0, options={"mode": "improve",
                                        "previous": {"program": "y = 2", "score": 0.4}})
    assert "y = 2" in obs
    env.close()


def test_spaces_have_a_short_repr_and_render_fps_is_declared():
    env = local_env()
    assert len(repr(env.unwrapped.observation_space)) < 200
    assert "characters" in repr(env.action_space)
    assert env.unwrapped.metadata["render_fps"] == 1
    sample = env.unwrapped.observation_space.sample()
    assert env.unwrapped.observation_space.contains(sample)
    env.close()


def test_closing_an_env_leaves_a_sandbox_passed_in_to_its_owner():
    sandbox = LocalSandbox(warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        first = gym.make(ENV_ID, sandbox=sandbox)
        second = gym.make(ENV_ID, sandbox=sandbox, time_limit=300)
    first.reset(seed=0)
    first.step("print('first')")
    first.close()
    second.reset(seed=0)
    _, _, _, _, info = second.step("print('second')")  # the shared sandbox still runs steps
    assert "second" in info["stdout_tail"] and info["exit_code"] == 0
    second.close()
    sandbox.close()
