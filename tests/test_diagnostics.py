"""Diagnostics: what a program prints about its model and validation, shown back to the agent."""

from __future__ import annotations

import re
import time

import gymnasium as gym
import pytest

from mle_gym.diagnostics import MAX_NOTES, MAX_SCORES, extract_diagnostics, format_diagnostics
from mle_gym.env import attempt_as_dict
from mle_gym.prompt import Attempt


def scores(stdout: str) -> list[tuple[str, float]]:
    return [(s["name"], s["value"]) for s in extract_diagnostics(stdout)["validation"]]


# -- the extractor -------------------------------------------------------------------------


def test_paper_style_notes_one_per_line_or_several_on_a_line():
    lines = "MODEL APPROACH: tf-idf + logistic regression\nNUM FEATURES: 20000\n"
    assert extract_diagnostics(lines)["notes"] == {
        "MODEL APPROACH": "tf-idf + logistic regression",
        "NUM FEATURES": 20000,
    }
    one_line = "MODEL APPROACH: tf-idf + LR (C=3, max_iter=1000), NUM FEATURES: 20000 | CV_FOLDS: 5"
    assert extract_diagnostics(one_line)["notes"] == {
        "MODEL APPROACH": "tf-idf + LR (C=3, max_iter=1000)",
        "NUM FEATURES": 20000,
        "CV FOLDS": 5,
    }


def test_note_values_keep_their_type():
    notes = extract_diagnostics("NUM FEATURES = 300\nLEARNING RATE: 0.05\nMODEL: lgbm\n")["notes"]
    assert notes == {"NUM FEATURES": 300, "LEARNING RATE": 0.05, "MODEL": "lgbm"}
    assert isinstance(notes["NUM FEATURES"], int)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Validation log loss: 0.51", [("validation log loss", 0.51)]),
        ("cv_auc=0.91", [("cv auc", 0.91)]),
        ("val_loss: 0.4, val_acc: 0.8", [("val loss", 0.4), ("val acc", 0.8)]),
        (
            "Epoch 3/10 - loss: 0.52 - val_loss: 0.45 - val_accuracy: 0.81",
            [("val loss", 0.45), ("val accuracy", 0.81)],
        ),
        ("Validation F1 = 0.812 (macro)", [("validation f1", 0.812)]),
        ("Validation log loss:0.4234.", [("validation log loss", 0.4234)]),
        ("Validation AUC: 9.1e-01", [("validation auc", 0.91)]),
        ("CV score: 0.83 +/- 0.02", [("cv score", 0.83)]),
        ("Holdout accuracy - 0.7", [("holdout accuracy", 0.7)]),
        ("OOF AUC 0.88", [("oof auc", 0.88)]),
        ("Cross-validation RMSE: 0.123", [("cross-validation rmse", 0.123)]),
        ("validation fold 2: 0.91", [("validation fold 2", 0.91)]),
        ("Best iteration: 120, valid_0's binary_logloss: 0.312", [("valid 0's binary logloss", 0.312)]),
        (  # the reference solutions' own lines
            "Validation log loss (5-fold CV, shrinkage=0.1, C=3): 0.4100",
            [("validation log loss (5-fold cv, shrinkage=0.1, c=3)", 0.41)],
        ),
        ("char model out-of-fold log loss: 0.4945", [("out-of-fold log loss", 0.4945)]),
        (
            "Validation quadratic weighted kappa (plain rounding): 0.7100",
            [("validation quadratic weighted kappa (plain rounding)", 0.71)],
        ),
    ],
)
def test_validation_scores_in_the_forms_programs_print_them(line, expected):
    assert scores(line) == expected


def test_per_fold_scores_then_a_final_one_end_with_the_final_one():
    out = "\n".join(
        [f"Fold {k} val_logloss: {v}" for k, v in enumerate((0.52, 0.49, 0.55), 1)]
        + ["CV log loss: 0.5200"]
    )
    found = scores(out)
    assert found[-1] == ("cv log loss", 0.52)
    assert found == [("val logloss", 0.55), ("cv log loss", 0.52)]  # one entry per name, latest wins


@pytest.mark.parametrize(
    "line",
    [
        "INFO: starting training",
        "WARNING: 3 rows dropped",
        "Loading data...",
        "Train shape: (1000, 3)",
        "Train log loss: 0.3",
        "Epoch 1/10 loss=0.5",
        "Validation set size: 2000",
        "Number of validation samples: 500",
        "n_valid: 500",
        "Using 5-fold CV with 200 estimators",
        "Val split 0.2",
        "[LightGBM] [Warning] No further splits with positive gain, best gain: -inf",
        "Wrote submission/submission.csv (2000 rows)",
        "see http://example.com:8080/validation",
        "The evaluation metric is 0.5",
        "Traceback (most recent call last):",
    ],
)
def test_noise_lines_are_not_diagnostics(line):
    assert extract_diagnostics(line) == {"notes": {}, "validation": []}


def test_huge_lines_are_read_only_so_far_and_fast():
    padded = "Validation log loss: 0.51" + " " * 5000 + "\n"
    assert scores(padded) == [("validation log loss", 0.51)]
    buried = "x" * 5000 + " validation auc 0.9\n"  # past the first 1000 characters
    assert scores(buried) == []
    blob = ("val 1 cv 2 " * 200_000) + "\n" + ("NUM FEATURES: 1, " * 100_000)
    started = time.perf_counter()
    result = extract_diagnostics(blob * 3)
    assert time.perf_counter() - started < 5.0
    assert len(result["notes"]) <= MAX_NOTES and len(result["validation"]) <= MAX_SCORES


def test_counts_are_bounded():
    out = "\n".join(f"KEY {i}: {i}\nval metric {i}: 0.{i}" for i in range(100))
    result = extract_diagnostics(out)
    assert len(result["notes"]) == MAX_NOTES and "KEY 0" in result["notes"]
    assert len(result["validation"]) == MAX_SCORES
    assert result["validation"][-1] == {"name": "val metric 99", "value": 0.99}


def test_format_for_the_observation():
    text = format_diagnostics(
        extract_diagnostics("MODEL APPROACH: lgbm\nValidation AUC: 0.912345678\n")
    )
    assert text == "- MODEL APPROACH: lgbm\n- validation auc: 0.912346"
    assert format_diagnostics(extract_diagnostics("hello\n")) == ""


# -- end to end, in Docker -----------------------------------------------------------------

DIAGNOSTIC_PROGRAM = '''
import os
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

inp = os.environ["MLE_INPUT_DIR"]
train = pd.read_csv(os.path.join(inp, "train.csv"))
test = pd.read_csv(os.path.join(inp, "test.csv"))
vec = TfidfVectorizer(sublinear_tf=True, min_df=2)
X = vec.fit_transform(train["text"])
y = train["author"].to_numpy()
print(f"MODEL APPROACH: tf-idf + logistic regression, NUM FEATURES: {X.shape[1]}")
losses = []
for k, (tr, va) in enumerate(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y), 1):
    fold = LogisticRegression(C=3.0, max_iter=1000).fit(X[tr], y[tr])
    losses.append(log_loss(y[va], fold.predict_proba(X[va]), labels=fold.classes_))
    print(f"Fold {k} val_logloss: {losses[-1]:.4f}")
print(f"CV log loss: {np.mean(losses):.4f}")
model = LogisticRegression(C=3.0, max_iter=1000).fit(X, y)
sub = pd.DataFrame(model.predict_proba(vec.transform(test["text"])), columns=model.classes_)
sub.insert(0, "id", test["id"])
sub.to_csv(os.environ["MLE_SUBMISSION_PATH"], index=False)
'''


@pytest.fixture(scope="module")
def diagnosed(docker_sandbox):
    env = gym.make("mle/spooky-author-v0", sandbox=docker_sandbox, max_steps=5)
    env.reset(seed=0)
    obs, _, _, _, info = env.step(DIAGNOSTIC_PROGRAM)
    yield env, obs, info
    env.close()


@pytest.mark.docker
def test_a_step_returns_what_the_program_reported(diagnosed):
    _, _, info = diagnosed
    assert info["valid_submission"], info["invalid_reason"]
    printed = info["stdout_tail"]
    n_features = int(re.search(r"NUM FEATURES: (\d+)", printed).group(1))
    cv = float(re.search(r"CV log loss: ([\d.]+)", printed).group(1))
    assert info["diagnostics"]["notes"] == {
        "MODEL APPROACH": "tf-idf + logistic regression",
        "NUM FEATURES": n_features,
    }
    assert info["diagnostics"]["validation"][-1] == {"name": "cv log loss", "value": cv}
    assert [s["name"] for s in info["diagnostics"]["validation"]] == ["val logloss", "cv log loss"]


@pytest.mark.docker
def test_diagnostics_appear_in_the_next_observations(diagnosed):
    env, obs, info = diagnosed
    cv = info["diagnostics"]["validation"][-1]["value"]
    block = (
        "What the program reported (model, validation):\n"
        "- MODEL APPROACH: tf-idf + logistic regression\n"
        f"- NUM FEATURES: {info['diagnostics']['notes']['NUM FEATURES']}\n"
        "- val logloss: "
    )
    assert block in obs and f"- cv log loss: {cv:.6g}" in obs  # the step's own observation

    attempt = Attempt(
        program=DIAGNOSTIC_PROGRAM,
        milestones=info["milestones"],
        score=info["score"],
        valid=info["valid_submission"],
        duration=info["duration"],
        stdout=info["stdout_tail"],
        reward=info["reward"],
        diagnostics=info["diagnostics"],
    )
    improve, reset_info = env.reset(
        options={"mode": "improve", "previous": attempt_as_dict(attempt)}
    )
    assert reset_info["mode"] == "improve"
    section = improve[improve.index("## Improve this solution") :]
    assert block in section and f"- cv log loss: {cv:.6g}" in section
