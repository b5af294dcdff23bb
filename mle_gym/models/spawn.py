"""``mle-gym model serve`` in a child process, for scripts that need a model server for a
while (``make demo-llm``, ``make leaderboard-llm``): started, its URL read, stopped cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import IO


def start_server(
    model: str | os.PathLike[str], name: str, threads: int = 1, stderr: IO[str] | None = None
) -> tuple[subprocess.Popen, str]:
    """Serve ``model`` (a .gguf file, a folder or a cached Hub id) as ``name`` on a free port
    of 127.0.0.1; returns the process and its OpenAI-compatible base URL once the model is
    loaded. ``stderr``: where the server's log goes (default: inherited). Stop it with
    :func:`stop_server`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mle_gym.cli", "model", "serve", str(model), "--port", "0",
         "--threads", str(threads), "--name", name],
        stdout=subprocess.PIPE, stderr=stderr, text=True,
        env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "serving NAME (...) at URL" once the model is loaded
    if " at " not in line:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the model server did not start: {line.strip()!r}")
    return proc, line.split(" at ")[1].split()[0]


def stop_server(proc: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM, which the server answers by finishing its request and exiting."""
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=timeout)


__all__ = ["start_server", "stop_server"]
