"""The rollout pool: completion order, bounded concurrency, back-pressure, cancellation, and
errors as results. Real containers, real grading; the Ray backend against a local cluster."""

from __future__ import annotations

import functools
import os
import threading
import time

import pytest

from mle_gym.pool import PoolFull, RolloutPool, StepJob
from mle_gym.sandbox.docker_backend import SESSION_LABEL, DockerSandbox
from tests import programs
from tests.conftest import IN_CI, SPOOKY, wait_for

pytestmark = pytest.mark.docker

LITE = {"data": "lite", "data_seed": 0, "time_limit": 60}


def sleeper(seconds: float) -> str:
    return f"import time\ntime.sleep({seconds})\nprint('slept {seconds}')\n"


def job(program: str, tag=None, **options) -> StepJob:
    return StepJob(task=SPOOKY, program=program, options={**LITE, **options}, tag=tag)


def our_containers(client) -> list[dict]:
    """Step containers this test process started (cold or warm), running or not, as the
    engine lists them (one call, so a container removed meanwhile cannot break it)."""
    filters = {
        "label": [
            f"{SESSION_LABEL}={os.environ['MLE_GYM_SESSION']}",
            f"org.mle-gym.host-pid={os.getpid()}",
        ]
    }
    return client.api.containers(all=True, filters=filters)


def test_results_arrive_in_completion_order(docker_client, spooky_data):
    with RolloutPool(workers=2, sandbox="docker-warm") as pool:
        # Warm both slots first, so container start-up does not blur the order below.
        list(pool.as_completed([pool.submit(job("print(1)")) for _ in range(2)]))
        slow = pool.submit(job(sleeper(4), tag="slow"))
        fast = pool.submit(job(sleeper(0.2), tag="fast"))
        results = list(pool.as_completed())
    assert [r.job.tag for r in results] == ["fast", "slow"]
    assert [r.order for r in results] == [2, 3]
    assert fast.result().order < slow.result().order
    by_tag = {r.job.tag: r for r in results}
    assert by_tag["slow"].duration >= 4.0 > by_tag["fast"].duration >= 0.2
    for r in results:
        assert r.error is None and r.info["exit_code"] == 0 and r.reward is not None
        assert "slept" in r.info["stdout_tail"]
        assert r.wall_time >= r.duration
    assert our_containers(docker_client) == []  # the pool's warm containers left with it


def test_concurrency_is_bounded_and_every_job_gets_a_result(docker_client, spooky_data):
    peak = {"containers": 0, "running": 0}
    stop = threading.Event()

    def programs_running() -> int:
        """Containers in which an agent program runs now (not those started ahead, which
        wait for their step with no program in them)."""
        count = 0
        for info in our_containers(docker_client):
            if info["State"] != "running":
                continue
            try:
                processes = docker_client.api.top(info["Id"])["Processes"] or []
            except Exception:  # removed meanwhile
                continue
            count += any("/mle/ctl/program.py" in " ".join(p) for p in processes)
        return count

    def watch(pool: RolloutPool) -> None:
        while not stop.is_set():
            peak["containers"] = max(peak["containers"], programs_running())
            peak["running"] = max(peak["running"], pool.running)
            time.sleep(0.1)

    with RolloutPool(workers=2, sandbox="docker", max_pending=64) as pool:
        watcher = threading.Thread(target=watch, args=(pool,))
        watcher.start()
        handles = [pool.submit(job(sleeper(1.5), tag=i)) for i in range(6)]
        results = list(pool.as_completed())
        stop.set()
        watcher.join()
    assert sorted(r.job.tag for r in results) == list(range(6))
    assert [r.order for r in results] == list(range(6))
    assert all(h.done() and h.result().error is None for h in handles)
    assert 1 <= peak["containers"] <= 2, peak
    assert peak["running"] == 2, peak
    assert our_containers(docker_client) == []


def test_submit_blocks_or_refuses_when_the_queue_is_full(spooky_data):
    with RolloutPool(workers=1, sandbox="docker-warm", max_pending=2) as pool:
        first = pool.submit(job(sleeper(3)))
        wait_for(first.running, 60, "the first job to run")
        queued = [pool.submit(job("print('queued')")) for _ in range(2)]
        assert pool.pending == 2
        with pytest.raises(PoolFull):
            pool.submit(job("print(1)"), block=False)
        started = time.monotonic()
        with pytest.raises(PoolFull):
            pool.submit(job("print(1)"), timeout=0.5)
        assert time.monotonic() - started >= 0.5

        blocked: dict = {}
        submitter = threading.Thread(
            target=lambda: blocked.update(handle=pool.submit(job("print('late')")))
        )
        submitter.start()
        submitter.join(0.5)
        assert submitter.is_alive(), "submit should wait while max_pending jobs are queued"
        submitter.join(120)  # room appears once the first job ends and a queued one starts
        assert not submitter.is_alive()
        results = list(pool.as_completed())
    assert len(results) == 4
    assert all(r.error is None for r in results)
    assert blocked["handle"].result().info["exit_code"] == 0
    assert first.result().order == 0  # one worker: first in, first out
    assert [h.result().order for h in queued] == [1, 2]
    assert blocked["handle"].result().order == 3


def test_cancel_a_queued_and_a_running_job(docker_client, spooky_data):
    with RolloutPool(workers=1, sandbox="docker-warm") as pool:
        running = pool.submit(job(programs.INFINITE_LOOP, time_limit=120))
        queued = pool.submit(job("print('never')"))
        wait_for(running.running, 60, "the looping job to run")
        wait_for(lambda: len(our_containers(docker_client)) == 1, 60, "its container")
        time.sleep(2.0)  # the program is running in the container now
        container = our_containers(docker_client)[0]["Id"]

        assert queued.cancel()
        assert queued.result(timeout=5).error == "cancelled"
        assert queued.result().worker == ""  # never ran

        started = time.monotonic()
        assert running.cancel()
        result = running.result(timeout=60)
        assert result.error == "cancelled" and result.reward is None
        assert time.monotonic() - started < 30  # not the 120 s time limit
        assert container not in {c["Id"] for c in our_containers(docker_client)}
        assert not running.cancel()  # already ended

        after = pool.submit(job("print('after')"))
        assert after.result(timeout=120).info["exit_code"] == 0
        orders = [h.result().order for h in (queued, running, after)]
        assert list(pool.as_completed()) == []  # each was taken through its handle
    assert sorted(orders) == [0, 1, 2]
    assert our_containers(docker_client) == []


def test_failures_are_results_not_exceptions(docker_client, spooky_data):
    broken = functools.partial(DockerSandbox, image="mle-gym-sandbox:no-such-tag", build=False)
    with RolloutPool(workers=1, sandbox="docker-warm") as pool:
        crash = pool.submit(job(programs.DIES_AFTER_LOADING))
        no_task = pool.submit(StepJob(task="no-such-task", program="print(1)"))
        results = {r.job_id: r for r in pool.as_completed()}
    crashed = results[crash.id]
    assert crashed.error is None  # a crashing program is a normal, failed step
    assert crashed.reward < 0 and crashed.info["exit_code"] != 0
    assert "boom after loading" in crashed.info["stderr_tail"]
    assert "data_loaded" in crashed.info["milestones"]
    assert "no-such-task" in results[no_task.id].error and results[no_task.id].reward is None

    with RolloutPool(workers=1, sandbox=broken) as pool:
        handles = [pool.submit(job("print(1)")) for _ in range(2)]
        results = list(pool.as_completed())
    assert len(results) == 2 and all(h.done() for h in handles)
    for r in results:
        assert r.error.startswith("sandbox error: Docker failed"), r.error
        assert r.info is None and r.duration == 0.0

    with RolloutPool(workers=1) as pool, pytest.raises(TypeError, match="unknown StepJob option"):
        pool.submit(StepJob(task=SPOOKY, program="", options={"tme": 1}))
    assert our_containers(docker_client) == []


# -- the Ray backend ---------------------------------------------------------------------------

def same(a, b) -> bool:
    return a == b or (a is not None and b is not None and a == pytest.approx(b, rel=1e-9))


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray for the module (start-up is slow); actors inherit this process's
    environment, so its data cache and session label. Skipped without Ray, except in CI."""
    if IN_CI:
        import ray  # CI installs the ray extra: a missing Ray must fail there, not skip
    else:
        ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_backend_matches_the_local_backend(ray_cluster, docker_client, solutions):
    programs_by_tag = {"fast": solutions["fast"], "crash": programs.DIES_AFTER_LOADING}
    outcomes = {}
    for backend in ("local", "ray"):
        with RolloutPool(backend=backend, workers=2, sandbox="docker-warm") as pool:
            for tag, program in programs_by_tag.items():
                pool.submit(job(program, tag=tag, time_limit=900))
            outcomes[backend] = {r.job.tag: r for r in pool.as_completed(timeout=600)}
    for tag in programs_by_tag:
        local, remote = outcomes["local"][tag], outcomes["ray"][tag]
        assert local.error is None and remote.error is None, (local.error, remote.error)
        assert remote.worker.startswith("ray-")
        assert same(remote.reward, local.reward)
        assert same(remote.info["score"], local.info["score"])
        assert same(remote.private_score, local.private_score)
        assert remote.info["milestones"] == local.info["milestones"]
    assert outcomes["ray"]["fast"].info["valid_submission"]
    assert outcomes["ray"]["fast"].private_score is not None
    session = os.environ["MLE_GYM_SESSION"]
    left = docker_client.containers.list(all=True, ignore_removed=True, filters={"label": f"{SESSION_LABEL}={session}"})
    assert left == []  # the actors removed their warm containers when the pool shut down
