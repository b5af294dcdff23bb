"""Taking results from the pool: each result is delivered once (``as_completed`` with or
without handles, or the job's handle), a caller who stops early loses nothing, results are
told apart by identity (never by ``==`` on their tags), and the async trainer's backend takes only its own run's results
from a pool it shares. The local sandbox runs the programs: this is the pool's queue, not
isolation."""

from __future__ import annotations

import functools

import numpy as np

from baselines.async_loop import PoolBackend, Sample
from mle_gym.pool import RolloutPool, StepJob
from mle_gym.sandbox.local import LocalSandbox
from tests.conftest import SPOOKY, wait_for

LITE = {"data": "lite", "data_seed": 0, "time_limit": 60}
LOCAL = functools.partial(LocalSandbox, warn=False)


def job(tag=None) -> StepJob:
    return StepJob(task=SPOOKY, program="print('hi')", options=LITE, tag=tag)


def test_a_result_taken_with_its_handle_is_not_yielded_again(spooky_data):
    with RolloutPool(workers=1, sandbox=LOCAL) as pool:
        # Tags whose == is elementwise (bool() of it raises): the bookkeeping must not care.
        first = pool.submit(job(tag=np.array([1, 2])))
        second = pool.submit(job(tag=np.array([3, 4])))
        second.result(timeout=120)
        assert [r.job_id for r in pool.as_completed([second], timeout=120)] == [second.id]
        rest = [r.job_id for r in pool.as_completed(timeout=120)]
    assert rest == [first.id]


def test_stopping_early_leaves_the_other_results_to_take(spooky_data):
    with RolloutPool(workers=1, sandbox=LOCAL) as pool:
        handles = [pool.submit(job(tag=i)) for i in range(3)]
        wait_for(lambda: all(h.done() for h in handles), 120, "the three jobs")
        taken = next(pool.as_completed(handles, timeout=120))
        rest = [r.job_id for r in pool.as_completed(timeout=120)]
    assert taken.job_id == handles[0].id  # one worker: the first in finishes first
    assert sorted(rest) == [h.id for h in handles[1:]]  # none lost, none twice


def test_reading_a_handle_takes_its_result(spooky_data):
    """Each result is delivered once: read through its handle, ``as_completed()`` does not
    yield it again, so a pool read only through handles keeps nothing it handed out."""
    with RolloutPool(workers=1, sandbox=LOCAL) as pool:
        handles = [pool.submit(job(tag=i)) for i in range(3)]
        assert handles[0].result(timeout=120).error is None
        assert handles[2].result(timeout=120).error is None
        assert [r.job_id for r in pool.as_completed(timeout=120)] == [handles[1].id]
        assert list(pool.as_completed(timeout=120)) == []
        assert handles[0].result().job_id == handles[0].id  # a handle still reads it


def sample(number: int) -> Sample:
    return Sample(id=number, version=0, lane=0, program="print('hi')")


def test_two_runs_sharing_a_pool_each_get_only_their_own(spooky_data):
    with RolloutPool(workers=1, sandbox=LOCAL) as pool:
        ours, theirs = PoolBackend(pool, SPOOKY, LITE), PoolBackend(pool, SPOOKY, LITE)
        mine, yours = sample(0), sample(0)  # the same sample id in two runs
        ours.submit(mine)
        theirs.submit(yours)
        other = pool.submit(job(tag="someone else's"))  # not a run's at all
        # Theirs finishes second; asking for it first must not take (and drop) ours.
        assert theirs.next_finished() is yours and yours.error is None
        assert ours.next_finished() is mine and mine.error is None
        assert not ours.handles and not theirs.handles
        # Each run took its own result and nobody else's: the third is still there to take.
        assert [r.job_id for r in pool.as_completed(timeout=120)] == [other.id]


def test_a_run_that_closes_cancels_only_its_own_jobs(spooky_data):
    with RolloutPool(workers=1, sandbox=LOCAL) as pool:
        blocker = pool.submit(StepJob(SPOOKY, "import time; time.sleep(1)", LITE))
        run = PoolBackend(pool, SPOOKY, LITE)
        run.submit(sample(0))
        other = pool.submit(job(tag="not the run's"))
        run.close()  # queued behind the blocker: cancelled, never run
        results = {r.job_id: r for r in pool.as_completed(timeout=120)}
    assert len(results) == 3
    assert results[blocker.id].error is None and results[other.id].error is None
    (cancelled,) = [r for r in results.values() if r.job.tag not in (None, "not the run's")]
    assert cancelled.error == "cancelled" and cancelled.worker == ""  # never ran
    assert cancelled.job.tag[0] == run.run_id
