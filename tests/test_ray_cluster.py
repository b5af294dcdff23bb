"""The Ray pool on a cluster of two nodes (Ray's own multi-node test cluster, on this
machine): workers placed on both nodes, a node removed in the middle of a batch, and every
job ending with exactly one result."""

from __future__ import annotations

import os
import textwrap
import time

import pytest

from mle_gym.pool import RolloutPool, StepJob
from mle_gym.sandbox.docker_backend import SESSION_LABEL

pytestmark = pytest.mark.docker

LITE = {"data": "lite", "data_seed": 0, "time_limit": 300}
SLEEPER = textwrap.dedent("""
    import os, shutil, time
    time.sleep({seconds})
    shutil.copy(os.path.join(os.environ["MLE_INPUT_DIR"], "sample_submission.csv"),
                os.environ["MLE_SUBMISSION_PATH"])
""")


def job(seconds: float, tag: str) -> StepJob:
    return StepJob(task="spooky-author", program=SLEEPER.format(seconds=seconds), options=LITE,
                   tag=tag)


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


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_a_batch_survives_losing_a_node(cluster, docker_client):
    from mle_gym.sandbox.gc import collect_garbage

    nodes = {n.node_id: n for n in cluster.list_all_nodes()}
    assert len(nodes) == 2
    try:
        with RolloutPool(backend="ray", workers=2, sandbox="docker",
                         actor_options={"scheduling_strategy": "SPREAD"}) as pool:
            placed = {e.name: e.node() for e in pool._executors}
            assert set(placed.values()) == set(nodes)  # one worker slot on each node
            # The worker node's slot gets a long job; the head's slot short ones meanwhile.
            head = cluster.head_node.node_id
            victim_slot = next(name for name, node in placed.items() if node != head)
            handles = [pool.submit(job(20, tag="long-0")), pool.submit(job(20, tag="long-1"))]
            wait_for(lambda: all(h.running() for h in handles), 300, "both long jobs to start")
            victim = next(h for h in handles if h.worker == victim_slot)
            survivor = next(h for h in handles if h is not victim)
            time.sleep(2.0)  # the program runs in its container on the doomed node
            cluster.remove_node(nodes[placed[victim_slot]])
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
    finally:
        # The removed node's container lost its owner: exactly what gc is for.
        collect_garbage(docker_client, session=os.environ["MLE_GYM_SESSION"])
    left = docker_client.containers.list(
        all=True, ignore_removed=True,
        filters={"label": f"{SESSION_LABEL}={os.environ['MLE_GYM_SESSION']}"})
    assert left == []
