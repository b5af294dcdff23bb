"""Consensus rewards: agreement with the others' pseudo-labels, on real lite data, real files.

Submissions here are the lite answers damaged at known noise levels (so the true ranking is
known); the consensus code never sees the answers: only the files written from them.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from mle_gym.consensus import ConsensusScorer, consensus_rewards
from mle_gym.data import prepare
from mle_gym.grading import Grader
from mle_gym.grading.sentinel import sample_submission_path
from mle_gym.reward import PRESETS, get_reward_config
from mle_gym.spec import all_tasks

TASKS = [spec.slug for spec in all_tasks()]


def damaged(spec, answers: pd.DataFrame, level: float, rng: np.random.Generator) -> pd.DataFrame:
    """The answers, softened where the metric reads scores, then damaged at ``level``."""
    targets = list(spec.target_columns)
    out = answers[[spec.id_column, *targets]].copy()
    n, metric = len(out), spec.metric
    if metric == "jaccard":
        spans = out[targets[0]].astype(str).tolist()
        for i in np.flatnonzero(rng.random(n) < level):  # a random part of the span
            words = spans[i].split()
            length = int(rng.integers(0, len(words) + 1))
            start = int(rng.integers(0, len(words) - length + 1))
            spans[i] = " ".join(words[start : start + length])
        out[targets[0]] = spans
    elif metric in ("accuracy", "quadratic_weighted_kappa"):
        labels = np.asarray(spec.metric_options["labels"])
        values = out[targets[0]].to_numpy().copy()
        hit = rng.random(n) < level
        values[hit] = rng.choice(labels, hit.sum())
        out[targets[0]] = values.astype(int)
    elif metric in ("log_loss", "roc_auc", "mean_column_roc_auc"):
        p = 0.3 + 0.4 * out[targets].to_numpy(float)
        z = np.log(p / (1 - p)) + rng.normal(0, 4 * level, p.shape)
        q = 1 / (1 + np.exp(-z))
        if metric == "log_loss":
            q = q / q.sum(1, keepdims=True)
            if spec.metric_options.get("row_sum") == "exact":
                q = np.round(q, 9)
                q[:, -1] = 1 - q[:, :-1].sum(1)
        out[targets] = q
    else:  # regression targets
        y = out[targets].to_numpy(float)
        noisy = y + rng.normal(0, 2 * level, y.shape) * (y.std(0) + 1e-9)
        out[targets] = np.clip(noisy, 0, None) if metric == "mean_column_rmsle" else noisy
    return out


def answers_of(data) -> pd.DataFrame:
    text = data.spec.metric == "jaccard"
    return pd.read_csv(data.answers_path, keep_default_na=not text)


def write_group(data, folder: Path, levels, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    answers = answers_of(data)
    paths = []
    for k, level in enumerate(levels):
        path = folder / f"s{k}.csv"
        damaged(data.spec, answers, level, rng).to_csv(path, index=False)
        paths.append(path)
    return paths


@pytest.mark.parametrize("task", TASKS)
def test_consensus_ranks_submissions_like_the_true_score(task, tmp_path):
    data = prepare(task)
    paths = write_group(data, tmp_path, np.linspace(0.1, 1.0, 10))
    rewards = consensus_rewards(task, paths, data="lite")
    grader = Grader(data)
    sign = 1 if data.spec.direction == "higher" else -1
    true = [sign * grader.grade(p).private for p in paths]
    assert all(r > 0 for r in rewards)  # valid submissions earn a positive reward
    rho = spearmanr(rewards, true).correlation
    assert rho > 0.7, (task, rho, rewards, true)


@pytest.fixture
def copied_data(tmp_path) -> Path:
    """A copy of spooky-author's lite folder that the test may damage."""
    folder = tmp_path / "data"
    shutil.copytree(prepare("spooky-author").root, folder)
    return folder


def test_answers_are_never_read(copied_data, tmp_path):
    data = prepare("spooky-author")
    paths = write_group(data, tmp_path / "subs", [0.2, 0.4, 0.6, 0.8, 1.0])
    before = consensus_rewards("spooky-author", paths, data=copied_data)
    opened: list[str] = []
    recording = [False]

    def audit(event, args):
        if recording[0] and event == "open" and args and "private" in Path(str(args[0])).parts:
            opened.append(str(args[0]))

    sys.addaudithook(audit)  # hooks cannot be removed: this one records only while asked

    def rewards() -> list[float]:
        recording[0] = True
        try:
            return consensus_rewards("spooky-author", paths, data=copied_data)
        finally:
            recording[0] = False

    assert rewards() == before
    (copied_data / "private" / "answers.csv").unlink()
    after_delete = rewards()
    (copied_data / "private" / "answers.csv").write_text("id,EAP,HPL,MWS\nnot,a,real,file\n")
    (copied_data / "private" / "split.csv").write_text("garbage")
    after_corrupt = rewards()
    assert before == after_delete == after_corrupt
    assert opened == []
    with pytest.raises(ValueError, match="public"):
        ConsensusScorer("spooky-author", copied_data / "private")


def test_copies_do_not_vote_for_themselves(tmp_path):
    data = prepare("tabular-dec-2021")
    weak, *others = write_group(data, tmp_path, [0.9, 0.2, 0.3, 0.4])
    alone = consensus_rewards("tabular-dec-2021", [weak, *others])
    copies = [tmp_path / f"copy{k}.csv" for k in range(6)]
    for path in copies:
        shutil.copy(weak, path)
    # Near-copies too: three rows changed (under 1% of 2,000) is still the same prediction.
    near = pd.read_csv(weak)
    near.loc[:2, "Cover_Type"] = near.loc[:2, "Cover_Type"] % 7 + 1
    near.to_csv(tmp_path / "near.csv", index=False)
    crowded = consensus_rewards("tabular-dec-2021", [weak, *copies, tmp_path / "near.csv", *others])
    assert crowded[0] == pytest.approx(alone[0])  # six copies earned the weak one nothing
    assert crowded[-3:] == pytest.approx(alone[1:])  # and moved nobody else's reward
    assert max(alone[1:]) > alone[0]
    # Copies of one program alone are one voter: below the minimum, partial credit only.
    only_copies = consensus_rewards("tabular-dec-2021", [weak, *copies])
    assert only_copies == [1.0] * 7


def test_invalid_and_no_model_submissions_do_not_vote(tmp_path):
    task = "nomad2018"
    data = prepare(task)
    paths = write_group(data, tmp_path, [0.1, 0.3, 0.5, 0.7])
    base = consensus_rewards(task, paths)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,wrong\n1,2\n")
    constant = pd.read_csv(paths[0])
    constant[["formation_energy_ev_natom", "bandgap_energy_ev"]] = [0.1, 2.0]
    constant.to_csv(tmp_path / "constant.csv", index=False)
    sample = sample_submission_path(data.spec, data.public)
    scorer = ConsensusScorer(task, data.public)
    results = scorer.score([*paths, bad, tmp_path / "constant.csv", sample, None])
    assert [r.reward for r in results[:4]] == pytest.approx(base)  # the others did not vote
    assert [r.case for r in results[4:]] == ["failure", "no_model_trained", "no_model_trained", "failure"]
    assert "same prediction" in results[5].reason
    worst_valid = min(r.reward for r in results[:4])
    assert all(r.reward < 0 < worst_valid for r in results[4:])
    # Milestones still earn partial credit when the submission is invalid.
    (credited,) = scorer.score([bad], milestones=[3])
    assert credited.reward == pytest.approx(-1.0 + 0.3)


def test_too_few_voters_falls_back_to_partial_credit(tmp_path):
    paths = write_group(prepare("essay-scoring"), tmp_path, [0.1, 0.5, 0.9])
    results = ConsensusScorer("essay-scoring", prepare("essay-scoring").public).score(paths)
    assert [r.case for r in results] == ["few_voters"] * 3
    assert [r.reward for r in results] == [1.0] * 3
    loose = ConsensusScorer("essay-scoring", prepare("essay-scoring").public, min_voters=2).score(paths)
    assert [r.case for r in loose] == ["agreement"] * 3
    assert loose[0].reward > loose[2].reward


def test_consensus_is_a_group_reward_not_a_preset():
    with pytest.raises(ValueError, match="group of submissions"):
        get_reward_config("consensus")
    assert "consensus" not in PRESETS


def test_softmax_ttrl_improves_the_true_score_without_answers(tmp_path):
    from baselines.ttrl import Arm, softmax_ttrl

    data = prepare("tabular-dec-2021")
    levels = [0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
    paths = write_group(data, tmp_path, levels)
    grader = Grader(data)  # the true score is logged, never given to the policy
    arms = [Arm(f"noise{lv}", p, 6, False, grader.grade(p).private) for lv, p in zip(levels, paths, strict=True)]
    arms.append(Arm("crash", None, 1, True, None))
    scorer = ConsensusScorer("tabular-dec-2021", data.public)
    for seed in (0, 1):
        history = softmax_ttrl(scorer, arms, steps=20, group=8, lr=0.5, seed=seed)
        assert history[-1]["expected_true"] > history[0]["expected_true"] + 0.05
        assert history[-1]["entropy"] < history[0]["entropy"]


def test_ttrl_family_has_weaker_variants():
    from baselines.ttrl import program_family, subsample

    family = program_family(prepare("spooky-author").spec, (1.0, 0.2))
    assert set(family) == {"fast", "fast@0.2", "strong", "strong@0.2"}
    assert "train.sample(frac=0.2" in family["fast@0.2"]
    assert subsample("print('no training data')\n", 0.5) is None


@pytest.mark.docker
def test_consensus_reward_through_the_pool(docker_client):
    from baselines.ttrl import subsample
    from mle_gym.pool import RolloutPool
    from mle_gym.pool.consensus import ConsensusReward, SubmissionStore

    spec = prepare("nomad2018").spec
    fast = (spec.folder / "solutions" / "fast.py").read_text()
    programs = [fast, subsample(fast, 0.5), subsample(fast, 0.2), subsample(fast, 0.1), fast,
                "raise SystemExit('no model today')"]
    with SubmissionStore() as store, RolloutPool(workers=2, sandbox=store.sandbox("docker-warm")) as pool:
        reward = ConsensusReward("nomad2018", pool, store, {"data": "lite", "reward": "consensus"})
        rewards = reward(["prompt"] * 6, [[{"role": "assistant", "content": p}] for p in programs])
        kept = sorted(p.name for p in store.folder.glob("*.csv"))
    assert len(rewards) == 6 and rewards[-1] == -1.0  # the crash: the usual failure reward
    assert all(r > 0 for r in rewards[:5])
    cases = [s.consensus.case for s in reward.last]
    assert cases[:5] == ["agreement"] * 5
    # The two runs of the same program are one copy group: same reward, neither voted for the other.
    assert reward.last[0].consensus.group == reward.last[4].consensus.group
    assert rewards[0] == pytest.approx(rewards[4])
    assert reward.last[0].consensus.voters == 3
    assert all(s.true_private is not None for s in reward.last[:5])  # logged for analysis
    assert len(kept) == 4  # one file per distinct submission, named by its sha256


@pytest.mark.slow
@pytest.mark.docker
def test_grpo_with_the_tiny_model_and_consensus_only(docker_client, tmp_path):
    from baselines.ttrl import parse_args, train_grpo

    args = parse_args(["--task", "nomad2018", "--policy", "grpo", "--max-steps", "1", "--group", "4",
                       "--warm-start-steps", "20", "--max-completion-length", "96", "--seeds", "0",
                       "--time-limit", "60", "--output-dir", str(tmp_path / "run")])
    trainer = train_grpo(args)
    assert trainer.state.global_step == 1
    (batch,) = trainer.true_log
    assert len(batch["rewards"]) == 4 and all(r is not None for r in batch["rewards"])
