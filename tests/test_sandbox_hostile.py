"""Hostile programs against the sandbox, cold and warm: each step ends with a normal result
that records the program's fault as the program's (never a sandbox error), with nothing left
on the host's disk and no container left behind. Real containers, real programs."""

from __future__ import annotations

import contextlib
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from mle_gym.sandbox import RunRequest, SandboxError
from mle_gym.sandbox.docker_backend import SESSION_LABEL

pytestmark = pytest.mark.docker

BACKENDS = ["docker", "docker-warm"]
COPY_SAMPLE = (
    "import os, shutil\n"
    "shutil.copy(os.path.join(os.environ['MLE_INPUT_DIR'], 'sample_submission.csv'),"
    " os.environ['MLE_SUBMISSION_PATH'])\n"
)


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A private MLE_GYM_WORKDIR: whatever a step leaves on the host's disk shows up here."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.setenv("MLE_GYM_WORKDIR", str(folder))
    return folder


@pytest.fixture(params=BACKENDS)
def sandbox(request, docker_client, workdir):
    from mle_gym.sandbox.docker_backend import DockerSandbox
    from mle_gym.sandbox.warm import WarmDockerSandbox

    made = (DockerSandbox if request.param == "docker" else WarmDockerSandbox)(client=docker_client)
    yield made
    made.close()
    # No container of this run is left once the sandbox is closed, and nothing on disk.
    session = os.environ["MLE_GYM_SESSION"]
    left = docker_client.containers.list(all=True, ignore_removed=True, filters={"label": f"{SESSION_LABEL}={session}"})
    assert not left, [c.name for c in left]
    assert list(workdir.iterdir()) == []


def run(sandbox, data, code: str, **limits):
    limits.setdefault("time_limit", 120)
    request = RunRequest(program=textwrap.dedent(code), public_dir=data.public, **limits)
    with sandbox.run(request) as result:
        text = result.submission.read_text() if result.submission else None
    return result, text


def disk_use(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


@pytest.mark.parametrize("where", ["MLE_WORKING_DIR", "submission", "/tmp", "/step"])
def test_filling_a_writable_place_is_a_failed_step_and_costs_the_host_nothing(
    sandbox, spooky_data, workdir, where
):
    target = {"submission": "os.path.dirname(os.environ['MLE_SUBMISSION_PATH'])",
              "MLE_WORKING_DIR": "os.environ['MLE_WORKING_DIR']"}.get(where, repr(where))
    seen = []

    code = COPY_SAMPLE + f"""
        chunk = b"x" * (1 << 20)
        with open(os.path.join({target}, "fill"), "wb") as f:
            for _ in range(512):  # 512 MiB: twice the limit
                f.write(chunk)
                f.flush()
    """
    # The host's step folders hold no byte of it: sample them while the step runs.
    import threading

    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(disk_use(workdir))
            stop.wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result, text = run(sandbox, spooky_data, code.replace("\n        ", "\n"),
                           disk_limit="256m", memory_limit="1g")
    finally:
        stop.set()
        watcher.join()
    assert result.sandbox_error is None
    assert result.disk_full, (result.exit_code, result.stderr[-500:])
    assert result.submission is None and text is None
    assert "disk limit (256m" in result.submission_problem
    assert "No space left on device" in result.stderr
    assert max(seen) < 16 << 20, f"the host's disk grew by {max(seen)} bytes"


def test_a_submission_is_delivered_whole(sandbox, spooky_data):
    expected = (spooky_data.public / "sample_submission.csv").read_text()
    result, text = run(sandbox, spooky_data, COPY_SAMPLE + "open('working/x', 'w').write('1')\n")
    assert result.sandbox_error is None and result.disk_full == []
    assert text == expected


def test_a_detached_writer_cannot_outlive_the_clock(sandbox, spooky_data):
    # The main process exits at once; a double-forked, detached child writes the submission
    # 3 s later. Either it is killed with the main process (no submission) or its time counts.
    code = """
        import os, shutil, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(3)
                shutil.copy(os.path.join(os.environ["MLE_INPUT_DIR"], "sample_submission.csv"),
                            os.environ["MLE_SUBMISSION_PATH"])
                os._exit(0)
            os._exit(0)
    """
    result, text = run(sandbox, spooky_data, code)
    assert result.sandbox_error is None and result.exit_code == 0
    assert text is None or result.duration >= 3.0, result.duration
    assert text is None  # the design: leftovers die when the main process exits


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGKILL"])
def test_signalling_pid_1_does_not_end_the_step(sandbox, spooky_data, signal_name):
    code = COPY_SAMPLE + f"""
import signal
try:
    os.kill(1, signal.{signal_name})
except OSError as exc:
    print("refused", exc)
print("still here")
"""
    result, text = run(sandbox, spooky_data, code)
    assert result.sandbox_error is None, result.sandbox_error
    assert result.exit_code == 0 and "still here" in result.stdout
    assert text is not None


def test_a_folder_chain_deeper_than_the_recursion_limit_goes(sandbox, spooky_data, workdir):
    code = COPY_SAMPLE + """
os.chdir(os.environ["MLE_WORKING_DIR"])
for _ in range(3000):
    os.mkdir("d")
    os.chdir("d")
open("leaf", "w").write("x")
"""
    for _ in range(2):  # warm: the second step runs in the same container, after the tidy
        result, text = run(sandbox, spooky_data, code)
        assert result.sandbox_error is None, result.sandbox_error
        assert result.exit_code == 0, result.stderr[-500:]
        assert text is not None


def test_a_locked_working_folder_goes(sandbox, spooky_data):
    code = COPY_SAMPLE + """
os.chdir("/step")
os.makedirs("working/inner/deeper")
open("working/inner/deeper/f", "w").write("x")
os.chmod("working/inner/deeper", 0)
os.chmod("working/inner", 0)
os.rename("working", "old")
os.mkdir("working")
os.chmod("working", 0)
os.chmod("old", 0)
"""
    for _ in range(2):
        result, text = run(sandbox, spooky_data, code)
        assert result.sandbox_error is None, result.sandbox_error
        assert result.exit_code == 0, result.stderr[-500:]
        assert text is not None


def test_a_step_after_close_raises(docker_client, spooky_data, workdir):
    from mle_gym.sandbox.docker_backend import DockerSandbox
    from mle_gym.sandbox.warm import WarmDockerSandbox

    for made in (DockerSandbox(client=docker_client), WarmDockerSandbox(client=docker_client)):
        result, _ = run(made, spooky_data, "print(1)")
        assert result.exit_code == 0
        made.close()
        with pytest.raises(SandboxError, match="closed"):
            run(made, spooky_data, "print(1)")
        if isinstance(made, WarmDockerSandbox):
            assert made.containers() == []
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir()
