"""Every metric family: exact scores, perfect answers, and a reason for each bad value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from mle_gym.data import TaskData, write_split
from mle_gym.grading import Grader, InvalidSubmission
from mle_gym.grading.grader import medal
from mle_gym.spec import Scores, TaskSpec

N = 60
RNG = np.random.default_rng(0)
IDS = [f"r{i:03d}" for i in range(N)]


def make_task(tmp_path, metric, targets, answers, options=None, **extra) -> Grader:
    spec = TaskSpec(
        slug="toy", kaggle_id="toy", title="Toy", metric=metric, direction=extra.pop("direction", "higher"),
        id_column="id", target_columns=targets, metric_options=options or {},
        public_files=[], **extra,
    )
    root = tmp_path / metric
    (root / "private").mkdir(parents=True)
    (root / "public").mkdir()
    answers.to_csv(root / "private" / "answers.csv", index=False)
    write_split(answers, "id", 0, root / "private" / "split.csv")
    return Grader(TaskData(spec, "custom", root))


FAMILIES = {
    "roc_auc": dict(targets=["y"], answers=pd.DataFrame({"id": IDS, "y": RNG.integers(0, 2, N)})),
    "mean_column_roc_auc": dict(
        targets=["a", "b"], answers=pd.DataFrame({"id": IDS, "a": np.arange(N) % 2, "b": (np.arange(N) // 2) % 2})
    ),
    "quadratic_weighted_kappa": dict(
        targets=["score"], answers=pd.DataFrame({"id": IDS, "score": RNG.integers(1, 7, N)}),
        options={"labels": [1, 2, 3, 4, 5, 6]},
    ),
    "accuracy": dict(
        targets=["label"], answers=pd.DataFrame({"id": IDS, "label": RNG.integers(1, 8, N)}),
        options={"labels": [1, 2, 3, 4, 5, 6, 7]},
    ),
    "jaccard": dict(
        targets=["span"], answers=pd.DataFrame({"id": IDS, "span": [f"good day {i}" for i in range(N)]}),
    ),
    "pearson": dict(targets=["score"], answers=pd.DataFrame({"id": IDS, "score": RNG.random(N)})),
    "mean_column_rmsle": dict(
        targets=["e", "g"], answers=pd.DataFrame({"id": IDS, "e": RNG.random(N), "g": 2 * RNG.random(N)}),
        direction="lower",
    ),
}
PERFECT = {"mean_column_rmsle": 0.0}


@pytest.mark.parametrize("metric", sorted(FAMILIES))
def test_answers_score_perfectly(tmp_path, metric):
    family = dict(FAMILIES[metric])
    grader = make_task(tmp_path, metric, **family)
    assert grader.grade(family["answers"]).score == pytest.approx(PERFECT.get(metric, 1.0))
    assert grader.metric.perfect == PERFECT.get(metric, 1.0)


def test_scores_match_sklearn(tmp_path):
    auc = FAMILIES["roc_auc"]
    grader = make_task(tmp_path, "roc_auc", **auc)
    guess = auc["answers"].assign(y=RNG.random(N))
    assert grader.grade(guess).score == pytest.approx(roc_auc_score(auc["answers"]["y"], guess["y"]))
    qwk = FAMILIES["quadratic_weighted_kappa"]
    grader = make_task(tmp_path, "quadratic_weighted_kappa", **qwk)
    guess = qwk["answers"].assign(score=RNG.integers(1, 7, N).astype(float))
    expected = cohen_kappa_score(qwk["answers"]["score"], guess["score"].astype(int), weights="quadratic")
    assert grader.grade(guess).score == pytest.approx(expected)


def test_jaccard_is_word_level_and_case_blind(tmp_path):
    family = FAMILIES["jaccard"]
    grader = make_task(tmp_path, "jaccard", **family)
    guess = family["answers"].assign(span=["GOOD day"] * N)  # 2 of 3 words, the number missing
    assert grader.grade(guess).score == pytest.approx(2 / 3)
    empty = family["answers"].assign(span="")
    assert grader.grade(empty).score == 0.0


@pytest.mark.parametrize(
    ("metric", "column", "value", "needle"),
    [
        ("quadratic_weighted_kappa", "score", 2.5, "whole numbers"),
        ("quadratic_weighted_kappa", "score", 9, "must be one of the task's labels [1, 2, 3, 4, 5, 6]"),
        ("accuracy", "label", 0, "must be one of"),
        ("mean_column_rmsle", "e", -0.5, "must not be negative"),
        ("roc_auc", "y", "high", "non-numeric"),
        ("pearson", "score", np.inf, "infinite"),
    ],
)
def test_bad_values_have_reasons(tmp_path, metric, column, value, needle):
    family = dict(FAMILIES[metric])
    grader = make_task(tmp_path, metric, **family)
    bad = family["answers"].copy().astype({column: object})
    bad.loc[3, column] = value
    with pytest.raises(InvalidSubmission, match=needle.replace("[", r"\[").replace("]", r"\]")):
        grader.grade(bad)


def test_constant_pearson_is_invalid_not_nan(tmp_path):
    family = FAMILIES["pearson"]
    grader = make_task(tmp_path, "pearson", **family)
    with pytest.raises(InvalidSubmission, match="Pearson correlation is undefined"):
        grader.grade(family["answers"].assign(score=0.5))


def test_rmsle_aligns_by_id_not_position(tmp_path):
    family = FAMILIES["mean_column_rmsle"]
    grader = make_task(tmp_path, "mean_column_rmsle", **family)
    shuffled = family["answers"].sample(frac=1.0, random_state=3)
    assert grader.grade(shuffled).score == pytest.approx(0.0)


def test_row_alignment_for_ids_that_repeat(tmp_path):
    comments = ["you are great", "idiot", "idiot", "nice one"] * (N // 4)
    answers = pd.DataFrame({"Comment": comments, "Insult": [0, 1, 1, 0] * (N // 4)})
    spec = TaskSpec(
        slug="rows", kaggle_id="rows", title="Rows", metric="roc_auc", direction="higher",
        id_column="Comment", target_columns=["Insult"], extra_columns=["Date"],
        metric_options={"align": "row"}, public_files=[],
    )
    root = tmp_path / "rows"
    (root / "private").mkdir(parents=True)
    answers.to_csv(root / "private" / "answers.csv", index=False)
    write_split(answers, "Comment", 0, root / "private" / "split.csv")
    grader = Grader(TaskData(spec, "custom", root))
    assert grader.grade(answers.assign(Date="2012")).score == 1.0  # Date allowed and ignored
    with pytest.raises(InvalidSubmission, match=r"2 data row\(s\) differ, the first is row 1"):
        grader.grade(answers.iloc[[1, 0, *range(2, N)]])
    with pytest.raises(InvalidSubmission, match=f"it needs {N}"):
        grader.grade(answers.iloc[:-1])


def test_medal_flags_follow_the_direction():
    def spec(direction, **scores):
        return TaskSpec(slug="m", kaggle_id="m", title="m", metric="roc_auc", direction=direction,
                        id_column="id", target_columns=["y"], public_files=[],
                        full_scores=Scores(**scores))

    higher = spec("higher", gold=0.9, silver=0.8, bronze=0.7, median=0.6)
    assert medal(higher, 0.95) == {"medal": "gold", "above_median": True}
    assert medal(higher, 0.75) == {"medal": "bronze", "above_median": True}
    assert medal(higher, 0.5) == {"medal": None, "above_median": False}
    lower = spec("lower", gold=0.2, silver=0.3, bronze=0.4, median=0.5)
    assert medal(lower, 0.25) == {"medal": "silver", "above_median": True}


cells = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10),
                  st.text(max_size=4), st.none())


@pytest.fixture(scope="module")
def graders(tmp_path_factory) -> dict[str, Grader]:
    root = tmp_path_factory.mktemp("families")
    return {m: make_task(root, m, **dict(f)) for m, f in FAMILIES.items()}


@pytest.mark.parametrize("metric", sorted(FAMILIES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_submissions_grade_or_explain(graders, tmp_path, metric, data):
    sub = FAMILIES[metric]["answers"].copy().astype(object)
    for _ in range(data.draw(st.integers(0, 4))):
        row = data.draw(st.integers(0, N - 1))
        col = data.draw(st.sampled_from(list(sub.columns)))
        sub.iat[row, list(sub.columns).index(col)] = data.draw(cells)
    if data.draw(st.booleans()):
        sub = sub.sample(frac=1.0, random_state=1).iloc[data.draw(st.integers(0, 2)):]
    path = tmp_path / "fuzz.csv"
    sub.to_csv(path, index=False)
    try:
        grade = graders[metric].grade(path)
    except InvalidSubmission as exc:
        assert exc.reason.strip()
    else:
        assert np.isfinite(grade.score)
