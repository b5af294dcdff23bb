"""Completion-order rollout pool: run many programs at once, take results as they finish.

Asynchronous RL on this suite needs results in the order programs finish (one runs 0.5 s,
another ten minutes), with each program's duration; Gymnasium's vector envs step in
lockstep instead. The pool runs ``workers`` steps at a time, each exactly as ``env.step``
would (``mle_gym.step.run_step``: instrument, sandbox, grade, reward)::

    from mle_gym.pool import JobResult, RolloutPool, StepJob

    with RolloutPool(backend="local", workers=4, sandbox="docker-warm", max_pending=64) as pool:
        handle = pool.submit(StepJob(task="spooky-author", program=code,
                                     options={"data": "lite", "data_seed": 0, "time_limit": 60},
                                     tag=anything))
        for result in pool.as_completed():          # or as_completed(handles, timeout=...)
            result.order          # 0, 1, 2, ... in completion order, across the pool
            result.duration       # seconds the program ran (0 when it never ran)
            result.reward, result.info, result.private_score
            result.error          # None, "cancelled", or what failed and what to do
            result.job, result.wall_time, result.queue_time, result.worker, result.job_id
        handle.result(timeout=None); handle.cancel(); handle.done(); handle.status
        pool.cancel_all(); pool.shutdown(wait=True, cancel_pending=False)

``StepJob(task, program, options={}, tag=None, step=0)``: ``program`` is an env action
(plain Python, or markdown with a ```python block); ``options`` are a
:class:`~mle_gym.options.RuntimeOptions` or a dict of its fields (``data``, ``data_seed``,
``time_limit``, ``memory_limit``, ``cpus``, ``instrumenter``, ``reward``), unknown ones are a
TypeError at ``submit``; ``tag`` is returned untouched and never leaves this process.

``JobResult`` (also importable by its old name, ``StepResult``): on success ``error`` is
None, ``step`` the :class:`mle_gym.step.StepResult`, and from it ``reward``, ``info`` (the
env's step info; ``info["score"]`` is the public half) and ``private_score`` the private
half (None without a valid submission). Every submitted job
ends with exactly one result: a sandbox failure, a worker exception or a dead Ray actor is a
result with ``error`` set (``reward`` and ``info`` None), never an exception in your loop
and never a lost job. A program that crashes is not an error: it is a normal result with
the failure reward.

Semantics:

* ``submit(job, block=True, timeout=None)`` returns a :class:`JobHandle`. At most
  ``max_pending`` jobs wait in the queue: then ``submit`` blocks, or raises
  :class:`PoolFull` with ``block=False`` or when ``timeout`` passes. After ``shutdown``
  it raises :class:`PoolClosed`.
* At most ``workers`` steps run at once, each worker slot with its own sandbox (with
  "docker-warm", one warm container per slot: ``workers`` containers in all).
* ``as_completed()`` yields every result not yet taken, including jobs submitted during
  the loop, and ends when nothing is queued, running or untaken; ``as_completed(handles)``
  yields those jobs' results. Each result is taken once across ``as_completed`` calls
  (with or without handles; a result is taken when it is yielded, so stopping early loses
  none). ``handle.result()`` takes it too: each result is delivered once, to its handle or
  to ``as_completed()``, whichever asks first (a handle can be read again any time). So a
  pool read only through handles keeps no result it handed out, however long it runs. A
  caller who wants only its own results from a shared pool passes its handles.
* ``handle.cancel()``: a queued job is removed and ends with ``error="cancelled"``; a
  running one has its container killed (Docker sandboxes; with the local sandbox it runs
  on) and also ends ``"cancelled"``. False when the job had already ended.
* Leaving the ``with`` block waits for every job; leaving it by an exception (Ctrl-C
  included) cancels everything first. At interpreter exit an open pool is cancelled and
  its containers removed.

Workers build ``TaskRuntime.create(task, options)`` once per (task, options) and reuse
it. Backends: ``"local"`` (threads here; the programs run in containers) and ``"ray"`` (one
Ray actor per worker slot, each with its own sandbox, on any node of a cluster: see the
README, "Rollouts at scale").
"""

from mle_gym.pool.base import (
    CANCELLED,
    OPTIONS,
    JobHandle,
    JobResult,
    JobRunner,
    PoolClosed,
    PoolFull,
    StepJob,
    StepResult,
)
from mle_gym.pool.core import BACKENDS, RolloutPool

__all__ = [
    "BACKENDS",
    "CANCELLED",
    "OPTIONS",
    "JobHandle",
    "JobResult",
    "JobRunner",
    "PoolClosed",
    "PoolFull",
    "RolloutPool",
    "StepJob",
    "StepResult",
]
