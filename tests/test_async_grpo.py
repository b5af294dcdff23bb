"""The asynchronous trainer (baselines/async_loop.py, baselines/async_grpo.py): admission
control bounds staleness without dropping anything, the importance ratio, and a short
asynchronous run of the tiny model with real Docker steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from baselines.async_loop import AsyncLoop, Outcome, ReplayBackend, Sample

# Two programs: 0.5 s and 5 s, as measured, with a little jitter.
OUTCOMES = {
    "fast": [Outcome(d, 1.0, False) for d in (0.4, 0.5, 0.6)],
    "slow": [Outcome(d, 2.0, False) for d in (4.5, 5.0, 5.5)],
}


def _loop(k: int, seed: int, regime: str = "resample") -> tuple[AsyncLoop, list[int]]:
    rng = np.random.default_rng(seed)
    lags_at_generation: list[int] = []
    loop: AsyncLoop

    def generate(lane, version, new_episode) -> Sample:
        lags_at_generation.append(loop.lag())
        if not new_episode and lane.last is not None:
            action = lane.last.action
        else:
            action = "fast" if rng.random() < 0.5 else "slow"
        return Sample(id=-1, version=version, lane=lane.index, program=action, action=action)

    backend = ReplayBackend(OUTCOMES, seed=seed, workers=4)
    loop = AsyncLoop(backend, generate, lanes=4, batch_size=2, max_staleness=k, regime=regime,
                     episode_seconds=12.0)  # fmt: skip
    return loop, lags_at_generation


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("regime", ["resample", "episodes"])
def test_admission_control_bounds_staleness_and_drops_nothing(k: int, regime: str) -> None:
    loop, lags = _loop(k, seed=k, regime=regime)
    for _ in range(300):
        batch = loop.next_batch()
        assert len(batch) >= 2
        loop.advance()
    consumed = loop.consumed
    # Never more than k versions behind, and no generation admitted at lag k.
    assert max(s.staleness for s in consumed) <= k
    assert max(lags) < k
    # Nothing finished is dropped: every generated sample was consumed once or still runs.
    ids = [s.id for s in consumed]
    assert len(ids) == len(set(ids))
    assert len(consumed) + len(loop.outstanding) == loop.generated
    assert len(loop.outstanding) <= 4
    # Completion order: within the run, consumption follows finishing time.
    finished = [s.finished_at for s in consumed]
    assert finished == sorted(finished)
    # The slow program is learned from, late but not lost; with k = 1 the learner had to wait
    # for it (a batch grew past batch_size) at least once.
    slow = [s for s in consumed if s.action == "slow"]
    assert slow and max(s.staleness for s in slow) >= 1
    if k == 1:
        assert any(s.staleness == 1 for s in consumed)


def test_max_staleness_must_allow_running_ahead() -> None:
    with pytest.raises(ValueError, match="lockstep"):
        AsyncLoop(ReplayBackend(OUTCOMES, 0, 1), lambda *a: None, lanes=1, batch_size=1, max_staleness=0)


torch = pytest.importorskip("torch", reason="needs the train extra: pip install -e '.[train]'")
pytest.importorskip("trl", reason="needs the train extra: pip install -e '.[train]'")

from baselines.async_grpo import parse_args, train, truncated_ratio  # noqa: E402


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


@pytest.mark.docker
def test_short_async_run_with_docker_steps(docker_client, spooky_data, tmp_path) -> None:
    program = tmp_path / "nb.py"
    program.write_text(PROGRAM)
    args = parse_args(
        [
            "--model", "tiny",
            "--max-steps", "3",
            "--num-generations", "2",
            "--batch-size", "2",
            "--max-completion-length", "160",
            "--num-prompts", "8",
            "--learning-rate", "1e-4",
            "--temperature", "0.7",
            "--warm-start-steps", "200",
            "--warm-start-programs", str(program),
            "--workers", "2",
            "--max-staleness", "1",
            "--time-limit", "60",
            "--output-dir", str(tmp_path / "run"),
        ]
    )  # fmt: skip
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
