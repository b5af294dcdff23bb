"""The Ray pool on a cluster of two nodes (Ray's own multi-node test cluster, on this
machine): workers placed on both nodes, a node removed in the middle of a batch, and every
job ending with exactly one result; then the same for the async trainer's rollouts (its
loop and pool backend, with a policy that picks among programs of mixed durations)."""

from __future__ import annotations

import os
import time

import pytest

from baselines.async_loop import AsyncLoop, Lane, PoolBackend, Sample
from mle_gym.pool import JobHandle, RolloutPool, StepJob
from mle_gym.sandbox.docker_backend import SESSION_LABEL
from tests.conftest import SPOOKY, wait_for
from tests.programs import sleep_then_submit

pytestmark = pytest.mark.docker

LITE = {"data": "lite", "data_seed": 0, "time_limit": 300}
SPREAD = {"scheduling_strategy": "SPREAD"}


def job(seconds: float, tag: str) -> StepJob:
    return StepJob(task=SPOOKY, program=sleep_then_submit(seconds), options=LITE, tag=tag)


@pytest.fixture
def cluster(spooky_data):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    # Two nodes of two CPUs: a worker slot takes one, so after one node goes the other
    # still has room for the replacement of the actor that died with it.
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    made.add_node(num_cpus=2)
    made.wait_for_nodes()
    ray.init(address=made.address)
    try:
        yield made
    finally:
        ray.shutdown()
        made.shutdown()


@pytest.fixture
def no_container_left(docker_client):
    """After the test, the removed node's containers (they lost their owner: exactly what gc
    is for) are collected, and none of this run's containers is left."""
    from mle_gym.sandbox.gc import collect_garbage

    session = os.environ["MLE_GYM_SESSION"]
    yield
    collect_garbage(docker_client, session=session)
    left = docker_client.containers.list(
        all=True, ignore_removed=True, filters={"label": f"{SESSION_LABEL}={session}"})
    assert left == []


def spread_slots(cluster, pool: RolloutPool) -> tuple[str, object]:
    """Check the pool's two slots sit one on each node; the worker node's slot and node."""
    nodes = {n.node_id: n for n in cluster.list_all_nodes()}
    assert len(nodes) == 2
    placed = {e.name: e.node() for e in pool._executors}
    assert set(placed.values()) == set(nodes)  # one worker slot on each node
    head = cluster.head_node.node_id
    slot = next(name for name, node in placed.items() if node != head)
    return slot, nodes[placed[slot]]


def test_a_batch_survives_losing_a_node(cluster, no_container_left):
    with RolloutPool(backend="ray", workers=2, sandbox="docker", actor_options=SPREAD) as pool:
        victim_slot, victim_node = spread_slots(cluster, pool)
        # The worker node's slot gets a long job; the head's slot short ones meanwhile.
        handles = [pool.submit(job(20, tag="long-0")), pool.submit(job(20, tag="long-1"))]
        wait_for(lambda: all(h.running() for h in handles), 300, "both long jobs to start")
        victim = next(h for h in handles if h.worker == victim_slot)
        survivor = next(h for h in handles if h is not victim)
        time.sleep(2.0)  # the program runs in its container on the doomed node
        cluster.remove_node(victim_node)
        later = [pool.submit(job(0.1, tag=f"after-{i}")) for i in range(3)]
        results = list(pool.as_completed(timeout=600))
    # Every job ends exactly once: nothing lost with the node, nothing run twice.
    submitted = [*handles, *later]
    assert sorted(r.job_id for r in results) == sorted(h.id for h in submitted)
    lost = victim.result()
    assert lost.error is not None and "died" in lost.error, lost.error
    assert survivor.result().error is None and survivor.result().info["valid_submission"]
    for handle in later:
        result = handle.result()
        assert result.error is None and result.info["valid_submission"], result.error


# The policy's choices: seconds each program sleeps before writing a valid submission. "long"
# only ends the run: it is still running when the run closes, which must cancel it.
SECONDS = {"fast": 0.2, "medium": 2.0, "slow": 20.0, "long": 120.0}


class RecordingPool(RolloutPool):
    """The pool, keeping a handle on every job submitted, to read its completion order."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.submitted: list[JobHandle] = []

    def submit(self, job: StepJob, *args, **kwargs) -> JobHandle:
        handle = super().submit(job, *args, **kwargs)
        self.submitted.append(handle)
        return handle


def test_async_rollouts_survive_losing_a_node(cluster, no_container_left):
    """The async trainer's loop (baselines/async_loop.py) over a Ray pool on two nodes: real
    steps taken in completion order, a node removed while a program runs on it, every
    generated sample ending exactly once (consumed with a result or an error, or cancelled
    when the run closes), none consumed more than k policy versions late."""
    k = 2
    forced: dict[str, str | None] = {"action": None}  # None: the policy's own choice
    generated: list[int] = []
    loop: AsyncLoop

    def generate(lane: Lane, version: int, new_episode: bool) -> Sample:
        generated.append(version)
        # A two-action policy by lane: one lane's fast programs overtake the other's.
        action = forced["action"] or ("medium", "fast")[lane.index % 2]
        program = sleep_then_submit(SECONDS[action]) + f"# sample {len(generated)}\n"  # one each
        return Sample(id=-1, version=version, lane=lane.index, program=program, action=action)

    def only(action: str) -> bool:
        return len(loop.outstanding) == 2 and all(
            s.action == action for s in loop.outstanding.values())

    def run_until(action: str) -> None:
        """Batches (and updates) until both lanes run ``action``, forced from now on; the
        last batch's update is not applied, so nothing outstanding is overdue yet."""
        forced["action"] = action
        for _ in range(6):  # a batch frees at least one lane, and both after an overdue wait
            loop.next_batch()
            if only(action):
                return
            loop.advance()
        pytest.fail(f"the lanes never both ran {action!r}: {list(loop.outstanding.values())}")

    with RecordingPool(backend="ray", workers=2, sandbox="docker", actor_options=SPREAD) as pool:
        _, victim_node = spread_slots(cluster, pool)
        backend = PoolBackend(pool, SPOOKY, LITE)
        loop = AsyncLoop(backend, generate, lanes=2, batch_size=1, max_staleness=k)
        try:
            for _ in range(4):
                loop.next_batch()
                loop.advance()
            # Both lanes on slow programs, one per slot; then the worker node goes.
            run_until("slow")
            loop.advance()
            wait_for(lambda: pool.running == 2, 300, "both slow programs to start")
            time.sleep(2.0)  # one runs in its container on the doomed node
            cluster.remove_node(victim_node)
            forced["action"] = None
            for _ in range(4):
                loop.next_batch()
                loop.advance()
            run_until("long")  # the run ends with long programs running
            left = dict(loop.outstanding)
        finally:
            loop.close()  # cancels what the run still has running
        rest = list(pool.as_completed(timeout=300))  # what the run did not take itself

    consumed = [s.id for s in loop.consumed]
    assert len(consumed) == len(set(consumed))  # none twice
    assert sorted([*consumed, *left]) == list(range(loop.generated))  # none lost
    # Each sample was one job of this run; the ones left running were cancelled at close.
    jobs = {h.job.program: h for h in pool.submitted}
    assert len(jobs) == len(pool.submitted) == loop.generated
    assert all(h.job.tag[0] == backend.run_id for h in pool.submitted)
    assert sorted(r.job.program for r in rest) == sorted(s.program for s in left.values())
    assert left and all(r.error == "cancelled" for r in rest), [r.error for r in rest]
    # Taken in the pool's completion order (its numbering), not the order of generation.
    orders = [jobs[s.program].result().order for s in loop.consumed]
    assert orders == sorted(orders)
    # The lost node's program ended as an error; every other one is a real, valid step.
    (lost,) = [s for s in loop.consumed if s.error is not None]
    assert lost.action == "slow" and "died" in lost.error, lost.error
    for sample in loop.consumed:
        if sample is not lost:
            assert sample.info["valid"] and sample.duration >= SECONDS[sample.action]
    assert {s.action for s in loop.consumed} == {"fast", "medium", "slow"}
    # Staleness held through the loss: nothing consumed more than k versions late.
    assert all(0 <= s.staleness <= k for s in loop.consumed)


@pytest.mark.slow
def test_the_async_trainer_runs_its_rollouts_on_the_cluster(cluster, no_container_left, tmp_path):
    """``python -m baselines.async_grpo --backend ray --ray-address ...``: the tiny model
    trained asynchronously, every rollout a real step on the two-node cluster's pool."""
    pytest.importorskip("trl", reason="needs the train extra: pip install -e '.[train]'")
    from baselines.async_grpo import parse_args, train
    from baselines.duration_grpo import rollout_pool
    from tests.test_async_grpo import short_run_argv
    from tests.tiny_lm import torch_threads

    extra = ["--backend", "ray", "--ray-address", cluster.address, "--sandbox", "docker"]
    args = parse_args(short_run_argv(tmp_path, *extra))
    with rollout_pool(args) as pool:  # the trainers' pool: its slots on both nodes
        assert pool.backend == "ray"
        spread_slots(cluster, pool)
    with torch_threads(1):  # two threads on two busy cores are several times slower
        trainer = train(args)

    assert trainer.loop.backend.pool.backend == "ray"
    assert trainer.state.global_step == 3 and len(trainer.updates) == 3
    samples = [s for u in trainer.updates for s in u["samples"]]
    assert len(samples) >= 6 and all(s["staleness"] <= 1 for s in samples)
    ran = [s for s in samples if s["error"] is None]  # real steps, run on the cluster
    assert ran and all(s["reward"] is not None for s in ran)
