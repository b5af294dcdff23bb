"""The rollout pool under faults: a killed container or worker, an unresponsive Docker daemon,
Ctrl-C in the middle of a batch. Every submitted job must end with exactly one result, the
others must finish normally, and no container may be left behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from mle_gym.pool import RolloutPool, StepJob
from mle_gym.sandbox.docker_backend import SESSION_LABEL
from tests.conftest import wait_for
from tests.programs import sleep_then_submit

pytestmark = pytest.mark.docker

SPOOKY = "spooky-author"
LITE = {"data": "lite", "data_seed": 0, "time_limit": 120}


def job(seconds: float, tag=None) -> StepJob:
    return StepJob(task=SPOOKY, program=sleep_then_submit(seconds), options=LITE, tag=tag)


def session_containers(client, session: str | None = None) -> list:
    session = session or os.environ["MLE_GYM_SESSION"]
    return client.containers.list(all=True, filters={"label": f"{SESSION_LABEL}={session}"},
                                  ignore_removed=True)


def running_program(client, containers) -> list:
    """The containers among ``containers`` in which an agent program runs now."""
    found = []
    for container in containers:
        try:
            processes = container.top()["Processes"] or []
        except Exception:  # removed meanwhile
            continue
        if any("/mle/ctl/program.py" in " ".join(p) for p in processes):
            found.append(container)
    return found


@pytest.mark.parametrize("sandbox", ["docker", "docker-warm"])
def test_a_killed_container_fails_its_job_only(docker_client, spooky_data, sandbox):
    with RolloutPool(backend="local", workers=2, sandbox=sandbox) as pool:
        victim = pool.submit(job(90, tag="victim"))
        others = [pool.submit(job(0.2, tag=f"short-{i}")) for i in range(3)]
        for handle in others:
            assert handle.result(timeout=300).error is None
        # Only the victim's program runs now: kill its container under it.
        target = wait_for(lambda: running_program(docker_client, session_containers(docker_client)),
                          120, "the long program to run")
        assert len(target) == 1
        target[0].kill()
        late = [pool.submit(job(0.2, tag=f"late-{i}")) for i in range(2)]
        results = list(pool.as_completed(timeout=300))
    # Nothing lost, nothing twice: the others were taken through their handles, the rest here.
    assert sorted(r.job_id for r in results) == sorted(h.id for h in [victim, *late])
    killed = victim.result()
    assert killed.error is not None and killed.error.startswith("sandbox error"), killed.error
    assert killed.reward is None and killed.info is None
    for handle in others + late:
        result = handle.result()
        assert result.error is None and result.info["valid_submission"], result.error
    assert session_containers(docker_client) == []


@pytest.mark.slow
def test_a_killed_ray_worker_fails_its_job_only(docker_client, spooky_data):
    pytest.importorskip("ray")
    from mle_gym.sandbox.gc import collect_garbage

    try:
        with RolloutPool(backend="ray", workers=2, sandbox="docker") as pool:
            victim = pool.submit(job(90, tag="victim"))
            wait_for(lambda: victim.running(), 120, "the long job to start")
            executor = next(e for e in pool._executors if e.name == victim.worker)
            import ray

            pid = int(ray.get(executor.actor.where.remote(), timeout=60).rsplit(":", 1)[1])
            others = [pool.submit(job(0.2, tag=f"short-{i}")) for i in range(3)]
            wait_for(lambda: running_program(docker_client, session_containers(docker_client)),
                     120, "the long program to run")
            os.kill(pid, signal.SIGKILL)
            late = [pool.submit(job(0.2, tag=f"late-{i}")) for i in range(2)]
            results = list(pool.as_completed(timeout=300))
        assert len(results) == 6
        assert victim.result().error is not None
        for handle in others + late:
            assert handle.result().error is None, handle.result().error
    finally:
        # The dead actor's container has no owner now: exactly what gc is for.
        collect_garbage(docker_client, session=os.environ["MLE_GYM_SESSION"])
    assert session_containers(docker_client) == []


def dockerd_pid() -> int:
    if os.environ.get("DOCKER_HOST", "unix://").split("://")[0] not in ("unix", ""):
        pytest.skip("the engine is remote: cannot pause its daemon from here")
    found = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout.split()
    if not found:
        pytest.skip("no local dockerd process to pause")
    pid = int(found[0])
    try:
        os.kill(pid, 0)
    except PermissionError:
        pytest.skip("not allowed to signal dockerd (run as root to test an unresponsive daemon)")
    return pid


@pytest.mark.slow
def test_an_unresponsive_daemon_delays_but_loses_nothing(docker_client, spooky_data):
    """SIGSTOP freezes dockerd (the containers keep running); SIGCONT thaws it."""
    pid = dockerd_pid()
    with RolloutPool(backend="local", workers=2, sandbox="docker") as pool:
        first = [pool.submit(job(3, tag=f"first-{i}")) for i in range(4)]
        wait_for(lambda: pool.running == 2, 120, "two jobs to run")
        time.sleep(1.0)
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(8.0)
        finally:
            os.kill(pid, signal.SIGCONT)
        after = [pool.submit(job(0.2, tag=f"after-{i}")) for i in range(2)]
        results = list(pool.as_completed(timeout=600))
    assert len(results) == len(first) + len(after)
    # The freeze costs time, not jobs: every one ends with a result, and those submitted
    # after the daemon came back succeed.
    for handle in first:
        result = handle.result()
        assert result.error is None or "sandbox error" in result.error, result.error
    for handle in after:
        assert handle.result().error is None, handle.result().error
    assert session_containers(docker_client) == []


INTERRUPTED_BATCH = textwrap.dedent("""
    import json, sys
    from mle_gym.pool import RolloutPool, StepJob
    program = open(sys.argv[2]).read()
    handles = []
    try:
        with RolloutPool(backend="local", workers=2, sandbox=sys.argv[1]) as pool:
            for i in range(6):
                handles.append(pool.submit(StepJob(task="spooky-author", program=program,
                               options={"data": "lite", "time_limit": 120}, tag=i)))
            print("SUBMITTED", flush=True)
            for result in pool.as_completed():
                print("RESULT", result.job_id, result.error, flush=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    report = [{"id": h.id, "done": h.done(),
               "error": h.result(0).error if h.done() else "not done"} for h in handles]
    print("REPORT " + json.dumps(report), flush=True)
""")


@pytest.mark.parametrize("sandbox", ["docker", "docker-warm"])
def test_ctrl_c_cancels_the_batch_and_leaves_no_container(docker_client, spooky_data, tmp_path,
                                                          sandbox):
    session = f"fault-ctrl-c-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, MLE_GYM_SESSION=session, MLE_GYM_WORKDIR=str(tmp_path))
    program = tmp_path / "program.py"
    program.write_text(sleep_then_submit(60))
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_BATCH, sandbox, str(program)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout.readline().strip() == "SUBMITTED"
        wait_for(lambda: running_program(docker_client, session_containers(docker_client, session)),
                 180, "a program to run")
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        took = time.monotonic() - interrupted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert "INTERRUPTED" in out
    assert took < 45, f"took {took:.0f} s to stop after Ctrl-C"
    report = json.loads(next(line for line in out.splitlines() if line.startswith("REPORT "))[7:])
    assert len(report) == 6 and all(r["done"] for r in report), report
    assert all(r["error"] in (None, "cancelled") for r in report), report
    assert sum(r["error"] == "cancelled" for r in report) >= 4  # only two could have run
    assert session_containers(docker_client, session) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("mle-step-", "mle-warm-"))]
    shutil.rmtree(tmp_path, ignore_errors=True)


HOST_STEP = textwrap.dedent("""
    import sys
    from mle_gym.data import prepare
    from mle_gym.sandbox import RunRequest, make_sandbox
    sandbox = make_sandbox(sys.argv[1])
    request = RunRequest(program="import time; time.sleep(300)", time_limit=600,
                         public_dir=prepare("spooky-author", "lite", seed=0).public)
    print("running", flush=True)
    with sandbox.run(request) as result:
        print(result)
""")
SWEEPER = textwrap.dedent("""
    import threading
    from mle_gym.sandbox.docker_backend import DockerSandbox
    DockerSandbox()
    for thread in threading.enumerate():
        if thread.name == "mle-sandbox-sweep":
            thread.join(120)
""")


@pytest.mark.parametrize("sandbox", ["docker", "docker-warm"])
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_a_host_killed_mid_step_leaves_nothing(docker_client, spooky_data, tmp_path, sandbox, sig):
    """SIGTERM (docker stop, Kubernetes, Slurm) removes the process's containers and step
    folders at once; after SIGKILL the containers stop by themselves (their stdin closes) and
    the next sandbox made on the machine removes them and the folders."""
    session = f"kill-{uuid.uuid4().hex[:8]}"
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, MLE_GYM_SESSION=session, MLE_GYM_WORKDIR=str(work))
    host = subprocess.Popen([sys.executable, "-c", HOST_STEP, sandbox], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout.readline().strip() == "running"
        wait_for(lambda: running_program(docker_client, session_containers(docker_client, session)),
                 120, "the program to run")
        assert list(work.iterdir())
        host.send_signal(getattr(signal, sig))
        assert host.wait(timeout=60) == -getattr(signal, sig)
        if sig == "SIGKILL":
            wait_for(lambda: all(c.status == "exited"
                                 for c in session_containers(docker_client, session)),
                     60, "the orphaned container to stop by itself")
            subprocess.run([sys.executable, "-c", SWEEPER], env=env, check=True, timeout=180)
        wait_for(lambda: not session_containers(docker_client, session), 60,
                 "the containers to be removed")
        wait_for(lambda: not list(work.iterdir()), 60, "the step folders to be removed")
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        for container in session_containers(docker_client, session):
            container.remove(force=True)
