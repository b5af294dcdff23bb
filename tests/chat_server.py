"""A local OpenAI-compatible chat server for tests (standard library, one thread).

It speaks ``POST /v1/chat/completions`` and ``GET /v1/models``. Answers come from
``respond(messages) -> str`` or from a queue of recorded answers (``answers``); queued error
statuses (``fail(status, ...)``) are returned first. Every request is recorded.

Use the ``chat_server`` fixture (import it into a test module, or into conftest.py)::

    def test_x(chat_server):
        chat_server.answers.append("hello")
        client = ChatClient(base_url=chat_server.url, model=chat_server.model)
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Respond = Callable[[list[dict[str, Any]]], str]


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages", []))


@dataclass
class Failure:
    status: int
    message: str
    retry_after: float | None = None


@dataclass
class ChatServer:
    """The server. ``answers`` items are a string or ``{"content": ..., "finish_reason": ...}``.

    ``api_key``: when set, requests without ``Authorization: Bearer <api_key>`` get 401.
    A request for a model other than ``model`` gets 404, as vLLM answers.
    """

    respond: Respond | None = None
    answers: deque[str | dict[str, Any]] = field(default_factory=deque)
    model: str = "test-model"
    api_key: str | None = None
    requests: list[Recorded] = field(default_factory=list)
    failures: deque[Failure] = field(default_factory=deque)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL a client needs (ends in ``/v1``)."""
        assert self._server is not None, "the server is not running; call start()"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def fail(self, status: int, message: str = "injected failure", times: int = 1,
             retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests with ``status``."""
        for _ in range(times):
            self.failures.append(Failure(status, message, retry_after))

    def start(self) -> ChatServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        # A short poll interval so that stopping the server takes no noticeable time.
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,),
                                        name="chat-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the handler calls ---------------------------------------------------------

    def _answer(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        if self.answers:
            item = self.answers.popleft()
        elif self.respond is not None:
            item = self.respond(messages)
        else:
            raise LookupError("the test chat server has no answer queued and no respond()")
        if isinstance(item, str):
            return {"content": item, "finish_reason": "stop"}
        return {"finish_reason": "stop", **item}


def _handler_for(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
                  ) -> None:
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
            self._send(status, {"error": {"message": message, "code": status}}, headers)

        def _record(self, body: dict[str, Any] | None) -> bool:
            """Record the request; answer a queued failure or a bad key. True when answered."""
            server.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
            if server.failures:
                failure = server.failures.popleft()
                headers = {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = f"{failure.retry_after:g}"
                self._error(failure.status, failure.message, headers)
                return True
            if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                self._error(401, "invalid API key")
                return True
            return False

        def do_GET(self) -> None:
            if self._record(None):
                return
            if self.path.rstrip("/") != "/v1/models":
                self._error(404, f"no route {self.path}")
                return
            self._send(200, {"object": "list",
                             "data": [{"id": server.model, "object": "model"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                server.requests.append(Recorded(self.command, self.path, dict(self.headers), None))
                self._error(400, "body is not JSON")
                return
            if self._record(body):
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._error(404, f"no route {self.path}")
                return
            if body.get("model") != server.model:
                self._error(404, f"The model `{body.get('model')}` does not exist.")
                return
            try:
                answer = server._answer(list(body.get("messages", [])))
            except Exception as exc:  # the test's respond() broke: tell the client why
                self._error(500, f"{type(exc).__name__}: {exc}")
                return
            self._send(200, {
                "id": f"chatcmpl-{len(server.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": server.model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": answer["content"]},
                    "finish_reason": answer["finish_reason"],
                }],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            })

    return Handler


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A running local chat server, stopped after the test."""
    with ChatServer() as server:
        yield server
