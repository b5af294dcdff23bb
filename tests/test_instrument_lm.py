"""The LM instrumenter: recorded model answers through the verifier, the chat client against a
local OpenAI-compatible server, the answer cache, a tiny local transformers model, and
environment steps in real containers with the model's program (or the static fallback)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

from mle_gym.instrument import InstrumentedProgram, StaticInstrumenter, get_instrumenter
from mle_gym.instrument.lm import (
    ChatBackend,
    LMInstrumenter,
    RewriteRejected,
    build_messages,
    verify_rewrite,
)
from mle_gym.instrument.static import PROLOGUE
from mle_gym.llm import ChatClient, LLMError
from tests.chat_server import ChatServer  # the chat_server fixture comes from conftest.py

ANSWERS = Path(__file__).parent / "fixtures" / "lm_answers"
PROGRAM = (ANSWERS / "program.py").read_text()
ENV_ID = "mle/spooky-author-v0"
ALL_REPORTED = ("imports", "data_loaded", "model_defined", "model_trained", "predictions_made")


def answer(name: str) -> str:
    return (ANSWERS / f"{name}.md").read_text()


def client_for(server: ChatServer, **kwargs) -> ChatClient:
    kwargs.setdefault("backoff", 0.0)
    return ChatClient(base_url=server.url, model=server.model, **kwargs)


def lm_for(server: ChatServer, **kwargs) -> LMInstrumenter:
    return LMInstrumenter(ChatBackend(client_for(server)), **kwargs)


# --------------------------------------------------------------------------- the verifier


def test_a_correctly_instrumented_answer_is_accepted():
    source, milestones = verify_rewrite(PROGRAM, answer("good"))
    assert milestones == ALL_REPORTED
    assert '__mle_milestone__("model_trained", model.fit(X_tr, y_tr))' in source
    # The hook binding is added once, after the module docstring, so the program also
    # runs outside the sandbox, where the builtin hook does not exist.
    assert source.count(PROLOGUE) == 1
    namespace: dict = {}
    exec(compile(source.split("\n", 1)[0], "<head>", "exec"), namespace)
    assert namespace["__mle_milestone__"]("imports", 41) == 41


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fixes_bug", "lm output changed the program: - print(f'Validation log loss"),
        ("renames_variable", "+ predictions = model.predict_proba"),
        ("drops_code", "lm output changed the program: - print(f'Validation log loss"),
        ("prose_only", "lm answer has no ```python code block"),
        ("unknown_milestone", "unknown milestone(s) 'features_built'"),
        ("reports_submission", "unknown milestone(s) 'submission_written'"),
        ("forges_hook", "uses __mle_milestone__ other than as a milestone call (line 13)"),
        ("moves_docstring", "a docstring moved or changed"),
    ],
)
def test_bad_answers_are_rejected_with_the_reason(name, expected):
    with pytest.raises(RewriteRejected) as caught:
        verify_rewrite(PROGRAM, answer(name))
    assert expected in str(caught.value)


def test_fixing_the_bug_is_named_in_the_reason():
    with pytest.raises(RewriteRejected, match=r"\+ print.*labels=model\.classes_"):
        verify_rewrite(PROGRAM, answer("fixes_bug"))


def test_answer_that_does_not_parse_or_compile_is_rejected():
    broken = answer("good").replace("def build_model():", "def build_model(:")
    with pytest.raises(RewriteRejected, match="does not parse: line"):
        verify_rewrite(PROGRAM, broken)
    # A hook before a __future__ import parses but does not compile.
    future = "from __future__ import annotations\nimport os\nprint(os.sep)\n"
    bad = '```python\n__mle_milestone__("imports")\nfrom __future__ import annotations\nimport os\nprint(os.sep)\n```'
    with pytest.raises(RewriteRejected, match="does not compile"):
        verify_rewrite(future, bad)


def test_an_answer_without_hooks_is_rejected_and_a_bare_program_is_accepted():
    with pytest.raises(RewriteRejected, match="no milestone calls"):
        verify_rewrite(PROGRAM, f"```python\n{PROGRAM}```")
    bare = answer("good").split("```python\n", 1)[1].rsplit("```", 1)[0]
    assert verify_rewrite(PROGRAM, bare)[1] == ALL_REPORTED


def test_the_prompt_carries_the_program_and_the_milestones():
    messages = build_messages(PROGRAM)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert PROGRAM.rstrip() in user
    for name in ALL_REPORTED:
        assert f"- {name}:" in user
    # A program holding a fence gets a longer one, so the prompt's block is not cut short.
    tricky = 'print("```")\n'
    assert "````python\n" + tricky.rstrip() + "\n````" in build_messages(tricky)[1]["content"]


# --------------------------------------------------------------------------- the client


def test_client_sends_the_request_and_returns_the_answer(chat_server):
    chat_server.answers.append("hello there")
    client = client_for(chat_server)
    assert client.chat([{"role": "user", "content": "hi"}], max_tokens=7, seed=3) == "hello there"
    (request,) = chat_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body == {
        "model": "test-model",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.0,
        "max_tokens": 7,
        "seed": 3,
    }
    assert client.models() == ["test-model"]


def test_client_retries_after_server_errors_and_rate_limits(chat_server):
    chat_server.fail(500, "worker crashed")
    chat_server.fail(429, "slow down", retry_after=0)
    chat_server.answers.append("finally")
    assert client_for(chat_server).chat([{"role": "user", "content": "hi"}]) == "finally"
    assert len(chat_server.chat_requests) == 3


def test_client_gives_up_after_its_retries_and_says_where(chat_server):
    chat_server.fail(503, "overloaded", times=3)
    client = client_for(chat_server, max_retries=2)
    with pytest.raises(LLMError) as caught:
        client.chat([{"role": "user", "content": "hi"}])
    message = str(caught.value)
    assert "after 3 attempts" in message and "HTTP 503: overloaded" in message
    assert chat_server.url in message and "test-model" in message


def test_client_sends_the_api_key(chat_server):
    chat_server.api_key = "sk-test-123"
    chat_server.answers.append("ok")
    assert client_for(chat_server, api_key="sk-test-123").chat([{"role": "user", "content": "x"}])
    assert chat_server.requests[0].headers["Authorization"] == "Bearer sk-test-123"
    with pytest.raises(LLMError, match="HTTP 401.*MLE_GYM_LLM_API_KEY"):
        client_for(chat_server, api_key="wrong").chat([{"role": "user", "content": "x"}])
    assert len(chat_server.requests) == 2  # a refused key is not retried


def test_client_explains_a_404(chat_server):
    client = ChatClient(base_url=chat_server.url, model="no-such-model", backoff=0)
    with pytest.raises(LLMError) as caught:
        client.chat([{"role": "user", "content": "x"}])
    message = str(caught.value)
    assert caught.value.status == 404
    assert f"{chat_server.url}/chat/completions" in message and "no-such-model" in message
    assert "does not exist" in message and "MLE_GYM_LLM_MODEL" in message
    assert len(chat_server.requests) == 1


def test_client_reports_an_unreachable_server():
    client = ChatClient(base_url="http://127.0.0.1:9", model="m", max_retries=1, backoff=0)
    with pytest.raises(LLMError, match=r"http://127\.0\.0\.1:9/v1/chat/completions.*2 attempts"):
        client.chat([{"role": "user", "content": "x"}])


def test_client_reads_the_environment(chat_server, monkeypatch):
    for name in ("MLE_GYM_LLM_BASE_URL", "MLE_GYM_LLM_MODEL", "MLE_GYM_LLM_API_KEY",
                 "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LLMError, match="set MLE_GYM_LLM_BASE_URL"):
        ChatClient()
    monkeypatch.setenv("OPENAI_BASE_URL", chat_server.url.removesuffix("/v1"))  # /v1 added
    with pytest.raises(LLMError, match="set MLE_GYM_LLM_MODEL"):
        ChatClient()
    monkeypatch.setenv("MLE_GYM_LLM_MODEL", chat_server.model)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    client = ChatClient()
    assert (client.base_url, client.model, client.api_key) == (chat_server.url, "test-model", "sk-env")


# --------------------------------------------------------------------------- instrumenter


def test_instrumenter_uses_the_models_program(chat_server):
    chat_server.answers.append(answer("good"))
    program = lm_for(chat_server).instrument(PROGRAM)
    assert program.note == "lm"
    assert program.milestones == ALL_REPORTED
    assert program.source == verify_rewrite(PROGRAM, answer("good"))[0]
    sent = chat_server.chat_requests[0].body
    assert sent["temperature"] == 0.0 and PROGRAM.rstrip() in sent["messages"][1]["content"]


@pytest.mark.parametrize("name", ["fixes_bug", "renames_variable", "prose_only"])
def test_instrumenter_falls_back_to_static_and_says_why(chat_server, name):
    chat_server.answers.append(answer(name))
    program = lm_for(chat_server).instrument(PROGRAM)
    static = StaticInstrumenter().instrument(PROGRAM)
    assert (program.source, program.milestones) == (static.source, static.milestones)
    with pytest.raises(RewriteRejected) as caught:
        verify_rewrite(PROGRAM, answer(name))
    assert program.note == f"static fallback: {caught.value}"


def test_failed_request_falls_back(chat_server):
    chat_server.fail(500, "out of memory", times=5)
    lm = LMInstrumenter(ChatBackend(client_for(chat_server, max_retries=1)))
    program = lm.instrument(PROGRAM)
    assert program.note.startswith("static fallback: lm request failed: POST ")
    assert "HTTP 500: out of memory" in program.note
    assert program.source == StaticInstrumenter().instrument(PROGRAM).source


def test_cut_off_answer_says_so(chat_server):
    good = answer("good")
    chat_server.answers.append({"content": good[: len(good) // 2], "finish_reason": "length"})
    note = lm_for(chat_server).instrument(PROGRAM).note
    assert note.startswith("static fallback: lm answer was cut off at the token limit; ")


def test_unrunnable_programs_are_refused_before_any_request(chat_server):
    from mle_gym.instrument import InstrumentationError

    lm = lm_for(chat_server)
    for bad in ("", "def f(:\n", "__mle_milestone__('imports')\n"):
        with pytest.raises(InstrumentationError):
            lm.instrument(bad)
    assert chat_server.requests == []


def test_same_program_is_never_sent_twice(chat_server, tmp_path):
    chat_server.answers.extend([answer("good"), answer("good")])
    lm = lm_for(chat_server, cache_dir=tmp_path)
    first = lm.instrument(PROGRAM)
    assert lm.instrument(PROGRAM) == first
    assert len(chat_server.chat_requests) == 1 and lm.requests == 1
    # A fresh instrumenter (a new process) finds the answer on disk.
    again = lm_for(chat_server, cache_dir=tmp_path)
    assert again.instrument(PROGRAM) == first
    assert len(chat_server.chat_requests) == 1 and again.requests == 0
    assert len(list(tmp_path.rglob("*.json"))) == 1
    # Another program, or another model, is a new question.
    other = PROGRAM.replace("C=3.0", "C=2.0")
    assert lm.instrument(other).note.startswith("static fallback: lm output changed")
    assert len(chat_server.chat_requests) == 2


def test_bad_answers_are_cached_too(chat_server):
    chat_server.answers.append(answer("drops_code"))
    lm = lm_for(chat_server)
    notes = {lm.instrument(PROGRAM).note for _ in range(3)}
    assert len(notes) == 1 and len(chat_server.chat_requests) == 1


def test_the_fallback_is_an_instrumenter_object(chat_server):
    class Nameless:
        def instrument(self, code: str) -> InstrumentedProgram:
            return InstrumentedProgram(code, code, ())

    chat_server.answers.append(answer("prose_only"))
    lm = lm_for(chat_server, fallback=Nameless())
    program = lm.instrument(PROGRAM)
    assert (program.source, program.milestones) == (PROGRAM, ())
    assert program.note.startswith("Nameless fallback: ")
    # Names are the registry's: get_instrumenter("static") is the object for a name.
    with pytest.raises(TypeError, match=r"get_instrumenter\('static'\)"):
        lm_for(chat_server, fallback="static")


def test_lm_by_name_needs_an_endpoint_and_reads_the_environment(chat_server, monkeypatch):
    for name in ("MLE_GYM_LLM_BASE_URL", "MLE_GYM_LLM_MODEL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LLMError, match="MLE_GYM_LLM_BASE_URL"):
        get_instrumenter("lm")
    monkeypatch.setenv("MLE_GYM_LLM_BASE_URL", chat_server.url)
    monkeypatch.setenv("MLE_GYM_LLM_MODEL", chat_server.model)
    env = gym.make(ENV_ID, instrumenter="lm")
    try:
        lm = env.unwrapped.instrumenter
        assert isinstance(lm, LMInstrumenter) and lm.name == "lm"
        chat_server.answers.append(answer("good"))
        assert lm.instrument(PROGRAM).note == "lm"
        assert chat_server.chat_requests[0].body["model"] == "test-model"
    finally:
        env.close()


# --------------------------------------------------------------------------- transformers


def _tiny_model(folder: Path) -> None:
    """A randomly initialised one-layer Llama and a byte-level BPE tokenizer trained here."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([m["content"] for m in build_messages(PROGRAM)], trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    config = transformers.LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=8192,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)


def test_transformers_backend_generates_and_its_garbage_falls_back(tmp_path):
    _tiny_model(tmp_path)
    from mle_gym.instrument.lm import TransformersBackend

    backend = TransformersBackend(str(tmp_path), device="cpu", max_new_tokens=12)
    completion = backend.generate(build_messages(PROGRAM), max_tokens=1000)
    assert isinstance(completion.text, str)
    ids = backend.tokenizer(completion.text, add_special_tokens=False)["input_ids"]
    assert 0 < len(ids) <= 3 * 12  # decoded new tokens only, not the prompt
    assert completion.truncated or completion.text  # stopped at the limit or at </s>
    lm = LMInstrumenter(backend)
    program = lm.instrument(PROGRAM)
    assert program.note.startswith("static fallback: ")
    assert program.source == StaticInstrumenter().instrument(PROGRAM).source
    assert lm.requests == 1 and backend.cache_key == f"transformers:{tmp_path}"


# --------------------------------------------------------------------------- environment


@pytest.mark.docker
def test_env_step_runs_the_models_program(docker_sandbox, chat_server):
    chat_server.answers.append(answer("good"))
    env = gym.make(ENV_ID, sandbox=docker_sandbox, instrumenter=lm_for(chat_server), max_steps=1)
    try:
        env.reset(seed=0)
        _, reward, _, _, info = env.step(PROGRAM)
    finally:
        env.close()
    assert info["instrumenter"] == "lm" and info["instrumenter_note"] == "lm"
    assert '__mle_milestone__("model_defined", make_pipeline(' in env.unwrapped.last_instrumented
    assert info["valid_submission"], info["invalid_reason"]
    assert info["milestones"] == [*ALL_REPORTED, "submission_written"]
    times = info["milestone_times"]
    assert times["imports"] <= times["data_loaded"] <= times["model_defined"]
    assert times["model_defined"] <= times["model_trained"] <= times["predictions_made"]
    assert reward > 1.0 and "Validation log loss" in info["stdout_tail"]


@pytest.mark.docker
def test_env_step_with_a_bad_rewrite_runs_the_static_program(docker_sandbox, chat_server):
    chat_server.answers.append(answer("fixes_bug"))
    env = gym.make(ENV_ID, sandbox=docker_sandbox, instrumenter=lm_for(chat_server), max_steps=1)
    try:
        env.reset(seed=0)
        _, _, _, _, info = env.step(PROGRAM)
    finally:
        env.close()
    note = info["instrumenter_note"]
    assert note.startswith("static fallback: lm output changed the program: ")
    assert "labels=model.classes_" in note
    assert env.unwrapped.last_instrumented == StaticInstrumenter().instrument(PROGRAM).source
    # The agent's program ran as written, bug included.
    assert "labels=model.classes_" not in env.unwrapped.last_instrumented
    assert info["valid_submission"], info["invalid_reason"]
    assert info["milestones"] == [*ALL_REPORTED, "submission_written"]
