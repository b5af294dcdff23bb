"""Submissions written by hostile or careless programs: bounded work, bounded messages, and
the MLE-bench disagreements fixed (scale-free Pearson, lmsys rows, [0, 1] probabilities,
exact headers and comments, deterministic Jaccard, integer ids, clear answers errors)."""

from __future__ import annotations

import os
import random
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mle_gym.data import DataCorrupted, TaskData, prepare
from mle_gym.grading import Grader, InvalidSubmission
from mle_gym.grading.submission import HEADER_BYTES, MAX_REASON
from mle_gym.spec import load_task

TASKS = sorted(p.parent.name for p in load_task("spooky-author").folder.parent.glob("*/task.yaml"))


@pytest.fixture(scope="module")
def graders() -> dict[str, Grader]:
    return {task: Grader(prepare(task, "lite", seed=0)) for task in TASKS}


def answers_of(grader: Grader) -> pd.DataFrame:
    spec = grader.spec
    return pd.read_csv(prepare(spec.slug, "lite", seed=0).answers_path,
                       converters={spec.id_column: str}, keep_default_na=False)


def reason(grader: Grader, path) -> str:
    with pytest.raises(InvalidSubmission) as err:
        grader.grade(path)
    assert len(err.value.reason) <= MAX_REASON
    return err.value.reason


# -- hostile files ---------------------------------------------------------------------------


def test_a_million_columns_is_rejected_from_the_header(graders, tmp_path):
    path = tmp_path / "submission.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n1\n")
    assert "at most" in reason(graders["spooky-author"], path)  # 7.9 MB: over the size bound
    path.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n1\n")  # 0.7 MB: within it
    assert "longer than 64 KiB" in reason(graders["spooky-author"], path)
    # Under 64 KiB of header, but thousands of wrong names: linear check, short message.
    path.write_text(",".join(f"c{i}" for i in range(9000)) + "\n")
    text = reason(graders["spooky-author"], path)
    assert "missing column(s) 'id'" in text and "and 8995 more" in text


def test_a_file_over_the_size_bound_is_refused_before_reading(graders, tmp_path):
    grader = graders["spooky-author"]
    path = tmp_path / "submission.csv"
    with open(path, "wb") as handle:  # sparse: NULs, no disk used
        handle.truncate(grader.layout.max_bytes + 1)
    text = reason(grader, path)
    assert f"at most {grader.layout.max_bytes:,} bytes" in text
    with open(path, "w") as handle:  # one huge line: its content never comes back
        handle.write("id,EAP,HPL,MWS\n" + "x" * (grader.layout.max_bytes + 10) + ",1,0,0\n")
    text = reason(grader, path)
    assert "xxxxxxxxxx" not in text and "at most" in text


def test_nul_bytes_and_non_utf8_are_named(graders, tmp_path):
    grader = graders["spooky-author"]
    path = tmp_path / "submission.csv"
    with open(path, "wb") as handle:
        handle.truncate(4096)  # a sparse file within the bound: all NULs
    assert "NUL byte (at byte 0)" in reason(grader, path)
    path.write_bytes(b"id,EAP,HPL,MWS\nid1,0.5,0.5,0\xe9\n")
    assert "not UTF-8 text (byte 0xe9" in reason(grader, path)


def test_a_huge_cell_within_the_bound_comes_back_cut(graders, tmp_path):
    grader = graders["spooky-author"]
    path = tmp_path / "submission.csv"
    body = "id,EAP,HPL,MWS\n" + "y" * (grader.layout.max_bytes // 2) + ",1,0,0\n"
    path.write_text(body)
    text = reason(grader, path)
    assert len(text) <= MAX_REASON and "yyyy" in text


def test_folders_links_and_fifos_are_not_read(graders, tmp_path):
    grader = graders["spooky-author"]
    folder = tmp_path / "submission.csv"
    deep = folder
    for _ in range(200):
        deep = deep / "d"
    deep.mkdir(parents=True)
    assert "is a folder" in reason(grader, folder)
    shutil.rmtree(folder)
    folder.symlink_to(prepare("spooky-author", "lite", seed=0).answers_path)  # a link to the answers
    assert "symbolic link" in reason(grader, folder)
    folder.unlink()
    os.mkfifo(folder)  # open() on a FIFO would block the host forever
    assert "not a regular file" in reason(grader, folder)


def test_every_message_is_bounded(graders, tmp_path):
    grader = graders["tabular-may-2022"]
    answers = answers_of(grader)
    long_id = "z" * 100_000
    sub = pd.concat([answers, pd.DataFrame({"id": [long_id], "target": [0.5]})])
    path = tmp_path / "submission.csv"
    sub.to_csv(path, index=False)
    text = reason(grader, path)
    assert "not test ids" in text and long_id not in text


# -- disagreements with MLE-bench ---------------------------------------------------------------


def test_pearson_does_not_change_when_predictions_are_scaled(graders, tmp_path):
    grader = graders["us-patent-phrase"]
    answers = answers_of(grader)
    rng = np.random.default_rng(0)
    noisy = answers["score"].astype(float) + rng.normal(0, 0.5, len(answers))
    path = tmp_path / "submission.csv"
    scores = []
    for scale in (1.0, 1e-300, 1e-170, 1e160, 1e300):
        answers.assign(score=noisy * scale).to_csv(path, index=False)
        scores.append(grader.grade(path).score)
    assert scores[0] < 0.9
    assert scores == pytest.approx([scores[0]] * len(scores), rel=1e-12)
    answers.assign(score=1e-170).to_csv(path, index=False)
    assert "same number" in reason(grader, path)


def test_lmsys_rows_must_sum_to_one_and_are_scored_as_written(graders, tmp_path):
    grader = graders["lmsys-chatbot-arena"]
    answers = answers_of(grader)
    cols = ["winner_model_a", "winner_model_b", "winner_tie"]
    path = tmp_path / "submission.csv"
    thirds = answers[["id"]].assign(**{c: "0.333333" for c in cols})
    thirds.to_csv(path, index=False)
    text = reason(grader, path)
    assert "must sum to 1 (to 6 decimals)" in text and "divide each row by its sum" in text
    answers[["id", *cols]].assign(**{c: "0.3333333" for c in cols}).to_csv(path, index=False)
    assert grader.grade(path).score == pytest.approx(-np.log(0.3333333))  # as written, not rescaled
    answers[["id", *cols]].to_csv(path, index=False)
    assert grader.grade(path).score == pytest.approx(-np.log1p(-np.finfo(float).eps), rel=1e-6)


@pytest.mark.parametrize("task", ["tabular-may-2022", "random-acts-of-pizza", "plant-pathology-2020",
                                  "detecting-insults", "leaf-classification", "spooky-author"])
def test_probabilities_outside_zero_one_are_rejected(graders, tmp_path, task):
    grader = graders[task]
    answers = answers_of(grader)
    column = grader.spec.target_columns[0]
    bad = answers.copy()
    bad[column] = bad[column].astype(float) * 3 - 1
    path = tmp_path / "submission.csv"
    bad.to_csv(path, index=False)
    assert "between 0 and 1" in reason(grader, path)


def test_headers_and_comments_are_compared_exactly(graders, tmp_path):
    grader = graders["tabular-may-2022"]
    path = tmp_path / "submission.csv"
    answers_of(grader).rename(columns={"id": " id"}).to_csv(path, index=False)
    assert "' id' have surrounding spaces" in reason(grader, path)
    insults = graders["detecting-insults"]
    padded = answers_of(insults)
    padded["Comment"] = padded["Comment"] + " "
    padded.to_csv(path, index=False)
    assert "surrounding spaces differ" in reason(insults, path)


def test_a_pandas_index_column_gets_a_fix(graders, tmp_path):
    grader = graders["tabular-may-2022"]
    path = tmp_path / "submission.csv"
    answers_of(grader).to_csv(path)  # index=True
    assert "index=False" in reason(grader, path)
    pd.read_csv(path).to_csv(path)  # read back and written again: "Unnamed: 0"
    assert "index=False" in reason(grader, path)


def test_integer_ids_written_as_floats_are_the_same_ids(graders, tmp_path):
    grader = graders["tabular-may-2022"]
    answers = answers_of(grader)
    path = tmp_path / "submission.csv"
    answers.assign(id=answers["id"].astype(float)).to_csv(path, index=False)  # 6000.0
    assert grader.grade(path).score == 1.0
    answers.assign(id=answers["id"].astype(float) + 0.5).to_csv(path, index=False)
    assert "are not test ids: '6000.5'" in reason(grader, path)


def test_the_same_tweet_file_always_gets_the_same_score(graders, tmp_path):
    grader = graders["tweet-sentiment"]
    answers = answers_of(grader)
    rng = random.Random(0)
    # Trailing spaces everywhere, the last non-empty span ending in one, empty spans after it.
    guesses = [f"{t} " if rng.random() < 0.5 else " ".join(t.split()[:2]) + "  " for t in answers["selected_text"]]
    guesses[-3:] = ["", "word ", ""]
    sub = answers.assign(selected_text=guesses)
    path = tmp_path / "submission.csv"
    sub.to_csv(path, index=False)
    expected = 0.0
    truth = answers["selected_text"].tolist()
    for g, t in zip(sub["selected_text"].fillna(""), truth, strict=True):
        a, b = set(g.lower().split()), set(t.lower().split())
        expected += len(a & b) / len(a | b) if a | b else 1.0
    expected /= len(truth)
    scores = {grader.grade(path).score for _ in range(300)}
    assert scores == {expected}


def test_broken_answers_name_the_file_and_the_fix(tmp_path):
    data = prepare("tabular-may-2022", "lite", seed=0)
    root = tmp_path / "copy"
    shutil.copytree(data.root, root)
    copy = TaskData(data.spec, "custom", root)
    (root / "private" / "answers.csv").write_text("")
    with pytest.raises(DataCorrupted, match="answers.csv .*mle-gym prepare tabular-may-2022 --force"):
        Grader(copy)
    (root / "private" / "answers.csv").write_text("id,target\n1,0\n2,x\n")
    with pytest.raises(DataCorrupted, match="answers.csv cannot be read"):
        Grader(copy)
    (root / "private" / "answers.csv").write_text("id,other\n1,0\n")
    with pytest.raises(DataCorrupted, match="mle-gym prepare tabular-may-2022 --force"):
        Grader(copy)
    (root / "private" / "answers.csv").unlink()
    with pytest.raises(DataCorrupted, match="answers.csv is missing"):
        Grader(copy)


# -- fuzzing --------------------------------------------------------------------------------

PIECES = ["", ",", "\n", "\r\n", '"', '""', "0x10", "True", "nan", "-inf", "1e400", "NA", " ",
          "\x00", "\ufeff", "é", "1", "0.5", "-1", "6000.0", "id", "Unnamed: 0"]


def _fuzz_file(grader: Grader, rng: random.Random) -> bytes:
    answers = answers_of(grader)
    spec = grader.spec
    columns = [spec.id_column, *spec.target_columns]
    kind = rng.randrange(6)
    if kind == 0:  # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
    if kind == 1:  # a wide header
        return (",".join(rng.choice(columns + ["x"]) for _ in range(rng.randrange(1, 20000))) + "\n").encode()
    sub = answers[columns].astype(str).copy()
    if kind == 2 and len(sub) > 1:
        sub = sub.sample(frac=rng.random(), random_state=rng.randrange(100))
    for _ in range(rng.randrange(1, 8)):
        row, col = rng.randrange(len(sub)), rng.randrange(len(columns))
        sub.iat[row, col] = "".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 4)))
    text = sub.to_csv(index=False)
    if kind == 3:  # cut anywhere
        text = text[: rng.randrange(len(text) + 1)]
    if kind == 4:  # a header of random names
        text = ",".join(rng.choice(PIECES + columns) for _ in range(rng.randrange(1, 6))) + "\n" + text
    return text.encode("utf-8", "surrogatepass")


def _grade_or_explain(grader: Grader, path) -> None:
    try:
        grade = grader.grade(path)
    except InvalidSubmission as exc:
        assert exc.reason.strip() and len(exc.reason) <= MAX_REASON
    else:
        assert np.isfinite([grade.score, grade.public, grade.private]).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), task=st.sampled_from(TASKS))
def test_fuzzed_files_grade_or_explain_on_every_task(graders, tmp_path, seed, task):
    path = tmp_path / "submission.csv"
    path.write_bytes(_fuzz_file(graders[task], random.Random(seed)))
    _grade_or_explain(graders[task], path)


@pytest.mark.slow
def test_many_fuzzed_files_grade_or_explain(graders, tmp_path):
    path = tmp_path / "submission.csv"
    for seed in range(2000):
        task = TASKS[seed % len(TASKS)]
        path.write_bytes(_fuzz_file(graders[task], random.Random(seed)))
        _grade_or_explain(graders[task], path)


def test_header_bound_is_64_kib():
    assert HEADER_BYTES == 64 * 1024
