"""What the model server generates with: transformers (default) or llama.cpp (when installed).

An engine turns chat messages into a :class:`Generation`, honouring ``max_tokens``, stop
sequences, the temperature and a seed, within the context length. One request at a time: a
shared model is not thread-safe and one CPU thread is the fastest on a small machine.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mle_gym.models.load import model_folder, set_torch_threads
from mle_gym.models.locate import ModelSource, locate_model

DEFAULT_CTX = 8192  # an agent's prompt plus a 2048-token answer needs about this much
DEFAULT_MAX_TOKENS = 2048


class ContextError(ValueError):
    """The prompt does not fit the context: an error the client caused (HTTP 400)."""


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int
    seconds: float


def cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    """The text before the first stop sequence (OpenAI leaves the stop out), and whether one
    was found."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


class TransformersEngine:
    """A causal LM through transformers on the CPU (or CUDA when there is one)."""

    backend = "transformers"

    def __init__(self, source: ModelSource, ctx: int = DEFAULT_CTX, threads: int | None = None,
                 quiet: bool = False) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.threads = set_torch_threads(threads)
        folder = model_folder(source.path, quiet=quiet)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(self.device)
        self.model.eval()
        self.ctx = int(ctx)
        self._torch = torch
        self._lock = threading.Lock()

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)
            text += "\n\nAssistant:"
        return tok(text, add_special_tokens=False)["input_ids"]

    def generate(self, messages: list[dict[str, str]], max_tokens: int, temperature: float,
                 top_p: float, seed: int | None, stop: list[str]) -> Generation:
        torch, tok = self._torch, self.tokenizer
        ids = self.prompt_ids(messages)
        room = self.ctx - len(ids)
        if room < 1:
            raise ContextError(f"the prompt is {len(ids)} tokens, which leaves no room in the "
                               f"context of {self.ctx}: shorten it or serve with a larger --ctx")
        limit = max(1, min(int(max_tokens), room))
        eos = tok.eos_token_id
        kwargs: dict[str, Any] = {"max_new_tokens": limit, "eos_token_id": eos,
                                  "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else eos}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=float(temperature), top_p=float(top_p))
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop:
            kwargs.update(stop_strings=list(stop), tokenizer=tok)
        with self._lock, torch.inference_mode():
            started = time.monotonic()  # after the lock: a queued request's wait is not generation
            if seed is not None:
                torch.manual_seed(int(seed))
            out = self.model.generate(torch.tensor([ids], device=self.device), **kwargs)
            seconds = time.monotonic() - started
        new = out[0, len(ids):].tolist()
        hit_eos = bool(new) and eos is not None and new[-1] == eos
        text, stopped = cut_at_stop(tok.decode(new, skip_special_tokens=True), stop)
        finish = "stop" if hit_eos or stopped or len(new) < limit else "length"
        return Generation(text, finish, len(ids), len(new), seconds)


class LlamaCppEngine:
    """A GGUF file through llama-cpp-python, used only when it is installed (PyPI has no
    Linux wheel: ``CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install llama-cpp-python`` builds a
    generic CPU one, 8.6 CPU-minutes for 0.3.36). Its CPU backend's extra weight buffers are
    turned off: with them, a native build crashed on the first completion on an AVX512/AMX
    CPU (the generic build did not)."""

    backend = "llama-cpp"

    def __init__(self, source: ModelSource, ctx: int = DEFAULT_CTX, threads: int | None = None,
                 quiet: bool = False) -> None:
        if source.kind != "gguf":
            raise ValueError(f"the llama-cpp backend serves .gguf files, not the folder {source.path}"
                             "; use --backend transformers")
        try:
            import llama_cpp
        except ImportError as exc:
            raise ImportError("the llama-cpp backend needs llama-cpp-python, which has no Linux "
                              "wheel on PyPI (a source build of several CPU-minutes): "
                              'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install llama-cpp-python, '
                              "or use --backend transformers") from exc
        from mle_gym.models.load import default_threads

        defaults = llama_cpp.llama_model_default_params

        def no_extra_buffers() -> Any:
            params = defaults()
            if hasattr(params, "use_extra_bufts"):
                params.use_extra_bufts = False
            return params

        llama_cpp.llama_model_default_params = no_extra_buffers
        try:
            self.threads = int(threads or default_threads())
            self.llm = llama_cpp.Llama(model_path=str(Path(source.path)), n_ctx=int(ctx),
                                       n_threads=self.threads, verbose=not quiet)
        finally:
            llama_cpp.llama_model_default_params = defaults
        self.ctx = int(ctx)
        self._lock = threading.Lock()

    def generate(self, messages: list[dict[str, str]], max_tokens: int, temperature: float,
                 top_p: float, seed: int | None, stop: list[str]) -> Generation:
        with self._lock:
            started = time.monotonic()
            if seed is not None:
                self.llm.set_seed(int(seed))
            out = self.llm.create_chat_completion(
                messages=messages, max_tokens=int(max_tokens), temperature=float(temperature),
                top_p=float(top_p), stop=list(stop) or None)
            seconds = time.monotonic() - started
        choice, usage = out["choices"][0], out.get("usage", {})
        return Generation(choice["message"]["content"] or "", choice.get("finish_reason") or "stop",
                          int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)),
                          seconds)


def load_engine(name_or_path: str, backend: str = "transformers", ctx: int = DEFAULT_CTX,
                threads: int | None = None, quiet: bool = False) -> TransformersEngine | LlamaCppEngine:
    source = locate_model(name_or_path)
    if backend == "transformers":
        return TransformersEngine(source, ctx, threads, quiet)
    if backend == "llama-cpp":
        return LlamaCppEngine(source, ctx, threads, quiet)
    raise ValueError(f"unknown backend {backend!r}: transformers or llama-cpp")
