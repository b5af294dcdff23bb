"""The TRL adapter: real Docker steps through its tools, and a real GRPOTrainer driving it."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os

import pytest

from mle_gym.integrations.trl import MLEGymToolEnv, environment_factory
from tests import programs
from tests.conftest import IN_CI, SPOOKY

# Copies the public sample submission: a valid format without any model (cheap to run).
COPY_SAMPLE = """
import os, shutil
os.makedirs(os.path.dirname(os.environ["MLE_SUBMISSION_PATH"]), exist_ok=True)
shutil.copy(os.path.join(os.environ["MLE_INPUT_DIR"], "sample_submission.csv"),
            os.environ["MLE_SUBMISSION_PATH"])
"""
# A crash right after its imports: one milestone, so -1 + 0.1 under the default preset.
CRASH_AFTER_IMPORT = "import pandas\nraise SystemExit(3)"


@pytest.fixture(scope="module")
def factory(docker_sandbox):
    return environment_factory(SPOOKY, data="lite", sandbox=docker_sandbox)


def test_only_the_two_tools_are_public(factory):
    """TRL turns every public function of the class except reset/get_reward into a tool."""
    from transformers.utils import get_json_schema

    env = factory()
    public = {
        name
        for name, _ in inspect.getmembers(type(env), predicate=inspect.isfunction)
        if not name.startswith("_")
    }
    assert public == {"reset", "get_reward", "run_code", "validate"}
    for tool in (env.run_code, env.validate):
        schema = get_json_schema(tool)["function"]
        assert schema["parameters"]["required"] == ["code"]
        assert schema["parameters"]["properties"]["code"]["type"] == "string"
        assert schema["description"]


@pytest.mark.docker
def test_tools_run_real_steps_and_the_episode_reward(factory, solutions):
    env = factory()
    prompt = env.reset(prompt=[{"role": "user", "content": ""}])
    assert "Spooky" in prompt and "run_code(code)" in prompt and "validate(code)" in prompt
    assert "Answer with a short plan" not in prompt  # the markdown request gives way to tools

    checked = env.validate(COPY_SAMPLE)
    assert "Submission is valid" in checked and "Runs left: 2" in checked
    assert "log_loss" not in checked and "score" not in checked.lower()
    assert env.rewards == [] and env.total_duration > 0

    good = env.run_code(solutions["fast"])
    score = env.steps[0]["score"]
    assert f"public log_loss {score:.5g}" in good and "model_trained" in good
    assert f"{score:.5g}" not in checked  # validation never showed the score

    crash = env.run_code(programs.DIES_AFTER_LOADING)
    assert "no valid submission" in crash and "boom after loading" in crash
    assert "Milestones reached: imports, data_loaded." in crash

    assert env.rewards[0] > 0 > env.rewards[1]
    assert env.get_reward() == env.rewards[0]  # best run by default
    env.episode_reward = "last"
    assert env.get_reward() == env.rewards[1] < 0
    assert len(env.durations) == 2 and all(d > 0 for d in env.durations)
    assert env.total_duration > sum(env.durations)  # the validation's time counts too
    assert env.private_scores[0] is not None and env.private_scores[1] is None

    refused = env.run_code(solutions["fast"])
    assert refused.startswith("No runs left") and len(env.rewards) == 2

    env.reset()
    assert env.rewards == [] and env.calls_left == 3
    assert env.get_reward() == env.failure_reward == -1.0  # no run: what an empty program earns


def test_importing_mle_gym_or_the_adapter_loads_no_trl_or_torch():
    import subprocess
    import sys

    code = (
        "import sys, mle_gym; assert 'mle_gym.integrations' not in sys.modules;"
        "import mle_gym.integrations.trl;"
        "print(sorted(m for m in ('trl', 'torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_reset_with_a_previous_program_asks_for_an_improvement(factory, solutions):
    prompt = factory().reset(prompt="", previous=solutions["fast"])
    assert "Improve this solution" in prompt and "TfidfVectorizer" in prompt


def test_bad_options_say_what_is_known(docker_sandbox):
    with pytest.raises(TypeError, match="unknown option.*max_tool_calls"):
        environment_factory(SPOOKY, sandbox=docker_sandbox, max_calls=2)
    with pytest.raises(ValueError, match="episode_reward must be one of best, last"):
        environment_factory(SPOOKY, sandbox=docker_sandbox, episode_reward="mean")
    with pytest.raises(ValueError, match="name a task"):
        MLEGymToolEnv()


# -- a real GRPOTrainer ----------------------------------------------------------------------


def _need_trl() -> None:
    if importlib.util.find_spec("trl") is None:
        if IN_CI:
            pytest.fail("CI installs the train extra (make venv-test); trl is missing")
        pytest.skip("trl is not installed: make venv-test")


def _tool_call(code: str) -> str:
    call = {"name": "run_code", "arguments": {"code": code}}
    return "<tool_call>\n" + json.dumps(call) + "\n</tool_call><|im_end|>"


@pytest.fixture(scope="module")
def tiny_lm(factory, tmp_path_factory):
    """A tokenizer that knows the task prompt well, and a builder of fresh tiny models."""
    _need_trl()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from transformers.utils import get_json_schema

    from tests.tiny_lm import build_tiny_model_and_tokenizer, torch_threads

    env = factory()
    focus = [env.reset(), _tool_call(CRASH_AFTER_IMPORT)]
    focus += [json.dumps(get_json_schema(tool)) for tool in (env.run_code, env.validate)]
    folder = tmp_path_factory.mktemp("tiny-lm")
    with torch_threads(1):
        _, tokenizer = build_tiny_model_and_tokenizer(folder, focus=focus)
    return tokenizer, folder / "tiny-lm"


def _train_one_step(model, tokenizer, factory, tmp_path, **config):
    """One GRPO step on two rollouts; returns the trainer and the environments it used."""
    from trl import GRPOConfig, GRPOTrainer

    from tests.tiny_lm import torch_threads

    made = []

    def make():
        made.append(factory())
        return made[-1]

    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        max_steps=1,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=config.pop("max_completion_length", 24),
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        **config,
    )
    with torch_threads(1):
        trainer = GRPOTrainer(model=model, processing_class=tokenizer, args=args, environment_factory=make)
        trainer.train()
    return trainer, made  # TRL's probe for the tool schemas is reused as the first rollout's


@pytest.mark.docker
def test_grpo_trainer_resets_the_env_and_logs_its_reward(tiny_lm, factory, tmp_path):
    """A random model writes garbage, so every rollout earns the failure reward."""
    from transformers import AutoModelForCausalLM

    tokenizer, folder = tiny_lm
    model = AutoModelForCausalLM.from_pretrained(folder)
    trainer, envs = _train_one_step(model, tokenizer, factory, tmp_path)

    logged = trainer.state.log_history[0]
    assert logged["rewards/MLEGymToolEnv/mean"] == pytest.approx(-1.0)
    assert logged["reward"] == pytest.approx(-1.0)
    prompts = [messages[-1]["content"] for messages in trainer._logs["prompt"]]
    assert len(prompts) == 2 and all("# Task: Spooky" in p and "run_code" in p for p in prompts)
    assert len(envs) == 2 and all(env.calls_left == env.max_tool_calls for env in envs)


@pytest.mark.docker
def test_grpo_trainer_runs_the_models_tool_call_in_docker(tiny_lm, factory, tmp_path):
    """A tiny model taught one tool call: TRL parses it, the env runs it, the reward arrives."""
    from transformers import AutoModelForCausalLM

    from tests.tiny_lm import teach_completion, torch_threads

    tokenizer, folder = tiny_lm
    model = AutoModelForCausalLM.from_pretrained(folder)
    env = factory()
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": env.reset()}],
        tools=[env.run_code, env.validate],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
    )
    with torch_threads(1):
        teach_completion(model, tokenizer, prompt, _tool_call(CRASH_AFTER_IMPORT))
    trainer, envs = _train_one_step(
        model, tokenizer, factory, tmp_path,
        temperature=0.01, max_tool_calling_iterations=1, max_completion_length=96,
    )

    logged = trainer.state.log_history[0]
    assert logged["tools/call_frequency"] == 1.0 and logged["tools/failure_frequency"] == 0.0
    # One milestone (imports) under the default preset: -1 + 0.1, not the failure reward.
    assert logged["rewards/MLEGymToolEnv/mean"] == pytest.approx(-0.9)
    for rollout in envs:
        assert [s["exit_code"] for s in rollout.steps] == [3]
        assert rollout.steps[0]["milestones"] == ["imports"] and rollout.durations[0] > 0
