"""Supervisor that runs one agent program inside the sandbox (standard library only).

It is copied next to the program and started as ``python runner.py <ctl-dir>``. It:

* reads the per-step secret token from ``<ctl>/token`` and deletes the file before the
  program starts, so the program never sees it;
* runs the program in a child process whose milestone hook writes to a private pipe
  (printing a milestone name on stdout therefore earns nothing);
* keeps the head and tail of stdout and stderr, bounded in size whatever the program prints;
* kills the program's whole process group at the time limit;
* reports one line ``<token> <json>`` on its own stdout, which the host trusts.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

HEAD_BYTES = 8 * 1024
TAIL_BYTES = 24 * 1024

# Runs in the child before the program: define the milestone hook, then run the program
# as __main__. The pipe's fd number arrives in the environment and is removed at once.
BOOTSTRAP = r"""
import builtins, os, runpy, sys
_fd = int(os.environ.pop("MLE_MILESTONE_FD"))
_seen = set()
def __mle_milestone__(name, value=None, _seen=_seen, _fd=_fd, _write=os.write):
    if name not in _seen:
        _seen.add(name)
        try:
            _write(_fd, (str(name) + "\n").encode())
        except OSError:
            pass
    return value
builtins.__mle_milestone__ = __mle_milestone__
del builtins, _fd, _seen
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


class Capped:
    """Collects a byte stream, keeping its first and last bytes and the total size."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = HEAD_BYTES - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > 2 * TAIL_BYTES:
            del self.tail[: len(self.tail) - TAIL_BYTES]

    def text(self) -> str:
        tail = bytes(self.tail[-TAIL_BYTES:])
        skipped = self.total - len(self.head) - len(tail)
        gap = f"\n[... {skipped} bytes not kept ...]\n".encode() if skipped > 0 else b""
        return (bytes(self.head) + gap + tail).decode("utf-8", errors="replace")


def pump(stream, sink: Capped) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):
        sink.feed(chunk)


def capture(child: subprocess.Popen, read_fd: int, started: float) -> tuple:
    """Start threads collecting the child's stdout, stderr and milestones (name, seconds
    since ``started``, each name once); returns (stdout, stderr, milestones, threads)."""
    out, err = Capped(), Capped()
    milestones: list = []

    def read_milestones() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for raw in pipe:
                name = raw.decode("utf-8", "replace").strip()
                if name and name not in {m[0] for m in milestones}:
                    milestones.append([name, round(time.monotonic() - started, 4)])

    threads = [
        threading.Thread(target=pump, args=(child.stdout, out), daemon=True),
        threading.Thread(target=pump, args=(child.stderr, err), daemon=True),
        threading.Thread(target=read_milestones, daemon=True),
    ]
    for t in threads:
        t.start()
    return out, err, milestones, threads


def report(
    code: int | None, duration: float, timed_out: bool, oom: bool, milestones: list,
    out: Capped, stderr_text: str, stderr_bytes: int,
) -> dict:
    """The fields the host reads from a step's report (runner and warm supervisor alike)."""
    return {
        "exit_code": code,
        "duration": round(duration, 4),
        "timed_out": timed_out,
        "oom": oom,
        "milestones": milestones,
        "stdout": out.text(),
        "stderr": stderr_text,
        "stdout_bytes": out.total,
        "stderr_bytes": stderr_bytes,
    }


def oom_kills() -> int:
    """The cgroup's OOM-kill counter (v2 or v1), or -1 where it cannot be read."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return -1


def make_undumpable() -> None:
    """Keep the program (same uid) out of this process: no ptrace, no /proc/<pid>/mem,
    environ or fd/ access, so it can neither read the token nor write to our stdout."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass  # not Linux: the local backend's weak isolation is documented


def main() -> int:
    make_undumpable()
    ctl = sys.argv[1]
    with open(os.path.join(ctl, "config.json")) as f:
        config = json.load(f)
    token_path = os.path.join(ctl, "token")
    with open(token_path) as f:
        token = f.read().strip()
    os.unlink(token_path)

    read_fd, write_fd = os.pipe()
    env = dict(os.environ)
    env["MLE_MILESTONE_FD"] = str(write_fd)
    oom_before = oom_kills()
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-u", "-c", BOOTSTRAP, os.path.join(ctl, "program.py")],
        cwd=config["cwd"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(write_fd,),
        start_new_session=True,  # its own process group, so a kill reaches its children
    )
    os.close(write_fd)
    out, err, milestones, threads = capture(child, read_fd, started)
    timed_out = False
    try:
        child.wait(timeout=config["time_limit"])
    except subprocess.TimeoutExpired:
        timed_out = True
    duration = time.monotonic() - started
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)  # also ends grandchildren that outlived it
    child.wait()
    for t in threads:
        t.join(timeout=2)

    code = child.returncode
    oom_after = oom_kills()
    stderr_text = err.text()
    oom = (oom_after > oom_before >= 0) or (
        not timed_out and code != 0 and "MemoryError" in stderr_text[-4000:]
    )
    result = report(code, duration, timed_out, oom, milestones, out, stderr_text, err.total)
    sys.stdout.write("\n" + token + " " + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
