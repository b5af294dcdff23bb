"""The grader's fast paths give exactly what the plain formulas give: one typed CSV reader
(no second parser that could read a cell differently), integer-id lookups, one-sort ROC
AUC, bincount kappa, scale-free Pearson and the vectorised Jaccard."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from mle_gym.grading import Grader, InvalidSubmission
from mle_gym.grading.metrics import pearson, quadratic_weighted_kappa, roc_auc_halves, word_jaccard
from mle_gym.grading.submission import Layout, read_submission

LAYOUT = Layout("id", ("a", "b"), frozenset(), (), 1 << 20)

VALID = {
    "plain": "id,a,b\nx1,0.25,1\nx2,1e-3,2\nx3,0.5,3\n",
    "quoted numbers": 'id,a,b\n"x1","0.25",1\nx2,"1e-3",2\n',
    "crlf and bom": "\ufeffid,a,b\r\nx1,0.25,1\r\nx2,0.75,2\r\n",
    "columns in another order": "b,id,a\n1,x1,0.5\n",
    "leading zeros and signs": "id,a,b\n007,+0.5,-1\n x2,.5,5.\n",
    "extremes": "id,a,b\nx1,1.7976931348623157e308,5e-324\n",
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_the_reader_reads_numbers_as_pandas_does(tmp_path, name):
    path = tmp_path / "submission.csv"
    path.write_text(VALID[name], encoding="utf-8")
    table = read_submission(path, LAYOUT)
    plain = pd.read_csv(path, converters={"id": str})
    plain.columns = [c.removeprefix("\ufeff") for c in plain.columns]
    assert table.column("id").to_pylist() == list(plain["id"])  # ids exactly as written
    for column in ("a", "b"):
        assert np.array_equal(table.column(column).to_numpy(), plain[column].to_numpy(dtype=float))


# Cells pandas' grader path rejected while the old fast path read them as numbers.
NOT_NUMBERS = ["0x10", "True", "False", "1_000", "0X1p3", "1d5", "1.5e", "١", "abc", "--1"]


@pytest.mark.parametrize("cell", NOT_NUMBERS)
def test_cells_that_are_not_decimal_numbers_are_rejected(tmp_path, cell):
    path = tmp_path / "submission.csv"
    path.write_text(f"id,a,b\nx1,0.5,1\nx2,{cell},2\n")
    assert pd.isna(pd.to_numeric(pd.Series([cell], dtype=object), errors="coerce")[0])
    with pytest.raises(InvalidSubmission, match="non-numeric value") as err:
        read_submission(path, LAYOUT)
    assert repr(cell) in err.value.reason


def test_all_boolean_column_is_rejected_on_a_real_task(tmp_path):
    from mle_gym.data import prepare

    data = prepare("tabular-may-2022", "lite", seed=0)
    answers = pd.read_csv(data.answers_path, dtype={"id": str})
    sub = answers.assign(target=answers["target"].map({0: "False", 1: "True"}))
    path = tmp_path / "submission.csv"
    sub.to_csv(path, index=False)
    with pytest.raises(InvalidSubmission, match="non-numeric value 'True'|non-numeric value 'False'"):
        Grader(data).grade(path)


def test_shuffled_and_ordered_submissions_grade_the_same(spooky_data):
    grader = Grader(spooky_data)
    answers = pd.read_csv(spooky_data.answers_path, dtype={"id": str})
    sub = answers.copy()
    cols = ["EAP", "HPL", "MWS"]
    sub[cols] = sub[cols] * 0.7 + 0.1
    ordered = grader.grade(sub)
    shuffled = grader.grade(sub.sample(frac=1.0, random_state=1))
    assert ordered == shuffled
    broken = sub.copy()
    broken.loc[0, "id"] = broken.loc[1, "id"]
    with pytest.raises(InvalidSubmission, match="more than once"):
        grader.grade(broken)


def test_one_sort_auc_is_sklearns_on_every_half():
    rng = np.random.default_rng(0)
    for n in (8, 9, 100, 5000):
        score = np.round(rng.random(n), 2)  # many ties
        label = rng.integers(0, 2, n)
        label[:4] = [0, 1, 0, 1]
        public = rng.random(n) < 0.5
        public[:4] = [True, True, False, False]
        whole, pub, priv = roc_auc_halves(score[:, None], label[:, None].astype(float), {}, public)
        assert whole == pytest.approx(roc_auc_score(label, score), abs=1e-15)
        assert pub == pytest.approx(roc_auc_score(label[public], score[public]), abs=1e-15)
        assert priv == pytest.approx(roc_auc_score(label[~public], score[~public]), abs=1e-15)


def test_bincount_kappa_is_sklearns():
    rng = np.random.default_rng(1)
    for _ in range(20):
        truth = rng.integers(1, 7, 300)
        pred = np.where(rng.random(300) < 0.6, truth, rng.integers(1, 7, 300))
        expected = cohen_kappa_score(truth, pred, weights="quadratic", labels=[1, 2, 3, 4, 5, 6])
        got = quadratic_weighted_kappa(pred[:, None], truth[:, None].astype(float), {"labels": [1, 2, 3, 4, 5, 6]})
        assert got == pytest.approx(expected, abs=1e-15)


def test_pearson_is_scipys_and_scale_free():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 5, 2000) / 4
    guess = truth + rng.normal(0, 0.5, 2000)
    expected = pearsonr(truth, guess)[0]
    for scale in (1.0, 1e-300, 1e-170, 1e-20, 3.0, 1e20, 1e160, 1e300):
        got = pearson((guess * scale)[:, None], truth[:, None], {})
        assert got == pytest.approx(expected, rel=1e-13), scale


def test_vectorised_jaccard_is_the_plain_loop_bit_for_bit():
    rng = random.Random(0)
    words = ["good", "Bad", "DAY", "so", "é", "İstanbul", "ß", "x\x1cy", "a\tb", " ", "",
             "  lead", "trail  ", "\u00a0nb", "ǅ", "ﬁ", "ΣΑΣ", "K", "A\x0bB", "end "]
    for _ in range(30):
        n = rng.randint(1, 300)
        guess = np.array([[" ".join(rng.choice(words) for _ in range(rng.randint(0, 5)))]
                          for _ in range(n)], dtype=object)
        truth = np.array([[" ".join(rng.choice(words) for _ in range(rng.randint(0, 5)))]
                          for _ in range(n)], dtype=object)
        total = 0.0  # the competition's formula, written out
        for g, t in zip(guess[:, 0], truth[:, 0], strict=True):
            a, b = set(g.lower().split()), set(t.lower().split())
            total += len(a & b) / len(a | b) if a | b else 1.0
        assert word_jaccard(guess, truth, {}) == total / n
