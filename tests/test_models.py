"""Models by path and the local OpenAI-compatible server, on a tiny random model (offline).

The same server with the real model (SmolLM2 GGUF) is in test_real_model.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from mle_gym.llm import ChatClient, LLMError
from mle_gym.models import locate_model, model_folder
from tests.tiny_lm import build_tiny_model_and_tokenizer, torch_threads

pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    build_tiny_model_and_tokenizer(root)
    return root / "tiny-lm"


@pytest.fixture(scope="module")
def server(tiny_folder):
    from mle_gym.models.engines import load_engine
    from mle_gym.models.server import ModelHTTPServer

    with torch_threads(1):
        engine = load_engine(str(tiny_folder), ctx=4096, threads=1)
        with ModelHTTPServer(engine, "tiny", port=0).start() as srv:
            yield srv


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def test_models_are_found_by_path_and_hub_ids_are_never_downloaded(tmp_path, tiny_folder):
    assert locate_model(tiny_folder).kind == "folder"
    assert model_folder(tiny_folder) == str(tiny_folder.resolve())
    gguf = tmp_path / "one" / "m.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    for given in (gguf, gguf.parent):  # the file, or a folder with one .gguf file
        assert (locate_model(given).kind, locate_model(given).path) == ("gguf", gguf.resolve())
    with pytest.raises(ValueError, match="not in the local Hugging Face cache.*never downloads"):
        locate_model("no-such-org/no-such-model-xyz")
    with pytest.raises(FileNotFoundError, match="make model"):
        locate_model(tmp_path / "missing.gguf")
    (tmp_path / "w.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="not a .gguf"):
        locate_model(tmp_path / "w.bin")


def test_the_training_baselines_load_models_by_path_and_never_download(tiny_folder):
    """early_experience, ttrl and distill_lessons go through load_causal_lm: a folder loads
    (a .gguf file too: test_real_model.py), a Hub id not in the cache is refused offline."""
    import argparse

    from baselines import distill_lessons, early_experience, ttrl

    with torch_threads(1):
        loaded = [
            early_experience.load_policy(argparse.Namespace(model=str(tiny_folder), bf16=False,
                                                            seed=0), []),
            ttrl._policy(argparse.Namespace(model=str(tiny_folder)), None, "prompt"),
            distill_lessons.load_model(str(tiny_folder), [], seed=0),
        ]
    weights = [next(iter(model.state_dict().values())) for model, _ in loaded]
    assert all((w == weights[0]).all() for w in weights)  # the saved model, not a fresh one
    assert loaded[1][1].padding_side == "left"
    with pytest.raises(SystemExit, match="never downloads"):
        distill_lessons.load_model("no-such-org/no-such-model-xyz", [], seed=0)
    with pytest.raises(ValueError, match="never downloads"):
        early_experience.load_policy(argparse.Namespace(model="no-such-org/no-such-model-xyz",
                                                        bf16=False, seed=0), [])


def test_server_answers_chat_health_and_models(server):
    health = get(server.url.removesuffix("/v1") + "/health")
    assert health["status"] == "ok" and health["backend"] == "transformers"
    assert health["threads"] == 1 and health["ctx"] == 4096
    assert get(server.url + "/models")["data"][0]["id"] == "tiny"
    client = ChatClient(base_url=server.url, model="tiny", max_retries=0)
    reply = client.complete([{"role": "user", "content": "hello"}], temperature=0.0, max_tokens=7)
    usage = reply.raw["usage"]
    assert 1 <= usage["completion_tokens"] <= 7 and usage["prompt_tokens"] > 0
    assert reply.finish_reason in ("stop", "length")
    assert get(server.url.removesuffix("/v1") + "/health")["requests"] >= 1


def test_max_tokens_and_stop_sequences_are_honoured(server):
    client = ChatClient(base_url=server.url, model="tiny", max_retries=0)
    messages = [{"role": "user", "content": "import pandas as pd"}]
    full = client.complete(messages, temperature=1.0, max_tokens=40, seed=7)
    assert full.raw["usage"]["completion_tokens"] == 40 and full.truncated
    again = client.complete(messages, temperature=1.0, max_tokens=40, seed=7)
    assert again.content == full.content  # sampling with a seed is repeatable
    # a stop sequence from inside the answer cuts it there, the stop left out
    text = full.content
    stop = next(text[i:i + 3] for i in range(len(text) // 3, len(text) - 3)
                if text[i:i + 3].strip() and text.find(text[i:i + 3]) == i)
    cut = client.complete(messages, temperature=1.0, max_tokens=40, seed=7, stop=[stop])
    assert cut.content == text[: text.find(stop)] and cut.finish_reason == "stop"
    assert cut.raw["usage"]["completion_tokens"] < 40


def test_generation_seconds_leave_out_the_wait_for_another_request(server):
    """Requests are answered one at a time; a queued one's wait is not generation time, or
    /health's tokens per second would halve whenever two agents share the server."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    client = ChatClient(base_url=server.url, model="tiny", max_retries=0)
    messages = [{"role": "user", "content": "import pandas as pd"}]
    before = server.seconds
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda seed: client.complete(
            messages, temperature=1.0, max_tokens=120, seed=seed), (1, 2)))
    wall = time.monotonic() - started
    assert all(r.raw["usage"]["completion_tokens"] > 0 for r in replies)
    # the two generations ran one after the other inside the wall time, never overlapping
    assert server.seconds - before <= wall


def test_bad_requests_and_overlong_prompts_get_400s_that_say_why(server):
    client = ChatClient(base_url=server.url, model="tiny", max_retries=0)
    with pytest.raises(LLMError, match="context of 4096"):
        client.complete([{"role": "user", "content": "pandas numpy " * 4000}], max_tokens=4)
    request = urllib.request.Request(server.url + "/chat/completions", data=b'{"messages": 3}',
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 400 and "messages" in err.value.read().decode()


def test_model_serve_command_starts_answers_and_stops_cleanly(tiny_folder):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mle_gym.cli", "model", "serve", str(tiny_folder), "--port", "0",
         "--threads", "1", "--name", "tiny"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
    try:
        first = proc.stdout.readline()
        assert first.startswith("serving tiny (transformers, ctx 8192, 1 thread(s)) at http://127.0.0.1:")
        url = first.split(" at ")[1].split()[0]
        client = ChatClient(base_url=url, model="tiny", max_retries=0)
        assert client.complete([{"role": "user", "content": "hi"}], max_tokens=3).content is not None
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "model server stopped" in out


def test_model_serve_says_what_to_do_without_llama_cpp(tmp_path, capsys):
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        from mle_gym.cli import main

        gguf = tmp_path / "m.gguf"
        gguf.write_bytes(b"GGUF")
        assert main(["model", "serve", str(gguf), "--backend", "llama-cpp"]) == 2
        assert "llama-cpp-python" in capsys.readouterr().err
    else:
        pytest.skip("llama-cpp-python is installed here")
