"""Lessons: the book, the reflectors, the curator, crediting and the lessons agent.

Everything here runs without Docker: failures come from the real grader's reasons on real
lite data, the model reflector talks to the local chat server. Real steps are in
tests/test_lessons_docker.py.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import time

import gymnasium as gym
import pandas as pd
import pytest

from mle_gym.agents.llm_agent import SYSTEM_PROMPT, LLMAgent
from mle_gym.grading import Grader, InvalidSubmission
from mle_gym.lessons.agent import LessonsAgent
from mle_gym.lessons.book import LAYOUT_V1, SCHEMA_VERSION, BookError, LessonBook
from mle_gym.lessons.curate import SECTION_HEADING, Curator, credit_episode, similarity
from mle_gym.lessons.reflect import (
    AttemptRecord,
    ModelReflector,
    RuleReflector,
    failure_signature,
    parse_operations,
)
from mle_gym.lessons.scripted import HabitAgent
from mle_gym.llm import ChatClient
from mle_gym.spec import load_task

SPOOKY = load_task("spooky-author")
TABULAR = load_task("tabular-may-2022")


@pytest.fixture
def book(tmp_path) -> LessonBook:
    return LessonBook(tmp_path / "lessons.db")


def grader_reason(data, frame: pd.DataFrame, tmp_path) -> str:
    """The real grader's reason for a submission that is wrong."""
    path = tmp_path / "submission.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InvalidSubmission) as caught:
        Grader(data).grade(path)
    return caught.value.reason


def failed(task: str, reason: str | None = None, stderr: str = "", episode: str = "e", **kw) -> AttemptRecord:
    return AttemptRecord(task=task, program="print(1)", invalid_reason=reason, stderr_tail=stderr,
                         episode=episode, **kw)


MODULE_ERROR = ("Traceback (most recent call last):\n  File \"main.py\", line 1, in <module>\n"
                "    import xgboost\nModuleNotFoundError: No module named 'xgboost'\n")


# -- the book ---------------------------------------------------------------------------------


def test_book_keeps_lessons_with_counters_and_sources_across_openings(tmp_path):
    path = tmp_path / "b.db"
    book = LessonBook(path)
    a = book.add("task:spooky-author", "  Use   predict_proba for log loss. ", sources=["ep1"])
    b = book.add("all", "Never read /kaggle/input.", signature="wrong-path", origin="rule:wrong-path")
    assert a.text == "Use predict_proba for log loss." and a.sources == ["ep1"]
    book.counts([a.id], helpful=2, uses=3)
    book.counts([a.id, b.id], harmful=1)
    again = LessonBook(path)
    got = again.get(a.id)
    assert (got.helpful, got.harmful, got.uses) == (2, 1, 3)
    assert again.get(b.id).signature == "wrong-path"
    assert [x.id for x in again.for_task(SPOOKY)] == [a.id, b.id]
    assert [x.id for x in again.for_task(TABULAR)] == [b.id]  # another task sees only "all"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(ValueError, match="scope"):
        book.add("everywhere", "text")
    with pytest.raises(KeyError, match="no lesson 99"):
        book.get(99)


def test_merge_sums_counters_joins_sources_and_keeps_the_first_id(book):
    a = book.add("all", "first", sources=["e1"])
    b = book.add("all", "second", sources=["e2"])
    book.counts([a.id], helpful=1)
    book.counts([b.id], helpful=2, harmful=1)
    merged = book.merge([a.id, b.id], "merged text")
    assert (merged.id, merged.text, merged.helpful, merged.harmful) == (a.id, "merged text", 3, 1)
    assert merged.sources == ["e1", "e2"] and len(book) == 1


def _writer(path: str, worker: int, n: int) -> None:
    book = LessonBook(path)
    shared = book.lessons()[0].id
    for i in range(n):
        book.add("all", f"lesson {worker}-{i}", sources=[f"w{worker}"])
        book.counts([shared], helpful=1)


def test_several_processes_write_one_book_without_losing_anything(tmp_path):
    path = tmp_path / "shared.db"
    shared = LessonBook(path).add("all", "shared lesson")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(str(path), w, 20)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    book = LessonBook(path)
    assert len(book) == 1 + 4 * 20
    assert book.get(shared.id).helpful == 80  # every increment landed


def test_an_older_book_is_migrated_and_a_newer_one_refused(tmp_path):
    old = tmp_path / "v1.db"
    with sqlite3.connect(old) as conn:
        conn.executescript(LAYOUT_V1)
        conn.executemany("INSERT INTO meta VALUES (?, ?)",
                         [("kind", "mle-gym-lesson-book"), ("schema_version", "1")])
        conn.execute("INSERT INTO lessons (scope, text, helpful, harmful, created, changed, sources) "
                     "VALUES ('all', 'an old lesson', 4, 1, 0, 0, '[\"old-episode\"]')")
    book = LessonBook(old)
    assert book.schema_version == SCHEMA_VERSION
    lesson = book.lessons()[0]
    assert (lesson.text, lesson.helpful, lesson.harmful, lesson.uses) == ("an old lesson", 4, 1, 0)
    assert lesson.sources == ["old-episode"]
    book.record_episode("e", "spooky-author", 1.0, True, 2, [], [lesson.id])  # new tables work

    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(BookError, match="newer mle-gym.*version 99"):
        LessonBook(old)

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(BookError, match="not a lesson book"):
        LessonBook(other)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(BookError, match="not a lesson book"):
        LessonBook(junk)


# -- failure signatures from the real grader's reasons -------------------------------------------


def test_failure_signatures_name_what_the_grader_and_the_sandbox_report(spooky_data, tmp_path):
    sample = pd.read_csv(spooky_data.public / "sample_submission.csv")
    wrong_columns = grader_reason(spooky_data, sample.rename(columns=str.upper), tmp_path)
    wrong_ids = grader_reason(spooky_data, sample.assign(id=sample["id"] + "x"), tmp_path)
    wrong_scale = grader_reason(spooky_data, sample.assign(EAP=3.0), tmp_path)
    cases = {
        "submission-columns": failed("spooky-author", wrong_columns),
        "submission-ids": failed("spooky-author", wrong_ids),
        "metric-scale": failed("spooky-author", wrong_scale),
        "missing-module:xgboost": failed("spooky-author", "the program failed (exit code 1)",
                                         MODULE_ERROR),
        "wrong-path": failed("spooky-author", "the program failed (exit code 1)",
                             "FileNotFoundError: [Errno 2] No such file or directory: "
                             "'/kaggle/input/train.csv'"),
        "oom": failed("spooky-author", "the program ran out of memory", oom=True),
        "time-limit": failed("spooky-author", "the program ran past the limit", timed_out=True),
    }
    for signature, attempt in cases.items():
        assert failure_signature(attempt) == signature, (signature, attempt.invalid_reason)
    assert failure_signature(AttemptRecord("spooky-author", "x", valid=True, score=0.5)) is None
    assert failure_signature(failed("spooky-author", "ValueError somewhere")) is None


# -- the rule reflector ------------------------------------------------------------------------


def test_rule_reflector_learns_a_recurring_failure_once(book):
    reflector = RuleReflector(min_count=2)
    once = [failed("tabular-may-2022", "the program failed", MODULE_ERROR, episode="e1")]
    credit_episode(book, "e1", "tabular-may-2022", [], ["missing-module:xgboost"], False, None)
    assert reflector.reflect(book, TABULAR, once, "e1").added == []  # seen once: not yet
    again = [failed("tabular-may-2022", "the program failed", MODULE_ERROR, episode="e2")]
    added = reflector.reflect(book, TABULAR, again, "e2").added
    assert len(added) == 1
    lesson = added[0]
    assert lesson.scope == "all" and lesson.signature == "missing-module:xgboost"
    assert "Do not import xgboost" in lesson.text and "lightgbm" in lesson.text
    assert set(lesson.sources) == {"e1", "e2"}
    credit_episode(book, "e2", "tabular-may-2022", [], ["missing-module:xgboost"], False, None)
    third = [failed("spooky-author", "the program failed", MODULE_ERROR, episode="e3")] * 2
    assert reflector.reflect(book, SPOOKY, third, "e3").added == []  # the book has it already


def test_rule_lessons_carry_the_task_specifics(book, spooky_data, tmp_path):
    sample = pd.read_csv(spooky_data.public / "sample_submission.csv")
    reason = grader_reason(spooky_data, sample.rename(columns=str.upper), tmp_path)
    attempts = [failed("spooky-author", reason), failed("spooky-author", reason)]
    lesson = RuleReflector().reflect(book, SPOOKY, attempts, "e1").added[0]
    assert lesson.scope == "task:spooky-author"
    assert "exactly the columns id,EAP,HPL,MWS" in lesson.text
    scale = grader_reason(spooky_data, sample.assign(EAP=3.0), tmp_path)
    lesson = RuleReflector().reflect(book, SPOOKY, [failed("spooky-author", scale)] * 2, "e2").added[0]
    assert lesson.scope == "metric:probabilities" and "predict_proba" in lesson.text
    assert [x.id for x in book.for_task(load_task("tabular-may-2022"))] == [lesson.id]  # roc_auc too


# -- the model reflector -----------------------------------------------------------------------


def reflector_for(chat_server) -> ModelReflector:
    return ModelReflector(ChatClient(base_url=chat_server.url, model=chat_server.model,
                                     max_retries=0, timeout=10))


def test_model_reflector_applies_add_update_merge_remove(book, chat_server):
    a = book.add("task:spooky-author", "Use TF-IDF with word bigrams.")
    b = book.add("task:spooky-author", "Word bigrams in TF-IDF help.")
    c = book.add("all", "Print the validation score.")
    unrelated = book.add("task:tabular-may-2022", "Not for this task.")
    chat_server.answers.append("Here is my answer:\n```json\n" + json.dumps({"operations": [
        {"op": "add", "scope": "metric", "text": "Clip probabilities to [1e-6, 1-1e-6] for log loss."},
        {"op": "merge", "ids": [a.id, b.id], "text": "TF-IDF with word bigrams works well here."},
        {"op": "update", "id": c.id, "text": "Print the validation score with 5 digits."},
    ]}) + "\n```")
    program = "".join(f"step_{i} = {i}  # a long enough program\n" for i in range(30))
    attempts = [AttemptRecord("spooky-author", program, valid=True, score=0.6,
                              stdout_tail="val 0.6"),
                AttemptRecord("spooky-author", program.replace("step_7 = 7", "step_7 = 8"),
                              invalid_reason="boom", stderr_tail="Traceback: boom")]
    out = reflector_for(chat_server).reflect(book, SPOOKY, attempts, "ep7")
    assert out.refused is None and len(out.added) == 1 and len(out.changed) == 2
    assert out.added[0].scope == "metric:probabilities" and out.added[0].origin == "model"
    texts = {x.id: x.text for x in book.lessons()}
    assert texts[a.id] == "TF-IDF with word bigrams works well here." and b.id not in texts
    assert texts[c.id].endswith("5 digits.") and unrelated.id in texts
    sent = chat_server.chat_requests[-1].messages[-1]["content"]
    assert "Use TF-IDF with word bigrams." in sent and "Not for this task." not in sent
    assert "Changes against the previous attempt" in sent and "+step_7 = 8" in sent
    assert "Traceback: boom" in sent

    chat_server.answers.append(json.dumps([{"op": "remove", "id": c.id}]))  # a bare list works
    assert reflector_for(chat_server).reflect(book, SPOOKY, attempts).removed == [c.id]


@pytest.mark.parametrize("answer, why", [
    ("I think the agent should use better features.", "no JSON"),
    ('{"operations": [{"op": "add", "text": "too short"}]}', "at least 10"),
    ('{"operations": [{"op": "explode", "id": 1}]}', "do not fit the schema"),
    ('{"operations": [{"op": "remove", "id": 12345}]}', "12345"),
    ('{"operations": [{"op": "add", "text": "A perfectly fine lesson text.", "extra": 1}]}',
     "do not fit the schema"),
    ('{"operations": [{"op": "add", "text": "A fine lesson that would apply."}, '
     '{"op": "remove", "id": 999}]}', "999"),
])
def test_a_malformed_answer_changes_nothing_and_is_logged(book, chat_server, answer, why):
    book.add("task:spooky-author", "An existing lesson.")
    before = [x.as_dict() for x in book.lessons()]
    chat_server.answers.append(answer)
    out = reflector_for(chat_server).reflect(book, SPOOKY, [failed("spooky-author", "x")], "ep")
    assert out.refused is not None and why in out.refused
    assert [x.as_dict() for x in book.lessons()] == before
    logged = book.entries("reflection-refused")[-1]["detail"]
    assert why in logged["reason"] and logged["answer"] == answer


def test_an_unreachable_model_is_logged_not_raised(book, chat_server):
    chat_server.fail(500, "the model crashed")
    out = reflector_for(chat_server).reflect(book, SPOOKY, [failed("spooky-author", "x")], "ep")
    assert "no answer from the model" in out.refused and len(book) == 0
    assert "the model crashed" in book.entries("reflection-refused")[-1]["detail"]["reason"]


def test_parse_operations_reads_prose_around_the_json():
    ops = parse_operations('Sure!\n{"operations": [{"op": "remove", "id": 3}]}\nHope it helps.')
    assert ops.operations[0].id == 3


# -- the curator --------------------------------------------------------------------------------


def test_curator_merges_near_duplicates_prunes_and_caps(book):
    now = time.time()
    a = book.add("task:spooky-author", "Use predict_proba for the log loss, not predict.")
    b = book.add("task:spooky-author", "use predict_proba for the log-loss -- not predict!")
    c = book.add("task:spooky-author", "Clip probabilities away from 0 and 1.")
    d = book.add("all", "Do not import xgboost.", signature="missing-module:xgboost")
    e = book.add("all", "The sandbox lacks xgboost; use lightgbm.", signature="missing-module:xgboost")
    bad = book.add("all", "Always train for an hour.")
    book.counts([bad.id], harmful=3)
    book.counts([b.id], helpful=2)
    report = Curator(max_per_scope=5).curate(book, now=now)
    assert (a.id, b.id) in report.merged and (d.id, e.id) in report.merged
    assert report.pruned_harmful == [bad.id]
    kept = {x.id: x for x in book.lessons()}
    assert set(kept) == {a.id, c.id, d.id}
    assert kept[a.id].text == b.text.strip() and kept[a.id].helpful == 2  # the credited wording
    assert similarity(a.text, c.text) < 0.8

    for text in ("Scale numeric features before a linear model.", "LightGBM with 300 trees fits.",
                 "Interaction features f_00 times f_01 help.", "Use stratified five-fold CV.",
                 "Encode the text column f_27 by character position.", "Early stopping saves time."):
        book.add("task:tabular-may-2022", text)
    report = Curator(max_per_scope=3).curate(book)
    assert report.merged == []
    assert len(report.pruned_cap) == 3
    assert len(book.lessons(["task:tabular-may-2022"])) == 3

    stale = Curator(max_age_days=1).curate(book, now=now + 3 * 86_400, dry_run=True)
    assert set(stale.pruned_old) >= {c.id, d.id} and len(book.lessons()) == 6  # dry run


def test_the_prompt_section_fits_its_budgets(book):
    for i in range(10):
        book.add("all", f"Lesson {i}: " + "x" * 150)
    good = book.add("task:spooky-author", "Ranked first: it helped.")
    book.counts([good.id], helpful=5)
    curator = Curator(prompt_chars=600, prompt_lessons=8)
    chosen = curator.select(book.for_task(SPOOKY))
    assert chosen[0].id == good.id
    section = curator.section(chosen)
    assert section.startswith(SECTION_HEADING) and len(section) <= 600
    assert len(Curator(prompt_lessons=2).select(book.for_task(SPOOKY))) == 2
    assert curator.section([]) == ""


def test_credit_follows_the_documented_rules(book):
    fix = book.add("all", "Do not import xgboost.", signature="missing-module:xgboost")
    advice = book.add("task:spooky-author", "Use word bigrams.")
    # A first episode: no baseline, valid, no repeat of the failure -> both helpful.
    out = credit_episode(book, "e1", "spooky-author", [fix.id, advice.id], [], True, 1.0)
    assert out == {"helpful": [fix.id, advice.id], "harmful": []}
    # Valid but below the task's mean: the fix still helped, the advice earns nothing.
    out = credit_episode(book, "e2", "spooky-author", [fix.id, advice.id], [], True, 0.5)
    assert out == {"helpful": [fix.id], "harmful": []}
    # The failure came back and nothing was valid: both harmful.
    out = credit_episode(book, "e3", "spooky-author", [fix.id, advice.id],
                         ["missing-module:xgboost"], False, None)
    assert out == {"helpful": [], "harmful": [fix.id, advice.id]}
    got = {x.id: x for x in book.lessons()}
    assert (got[fix.id].helpful, got[fix.id].harmful, got[fix.id].uses) == (2, 1, 3)
    assert (got[advice.id].helpful, got[advice.id].harmful) == (1, 1)
    assert [e["id"] for e in book.episodes("spooky-author")] == ["e1", "e2", "e3"]


# -- the lessons agent --------------------------------------------------------------------------


def first_observation(task: str) -> str:
    env = gym.make(load_task(task).env_id)  # no step is taken: no sandbox starts
    try:
        return env.reset(seed=0)[0]
    finally:
        env.close()


def test_the_llm_agent_gets_the_lessons_in_its_system_prompt(book, chat_server):
    lesson = book.add("all", "Do not import xgboost: the sandbox has no xgboost module.")
    book.add("task:tabular-may-2022", "A lesson for another task only.")
    chat_server.answers.append("Plan.\n```python\nprint(1)\n```")
    llm = LLMAgent(base_url=chat_server.url, model=chat_server.model, max_retries=0)
    agent = LessonsAgent(llm, book)
    agent.reset("spooky-author", 0)
    agent.act(first_observation("spooky-author"))
    system = chat_server.chat_requests[-1].messages[0]
    assert system["role"] == "system" and system["content"].startswith(SYSTEM_PROMPT)
    assert lesson.text in system["content"] and "another task" not in system["content"]
    assert agent.shown == [lesson.id]


def test_an_agent_without_a_system_prompt_is_refused_with_what_to_add(book):
    from mle_gym.agents.templates import FastTemplateAgent

    with pytest.raises(TypeError, match="set_system_prompt"):
        LessonsAgent(FastTemplateAgent(), book)


def test_the_habit_agent_acts_on_the_lesson_text_not_a_flag():
    obs = first_observation("tabular-may-2022")
    agent = HabitAgent()
    agent.reset("tabular-may-2022", 0)
    plain = agent.act(obs)
    assert "import xgboost" in plain and "c.upper()" in plain
    agent.system_prompt = ("Do not import xgboost: no such module. Write submission/submission.csv "
                           "with exactly the columns id,target (that header).")
    agent.reset("tabular-may-2022", 0)
    taught = agent.act(obs)
    assert "import xgboost" not in taught and "['id', 'target']" in taught
    agent.system_prompt = "Do not import catboost. Use exactly the columns id,wrong."
    agent.reset("tabular-may-2022", 0)
    misled = agent.act(obs)
    assert "import xgboost" in misled and "['id', 'wrong']" in misled


# -- distillation: the SFT script -----------------------------------------------------------------


def test_the_sft_script_trains_the_tiny_model_on_pairs(tmp_path):
    from baselines.distill_lessons import main as distill
    from mle_gym.agents.templates import reference_program
    from mle_gym.lessons.distill import write_pairs
    from tests.tiny_lm import torch_threads

    pairs = tmp_path / "pairs.jsonl"
    answer = f"Plan: the fast model.\n\n```python\n{reference_program('tabular-may-2022', 'fast')}```"
    write_pairs([{"prompt": first_observation("tabular-may-2022"), "completion": answer,
                  "reward": 1.5}], pairs)
    with torch_threads(1):
        report = distill(["--pairs", str(pairs), "--model", "tiny", "--max-steps", "2",
                          "--out", str(tmp_path / "distilled")])
    assert report["pairs"] == 1 and report["steps"] == 2 and len(report["losses"]) == 2
    assert (tmp_path / "distilled" / "config.json").is_file()
    with pytest.raises(SystemExit, match="raise --max-length"), torch_threads(1):
        distill(["--pairs", str(pairs), "--model", "tiny", "--max-steps", "1", "--max-length", "64",
                 "--out", str(tmp_path / "cut")])
