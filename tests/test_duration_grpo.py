"""Duration-aware GRPO (baselines/duration_grpo.py): the weights, their effect on the
gradient, and two real training steps of a tiny model whose rewards come from Docker steps."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch", reason="needs the train extra: pip install -e '.[train]'")
pytest.importorskip("trl", reason="needs the train extra: pip install -e '.[train]'")

from baselines.duration_grpo import (  # noqa: E402
    DurationAwareGRPOTrainer,
    EnvReward,
    duration_weights,
    parse_args,
    train,
)
from baselines.tiny_model import build_tiny_policy  # noqa: E402

# A short program the tiny model is warm-started on, so its samples (mutated copies of it)
# reach the sandbox within the test's token budget; it trains a model and writes a submission.
COMPACT_PROGRAM = """\
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
train = pd.read_csv("input/train.csv")
test = pd.read_csv("input/test.csv")
model = make_pipeline(TfidfVectorizer(), LogisticRegression())
model.fit(train["text"], train["author"])
sub = pd.DataFrame(model.predict_proba(test["text"]), columns=model.classes_)
sub.insert(0, "id", test["id"])
sub.to_csv("submission/submission.csv", index=False)
"""

# --------------------------------------------------------------------------- the weights


def test_weights_are_durations_over_the_batch_mean() -> None:
    weights = duration_weights([2.0, 4.0, 6.0], [False] * 3, time_limit=60, floor=1.0)
    assert weights == pytest.approx([0.5, 1.0, 1.5])
    assert sum(weights) / len(weights) == pytest.approx(1.0)


def test_floor_keeps_every_weight_positive() -> None:
    weights = duration_weights([0.0, 0.2, 3.0], [False] * 3, time_limit=60, floor=1.0)
    # charged 1, 1, 3 seconds
    assert weights == pytest.approx([0.6, 0.6, 1.8])
    assert min(weights) > 0
    with pytest.raises(ValueError, match="floor"):
        duration_weights([0.0, 1.0], [False, False], time_limit=60, floor=0.0)


def test_failures_are_charged_their_own_duration_unless_asked() -> None:
    # The paper's default: each action its own duration (the 0.5 s crash is floored to 1 s).
    weights = duration_weights([2.0, 0.5, 10.0], [False, True, True], time_limit=10, floor=1.0)
    assert weights == pytest.approx([2 / 13 * 3, 1 / 13 * 3, 10 / 13 * 3])
    # The option: a crash after 0.5 s weighs as much as a program that ran the whole limit.
    weights = duration_weights(
        [2.0, 0.5, 10.0], [False, True, True], time_limit=10, floor=1.0, charge_failures=True
    )
    assert weights == pytest.approx([2 / 22 * 3, 10 / 22 * 3, 10 / 22 * 3])
    assert weights[1] == weights[2] > weights[0]
    assert parse_args(["--charge-failures"]).charge_failures is True
    assert parse_args([]).charge_failures is False


def test_running_norm_lets_an_all_fast_batch_weigh_less_than_one() -> None:
    from baselines.duration_weights import DurationNormaliser

    running = DurationNormaliser("running", floor=1.0)
    batch = DurationNormaliser("batch", floor=1.0)
    slow_first = [10.0, 10.0, 2.0, 2.0]
    assert running.weights(slow_first, [False] * 4, 60) == pytest.approx([10 / 6, 10 / 6, 2 / 6, 2 / 6])
    # Then a batch of only fast results: D is the mean of all 8 consumed (4 s), not 2 s.
    fast = running.weights([2.0] * 4, [False] * 4, 60)
    assert fast == pytest.approx([0.5] * 4) and running.running_mean == pytest.approx(4.0)
    batch.weights(slow_first, [False] * 4, 60)
    assert batch.weights([2.0] * 4, [False] * 4, 60) == pytest.approx([1.0] * 4)
    # The floor holds in both norms, and the running mean counts floored charges.
    assert min(running.weights([0.0, 0.0], [True, True], 60)) > 0
    assert running.running_mean == pytest.approx((24 + 8 + 2) / 10)
    assert parse_args([]).duration_norm == "running"
    assert parse_args(["--duration-norm", "batch"]).duration_norm == "batch"
    with pytest.raises(ValueError, match="norm"):
        DurationNormaliser("median")


def test_weighting_off_gives_all_ones() -> None:
    durations, failed = [0.1, 5.0, 50.0], [False, True, False]
    assert duration_weights(durations, failed, time_limit=60, enabled=False) == [1.0, 1.0, 1.0]
    assert parse_args(["--no-duration-weights"]).duration_weighting is False
    assert parse_args([]).duration_weighting is True
    with pytest.raises(ValueError, match="durations"):
        duration_weights([1.0], [False, True], time_limit=60)


# --------------------------------------------------------------------------- weights scale the gradient


@pytest.fixture(scope="module")
def loss_trainer(tmp_path_factory, spooky_data):
    """A DurationAwareGRPOTrainer on the tiny model, never trained: for its loss only."""
    from datasets import Dataset
    from trl import GRPOConfig

    from mle_gym.pool import RolloutPool
    from mle_gym.step import TaskRuntime

    runtime = TaskRuntime.create("spooky-author")
    model, tokenizer = build_tiny_policy(["import pandas as pd\nprint('hello world')\n"] * 4)
    with RolloutPool(backend="local", workers=1, sandbox="local") as pool:
        reward = EnvReward(runtime, pool, {})
        trainer = DurationAwareGRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=GRPOConfig(
                output_dir=str(tmp_path_factory.mktemp("loss")),
                per_device_train_batch_size=4,
                num_generations=4,
                max_completion_length=8,
                use_cpu=True,
                bf16=False,  # fp32, so sums of per-sample gradients match to rounding
                report_to="none",
            ),
            train_dataset=Dataset.from_dict({"prompt": ["hello"] * 4}),
            processing_class=tokenizer,
            env_reward=reward,
        )
        yield trainer


def _grad(trainer, inputs) -> torch.Tensor:
    model = trainer.model
    model.zero_grad()
    trainer.compute_loss(model, inputs).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).clone()


def test_weights_scale_each_samples_policy_gradient(loss_trainer) -> None:
    trainer = loss_trainer
    trainer.model.eval()  # no accumulation scaling, no dropout; gradients still flow
    g = torch.Generator().manual_seed(0)
    vocab = trainer.model.config.vocab_size
    batch = {
        "prompt_ids": torch.randint(3, vocab, (4, 6), generator=g),
        "prompt_mask": torch.ones(4, 6, dtype=torch.long),
        "completion_ids": torch.randint(3, vocab, (4, 5), generator=g),
        "completion_mask": torch.ones(4, 5, dtype=torch.long),
        "num_items_in_batch": torch.tensor(20.0),
    }
    advantages = torch.tensor([1.0, -1.0, 0.5, -0.5])
    weights = torch.tensor(duration_weights([1.0, 8.0, 2.0, 30.0], [False] * 4, time_limit=60))

    def inputs_with(adv: torch.Tensor) -> dict:
        return {**batch, "advantages": adv}

    plain = _grad(trainer, inputs_with(advantages))
    weighted_inputs = DurationAwareGRPOTrainer.apply_weights(inputs_with(advantages), weights)
    assert torch.allclose(weighted_inputs["advantages"], advantages * weights)
    weighted = _grad(trainer, weighted_inputs)

    # Each sample's own gradient (its advantage alone), then the weighted sum of them.
    per_sample = [
        _grad(trainer, inputs_with(advantages * torch.nn.functional.one_hot(torch.tensor(i), 4)))
        for i in range(4)
    ]
    assert torch.allclose(plain, sum(per_sample), atol=1e-6)
    assert torch.allclose(
        weighted, sum(w * s for w, s in zip(weights, per_sample, strict=True)), atol=1e-6
    )
    assert not torch.allclose(weighted, plain, atol=1e-4)

    # Weighting off: ones, and the gradient is plain GRPO's.
    ones = torch.tensor(duration_weights([1.0, 8.0, 2.0, 30.0], [False] * 4, 60, enabled=False))
    unweighted = _grad(
        trainer, DurationAwareGRPOTrainer.apply_weights(inputs_with(advantages), ones)
    )
    assert torch.allclose(unweighted, plain)


# --------------------------------------------------------------------------- two real steps


@pytest.mark.docker
def test_two_training_steps_with_docker_rewards(docker_client, spooky_data, tmp_path) -> None:
    program = tmp_path / "compact.py"
    program.write_text(COMPACT_PROGRAM)
    args = parse_args(
        [
            "--model", "tiny",
            "--task", "spooky-author",
            "--max-steps", "2",
            "--num-generations", "4",
            "--batch-size", "4",
            "--max-completion-length", "160",
            "--num-prompts", "4",
            "--learning-rate", "1e-4",
            # Low: the tiny policy's quality depends on the improve prompt, which shows the
            # reference run's measured duration; at 0.7 the share of completions that parse
            # ranged 3/16-13/16 with that number, at 0.3 it is 13/16-16/16.
            "--temperature", "0.3",
            "--warm-start-steps", "150",
            "--warm-start-programs", str(program),
            "--sandbox", "docker-warm",
            "--workers", "2",
            "--time-limit", "60",
            "--output-dir", str(tmp_path / "run"),
        ]
    )  # fmt: skip
    trainer = train(args)

    assert trainer.state.global_step == 2
    # The fast reference solution ran once in Docker and seeded the improve prompts.
    best = trainer.env_reward.best
    assert best is not None and best.valid and best.duration > 0
    steps = [entry for entry in trainer.state.log_history if "duration/mean" in entry]
    assert len(steps) == 2, trainer.state.log_history
    for entry in steps:
        for key in (
            "reward",
            "duration/mean",
            "duration/charged_mean",
            "duration_weight/mean",
            "duration_weight/min",
            "duration_weight/max",
            "env/valid_fraction",
        ):
            assert key in entry and math.isfinite(entry[key]), (key, entry)
        # The running norm: the batch's mean weight is its mean charge over the running mean.
        assert entry["duration_weight/mean"] == pytest.approx(
            entry["duration/charged_mean"] / entry["duration/running_mean"], rel=1e-4
        )
        assert 0 < entry["duration_weight/min"] <= entry["duration_weight/mean"]
        assert entry["duration_weight/mean"] <= entry["duration_weight/max"]
        assert entry["duration/charged_mean"] >= 1.0  # the floor
    # The warm-started policy writes programs that parse (at least 13 in 16 at this
    # temperature), so some of its 8 completions really ran in a container.
    assert max(entry["duration/max"] for entry in steps) > 0
    assert (tmp_path / "run" / "config.json").is_file()  # the trained policy was saved
