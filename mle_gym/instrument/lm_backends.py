"""The models the LM instrumenter can ask: a chat endpoint, or a local transformers model.

A backend turns chat messages into a :class:`Completion`; its ``cache_key`` names the model,
so that answers cached for one model are never served for another.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from mle_gym.llm import ChatClient


@dataclass(frozen=True)
class Completion:
    """A model's answer; ``truncated`` when it stopped at the token limit."""

    text: str
    truncated: bool = False


@runtime_checkable
class Backend(Protocol):
    """A model: ``generate(messages, max_tokens)`` and a ``cache_key`` naming the model."""

    cache_key: str

    def generate(self, messages: list[dict[str, str]], max_tokens: int) -> Completion: ...


class ChatBackend:
    """An OpenAI-compatible chat endpoint through :class:`mle_gym.llm.ChatClient`.

    ``max_tokens`` fixes the answer budget; by default it follows the program's length.
    ``extra`` goes into each request (``seed``, ``top_p``, ...).
    """

    def __init__(
        self,
        client: ChatClient | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        **extra: Any,
    ) -> None:
        self.client = client if client is not None else ChatClient()
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.extra = extra
        self.cache_key = f"chat:{self.client.model}@{self.client.base_url}"

    def __repr__(self) -> str:
        return f"ChatBackend({self.client!r})"

    def generate(self, messages: list[dict[str, str]], max_tokens: int) -> Completion:
        reply = self.client.complete(
            messages, self.temperature, self.max_tokens or max_tokens, **self.extra
        )
        return Completion(reply.content, reply.truncated)


class TransformersBackend:
    """A local causal language model through ``transformers`` (greedy decoding).

    ``model_name_or_path`` is a ``.gguf`` file (converted once into a cached folder), a model
    folder or a Hub id already in the local cache (:func:`mle_gym.models.load_causal_lm`;
    ``model_kwargs`` go to ``from_pretrained``, e.g. ``dtype=``) or an already loaded model,
    with ``tokenizer`` then required unless the model's folder has one. ``device`` defaults to CUDA when available.
    transformers and torch are imported here, not when mle_gym is.
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike[str] | Any,
        tokenizer: Any = None,
        device: str | None = None,
        max_new_tokens: int = 4096,
        **model_kwargs: Any,
    ) -> None:
        try:
            import torch
            from transformers import AutoTokenizer
        except ImportError as exc:
            raise ImportError(
                f"TransformersBackend needs torch and transformers ({exc}); install them with "
                "pip install 'mle-gym[train]'"
            ) from exc
        if isinstance(model_name_or_path, str | os.PathLike):
            from mle_gym.models import load_causal_lm

            self.name = str(model_name_or_path)
            model, own_tokenizer = load_causal_lm(self.name, **model_kwargs)
            tokenizer = tokenizer if tokenizer is not None else own_tokenizer
        else:
            model = model_name_or_path
            self.name = str(getattr(getattr(model, "config", None), "_name_or_path", "") or
                            type(model).__name__)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(self.name)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.max_new_tokens = int(max_new_tokens)
        self.cache_key = f"transformers:{self.name}"
        self._torch = torch
        self._lock = threading.Lock()  # one generate at a time on a shared model

    def __repr__(self) -> str:
        return f"TransformersBackend({self.name!r}, device={self.device!r})"

    def prompt_text(self, messages: list[dict[str, str]]) -> str:
        """The messages through the tokenizer's chat template, or a plain transcript."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        turns = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
        return "\n\n".join(turns) + "\n\nAssistant:"

    def generate(self, messages: list[dict[str, str]], max_tokens: int) -> Completion:
        tok = self.tokenizer
        inputs = tok(self.prompt_text(messages), return_tensors="pt", add_special_tokens=False)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        limit = max(1, min(int(max_tokens), self.max_new_tokens))
        eos = tok.eos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        with self._lock, self._torch.inference_mode():
            out = self.model.generate(
                **inputs, max_new_tokens=limit, do_sample=False, pad_token_id=pad,
                eos_token_id=eos,
            )
        new = out[0, inputs["input_ids"].shape[1]:]
        text = tok.decode(new, skip_special_tokens=True)
        truncated = len(new) >= limit and (eos is None or int(new[-1]) != eos)
        return Completion(text, truncated)
