"""Warm containers: a reused container keeps nothing of the previous program, limits hold,
and scores equal the cold backend's. Real containers, real grading."""

from __future__ import annotations

import gc
import os
import shutil
import threading
import time

import gymnasium as gym
import pytest

from mle_gym.sandbox import RunRequest
from mle_gym.sandbox.docker_backend import SESSION_LABEL
from mle_gym.sandbox.warm import WARM_LABEL, WarmDockerSandbox
from tests import programs

pytestmark = pytest.mark.docker

# Leaves everything it can behind: files in every writable place, environment variables,
# a background process in its own session and a double-forked daemon.
LEAVE_TRACES = r"""
import os, subprocess
from multiprocessing import shared_memory
for path in ("working/left.txt", "/tmp/left.txt", "/dev/shm/left.txt", "/step/left.txt",
             os.environ["MLE_SUBMISSION_PATH"]):
    with open(path, "w") as f:
        f.write("id\n")
os.makedirs("working/locked/deeper")
os.chmod("working/locked", 0)
shared_memory.SharedMemory(name="left_shm", create=True, size=4096)._mmap.close()
import ctypes
assert ctypes.CDLL(None).shmget(0x4D4C45, 4096, 0o1000 | 0o600) >= 0  # a SysV segment
for folder in (".", "working", "submission"):  # extended attributes on folders that stay
    os.setxattr(folder, "user.left", b"1")
os.chmod("submission", 0o500)
os.environ["LEFT_BEHIND"] = "1"
os.putenv("LEFT_PUTENV", "1")
subprocess.Popen(["sleep", "1000"], start_new_session=True)
if os.fork() == 0:            # double fork: the grandchild is reparented, a daemon
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "1001"])
    os._exit(0)
print("TRACES LEFT")
"""

# Reports what it finds of the traces above.
LOOK_FOR_TRACES = r"""
import glob, os
found = []
for pattern in ("working/*", "submission/*", "/step/*", "/tmp/*", "/tmp/.*", "/dev/shm/*",
                "/dev/mqueue/*"):
    found += [p for p in glob.glob(pattern) if p not in ("/step/input", "/step/working",
                                                         "/step/submission")]
print("FILES", sorted(found))
print("ENV", [k for k in os.environ if k.startswith("LEFT")])
print("XATTR", [f for f in (".", "working", "submission") if os.listxattr(f)])
print("WRITABLE", all(os.access(f, os.W_OK) for f in ("working", "submission")))
print("IPC", sum(len(open(f"/proc/sysvipc/{kind}").read().splitlines()) - 1
                 for kind in ("shm", "msg", "sem")))
me, parent = os.getpid(), os.getppid()
others = []
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) not in (1, me, parent):
        try:
            others.append(open(f"/proc/{pid}/cmdline").read().replace("\0", " ").strip())
        except OSError:
            pass
print("PROCESSES", others)
"""


@pytest.fixture(scope="module")
def warm(docker_client):
    sandbox = WarmDockerSandbox(client=docker_client)
    yield sandbox
    sandbox.close()


def run(sandbox, data, code: str, **limits):
    request = RunRequest(program=code, public_dir=data.public, **limits)
    with sandbox.run(request) as result:
        return result, (result.submission.read_text() if result.submission else None)


def container_ids(sandbox) -> list[str]:
    return [c.id for c in sandbox.containers()]


def labelled(client, *labels: str) -> list:
    session = os.environ["MLE_GYM_SESSION"]  # set by conftest for this run
    filters = {"label": [f"{SESSION_LABEL}={session}", *labels]}
    return client.containers.list(all=True, filters=filters, ignore_removed=True)


def test_next_step_in_the_same_container_sees_nothing(warm, spooky_data):
    first, submission = run(warm, spooky_data, LEAVE_TRACES, time_limit=30)
    assert "TRACES LEFT" in first.stdout, (first.stdout, first.stderr[-800:])
    assert submission == "id\n"
    used = container_ids(warm)
    second, submission = run(warm, spooky_data, LOOK_FOR_TRACES, time_limit=30)
    assert container_ids(warm) == used, "the step should have reused the warm container"
    out = second.stdout
    assert "FILES []" in out, out
    assert "ENV []" in out, out
    assert "XATTR []" in out and "WRITABLE True" in out, out
    assert "IPC 0" in out, out
    assert "PROCESSES []" in out, out
    assert submission is None


def test_time_limit_and_oom_hold_and_recycle(warm, spooky_data):
    run(warm, spooky_data, "print('warm')", time_limit=30)
    before = container_ids(warm)
    started = time.monotonic()
    result, _ = run(warm, spooky_data, programs.INFINITE_LOOP, time_limit=3)
    assert result.timed_out and 3.0 <= result.duration < 5.0
    assert time.monotonic() - started < 3 + 10
    assert container_ids(warm) != before  # recycled after a timeout

    result, _ = run(warm, spooky_data, programs.MEMORY_HOG, memory_limit="256m", time_limit=60)
    assert result.oom and not result.timed_out, (result.exit_code, result.stderr[-500:])

    result, _ = run(warm, spooky_data, "print('still fine')", time_limit=30)
    assert "still fine" in result.stdout and result.exit_code == 0


def test_container_is_recycled_after_max_uses(docker_client, spooky_data):
    sandbox = WarmDockerSandbox(max_uses=2, client=docker_client)
    try:
        alive = []
        for _ in range(3):
            result, _ = run(sandbox, spooky_data, "print('ok')", time_limit=30)
            assert result.exit_code == 0 and "ok" in result.stdout
            alive.append(container_ids(sandbox))
        assert len(alive[0]) == 1
        assert alive[1] == []  # its second use was its last: removed when the step ended
        assert len(alive[2]) == 1 and alive[2] != alive[0]
    finally:
        sandbox.close()


def test_scores_equal_the_cold_backend(docker_client, docker_sandbox, solutions):
    fast = solutions["fast"]
    outcomes = {}
    for name, choice in (("cold", docker_sandbox), ("warm", "docker-warm")):
        env = gym.make("mle/spooky-author-v0", sandbox=choice, max_steps=2)
        env.reset(seed=0)
        for _ in range(2 if name == "warm" else 1):  # the second warm step reuses the container
            _, reward, _, _, info = env.step(fast)
            assert info["sandbox"] == ("docker" if name == "cold" else "docker-warm")
            outcomes.setdefault(name, []).append(
                (reward, info["score"], env.unwrapped.last_grade.private, info["milestones"],
                 info["valid_submission"])
            )
        if name == "warm":
            warm_names = {c.name for c in env.unwrapped.sandbox.containers()}
            assert len(warm_names) == 1, "the env's warm container should be alive"
        env.close()
    cold = outcomes["cold"][0]
    assert cold[4], "the fast reference program should write a valid submission"
    for warm_run in outcomes["warm"]:
        assert warm_run[:3] == pytest.approx(cold[:3], rel=1e-9)
        assert warm_run[3:] == cold[3:]
    assert not warm_names & {c.name for c in labelled(docker_client, f"{WARM_LABEL}=1")}


def test_close_and_the_finalizer_remove_every_container(docker_client, spooky_data):
    sandbox = WarmDockerSandbox(size=2, client=docker_client)
    threads = [
        threading.Thread(target=run, args=(sandbox, spooky_data, "import time; time.sleep(1)"),
                         kwargs={"time_limit": 30})
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = {c.name for c in sandbox.containers()}
    assert len(names) == 2  # two steps at once: two containers
    assert {c.name for c in labelled(docker_client, f"{WARM_LABEL}=1")} >= names
    sandbox.close()
    assert not names & {c.name for c in labelled(docker_client, f"{WARM_LABEL}=1")}

    forgotten = WarmDockerSandbox(client=docker_client)
    run(forgotten, spooky_data, "print(1)", time_limit=30)
    name = forgotten.containers()[0].name
    del forgotten
    gc.collect()
    assert name not in {c.name for c in labelled(docker_client, f"{WARM_LABEL}=1")}


# Everything a program running as the supervisor's user might try against it.
ATTACK_SUPERVISOR = r"""
import ctypes, os, signal
for path, mode in (("/proc/1/mem", "rb"), ("/proc/1/environ", "rb"), ("/proc/1/fd/0", "rb"),
                   ("/proc/1/fd/1", "wb")):
    try:
        open(path, mode).close()
        print("OPENED", path)
    except OSError as exc:
        print("DENIED", path, type(exc).__name__)
libc = ctypes.CDLL(None, use_errno=True)
print("PTRACE", libc.ptrace(16, 1, None, None))  # PTRACE_ATTACH: -1 when refused
for sig in sorted(signal.valid_signals()):
    try:
        os.kill(1, sig)
    except OSError as exc:
        print("SIGNAL", sig, type(exc).__name__)
try:
    os.kill(-1, signal.SIGKILL)  # every process but this one and PID 1
except ProcessLookupError:  # there was none
    pass
print("STILL HERE")
"""

# Prints report-shaped lines everywhere it can and exits with 7: the step must say 7.
FORGE_REPORT = r"""
import json, os, sys
fake = {"exit_code": 0, "duration": 0.001, "timed_out": False, "oom": False,
        "milestones": [["model_trained", 0.0]], "stdout": "FORGED", "stderr": "",
        "clean": True}
line = "0" * 32 + " " + json.dumps(fake) + "\n"
print(line, end="")
sys.stderr.write(line)
for path in ("/proc/1/fd/1", "/dev/stdout", "/mle/ctl/report", "/mle/ctl/token"):
    try:
        with open(path, "w") as f:
            f.write(line)
        print("WROTE", path)
    except OSError as exc:
        print("CANNOT WRITE", path, type(exc).__name__)
sys.exit(7)
"""

# Lowers its own OOM score back to the supervisor's, then fills the memory limit with many
# processes smaller than the supervisor: the kernel's OOM killer then picks the supervisor.
STARVE_SUPERVISOR = r"""
import subprocess, time
if {undo}:
    open("/proc/self/oom_score_adj", "w").write("0")
hogs = [subprocess.Popen(["sh", "-c", "(head -c 6000000 /dev/zero; sleep 100) | tail -c 6000000"])
        for _ in range(60)]
time.sleep(30)
print("the supervisor is alive")
"""


def test_the_program_can_neither_stop_nor_read_the_supervisor(warm, spooky_data):
    run(warm, spooky_data, "print('warm')", time_limit=30)
    before = container_ids(warm)
    result, _ = run(warm, spooky_data, ATTACK_SUPERVISOR, time_limit=30)
    out = result.stdout
    assert result.sandbox_error is None and result.exit_code == 0, (out, result.stderr[-800:])
    assert "OPENED" not in out and out.count("DENIED") == 4, out
    assert "PTRACE -1" in out, out
    assert "STILL HERE" in out, out
    # The supervisor ignored every signal: the step reported, the container stays in use.
    assert container_ids(warm) == before
    result, _ = run(warm, spooky_data, "print('next')", time_limit=30)
    assert result.exit_code == 0 and result.stdout == "next\n"
    assert container_ids(warm) == before


def test_a_forged_report_is_not_trusted(warm, spooky_data):
    result, _ = run(warm, spooky_data, FORGE_REPORT, time_limit=30)
    assert result.sandbox_error is None
    assert result.exit_code == 7, (result.stdout, result.stderr[-800:])
    assert result.milestones == []
    assert result.stdout.startswith("0" * 32 + " {")  # kept as the program's own output
    assert "CANNOT WRITE /proc/1/fd/1 PermissionError" in result.stdout, result.stdout
    # What it wrote to the control folder is gone before the next program starts.
    result, _ = run(warm, spooky_data, "import os; print(os.listdir('/mle/ctl'))", time_limit=30)
    assert result.stdout == "['program.py']\n", result.stdout


def test_a_supervisor_killed_for_memory_fails_the_step_as_oom(docker_client, spooky_data):
    sandbox = WarmDockerSandbox(client=docker_client)
    limits = {"memory_limit": "256m", "time_limit": 60}
    try:
        # As started, the program's processes are the OOM killer's first choice: the
        # supervisor survives and reports.
        result, _ = run(sandbox, spooky_data, STARVE_SUPERVISOR.format(undo=False), **limits)
        assert result.oom and result.sandbox_error is None
        assert result.exit_code is not None, result.stderr[-800:]
        # A program that undoes that can get the supervisor killed: an OOM failure of the
        # step (not a sandbox error), and a fresh container for the next one.
        run(sandbox, spooky_data, "print('warm')", **limits)
        before = container_ids(sandbox)
        result, _ = run(sandbox, spooky_data, STARVE_SUPERVISOR.format(undo=True), **limits)
        assert result.oom and result.sandbox_error is None and result.exit_code is None
        assert "supervisor was killed" in result.stderr
        assert container_ids(sandbox) == []
        result, _ = run(sandbox, spooky_data, "print('next')", **limits)
        assert result.exit_code == 0 and result.stdout == "next\n"
        assert container_ids(sandbox) not in ([], before)
    finally:
        sandbox.close()


def test_a_container_killed_from_outside_fails_only_its_step(warm, spooky_data):
    run(warm, spooky_data, "print('warm')", time_limit=30)
    container = warm.containers()[0]
    killer = threading.Timer(3.0, container.kill)
    killer.start()
    try:
        result, _ = run(warm, spooky_data, "import time; time.sleep(60)", time_limit=120)
    finally:
        killer.cancel()
    assert result.sandbox_error and "stopped during the step" in result.sandbox_error
    assert container.id not in container_ids(warm)
    result, _ = run(warm, spooky_data, "print('next')", time_limit=30)
    assert result.exit_code == 0 and result.stdout == "next\n"


def test_a_container_that_died_while_idle_is_replaced_before_the_step(warm, spooky_data):
    run(warm, spooky_data, "print('warm')", time_limit=30)
    container = warm.containers()[0]
    container.kill()
    container.wait(timeout=30)
    result, _ = run(warm, spooky_data, "print('after')", time_limit=30)
    assert result.sandbox_error is None and result.exit_code == 0 and result.stdout == "after\n"
    assert container.id not in container_ids(warm) and len(container_ids(warm)) == 1


DIES_WITHOUT_CLOSING = r"""
import os, sys
from mle_gym.data import prepare
from mle_gym.sandbox import RunRequest
from mle_gym.sandbox.warm import WarmDockerSandbox
sandbox = WarmDockerSandbox()
request = RunRequest(program="print(1)", public_dir=prepare("spooky-author", "lite").public)
with sandbox.run(request) as result:
    assert result.exit_code == 0, result
print(sandbox.containers()[0].id, sandbox._slots[0].root, flush=True)
os._exit(0)  # no close(), no finalizer
"""


def test_a_container_stops_when_its_host_process_dies(docker_client, spooky_data):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", DIES_WITHOUT_CLOSING], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    container_id, folder = done.stdout.split()[-2:]
    container = docker_client.containers.get(container_id)
    try:
        deadline = time.monotonic() + 30
        while container.status != "exited" and time.monotonic() < deadline:
            time.sleep(0.2)
            container.reload()
        assert container.status == "exited"  # its supervisor saw stdin close and left
    finally:
        container.remove(force=True)
        shutil.rmtree(folder, ignore_errors=True)  # `mle-gym sandbox gc` would, later
