"""The grader's fast paths (pyarrow CSV reader, hash alignment, vectorised Jaccard) give
exactly what the plain paths give: same frames, same scores, bit for bit."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from mle_gym.grading import Grader, InvalidSubmission
from mle_gym.grading.metrics import word_jaccard
from mle_gym.grading.submission import _read_with_arrow, read_submission

pytest.importorskip("pyarrow")

EDGE_CSVS = {
    "plain": "id,a,b\nx1,0.25,1\nx2,1e-3,2\nx3,0.5,3\n",
    "quoted numbers": 'id,a,b\n"x1","0.25",1\nx2,"1e-3",2\n',
    "crlf and bom": "\ufeffid,a,b\r\nx1,0.25,1\r\nx2,0.75,2\r\n",
    "na text and blanks": "id,a,b\nx1,NA,\nx2,nan,None\nx3,,null\n",
    "infinities": "id,a,b\nx1,inf,-inf\nx2,1.7976931348623157e308,5e-324\n",
    "text in a number column": "id,a,b\nx1,0.5,abc\nx2,0.1,2\n",
    "padded header": "id , a,b\nx1,0.5,1\n",
    "leading zeros and spaces in ids": "id,a,b\n007,0.5,1\n x2,0.5,2\n",
    "booleans": "id,a,b\nx1,True,1\nx2,False,0\n",
    "all empty column": "id,a,b\nx1,,1\nx2,,2\n",
}


@pytest.mark.parametrize("name", sorted(EDGE_CSVS))
def test_arrow_reader_reads_what_pandas_reads(tmp_path, name):
    path = tmp_path / "submission.csv"
    path.write_text(EDGE_CSVS[name], encoding="utf-8")
    fast = read_submission(path, "id")
    plain = pd.read_csv(path, converters={"id": str}, low_memory=False)
    plain.columns = [str(c).strip() for c in plain.columns]
    plain["id"] = plain["id"].astype(str)
    assert list(fast.columns) == list(plain.columns)
    for column in plain.columns:
        a = pd.to_numeric(fast[column], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(plain[column], errors="coerce").to_numpy(dtype=float)
        assert np.array_equal(a, b, equal_nan=True), column
        assert list(fast[column].isna()) == list(plain[column].isna()), column
        if column == "id":
            assert list(fast[column]) == list(plain[column])


@pytest.mark.parametrize("text", ["id,a\nNA,1\n", "id,a,a\nx,1,2\n", ",id,a\n0,x,1\n",
                                  "id,a\nx,2020-01-01\n", "id,a\nx,1,2\n"])
def test_arrow_reader_defers_to_pandas_when_they_could_differ(tmp_path, text):
    path = tmp_path / "submission.csv"
    path.write_text(text)
    assert _read_with_arrow(path, "id") is None


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


def test_vectorised_jaccard_is_the_plain_loop_bit_for_bit():
    rng = random.Random(0)
    words = ["good", "Bad", "DAY", "so", "é", "İstanbul", "ß", "x\x1cy", "a\tb", " ", "",
             "  lead", "trail  ", "\u00a0nb", "ǅ", "ﬁ", "ΣΑΣ", "K"]
    for _ in range(20):
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
