"""A small client for OpenAI-compatible chat-completions endpoints (vLLM, Ollama, hosted APIs).

Standard library only, so ``import mle_gym`` stays light and any server that speaks
``POST {base_url}/chat/completions`` works. Defaults come from the environment:

* ``MLE_GYM_LLM_BASE_URL`` (else ``OPENAI_BASE_URL``): e.g. ``http://localhost:8000/v1``
  (vLLM) or ``http://localhost:11434/v1`` (Ollama); a URL with no path gets ``/v1``.
* ``MLE_GYM_LLM_MODEL``: the model name the server serves.
* ``MLE_GYM_LLM_API_KEY`` (else ``OPENAI_API_KEY``): sent as ``Authorization: Bearer``; local
  servers usually need none.

Rate limits (429), server errors (5xx), dropped connections and timeouts are retried with
exponential backoff (honouring ``Retry-After``); anything else raises :class:`LLMError`,
whose message names the URL and model that failed and what to set.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ENV_BASE_URL = "MLE_GYM_LLM_BASE_URL"
ENV_MODEL = "MLE_GYM_LLM_MODEL"
ENV_API_KEY = "MLE_GYM_LLM_API_KEY"

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0  # seconds: a longer Retry-After is capped rather than obeyed


class LLMError(RuntimeError):
    """A chat request failed; the message says which URL and model, and what to do."""

    def __init__(
        self, message: str, *, url: str | None = None, model: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.model = model
        self.status = status


@dataclass(frozen=True)
class ChatReply:
    """One answer: its text, why generation stopped (``"stop"``, ``"length"``...), the raw JSON."""

    content: str
    finish_reason: str | None
    raw: dict[str, Any]

    @property
    def truncated(self) -> bool:
        """The answer hit ``max_tokens`` and is probably cut off."""
        return self.finish_reason == "length"


def _first_env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def normalise_base_url(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; drops a trailing slash or a pasted
    ``/chat/completions``, so the usual ways of writing the URL all work."""
    url = url.strip().rstrip("/")
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")]
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LLMError(
            f"chat endpoint URL {url!r} is not an http(s) URL; set {ENV_BASE_URL} to something "
            "like http://localhost:8000/v1 (vLLM) or http://localhost:11434/v1 (Ollama)",
            url=url,
        )
    if parts.path in ("", "/"):
        url += "/v1"
    return url


def _server_message(body: bytes) -> str:
    """The error text an OpenAI-style server put in its body, else the body itself."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:500]
        if isinstance(err, str):
            return err[:500]
        if data.get("detail"):
            return str(data["detail"])[:500]
    return text[:500]


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    value = (headers or {}).get("Retry-After")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class ChatClient:
    """Chat completions from an OpenAI-compatible server.

    ``base_url``, ``model`` and ``api_key`` default to the environment variables above.
    ``timeout`` is per request (seconds); ``max_retries`` is how many times a retryable
    failure is tried again, waiting ``backoff * 2**attempt`` seconds (plus jitter) between.
    """

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 300.0,
        max_retries: int = 4,
        backoff: float = 1.0,
    ) -> None:
        raw_url = base_url or _first_env(ENV_BASE_URL, "OPENAI_BASE_URL")
        if not raw_url:
            raise LLMError(
                f"no chat endpoint: set {ENV_BASE_URL} (e.g. http://localhost:8000/v1 for vLLM, "
                f"http://localhost:11434/v1 for Ollama) and {ENV_MODEL}, or pass base_url= "
                "and model="
            )
        self.base_url = normalise_base_url(raw_url)
        self.model = model or _first_env(ENV_MODEL)
        if not self.model:
            raise LLMError(
                f"no model name for {self.base_url}: set {ENV_MODEL} (or pass model=) to a "
                f"model the server serves; GET {self.base_url}/models lists them",
                url=self.base_url,
            )
        self.api_key = api_key or _first_env(ENV_API_KEY, "OPENAI_API_KEY")
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.backoff = max(0.0, float(backoff))

    def __repr__(self) -> str:
        return f"ChatClient(base_url={self.base_url!r}, model={self.model!r})"

    # -- requests ---------------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        temperature: float = 0.0,
        max_tokens: int | None = 1024,
        **extra: Any,
    ) -> str:
        """The assistant's answer to ``messages`` (``[{"role": ..., "content": ...}]``).
        ``extra`` goes into the request body as is (``top_p``, ``stop``, ``seed``...)."""
        return self.complete(messages, temperature, max_tokens, **extra).content

    def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        temperature: float = 0.0,
        max_tokens: int | None = 1024,
        **extra: Any,
    ) -> ChatReply:
        """Like :meth:`chat`, with the finish reason and the raw response."""
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "temperature": temperature,
        }
        if max_tokens is not None:
            payload["max_tokens"] = int(max_tokens)
        payload.update(extra)
        url = f"{self.base_url}/chat/completions"
        data = self._request("POST", url, payload)
        try:
            choice = data["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LLMError(
                f"{url} (model {self.model}) answered without choices[0].message.content: "
                f"{json.dumps(data)[:300]}; is it an OpenAI-compatible chat endpoint?",
                url=url, model=self.model,
            ) from None
        if content is None:
            raise LLMError(
                f"{url} (model {self.model}) returned an empty message "
                f"(finish_reason={choice.get('finish_reason')!r})",
                url=url, model=self.model,
            )
        return ChatReply(str(content), choice.get("finish_reason"), data)

    def models(self) -> list[str]:
        """The model names the server lists at ``GET {base_url}/models``."""
        url = f"{self.base_url}/models"
        data = self._request("GET", url, None)
        entries = data.get("data", []) if isinstance(data, dict) else []
        return [str(e["id"]) for e in entries if isinstance(e, dict) and "id" in e]

    # -- transport --------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _sleep(self, attempt: int, retry_after: float | None) -> None:
        delay = retry_after if retry_after is not None else self.backoff * 2**attempt
        # Jitter so that many workers hitting one server do not retry in lockstep.
        time.sleep(delay * (1.0 + 0.1 * random.random()))

    def _request(self, method: str, url: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        body = json.dumps(payload).encode("utf-8") if payload is not None else None
        last = ""
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(url, data=body, method=method, headers=self._headers())
            retry_after: float | None = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
                try:
                    return json.loads(raw.decode("utf-8"))
                except ValueError:
                    raise LLMError(
                        f"{url} (model {self.model}) answered with something that is not JSON: "
                        f"{raw[:200]!r}; is {self.base_url} an OpenAI-compatible endpoint?",
                        url=url, model=self.model,
                    ) from None
            except urllib.error.HTTPError as exc:
                message = _server_message(exc.read() or b"")
                if exc.code not in RETRY_STATUSES and exc.code < 500:
                    raise self._status_error(url, exc.code, message) from None
                last = f"HTTP {exc.code}: {message}"
                retry_after = _retry_after(exc.headers)
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                    TimeoutError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"{type(reason).__name__}: {reason}"
            if attempt < self.max_retries:
                self._sleep(attempt, retry_after)
        tries = self.max_retries + 1
        raise LLMError(
            f"{method} {url} (model {self.model}) failed after {tries} "
            f"attempt{'s' if tries > 1 else ''}: {last}. Check that the server is running and "
            f"that {ENV_BASE_URL} points at it",
            url=url, model=self.model,
        )

    def _status_error(self, url: str, status: int, message: str) -> LLMError:
        if status in (401, 403):
            hint = f"set {ENV_API_KEY} (or OPENAI_API_KEY) to a key this server accepts"
        elif status == 404:
            hint = (
                f"check {ENV_BASE_URL} (usually ends in /v1) and {ENV_MODEL}; "
                f"GET {self.base_url}/models lists the served models"
            )
        else:
            hint = "the server rejected the request"
        return LLMError(
            f"{url} (model {self.model}) answered HTTP {status}: {message}; {hint}",
            url=url, model=self.model, status=status,
        )


__all__ = ["ENV_API_KEY", "ENV_BASE_URL", "ENV_MODEL", "ChatClient", "ChatReply", "LLMError"]
