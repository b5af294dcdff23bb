"""The asynchronous trainer (baselines/async_loop.py, baselines/async_grpo.py): admission
control bounds staleness without dropping anything, lanes are refilled while the learner
computes (an actor, or jobs queued beyond the workers), the importance ratio, and short
asynchronous runs with real Docker steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from baselines.async_loop import AsyncLoop, Outcome, PoolBackend, ReplayBackend, Sample

# Two programs: 0.5 s and 5 s, as measured, with a little jitter.
OUTCOMES = {
    "fast": [Outcome(d, 1.0, False) for d in (0.4, 0.5, 0.6)],
    "slow": [Outcome(d, 2.0, False) for d in (4.5, 5.0, 5.5)],
}


def _loop(
    k: int, seed: int, regime: str = "resample", actor: bool = False, lanes: int = 4
) -> tuple[AsyncLoop, list[int]]:
    rng = np.random.default_rng(seed)
    waiting_at_generation: list[int] = []  # finished samples waiting for the learner
    loop: AsyncLoop

    def generate(lane, version, new_episode) -> Sample:
        waiting_at_generation.append(len(loop.ready))
        if not new_episode and lane.last is not None:
            action = lane.last.action
        else:
            action = "fast" if rng.random() < 0.5 else "slow"
        return Sample(id=-1, version=version, lane=lane.index, program=action, action=action)

    backend = ReplayBackend(OUTCOMES, seed=seed, workers=4)
    loop = AsyncLoop(backend, generate, lanes=lanes, batch_size=2, max_staleness=k, regime=regime,
                     episode_seconds=12.0, actor=actor)  # fmt: skip
    return loop, waiting_at_generation


# The learner's compute per update, on the virtual clock: programs finish meanwhile.
UPDATE_SECONDS = 0.7


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("regime", ["resample", "episodes"])
@pytest.mark.parametrize(("actor", "lanes"), [(False, 4), (True, 4), (True, 6)])
def test_admission_control_bounds_staleness_and_drops_nothing(
    k: int, regime: str, actor: bool, lanes: int
) -> None:
    loop, waiting = _loop(k, seed=k, regime=regime, actor=actor, lanes=lanes)
    for _ in range(300):
        batch = loop.next_batch()
        assert len(batch) >= 2
        loop.backend.elapse(UPDATE_SECONDS)  # the learner computes; with an actor, lanes refill
        loop.advance()
    consumed = loop.consumed
    # Never more than k versions behind, and no generation admitted while k batches wait.
    assert max(s.staleness for s in consumed) <= k
    assert max(waiting) < k * 2
    # Nothing finished is dropped: every generated sample was consumed once or still runs.
    ids = [s.id for s in consumed]
    assert len(ids) == len(set(ids))
    assert len(consumed) + len(loop.outstanding) == loop.generated
    # Outstanding: running or queued (at most one per lane), or finished and waiting for the
    # learner (an actor refills a lane before the learner takes its result).
    assert len(loop.outstanding) - len(loop.ready) <= lanes
    # Completion order: within the run, consumption follows finishing time.
    finished = [s.finished_at for s in consumed]
    assert finished == sorted(finished)
    # The slow program is learned from, late but not lost; with k = 1 the learner had to wait
    # for it (a batch grew past batch_size) at least once.
    slow = [s for s in consumed if s.action == "slow"]
    assert slow and max(s.staleness for s in slow) >= 1
    if k == 1:
        assert any(s.staleness == 1 for s in consumed)


def _run(actor: bool, lanes: int, seed: int, updates: int = 100) -> AsyncLoop:
    loop, _ = _loop(2, seed=seed, actor=actor, lanes=lanes)
    for _ in range(updates):
        loop.next_batch()
        loop.backend.elapse(UPDATE_SECONDS)
        loop.advance()
    return loop


def test_lanes_are_refilled_while_the_learner_computes() -> None:
    """The cause of the old loop's idle workers: it refilled lanes only when the learner asked
    for a batch. An actor refills them as programs finish; prefetched lanes (more lanes than
    workers) have jobs queued that start as workers free up."""
    for seed in range(3):
        single = _run(actor=False, lanes=4, seed=seed)
        actor = _run(actor=True, lanes=4, seed=seed)
        prefetch = _run(actor=False, lanes=6, seed=seed)
        assert len(single.updates) == len(actor.updates) == 100
        # One thread, lanes = workers: nothing is submitted or started during an update.
        assert single.during_updates("generated_at") == 0
        assert single.during_updates("started_at") == 0
        # The actor submits during updates, and those jobs start at once.
        assert actor.during_updates("generated_at") > 20
        assert actor.during_updates("started_at") > 20
        # Queued jobs start during updates; only the learner submits.
        assert prefetch.during_updates("generated_at") == 0
        assert prefetch.during_updates("started_at") > 20
        # Busier workers on the same virtual clock: more of the workers' time went into
        # consumed samples (a property of the schedule, not of this machine's speed).
        for loop in (single, actor):
            loop.utilisation = sum(s.busy for s in loop.consumed) / (4 * loop.backend.now())
        assert actor.utilisation > single.utilisation


def test_a_slow_learner_holds_the_actor_back_instead_of_swelling_its_batches() -> None:
    """When the learner is the bottleneck, finished samples wait in the queue; admission stops
    at two batches waiting, so batches stay near batch_size (without that cap they grow with
    everything the lanes finish within k versions)."""

    def largest_batch(max_ready: int | None) -> int:
        loop, waiting = _loop(2, seed=0, actor=True)
        if max_ready is not None:
            loop.max_ready = max_ready
        sizes = []
        for _ in range(60):
            sizes.append(len(loop.next_batch()))
            loop.backend.elapse(30.0)  # an update far longer than any program
            loop.advance()
        assert max(waiting) < loop.max_ready and max(s.staleness for s in loop.consumed) <= 2
        return max(sizes)

    capped = largest_batch(None)
    assert capped <= 2 * 2 + 4  # two waiting batches, plus what the 4 lanes were running
    assert largest_batch(10**9) > capped


class WaitIdleLoop(AsyncLoop):
    """The previous admission rule: no generation while an outstanding sample is k behind."""

    def admissible(self) -> bool:
        return self.lag() < self.max_staleness and super().admissible()


@pytest.mark.parametrize("actor", [False, True])
def test_lanes_keep_running_while_the_learner_waits_for_a_late_sample(actor: bool) -> None:
    """When the learner holds at k versions for a slow program, the other lanes keep
    running at the current version (their results wait for the next batch): more samples
    learned per (virtual) minute than the rule that stopped all generation during the wait,
    with the same staleness bound and nothing dropped."""

    def rate(cls: type[AsyncLoop], seed: int) -> tuple[float, int, AsyncLoop]:
        rng = np.random.default_rng(seed)
        loop: AsyncLoop
        during_wait = 0

        def generate(lane, version, new_episode) -> Sample:
            nonlocal during_wait
            during_wait += loop.lag() >= loop.max_staleness
            action = "fast" if rng.random() < 0.5 else "slow"
            return Sample(id=-1, version=version, lane=lane.index, program=action, action=action)

        loop = cls(ReplayBackend(OUTCOMES, seed=seed, workers=4), generate, lanes=4, batch_size=4,
                   max_staleness=2, actor=actor)  # fmt: skip
        for _ in range(150):
            loop.next_batch()
            loop.backend.elapse(0.3)
            loop.advance()
        return 60 * len(loop.consumed) / loop.backend.now(), during_wait, loop

    for seed in range(3):
        new, during_wait, loop = rate(AsyncLoop, seed)
        old, never, _ = rate(WaitIdleLoop, seed)
        assert never == 0 and during_wait > 10
        assert new > 1.04 * old
        assert max(s.staleness for s in loop.consumed) <= 2
        assert len(loop.consumed) + len(loop.outstanding) == loop.generated
        finished = [s.finished_at for s in loop.consumed]
        assert finished == sorted(finished)  # still completion order


def test_max_staleness_must_allow_running_ahead() -> None:
    with pytest.raises(ValueError, match="lockstep"):
        AsyncLoop(ReplayBackend(OUTCOMES, 0, 1), lambda *a: None, lanes=1, batch_size=1, max_staleness=0)


def sleeper(seconds: float) -> str:
    return f"import time\ntime.sleep({seconds})\nprint('slept')\n"


@pytest.mark.docker
@pytest.mark.parametrize("actor", [True, False])
def test_threaded_actor_with_real_steps(docker_client, spooky_data, actor: bool) -> None:
    """With the actor's threads and a real pool: completion order, staleness <= k, nothing
    dropped, and jobs submitted while the learner holds off (without an actor: none)."""
    import time

    from mle_gym.pool import RolloutPool
    from tests.conftest import SPOOKY

    rng = np.random.default_rng(0)
    k = 2

    def generate(lane, version, new_episode) -> Sample:
        action = "fast" if rng.random() < 0.6 else "slow"
        program = sleeper(0.2 if action == "fast" else 1.5)
        return Sample(id=-1, version=version, lane=lane.index, program=program, action=action)

    options = {"data": "lite", "data_seed": 0, "time_limit": 60}
    with RolloutPool(workers=2, sandbox="docker-warm") as pool:
        backend = PoolBackend(pool, SPOOKY, options)
        loop = AsyncLoop(backend, generate, lanes=2, batch_size=2, max_staleness=k, actor=actor)
        loop.start()
        held: list[int] = []
        try:
            for _ in range(4):
                batch = loop.next_batch()
                assert len(batch) >= 2
                # The learner "computes" until two more jobs were submitted (the actor refills
                # the lanes its batch freed); the timeout only ends a test that would hang.
                before = loop.generated
                for _ in range(40 if actor else 2):
                    if loop.generated >= before + 2:
                        break
                    time.sleep(0.5)
                held.append(loop.generated - before)
                loop.advance()
        finally:
            loop.close()
    consumed = loop.consumed
    assert all(s.error is None and s.duration > 0 for s in consumed)  # real steps
    orders = [s.info["order"] for s in consumed]
    assert orders == sorted(orders)  # taken in the pool's completion order
    assert max(s.staleness for s in consumed) <= k
    assert len({s.id for s in consumed}) == len(consumed)
    assert len(consumed) + len(loop.outstanding) == loop.generated
    if actor:
        assert min(held) >= 2 and loop.during_updates("generated_at") > 0
    else:  # one thread: the learner submits only inside next_batch
        assert max(held) == 0 and loop.during_updates("generated_at") == 0


def test_a_slow_generation_is_never_consumed_more_than_k_late(spooky_data) -> None:
    """The actor generates outside the loop's lock. A generation started at version v that
    is still running while the learner takes batches must hold the learner at v + k, as an
    outstanding sample would: it used to be registered at v + 2 and consumed 2 versions late
    with k = 1."""
    import functools
    import time

    from mle_gym.pool import RolloutPool
    from mle_gym.sandbox.local import LocalSandbox
    from tests.conftest import SPOOKY

    calls = {"n": 0}

    def generate(lane, version, new_episode) -> Sample:
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            time.sleep(1.0)  # a slow generation, while the other lane's results come in
        return Sample(id=-1, version=version, lane=lane.index, program="print('hi')")

    options = {"data": "lite", "data_seed": 0, "time_limit": 60}
    with RolloutPool(workers=2, sandbox=functools.partial(LocalSandbox, warn=False)) as pool:
        loop = AsyncLoop(PoolBackend(pool, SPOOKY, options), generate, lanes=2, batch_size=1,
                         max_staleness=1, actor=True)
        loop.start()
        try:
            for _ in range(20):
                loop.next_batch()
                loop.advance()  # a learner with no compute: it runs ahead if it may
        finally:
            loop.close()
    assert calls["n"] >= 6  # slow generations happened while the learner was taking batches
    assert max(s.staleness for s in loop.consumed) <= 1
    assert len({s.id for s in loop.consumed}) == len(loop.consumed)


torch = pytest.importorskip("torch", reason="needs the train extra: pip install -e '.[train]'")
pytest.importorskip("trl", reason="needs the train extra: pip install -e '.[train]'")

from baselines.async_grpo import parse_args, train, truncated_ratio  # noqa: E402


def test_help_documents_a_real_model_and_the_gpu_path(capsys) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--model", "--use-vllm", "--bf16", "--prefetch", "--no-actor", "--max-staleness"):
        assert flag in text
    assert ".gguf" in text and "folder" in text and "Qwen/Qwen2.5-3B-Instruct" in text


def test_importance_ratio_is_one_on_policy_and_truncated_off_policy() -> None:
    behaviour = torch.log(torch.tensor([[0.5, 0.2, 0.1], [0.3, 0.3, 0.3]]))
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert torch.equal(truncated_ratio(behaviour, behaviour, mask, cap=2.0), torch.ones(2, 3))
    current = torch.log(torch.tensor([[0.5, 0.8, 0.9], [0.15, 0.3, float("nan")]]))
    rho = truncated_ratio(current, behaviour, mask, cap=2.0)
    # 0.8/0.2 = 4 is capped at 2; masked-out and unscored (NaN) tokens carry no correction.
    assert torch.allclose(rho, torch.tensor([[1.0, 2.0, 1.0], [0.5, 1.0, 1.0]]))


# A short program the tiny model is warm-started on; it trains a model and writes a submission.
PROGRAM = """\
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
train = pd.read_csv("input/train.csv")
test = pd.read_csv("input/test.csv")
vec = CountVectorizer(max_features=300)
model = MultinomialNB().fit(vec.fit_transform(train["text"]), train["author"])
sub = pd.DataFrame(model.predict_proba(vec.transform(test["text"])), columns=model.classes_)
sub.insert(0, "id", test["id"])
sub.to_csv("submission/submission.csv", index=False)
"""


def short_run_argv(tmp_path, *extra: str) -> list[str]:
    """The arguments of a short async run of the tiny model, warm-started on ``PROGRAM``
    (3 updates of 2 samples, 2 workers, k = 1); ``extra`` adds to them (e.g. the backend)."""
    program = tmp_path / "nb.py"
    program.write_text(PROGRAM)
    return [
        *extra,
        "--model", "tiny",
        "--max-steps", "3",
        "--num-generations", "2",
        "--batch-size", "2",
        "--max-completion-length", "160",
        "--num-prompts", "8",
        "--learning-rate", "1e-4",
        # Low, as in test_duration_grpo: at 0.7 the share of the tiny policy's completions
        # that parse varies with the measured duration its improve prompt shows.
        "--temperature", "0.3",
        "--warm-start-steps", "200",
        "--warm-start-programs", str(program),
        "--workers", "2",
        "--max-staleness", "1",
        "--time-limit", "60",
        "--output-dir", str(tmp_path / "run"),
    ]  # fmt: skip


@pytest.mark.docker
def test_short_async_run_with_docker_steps(docker_client, spooky_data, tmp_path) -> None:
    args = parse_args(short_run_argv(tmp_path))
    from tests.tiny_lm import torch_threads

    with torch_threads(1):  # two threads on two busy cores are several times slower
        trainer = train(args)

    assert trainer.state.global_step == 3 and len(trainer.updates) == 3
    samples = [s for u in trainer.updates for s in u["samples"]]
    assert len(samples) >= 6
    assert all(s["staleness"] <= 1 for s in samples)
    # Every consumed sample is a real step: a duration measured in Docker, a reward.
    ran = [s for s in samples if s["error"] is None]
    assert ran and all(s["reward"] is not None for s in ran)
    assert any(s["duration"] > 0 for s in ran)
    # Each sample carried its behaviour version and log-probs; on-policy the ratio is 1.
    for update in trainer.updates:
        assert update["ess"] > 0
        for s in update["samples"]:
            if s["staleness"] == 0 and s["id"] in update["rho_mean"]:
                assert update["rho_mean"][s["id"]] == pytest.approx(1.0, abs=1e-3)
    assert not math.isnan(trainer.normaliser.running_mean)
    history = trainer.state.log_history
    assert any("async/ess" in h for h in history)
    # The actor thread generated with its own copy of the policy, synced after each step.
    policy = trainer.actor_policy
    assert policy is not None and policy.model is not trainer.model
    assert trainer.loop.version == 3 and len(trainer.loop.updates) == 3
