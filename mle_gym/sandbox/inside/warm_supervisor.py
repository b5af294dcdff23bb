"""Resident supervisor of a warm container: its PID 1, one program per request (stdlib only).

The host starts it as the container's command, with ``step_supervisor.py`` next to it (it
shares that file's milestone bootstrap and output capping, so warm and cold steps report
alike), and
talks to it over the container's stdin and stdout, which only the Docker engine can reach.
Per request line (JSON: token, program, environment, time limit) it:

1. empties ``/step/working``, ``/step/submission`` and ``/mle/ctl``, resets those folders'
   mode, extended attributes and times, and writes the program;
2. runs the program as the step supervisor does (own session, milestone pipe, capped output, time
   limit), reaping orphans as they exit, with an OOM score that makes the kernel's OOM
   killer pick the program's processes before this one;
3. kills every other process in the container (``kill(-1)``) until none is left, deletes
   what the program left in /step but its submission, empties /tmp, /dev/shm and
   /dev/mqueue, removes SysV IPC objects and checks that all of it worked;
4. writes one line ``<token> <json>`` to its stdout, then waits for the next request; it
   exits when stdin closes (the host went away).

Why a program cannot interfere, although it runs as the same user:

* Signals: the kernel delivers to a PID namespace's init only the signals it has a handler
  for, and SIGKILL/SIGSTOP never from inside. Its only handler is SIGCHLD's (a wake-up);
  Python's SIGINT handler is removed.
* Memory and files: it makes itself non-dumpable, so a same-user process can neither ptrace
  it nor open ``/proc/1/mem``, ``/proc/1/environ`` or ``/proc/1/fd/*`` (its stdin and stdout).
  The program inherits neither: it gets /dev/null and pipes.
* The token exists only in this process's memory and in the host's; the program cannot see
  the request or write the report, and the report is trusted only with the token.

If it dies anyway, the container dies with it and the host sees the stream end without a
report. Only the kernel's OOM killer can do that from inside: a program that lowers its own
OOM score back to this process's and fills the memory limit with processes smaller than
this one makes the killer choose it; the host then fails the step as out of memory.
"""

import contextlib
import ctypes
import fcntl
import json
import os
import select
import signal
import stat
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from step_supervisor import (  # noqa: E402 - copied next to this file
    Channel,
    capture,
    full_places,
    oom_kills,
    remove_tree,
    report,
    send_file,
    start_program,
    submission_check,
)

STEP = "/step"
CTL = "/mle/ctl"
PLACES = ("/tmp", "/dev/shm", "/dev/mqueue")
IPC_RMID = 0
LIBC = ctypes.CDLL(None, use_errno=True)


def empty(folder: str, keep: tuple[str, ...] = ()) -> None:
    """Delete what ``folder`` holds (never following links); what cannot go stays, and the
    callers check for it. A folder the program locked (mode 000) is unlocked first."""
    with contextlib.suppress(OSError):
        os.chmod(folder, 0o777)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.name in keep:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                remove_tree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass


def raise_oom_score(pid: int) -> None:
    """Make the OOM killer pick the program (and what it starts later) before this process.
    A program may lower it back to 0; then it can get this process killed, which the host
    reports as the step running out of memory."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/oom_score_adj", "w") as f:
        f.write("1000")


def reset(folder: str) -> None:
    """Undo what a program may have set on a folder that stays: mode, extended attributes
    (ACLs are some), times. A program running as the folder's owner may change all three."""
    with contextlib.suppress(OSError):
        os.chmod(folder, 0o777)
    with contextlib.suppress(OSError):
        for name in os.listxattr(folder, follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.removexattr(folder, name, follow_symlinks=False)
    with contextlib.suppress(OSError):
        os.utime(folder)


def other_processes() -> list[int]:
    """Pids in this container other than this one (threads are not listed in /proc)."""
    return [int(n) for n in os.listdir("/proc") if n.isdigit() and n != "1"]


def ipc_ids() -> list[tuple[str, int]]:
    """SysV IPC objects as (kind, id); the id is the second column of /proc/sysvipc/*."""
    found = []
    for kind in ("shm", "msg", "sem"):
        try:
            with open("/proc/sysvipc/" + kind) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        found += [(kind, int(row.split()[1])) for row in rows if row.strip()]
    return found


def remove_ipc() -> None:
    for kind, ident in ipc_ids():
        if kind == "shm":
            LIBC.shmctl(ident, IPC_RMID, None)
        elif kind == "msg":
            LIBC.msgctl(ident, IPC_RMID, None)
        else:
            LIBC.semctl(ident, 0, IPC_RMID)


class Supervisor:
    """Serves one request at a time from stdin, for the container's life."""

    def __init__(self) -> None:
        LIBC.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0: no ptrace, no /proc/1/{mem,fd}
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # else SIGINT would raise in here
        # SIGCHLD wakes the wait below through a self-pipe, so a child's exit is seen at once.
        self.wake_r, wake_w = os.pipe()
        for fd in (self.wake_r, wake_w):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.base_env = dict(os.environ)
        self.inbox = bytearray()  # what arrived on stdin and is not a whole request yet

    def drain(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def sleep(self, seconds: float) -> None:
        """Until a child changes state or ``seconds`` pass. If stdin ends meanwhile (the host
        went away, even killed with SIGKILL), exit at once: as PID 1, that ends the program
        and the container."""
        readable, _, _ = select.select([self.wake_r, 0], [], [], max(0.0, seconds))
        if 0 in readable:
            self.read_stdin()
        self.drain()

    def read_stdin(self) -> None:
        try:
            chunk = os.read(0, 1 << 16)
        except OSError:
            chunk = b""
        if not chunk:
            os._exit(0)
        self.inbox += chunk

    def reap(self, keep: int | None = None) -> None:
        """Collect exited children (orphans are reparented here), except ``keep``."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid == keep:
                return
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.si_pid, 0)

    def prepare(self, program: str) -> str:
        """Empty the step's folders and write the program. ``working/`` and ``submission/``
        are emptied rather than recreated (a mkdir and rmdir pair costs milliseconds on the
        host's disk); what a folder itself could carry over (mode, extended attributes and
        ACLs, times) is reset."""
        folders = [os.path.join(STEP, name) for name in ("working", "submission")]
        empty(STEP, keep=("input", "working", "submission"))
        for folder in folders:
            try:
                if not stat.S_ISDIR(os.lstat(folder).st_mode):  # a link or a file now
                    os.unlink(folder)
                    os.mkdir(folder)
            except FileNotFoundError:
                os.mkdir(folder)
            reset(folder)
            empty(folder)
        empty(CTL)
        for folder in (STEP, CTL):
            reset(folder)
        left = [os.path.join(STEP, n) for n in os.listdir(STEP)
                if n not in ("input", "working", "submission")]
        left += [os.path.join(f, n) for f in [CTL, *folders] for n in os.listdir(f)]
        if left:
            raise RuntimeError(f"could not empty the step folders of the last step: {left}")
        path = os.path.join(CTL, "program.py")
        with open(path, "w") as f:
            f.write(program)
        return path

    def tidy(self, submission_file: str) -> list[str]:
        """After the program: delete what it left in /step but its submission, which the host
        copies next. The step that made a mess pays for removing it, not the next one.
        Returns what could not be deleted."""
        empty(STEP, keep=("input", "working", "submission"))
        kept = []
        for name in ("working", "submission"):
            folder = os.path.join(STEP, name)
            if os.path.islink(folder) or not os.path.isdir(folder):
                with contextlib.suppress(OSError):
                    os.unlink(folder)  # prepare() makes a real folder again
                continue
            reset(folder)  # a mode-000 folder is listed and emptied like any other
            keep = ()
            if name == "submission":
                with contextlib.suppress(OSError):
                    if stat.S_ISREG(os.lstat(os.path.join(folder, submission_file)).st_mode):
                        keep = (submission_file,)
            empty(folder, keep=keep)
            try:
                kept += [os.path.join(folder, n) for n in os.listdir(folder) if n not in keep]
            except OSError as exc:
                kept.append(f"{folder} ({exc.strerror})")
        return kept + [os.path.join(STEP, n) for n in os.listdir(STEP)
                       if n not in ("input", "working", "submission")]

    def run(self, request: dict, received: float) -> dict:
        program = self.prepare(request["program"])
        env = dict(self.base_env)
        env.update(request["env"])
        channel = Channel(env)  # the milestone pipe and its per-step secret
        oom_before = oom_kills()
        self.drain()
        started = time.monotonic()
        child = start_program(program, request.get("cwd", STEP), env, channel)
        # Popen returns after the exec, so the program is dumpable and its /proc files are
        # writable by this user (this process's own are not: it is non-dumpable).
        raise_oom_score(child.pid)
        channel.started()
        out, err, milestones, threads = capture(child, channel, started)
        deadline = started + float(request["time_limit"])
        timed_out = False
        while True:
            self.reap(keep=child.pid)
            if child.poll() is not None:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            self.sleep(min(remaining, 1.0))
        duration = time.monotonic() - started
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)  # grandchildren that outlived it
        child.wait()
        left = self.kill_everything()
        for t in threads:
            t.join(timeout=2)
        for stream in (child.stdout, child.stderr):
            stream.close()
        code = child.returncode
        stderr_text = err.text()
        # Every program process is dead: what it wrote stays as it is now.
        submission_file = request.get("submission_file", "submission.csv")
        disk_full = full_places([STEP, *PLACES[:2]], stderr_text[-4000:])
        path = os.path.join(STEP, "submission", submission_file)
        size, problem = submission_check(path, int(request.get("max_submission", 1 << 30)))
        if disk_full:
            size = problem = None  # the step failed: no submission is graded
        step_left = self.tidy(submission_file)
        for folder in PLACES:
            empty(folder)
        if ipc_ids():
            remove_ipc()
        oom_after = oom_kills()
        oom = (oom_after > oom_before >= 0) or (
            not timed_out and code != 0 and "MemoryError" in stderr_text[-4000:]
        )
        leftovers = {
            "processes": left or other_processes(),
            "files": {p: sorted(os.listdir(p)) for p in PLACES
                      if os.path.isdir(p) and os.listdir(p)},
            "step": step_left,
            "ipc": len(ipc_ids()),
            "threads": [t.name for t in threads if t.is_alive()],
        }
        # Where a step's time went besides the program: for tuning and diagnostics.
        after = time.monotonic() - started - duration
        phases = {"before": round(started - received, 4), "after": round(after, 4)}
        return {
            **report(code, duration, timed_out, oom, milestones, out, stderr_text, err.total),
            "phases": phases,
            "oom_kill": oom_after,
            "clean": not any(leftovers.values()),
            "leftovers": leftovers,
            "disk_full": disk_full,
            "submission": size,
            "submission_problem": problem,
        }

    def kill_everything(self, seconds: float = 10.0) -> list[int]:
        """SIGKILL every other process until none is left; the pids still alive at the end."""
        give_up = time.monotonic() + seconds
        while True:
            with contextlib.suppress(ProcessLookupError):
                os.kill(-1, signal.SIGKILL)  # all but this process (pid 1 is never hit)
            self.reap()
            left = other_processes()
            if not left or time.monotonic() > give_up:
                return left
            self.sleep(0.01)

    def serve(self) -> None:
        stdout = sys.stdout.buffer
        while True:
            end = self.inbox.find(b"\n")
            if end < 0:
                self.read_stdin()  # exits when stdin ends
                continue
            line = bytes(self.inbox[:end])
            del self.inbox[: end + 1]
            if not line.strip():
                continue
            received = time.monotonic()
            request = json.loads(line)
            try:
                report = self.run(request, received)
            except Exception:  # a broken step must still answer, so the host can recycle us
                report = {"error": traceback.format_exc(limit=5)}
            stdout.write((request["token"] + " " + json.dumps(report) + "\n").encode())
            size = report.get("submission")
            if size is not None:  # the host reads it right after the report
                submission = os.path.join(STEP, "submission",
                                          request.get("submission_file", "submission.csv"))
                send_file(submission, size, stdout)
            stdout.flush()


if __name__ == "__main__":
    Supervisor().serve()
