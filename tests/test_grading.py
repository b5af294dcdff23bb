"""The grader: exact scores on valid submissions, an actionable reason for every rejection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import log_loss

from mle_gym.grading import Grader, InvalidSubmission

CLASSES = ["EAP", "HPL", "MWS"]


@pytest.fixture(scope="module")
def grader(spooky_data) -> Grader:
    return Grader(spooky_data)


@pytest.fixture(scope="module")
def answers(spooky_data) -> pd.DataFrame:
    return pd.read_csv(spooky_data.answers_path, dtype={"id": str})


@pytest.fixture
def good(answers) -> pd.DataFrame:
    """A plausible submission: answers blurred towards uniform."""
    sub = answers.copy()
    sub[CLASSES] = 0.7 * sub[CLASSES].to_numpy() + 0.1
    return sub


def reason_for(grader: Grader, tmp_path, frame_or_text) -> str:
    path = tmp_path / "submission.csv"
    if isinstance(frame_or_text, pd.DataFrame):
        frame_or_text.to_csv(path, index=False)
    else:
        path.write_bytes(frame_or_text if isinstance(frame_or_text, bytes) else frame_or_text.encode())
    with pytest.raises(InvalidSubmission) as err:
        grader.grade(path)
    return err.value.reason


def test_score_matches_sklearn_and_halves_partition(grader, good, answers, spooky_data):
    grade = grader.grade(good)
    truth = answers["author"] if "author" in answers else answers[CLASSES].idxmax(axis=1)
    expected = log_loss(truth, good[CLASSES].to_numpy(), labels=CLASSES)
    assert grade.score == pytest.approx(expected, rel=1e-9)
    split = pd.read_csv(spooky_data.split_path, dtype={"id": str})
    assert set(split["half"]) == {"public", "private"}
    assert abs((split["half"] == "public").mean() - 0.5) < 0.01
    n_pub = (split["half"] == "public").sum()
    # The whole-set score is the size-weighted mean of the two halves.
    whole = (grade.public * n_pub + grade.private * (len(split) - n_pub)) / len(split)
    assert grade.score == pytest.approx(whole, rel=1e-9)


def test_rows_are_aligned_by_id_not_position(grader, good):
    shuffled = good.sample(frac=1.0, random_state=1)
    assert grader.grade(shuffled).score == pytest.approx(grader.grade(good).score)


def test_rows_are_rescaled_then_clipped(grader, good):
    # spooky-author follows Kaggle's rule: rows are divided by their sum before scoring.
    halved = good.copy()
    halved[CLASSES] *= 0.5
    assert grader.grade(halved).score == pytest.approx(grader.grade(good).score)


def test_answers_score_perfectly_and_sample_near_its_score(grader, answers, spooky_data):
    assert grader.grade(answers).score < 1e-10
    sample = grader.grade(spooky_data.public / "sample_submission.csv").score
    assert 0.9 < sample < 1.2


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda s: s.drop(columns=["HPL"]), "missing column(s) 'HPL'"),
        (lambda s: s.assign(extra=1), "remove the unexpected column(s) 'extra'"),
        (lambda s: s.rename(columns={"id": "ID"}), "missing column(s) 'id'"),
        (lambda s: pd.concat([s, s.iloc[:2]]), "appear more than once"),
        (lambda s: s.iloc[3:], "test id(s) are missing"),
        (lambda s: pd.concat([s, s.iloc[:1].assign(id="nope")]), "are not test ids: 'nope'"),
        (lambda s: s.assign(EAP=["x"] + [0.3] * (len(s) - 1)), "non-numeric value 'x'"),
        (lambda s: s.assign(EAP=[np.nan] + [0.3] * (len(s) - 1)), "empty or NaN"),
        (lambda s: s.assign(EAP=[np.inf] + [0.3] * (len(s) - 1)), "infinite"),
        (lambda s: s.assign(EAP=[-0.2] + [0.3] * (len(s) - 1)), "between 0 and 1"),
        (lambda s: s.assign(EAP=[1.5] + [0.3] * (len(s) - 1)), "between 0 and 1"),
        (lambda s: s.assign(EAP=0.0, HPL=0.0, MWS=0.0), "are all zero"),
        (lambda s: s.iloc[:0], "has no rows"),
    ],
)
def test_each_malformed_kind_has_a_specific_reason(grader, good, tmp_path, mutate, needle):
    reason = reason_for(grader, tmp_path, mutate(good))
    assert needle in reason, reason


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "is empty"),
        (b"\x00\xff\xfe garbage \x00\n\x01", "NUL byte"),
        (b"id,EAP,HPL,MWS\nx\xff,1,0,0\n", "not UTF-8"),
        ('id,EAP,HPL,MWS\n"unterminated,1,2,3\n', "not a readable CSV"),
    ],
)
def test_unreadable_files_are_rejected(grader, tmp_path, content, needle):
    assert needle in reason_for(grader, tmp_path, content)


def test_missing_file_is_rejected(grader, tmp_path):
    with pytest.raises(InvalidSubmission, match="was not written"):
        grader.grade(tmp_path / "submission.csv")


def test_the_reason_names_the_rows_at_fault(grader, good, tmp_path):
    bad = good.copy()
    bad.loc[bad.index[:7], "MWS"] = -1
    reason = reason_for(grader, tmp_path, bad)
    assert repr(bad["id"].iloc[0]) in reason and "2 more" in reason


cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
    st.text(max_size=5),
    st.none(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    drop=st.integers(0, 3),
    shuffle=st.booleans(),
    dup=st.booleans(),
    n_edits=st.integers(0, 5),
)
def test_fuzzed_submissions_grade_or_give_a_reason(grader, good, tmp_path, data, drop, shuffle, dup, n_edits):
    sub = good.copy().astype(object)
    if shuffle:
        sub = sub.sample(frac=1.0, random_state=0)
    if drop:
        sub = sub.iloc[drop:]
    if dup:
        sub = pd.concat([sub, sub.iloc[:1]])
    for _ in range(n_edits):
        row = data.draw(st.integers(0, len(sub) - 1))
        col = data.draw(st.sampled_from(list(sub.columns)))
        sub.iat[row, list(sub.columns).index(col)] = data.draw(cells)
    path = tmp_path / "fuzz.csv"
    sub.to_csv(path, index=False)
    try:
        grade = grader.grade(path)
    except InvalidSubmission as exc:
        assert exc.reason.strip()
    else:
        assert np.isfinite(grade.score)
