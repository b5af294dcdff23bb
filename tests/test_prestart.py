"""Cold containers started ahead (``prestart.py``): a bounded pool per lockdown, a fresh
container for every step, the config a waiting supervisor reads never seen half written."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid

import pytest

from mle_gym.sandbox import RunRequest
from mle_gym.sandbox.base import StepFolder
from mle_gym.sandbox.docker_backend import SESSION_LABEL
from mle_gym.sandbox.prestart import PLACES
from tests.conftest import wait_for

HOSTNAME = "import os, socket\nopen(os.environ['MLE_SUBMISSION_PATH'], 'w').write(socket.gethostname())\n"
READER = """
import json, os, sys
path, stop = sys.argv[1], sys.argv[2]
reads = bad = 0
print("reading", flush=True)
while not os.path.exists(stop):
    with open(path) as f:
        text = f.read()
    reads += 1
    try:
        json.loads(text)
    except ValueError:
        bad += 1
print(reads, bad)
"""


def test_the_config_is_never_seen_half_written(tmp_path):
    """A prestarted container's supervisor reads config.json when it starts, while the host
    may be writing the step's own into it (it once read an empty file and died): the file
    is replaced whole, never truncated and rewritten."""
    (tmp_path / "ctl").mkdir()
    folder = StepFolder(RunRequest(program="", public_dir=tmp_path), tmp_path)
    folder.write_config("/step", 1.0)
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(folder.ctl / "config.json"),
                               str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "reading"
        for i in range(2000):
            folder.write_config("/step", float(i), stream=True, places=PLACES,
                                submission_file="submission.csv", max_submission=1 << 20)
        stop.touch()
        reads, bad = map(int, reader.communicate(timeout=120)[0].split())
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reads > 0
    assert bad == 0, f"{bad} of {reads} reads saw a partly written config"
    assert [p.name for p in folder.ctl.iterdir()] == ["config.json"]  # no partial file left


def run(sandbox, data, code: str, **limits):
    request = RunRequest(program=code, public_dir=data.public, **limits)
    with sandbox.run(request) as result:
        return result, (result.submission.read_text() if result.submission else None)


def containers(client, session: str) -> list:
    return client.containers.list(all=True, ignore_removed=True,
                                  filters={"label": f"{SESSION_LABEL}={session}"})


def running_a_program(container) -> bool:
    try:
        processes = container.top()["Processes"] or []
    except Exception:  # removed meanwhile
        return False
    return any("/mle/ctl/program.py" in " ".join(p) for p in processes)


@pytest.fixture
def session(monkeypatch) -> str:
    """A session label of this test's own: its containers are told apart from any other."""
    name = f"prestart-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLE_GYM_SESSION", name)
    return name


@pytest.mark.docker
def test_a_pool_of_two_waits_and_no_container_runs_two_programs(docker_client, spooky_data,
                                                                session):
    from mle_gym.sandbox.docker_backend import DockerSandbox

    sandbox = DockerSandbox(client=docker_client, prestart=2)
    try:
        seen = []
        for _ in range(4):
            result, host = run(sandbox, spooky_data, HOSTNAME)
            assert result.exit_code == 0 and host
            seen.append(host)
        assert len(set(seen)) == 4  # a fresh container every step
        sandbox.settle()
        waiting = wait_for(lambda: len(sandbox.waiting()) == 2 and sandbox.waiting(), 300,
                           "two containers started ahead")
        assert not {c.id[:12] for c in waiting} & set(seen)  # no program ran in them
        # Nothing else of this sandbox is left: the used containers are gone.
        assert {c.id for c in containers(docker_client, session)} == {c.id for c in waiting}
    finally:
        sandbox.close()
    assert containers(docker_client, session) == []


@pytest.mark.docker
def test_a_step_whose_successor_waits_starts_none_while_its_program_runs(
        docker_client, spooky_data, session):
    """With a container ready for the next step, the one this step used is replaced after
    its program ends, not while the program competes with the engine for the CPUs."""
    from mle_gym.sandbox.docker_backend import DockerSandbox

    sandbox = DockerSandbox(client=docker_client, prestart=2)
    try:
        run(sandbox, spooky_data, HOSTNAME)
        sandbox.settle()
        wait_for(lambda: len(sandbox.waiting()) == 2, 300, "two containers started ahead")
        before = {c.id for c in containers(docker_client, session)}
        outcome: list = []
        step = threading.Thread(target=lambda: outcome.append(
            run(sandbox, spooky_data, "import time\ntime.sleep(120)", time_limit=300)))
        step.start()
        try:
            busy = wait_for(lambda: [c for c in containers(docker_client, session)
                                     if running_a_program(c)], 120, "the program to run")
            sandbox.settle()  # a start decided before the token was sent has ended
            now = {c.id for c in containers(docker_client, session)}
            assert now == before  # the one running the program and the one still waiting
            assert len(busy) == 1 and busy[0].id in before
        finally:
            sandbox.interrupt()  # ends the step now
            step.join(timeout=120)
        assert outcome and outcome[0][0].sandbox_error  # it was cut short
        sandbox.settle()
        after = wait_for(lambda: len(sandbox.waiting()) == 2 and sandbox.waiting(), 300,
                         "the pool refilled after the program")
        assert busy[0].id not in {c.id for c in after}
    finally:
        sandbox.close()
    assert containers(docker_client, session) == []


PLANT = """
import os, pathlib
places = ["/step", "/tmp", "/dev/shm", os.getcwd(), os.environ.get("MLE_INPUT_DIR", "input"),
          os.path.dirname(os.environ["MLE_SUBMISSION_PATH"])]
for place in places:
    try:
        pathlib.Path(place, "planted-by-the-last-step").write_text("x")
    except OSError:
        pass
open(os.environ["MLE_SUBMISSION_PATH"], "w").write("planted")
"""
LOOK = """
import json, os, socket
places = ["/step", "/tmp", "/dev/shm", os.getcwd(), os.environ.get("MLE_INPUT_DIR", "input"),
          os.path.dirname(os.environ["MLE_SUBMISSION_PATH"])]
found = [p for p in places if os.path.exists(os.path.join(p, "planted-by-the-last-step"))]
found += [p for p in [os.environ["MLE_SUBMISSION_PATH"]] if os.path.exists(p)]
supervisors = 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        supervisors += b"step_supervisor" in open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        pass
open(os.environ["MLE_SUBMISSION_PATH"], "w").write(
    json.dumps({"host": socket.gethostname(), "found": found, "supervisors": supervisors}))
"""


@pytest.mark.docker
def test_a_program_cannot_reach_the_containers_waiting_for_later_steps(
        docker_client, spooky_data, session):
    """A container waits, already started, while an earlier step's program runs: that
    program plants files everywhere it can write, and the next step, run in the container
    that waited meanwhile, finds none of them and no other step's supervisor."""
    import json

    from mle_gym.sandbox.docker_backend import DockerSandbox

    sandbox = DockerSandbox(client=docker_client, prestart=2)
    try:
        run(sandbox, spooky_data, HOSTNAME)
        sandbox.settle()
        waited = {c.id[:12] for c in wait_for(lambda: len(sandbox.waiting()) == 2 and
                                              sandbox.waiting(), 300, "two containers ahead")}
        planted, text = run(sandbox, spooky_data, PLANT)
        assert planted.exit_code == 0 and text == "planted"
        looked, text = run(sandbox, spooky_data, LOOK)
        seen = json.loads(text)
        assert seen["host"] in waited  # started before the planting program ran
        assert seen["found"] == [] and seen["supervisors"] == 1  # only its own
    finally:
        sandbox.close()
    assert containers(docker_client, session) == []


@pytest.mark.docker
def test_prestart_depth_must_be_positive(docker_client):
    from mle_gym.sandbox.prestart import Prestarter

    with pytest.raises(ValueError, match="at least 1"):
        Prestarter(docker_client, "unused", "1000:1000", depth=0)


def test_the_step_supervisor_sees_a_program_end_and_a_time_limit():
    """``exited`` (the step supervisor's wait for the program: a blocking wait in a thread,
    not ``Popen.wait(timeout)``'s polling) says whether the child ended within the limit."""
    from mle_gym.sandbox.inside.step_supervisor import exited

    quick = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    assert exited(quick, 120)
    assert quick.returncode == 3
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        assert not exited(slow, 0.2)
        assert slow.poll() is None
    finally:
        slow.kill()
    assert slow.wait(timeout=60) != 0  # a second wait alongside the thread's is fine
