"""`mle-gym sandbox doctor` and `mle-gym sandbox gc`, against the real engine."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mle_gym.sandbox.base import OWNER_FILE
from mle_gym.sandbox.docker_backend import LABEL, SESSION_LABEL
from mle_gym.sandbox.gc import PID_LABEL, collect_garbage, owner_alive, parse_age

CLI = [sys.executable, "-m", "mle_gym.cli"]
# conftest.py sets it for this run; containers made here carry it, as step containers do.
SESSION = os.environ["MLE_GYM_SESSION"]


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def labelled_container(client, name: str, pid: int):
    """A sleeping container with the labels a step container carries."""
    from mle_gym.sandbox.image import image_tag

    container = client.containers.create(
        image_tag(),
        command=["python3", "-c", "import time; time.sleep(300)"],
        labels={LABEL: name, SESSION_LABEL: SESSION, PID_LABEL: str(pid)},
        network_mode="none",
        detach=True,
    )
    container.start()
    return container


def exists(client, container) -> bool:
    return bool(client.containers.list(all=True, ignore_removed=True, filters={"id": container.id}))


def step_folder(base: Path, name: str, pid: int | None) -> Path:
    folder = base / name
    (folder / "step" / "submission").mkdir(parents=True)
    (folder / "step" / "submission" / "submission.csv").write_text("id\n")
    if pid is not None:
        (folder / OWNER_FILE).write_text(str(pid))
    return folder


def test_owner_alive_sees_dead_and_recycled_pids():
    assert owner_alive(os.getpid())
    assert not owner_alive(dead_pid())
    # This process started before now: alive. Something made before it started: not its.
    assert owner_alive(os.getpid(), since=time.time())
    assert not owner_alive(os.getpid(), since=time.time() - 10 * 365 * 86400)


def test_parse_age():
    assert parse_age("90") == 90 and parse_age("30m") == 1800 and parse_age("2h") == 7200
    assert parse_age("1d") == 86400 and parse_age(None) is None
    with pytest.raises(ValueError, match="30m"):
        parse_age("soon")


def test_doctor_fails_with_advice_when_the_engine_is_missing(tmp_path):
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/missing.sock")
    proc = subprocess.run([*CLI, "sandbox", "doctor"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert "FAIL  engine reachable" in proc.stdout
    assert "start it: sudo scripts/start-docker.sh" in proc.stdout
    proc = subprocess.run([*CLI, "sandbox", "doctor", "--json"], env=env, capture_output=True,
                          text=True, timeout=120)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["ok"] is False
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert status["docker SDK"] == "OK" and status["engine reachable"] == "FAIL"
    assert status["container lockdown"] == "SKIP" and status["cache writable"] == "OK"


@pytest.mark.docker
def test_doctor_passes_on_a_working_engine(docker_client):
    proc = subprocess.run([*CLI, "sandbox", "doctor", "--json"], capture_output=True, text=True,
                          timeout=240)
    report = json.loads(proc.stdout)
    failed = [c for c in report["checks"] if c["status"] != "OK"]
    # Other runs on a shared engine may leave orphans; everything else must pass.
    assert [c["name"] for c in failed] in ([], ["orphaned containers"]), failed
    assert proc.returncode == (0 if not failed else 1)
    details = {c["name"]: c["detail"] for c in report["checks"]}
    assert "non-root" in details["container lockdown"]
    assert "stopped" in details["memory limit"]


@pytest.mark.docker
def test_gc_removes_orphans_and_keeps_live_ones(docker_client, tmp_path):
    dead = dead_pid()
    orphan = labelled_container(docker_client, "mle-step-orphan", dead)
    live = labelled_container(docker_client, "mle-step-live", os.getpid())
    try:
        gone_folder = step_folder(tmp_path, "mle-step-gone", dead)
        live_folder = step_folder(tmp_path, "mle-step-mine", os.getpid())
        orphan_folder = step_folder(tmp_path, "mle-step-orphan", None)  # owner: its container
        unknown = step_folder(tmp_path, "mle-warm-unknown", None)
        other = tmp_path / "not-a-step"
        other.mkdir()

        # A dry run names the garbage and touches nothing.
        report = collect_garbage(docker_client, dry_run=True, session=SESSION, dirs=[tmp_path])
        names = {i.name.split(" ")[0] for i in report.garbage}
        assert orphan.name in names and live.name not in names
        assert exists(docker_client, orphan) and gone_folder.exists()
        proc = subprocess.run([*CLI, "sandbox", "gc", "--dry-run"], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0 and f"would remove   container {orphan.name}" in proc.stdout

        report = collect_garbage(docker_client, session=SESSION, dirs=[tmp_path])
        assert not exists(docker_client, orphan)
        assert exists(docker_client, live)
        assert not gone_folder.exists() and not orphan_folder.exists()
        assert live_folder.exists() and unknown.exists() and other.exists()
        assert all(i.removed for i in report.garbage)

        # Age alone makes anything garbage: the live container, the ownerless folder.
        time.sleep(1.5)
        collect_garbage(docker_client, older_than=1, session=SESSION, dirs=[tmp_path])
        assert not exists(docker_client, live) and not unknown.exists()
        assert other.exists()
    finally:
        for container in (orphan, live):
            if exists(docker_client, container):
                container.remove(force=True)


def test_gc_does_not_trust_a_recycled_pid(tmp_path):
    late = subprocess.Popen(["sleep", "60"])
    try:
        mine = step_folder(tmp_path, "mle-step-new", late.pid)
        old = step_folder(tmp_path, "mle-step-old", late.pid)
        an_hour_ago = time.time() - 3600
        # Made an hour before `late` started: its owner was another process with that pid.
        os.utime(old / OWNER_FILE, (an_hour_ago, an_hour_ago))
        collect_garbage(None, dirs=[tmp_path])
        assert mine.exists() and not old.exists()
    finally:
        late.kill()
        late.wait()


GC_AS_USER = """
import ctypes, os, sys
from pathlib import Path
if os.getuid() == 0:  # act as a plain user: no overriding of file permissions
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.capget(header, data) == 0
    data[0] &= ~((1 << 1) | (1 << 2) | (1 << 3))  # DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER
    assert libc.capset(header, data) == 0
    try:
        os.listdir(sys.argv[2])
        sys.exit("could not drop the file permission capabilities")
    except PermissionError:
        pass
from mle_gym.sandbox.gc import collect_garbage, format_report
print(format_report(collect_garbage(None, dirs=[Path(sys.argv[1])])))
"""


def test_gc_removes_locked_deep_folders_of_dead_owners_as_a_plain_user():
    """A folder a program locked (mode 000), a chain deeper than the recursion limit, and an
    owner file a partial delete took: the owner is in the folder's name, and gc (run as a
    plain user, as users do) removes it all without crashing."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="gc-user-"))
    folder = base / f"mle-step-{dead_pid()}-{int(time.time()) - 5}-abc"
    (folder / "step" / "working" / "locked").mkdir(parents=True)
    (folder / "step" / "working" / "locked" / "f").write_text("x")
    deep = folder / "step" / "working"
    fd = os.open(deep, os.O_RDONLY)
    for _ in range(3000):  # relative to an open folder: the full path is past PATH_MAX
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    alive = base / f"mle-step-{os.getpid()}-{int(time.time())}-live"
    alive.mkdir()
    os.chmod(folder / "step" / "working" / "locked", 0)
    os.chmod(folder / "step", 0o500)  # no write: its entries cannot go until it is unlocked
    try:
        done = subprocess.run(
            [*CLI[:1], "-c", GC_AS_USER, str(base), str(folder / "step" / "working" / "locked")],
            capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "removed 1 item(s)" in done.stdout, done.stdout
        assert not folder.exists()
        assert alive.exists()  # its owner (this process) is alive
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(base)], check=False)
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_gc_session_option_limits_what_goes(docker_client, tmp_path):
    other = f"other-{os.getpid()}"
    mine = labelled_container(docker_client, "mle-step-mine", dead_pid())
    theirs = docker_client.containers.create(
        mine.image.id, command=["python3", "-c", "import time; time.sleep(300)"],
        labels={LABEL: "mle-step-theirs", SESSION_LABEL: other, PID_LABEL: str(dead_pid())},
        network_mode="none", detach=True,
    )
    try:
        done = subprocess.run([*CLI, "sandbox", "gc", "--session", SESSION],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert not exists(docker_client, mine)
        assert exists(docker_client, theirs)
    finally:
        for container in (mine, theirs):
            with contextlib.suppress(Exception):
                container.remove(force=True)
