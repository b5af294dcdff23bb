"""Step supervisor: runs one agent program inside the sandbox (standard library only).

It is copied next to the program and started as ``python step_supervisor.py <ctl-dir>`` (a cold
container's PID 1, or the local backend's child process); the warm containers' resident
supervisor imports its pieces. It:

* reads the per-step secret token from ``<ctl>/token`` and deletes the file before the
  program starts, so the program never sees it;
* runs the program in a child process whose milestone hook writes to a private pipe
  (printing a milestone name on stdout therefore earns nothing);
* keeps the head and tail of stdout and stderr, bounded in size whatever the program prints;
* kills the program's whole process group at the time limit; as a Docker container's PID 1
  it kills every other process in the container the moment the program's main process
  exits (``kill(-1)``), so the duration covers all the work a program can do: a detached
  child cannot keep writing the submission after the clock stops;
* reports one line ``<token> <json>`` on its own stdout, which the host trusts.

In a Docker container (``"stream": true`` in the config) the token arrives as the first line
of stdin (never in a file; the container may be started long before it, and reads the
program and the rest of the config only once it arrives), /step is a size-limited tmpfs the host cannot see, and the
submission travels to the host on stdout right after the report: ``size`` raw bytes, read
after every process of the program is dead. stdin closing (the host went away) ends the
container at once.
"""

import contextlib
import hmac
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

HEAD_BYTES = 8 * 1024
TAIL_BYTES = 24 * 1024

# The placeholder the instrumenters write for the milestone hook, and the names a program
# may report (mle_gym.instrument.milestones.HOOK and REPORTED; this file is stdlib only).
HOOK = "__mle_milestone__"
REPORTED = ("imports", "data_loaded", "model_defined", "model_trained", "predictions_made")
LINE_BYTES = 256  # a longer line on the milestone channel is dropped unread
MAX_RECORDS = 64

# Runs in the child before the program (issue 11: milestones cannot be forged).
# * The hook's name is random per step (``_mle_`` + 12 hex digits, as long as the
#   placeholder, so columns in tracebacks stay right) and it is a global of the program's
#   module, never a builtin: the program's own text cannot name it.
# * It records a milestone only when called from the exact source position (line and
#   columns) where the instrumenter put a call naming that milestone: holding the function,
#   however obtained, earns nothing.
# * Each record carries the step's secret, read from a pipe the supervisor closes at once; the
#   supervisor drops lines without it, so raw writes to the descriptor earn nothing. A process
#   that is not the program or its fork (a pickled copy of the hook in a spawned worker)
#   does not write: the descriptor must still be the channel's pipe.
# ``program.py`` keeps the placeholder, so a spawned worker that re-runs it as __mp_main__
# gets the prologue's no-op hook.
BOOTSTRAP = r"""
import os, sys
def _mle_boot():
    import ast, secrets, types
    from itertools import islice
    with os.fdopen(int(os.environ.pop("MLE_MILESTONE_FD")), "rb") as boot:
        fd_text, secret = boot.read(256).decode().split()
    fd = int(fd_text)
    pipe = os.fstat(fd)
    pipe = (pipe.st_dev, pipe.st_ino)
    path = sys.argv[1]
    with open(path, "rb") as f:
        source = f.read()
    name = "_mle_" + secrets.token_hex(6)
    tree = ast.parse(source.replace(b"__mle_milestone__", name.encode()), path)
    sites = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == name and node.args
                and isinstance(node.args[0], ast.Constant)):
            where = (node.lineno, node.end_lineno, node.col_offset, node.end_col_offset)
            sites[where] = node.args[0].value
    code = compile(tree, path, "exec", dont_inherit=True)
    record = (secret + " ").encode()
    seen = set()
    getframe, fstat, write = sys._getframe, os.fstat, os.write

    def hook(milestone, value=None):
        try:
            if milestone in seen:
                return value
            caller = getframe(1)
            where = caller.f_code.co_filename, caller.f_code, caller.f_lasti // 2
            caller = None
            if where[0] != path:
                return value
            site = next(islice(where[1].co_positions(), where[2], None), None)
            if not isinstance(milestone, str) or sites.get(site) != milestone:
                return value
            now = fstat(fd)
            if (now.st_dev, now.st_ino) == pipe:
                seen.add(milestone)
                write(fd, record + milestone.encode() + b"\n")
        except (OSError, TypeError, ValueError):
            pass
        return value

    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__cached__ = None
    main.__loader__ = None
    main.__spec__ = None
    main.__builtins__ = __builtins__
    setattr(main, name, hook)
    sys.modules["__main__"] = main
    sys.argv = sys.argv[1:]
    return code, main.__dict__
_mle_code, _mle_globals = _mle_boot()
del _mle_boot
exec(_mle_code, _mle_globals)
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


class Channel:
    """The milestone channel of one program: a pipe for its records, and a pipe that hands
    the child's bootstrap the record pipe's descriptor and the step's secret (read once,
    then closed; never in the environment, the command line or a file)."""

    def __init__(self, env: dict) -> None:
        import secrets

        self.secret = secrets.token_hex(16)
        self.read_fd, self.write_fd = os.pipe()
        boot_r, boot_w = os.pipe()
        os.write(boot_w, f"{self.write_fd} {self.secret}".encode())
        os.close(boot_w)
        self.boot_fd = boot_r
        env["MLE_MILESTONE_FD"] = str(boot_r)
        self.pass_fds = (self.write_fd, boot_r)

    def started(self) -> None:
        """After the child started: the parent keeps only the read end."""
        os.close(self.write_fd)
        os.close(self.boot_fd)


def read_channel(read_fd: int, secret: str, started: float, milestones: list) -> None:
    """Milestone records ``<secret> <name>``: names in REPORTED, each once, at most
    MAX_RECORDS. Lines without the secret or over LINE_BYTES are dropped, and the pipe is
    drained to its end with at most LINE_BYTES buffered, so no flood can block the program
    or grow this process."""
    prefix = (secret + " ").encode()
    line = bytearray()
    skipping = False

    def accept(raw: bytes) -> None:
        if len(milestones) >= MAX_RECORDS or not hmac.compare_digest(raw[: len(prefix)], prefix):
            return
        name = raw[len(prefix):].decode("ascii", "replace")
        if name in REPORTED and name not in {m[0] for m in milestones}:
            milestones.append([name, round(time.monotonic() - started, 4)])

    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        for chunk in iter(lambda: pipe.read(65536), b""):
            start = 0
            while start <= len(chunk):
                end = chunk.find(b"\n", start)
                piece = chunk[start:] if end < 0 else chunk[start:end]
                if not skipping:
                    line += piece
                    if len(line) > LINE_BYTES:
                        line.clear()
                        skipping = True
                if end < 0:
                    break
                if not skipping:
                    accept(bytes(line))
                line.clear()
                skipping = False
                start = end + 1


def start_program(program: str, cwd: str, env: dict, channel: Channel) -> subprocess.Popen:
    """Start ``program`` under the milestone bootstrap, its output piped for capture (step
    and warm supervisor alike)."""
    return subprocess.Popen(
        [sys.executable, "-u", "-c", BOOTSTRAP, program],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=channel.pass_fds,
        start_new_session=True,  # its own process group, so a kill reaches its children
    )


def capture(child: subprocess.Popen, channel: Channel, started: float) -> tuple:
    """Start threads collecting the child's stdout, stderr and milestones (name, seconds
    since ``started``, each name once); returns (stdout, stderr, milestones, threads)."""
    out, err = Capped(), Capped()
    milestones: list = []

    def read_milestones() -> None:
        read_channel(channel.read_fd, channel.secret, started, milestones)

    threads = [
        threading.Thread(target=pump, args=(child.stdout, out), daemon=True),
        threading.Thread(target=pump, args=(child.stderr, err), daemon=True),
        threading.Thread(target=read_milestones, daemon=True),
    ]
    for t in threads:
        t.start()
    return out, err, milestones, threads


def exited(child: subprocess.Popen, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``child`` to end; True if it did. The moment it
    ends: ``Popen.wait(timeout)`` polls with sleeps growing to 50 ms, which added 25-50 ms
    to every step longer than 0.1 s (a blocking wait in a thread wakes at once)."""
    ended = threading.Event()

    def wait() -> None:
        child.wait()
        ended.set()

    threading.Thread(target=wait, daemon=True, name="mle-child-wait").start()
    return ended.wait(timeout)


def report(
    code: int | None, duration: float, timed_out: bool, oom: bool, milestones: list,
    out: Capped, stderr_text: str, stderr_bytes: int,
) -> dict:
    """The fields the host reads from a step's report (step and warm supervisor alike)."""
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


FULL_BYTES = 256 * 1024  # a writable place with less free space than this was filled
NO_SPACE = "No space left on device"
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def remove_tree(path: str) -> None:
    """Delete ``path`` and everything under it; what cannot go stays (callers check).

    Iterative and relative to one open folder at a time, so neither a folder chain deeper than
    the recursion limit nor paths longer than PATH_MAX stop it; never follows links; gives
    every folder back to its owner (mode 0700) before entering it, so a program's mode-000
    folder does not stop it either."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
        fd = os.open(path, DIR_FLAGS)
    except OSError:
        return
    # One entry per level below ``path``: (folder name, names in it that would not go).
    levels: list[tuple[str, set]] = []
    skip: set = set()
    try:
        while True:
            sub = None
            with contextlib.suppress(OSError), os.scandir(fd) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if sub is None and entry.name not in skip:
                                sub = entry.name
                        else:
                            os.unlink(entry.name, dir_fd=fd)
                    except OSError:
                        pass
            if sub is not None:
                try:
                    with contextlib.suppress(OSError):
                        os.chmod(sub, 0o700, dir_fd=fd)  # a folder (lstat above), not a link
                    child = os.open(sub, DIR_FLAGS, dir_fd=fd)
                except OSError:
                    skip.add(sub)
                    continue
                os.close(fd)
                fd = child
                levels.append((sub, skip))
                skip = set()
                continue
            if not levels:
                break
            name, skip = levels.pop()
            parent = os.open("..", DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError:
                skip.add(name)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def full_places(places: list, stderr_tail: str = "") -> list:
    """The writable places (size-limited tmpfs mounts) the program filled: no room left now,
    or a "No space left on device" error in what the program printed last."""
    full = []
    for place in places:
        try:
            info = os.statvfs(place)
        except OSError:
            continue
        if info.f_blocks and info.f_bavail * info.f_frsize < FULL_BYTES:
            full.append(place)
    if not full and NO_SPACE in stderr_tail:
        full.append("a writable place")
    return full


def kill_others(seconds: float = 10.0) -> list:
    """As PID 1 of a container: SIGKILL every other process until none is left, reaping
    them (orphans are reparented here); returns the pids still there at the end."""
    give_up = time.monotonic() + seconds
    while True:
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)  # all but this process (pid 1 is never hit)
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        left = [int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) != os.getpid()]
        if not left or time.monotonic() > give_up:
            return left
        time.sleep(0.005)


def submission_check(path: str, limit: int) -> tuple:
    """(size, None) for a regular file of at most ``limit`` bytes at ``path``, (None, None)
    when there is none, else (None, why it is refused). Call when no program process lives."""
    try:
        info = os.lstat(path)
        folder_is_link = os.path.islink(os.path.dirname(path))
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"the submission could not be read: {exc.strerror}"
    name = os.path.basename(path)
    if folder_is_link or not stat.S_ISREG(info.st_mode):
        return None, f"submission/{name} must be a regular file, not a link or a special file"
    if info.st_size > limit:
        return None, (f"the submission is {info.st_size / 2**20:.0f} MiB; the limit is "
                      f"{limit / 2**20:.0f} MiB")
    return info.st_size, None


def send_file(path: str, size: int, out) -> None:
    """Write exactly ``size`` bytes of ``path`` to ``out`` (zeros if it shrank meanwhile)."""
    sent = 0
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            while sent < size:
                chunk = f.read(min(1 << 20, size - sent))
                if not chunk:
                    break
                out.write(chunk)
                sent += len(chunk)
    while sent < size:
        pad = min(1 << 20, size - sent)
        out.write(bytes(pad))
        sent += pad


def exit_when_stdin_closes() -> None:
    """The host holds our stdin open through the engine's attach stream; when it goes away
    (killed, even with SIGKILL) stdin ends and so does the container (PID 1 exiting kills
    every process in it)."""

    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(0, 4096):
                pass
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="mle-stdin-watch").start()


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
    # A program may signal us (as PID 1 of a container, only signals we handle arrive): with
    # Python's SIGINT handler a kill(1, SIGINT) would end the step without a report.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    ctl = sys.argv[1]
    with open(os.path.join(ctl, "config.json")) as f:
        config = json.load(f)
    stream = bool(config.get("stream"))
    init = os.getpid() == 1  # a container's PID 1: every other process in it is the program's
    if stream:
        # A prestarted container waits here: the host writes the step's program and config
        # into the read-only control folder, then sends the token.
        token = sys.stdin.buffer.readline().decode().strip()
        if not token:  # the host went away before the step began
            return 3
        exit_when_stdin_closes()
        with open(os.path.join(ctl, "config.json")) as f:
            config = json.load(f)
        for name in ("working", "submission"):  # /step is a fresh, empty tmpfs
            path = os.path.join(config["cwd"], name)
            os.mkdir(path)
            os.chmod(path, 0o777)
    else:
        token_path = os.path.join(ctl, "token")
        with open(token_path) as f:
            token = f.read().strip()
        os.unlink(token_path)

    env = dict(os.environ)
    channel = Channel(env)
    oom_before = oom_kills()
    started = time.monotonic()
    child = start_program(os.path.join(ctl, "program.py"), config["cwd"], env, channel)
    channel.started()
    out, err, milestones, threads = capture(child, channel, started)
    timed_out = not exited(child, config["time_limit"])
    duration = time.monotonic() - started
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)  # also ends grandchildren that outlived it
    child.wait()
    if init:
        kill_others()  # detached and double-forked processes too: the clock has stopped
    for t in threads:
        t.join(timeout=2)

    code = child.returncode
    oom_after = oom_kills()
    stderr_text = err.text()
    oom = (oom_after > oom_before >= 0) or (
        not timed_out and code != 0 and "MemoryError" in stderr_text[-4000:]
    )
    result = report(code, duration, timed_out, oom, milestones, out, stderr_text, err.total)
    size = None
    if stream:
        result["disk_full"] = full_places(config.get("places", []), stderr_text[-4000:])
        path = os.path.join(config["cwd"], "submission", config["submission_file"])
        size, problem = submission_check(path, int(config["max_submission"]))
        if result["disk_full"]:
            size = problem = None  # the step failed: no submission is graded
        result["submission"] = size
        result["submission_problem"] = problem
    sink = sys.stdout.buffer
    sink.write(("\n" + token + " " + json.dumps(result) + "\n").encode())
    if size is not None:
        send_file(path, size, sink)
    sink.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
