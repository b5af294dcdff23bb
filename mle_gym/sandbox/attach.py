"""A container's stdin and stdout through the engine's attach stream: how the host talks to
the supervisor inside (the token and requests go in, reports and submissions come out), on
pipes the program cannot reach."""

from __future__ import annotations

import contextlib
import select
import socket
import time
from typing import Any

from mle_gym.sandbox.base import SandboxError

SEND_SECONDS = 30.0  # writing to a container's stdin: the engine reads it at once
MAX_LINE = 64 << 20  # a report line longer than this is not a report
STDERR_KEPT = 64 << 10  # what a step or warm supervisor printed on stderr, for error messages


class AttachStream:
    """A container's stdin and stdout through the engine's attach stream.

    Without a TTY the engine multiplexes stdout and stderr in frames: an 8-byte header
    (stream number, three zero bytes, big-endian payload size), then the payload.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle  # docker-py's wrapper keeps the HTTP response (and TLS) alive
        sock = getattr(handle, "_sock", handle)
        if not isinstance(sock, socket.socket):
            raise SandboxError(
                "the Docker sandbox needs an engine reached through a unix or TCP socket "
                f"(DOCKER_HOST); this one gives a {type(sock).__name__}."
            )
        self.sock = sock
        self._frames = bytearray()
        self.stdout = bytearray()
        self.stderr = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.settimeout(SEND_SECONDS)
        self.sock.sendall(data)

    def _fill(self, timeout: float) -> bool:
        """Read what arrives within ``timeout``; False if nothing did. EOFError at the end."""
        self.sock.settimeout(max(timeout, 1e-3))
        try:
            chunk = self.sock.recv(1 << 16)
        except (TimeoutError, BlockingIOError):
            return False
        if not chunk:
            raise EOFError("the container's stream ended")
        frames = self._frames
        frames += chunk
        while len(frames) >= 8:
            size = int.from_bytes(frames[4:8], "big")
            if len(frames) < 8 + size:
                break
            (self.stderr if frames[0] == 2 else self.stdout).extend(frames[8 : 8 + size])
            del frames[: 8 + size]
        if len(self.stderr) > 2 * STDERR_KEPT:
            del self.stderr[:-STDERR_KEPT]
        return True

    def line(self, deadline: float) -> bytes | None:
        """The next stdout line, or None at ``deadline`` (time.monotonic)."""
        while True:
            end = self.stdout.find(b"\n")
            if end >= 0:
                line = bytes(self.stdout[:end])
                del self.stdout[: end + 1]
                return line
            if len(self.stdout) > MAX_LINE:
                raise EOFError(f"the container sent a line over {MAX_LINE >> 20} MiB")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._fill(remaining)

    def read_into(self, path: Any, size: int, deadline: float) -> bool:
        """Write the next ``size`` bytes of stdout to the file ``path``; False at ``deadline``."""
        with open(path, "wb") as sink:
            while size > 0:
                if not self.stdout:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._fill(remaining)
                    continue
                chunk = self.stdout[:size]
                sink.write(chunk)
                del self.stdout[: len(chunk)]
                size -= len(chunk)
        return True

    def idle(self) -> bool:
        """True if the other end is alive and said nothing since its last report."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            if readable:
                self._fill(0)
        except (OSError, EOFError):
            return False
        return not (self.stdout or self.stderr or self._frames)

    def said(self) -> str:
        """The end of what the container wrote on stderr."""
        return self.stderr[-2000:].decode("utf-8", "replace").strip()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(Exception):
            self._handle.close()


def attach(client: Any, container: Any) -> AttachStream:
    """The container's stdin and stdout (attach before start: no output is missed)."""
    handle = client.api.attach_socket(
        container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
    )
    return AttachStream(handle)
