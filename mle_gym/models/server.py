"""An OpenAI-compatible chat server for a local model, on 127.0.0.1, standard library only.

``POST /v1/chat/completions`` (``messages``, ``max_tokens``, ``stop``, ``temperature``,
``top_p``, ``seed``; no streaming; ``tools`` are ignored and the answer is plain text),
``GET /v1/models``, and ``GET /health``. Requests are answered one at a time. ``close()``
(or SIGINT/SIGTERM under :func:`serve_forever`) stops it cleanly.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mle_gym.models.engines import DEFAULT_MAX_TOKENS, ContextError, Generation


class _Handler(BaseHTTPRequestHandler):
    server: ModelHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        if self.server.verbose:
            sys.stderr.write("mle-gym model serve: " + format % args + "\n")

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error"
                                      if status < 500 else "server_error"}})

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.rstrip("/")
        if path in ("/health", "/v1/health"):
            self._send(200, {"status": "ok", **self.server.describe()})
        elif path == "/v1/models":
            self._send(200, {"object": "list", "data": [
                {"id": self.server.model_name, "object": "model", "owned_by": "local"}]})
        else:
            self._error(404, f"no route {self.path}: GET /health, GET /v1/models, "
                        "POST /v1/chat/completions")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route {self.path}: POST /v1/chat/completions")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            messages, kwargs = parse_request(request)
        except (ValueError, TypeError) as exc:
            self._error(400, f"bad request: {exc}")
            return
        if request.get("stream"):
            self._error(400, "streaming is not supported: send stream=false")
            return
        try:
            gen = self.server.engine.generate(messages, **kwargs)
        except ContextError as exc:
            self._error(400, str(exc))
            return
        except Exception as exc:  # the model failed: say so, keep serving
            self._error(500, f"generation failed: {type(exc).__name__}: {exc}")
            return
        self.server.record(gen)
        self._send(200, completion_body(gen, self.server.model_name))


def parse_request(request: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Messages and generation settings from an OpenAI chat request (ValueError if bad)."""
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    clean = []
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str) or not isinstance(m.get("role"), str):
            raise ValueError("each message needs a 'role' and a text 'content'")
        clean.append({"role": m["role"], "content": content})
    stop = request.get("stop") or []
    stop = [stop] if isinstance(stop, str) else list(stop)
    max_tokens = request.get("max_tokens") or request.get("max_completion_tokens") or DEFAULT_MAX_TOKENS
    if int(max_tokens) < 1:
        raise ValueError("max_tokens must be at least 1")
    temperature = request.get("temperature")
    top_p = request.get("top_p")
    seed = request.get("seed")
    return clean, {
        "max_tokens": int(max_tokens),
        "temperature": 1.0 if temperature is None else float(temperature),
        "top_p": 1.0 if top_p is None else float(top_p),
        "seed": None if seed is None else int(seed),
        "stop": [str(s) for s in stop],
    }


def completion_body(gen: Generation, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": gen.finish_reason,
                     "message": {"role": "assistant", "content": gen.text}}],
        "usage": {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
                  "total_tokens": gen.prompt_tokens + gen.completion_tokens},
    }


class ModelHTTPServer(ThreadingHTTPServer):
    """The HTTP server holding one engine; counts tokens and seconds for ``/health``."""

    daemon_threads = True

    def __init__(self, engine: Any, model_name: str, port: int = 0, host: str = "127.0.0.1",
                 verbose: bool = False) -> None:
        super().__init__((host, port), _Handler)
        self.engine = engine
        self.model_name = model_name
        self.verbose = verbose
        self.requests = 0
        self.tokens = 0
        self.seconds = 0.0
        self._thread: threading.Thread | None = None
        self._count = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def record(self, gen: Generation) -> None:
        with self._count:
            self.requests += 1
            self.tokens += gen.completion_tokens
            self.seconds += gen.seconds

    def describe(self) -> dict[str, Any]:
        rate = self.tokens / self.seconds if self.seconds else None
        return {"model": self.model_name, "backend": getattr(self.engine, "backend", "?"),
                "ctx": getattr(self.engine, "ctx", None),
                "threads": getattr(self.engine, "threads", None), "requests": self.requests,
                "completion_tokens": self.tokens,
                "tokens_per_second": None if rate is None else round(rate, 2)}

    def start(self) -> ModelHTTPServer:
        """Serve from a background thread (tests, notebooks); ``close()`` stops it."""
        self._thread = threading.Thread(target=self.serve_forever, name="mle-gym-model-server",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=30)
            self._thread = None
        self.server_close()

    def __enter__(self) -> ModelHTTPServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_forever(server: ModelHTTPServer) -> None:
    """Serve in this thread until SIGINT or SIGTERM, then shut down cleanly."""
    def stop(signum: int, frame: Any) -> None:
        # shutdown() waits for serve_forever, so it must run on another thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever()
    finally:
        server.server_close()
        for s, handler in previous.items():
            signal.signal(s, handler)
