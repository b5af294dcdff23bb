"""Leaderboard: aggregation on hand-made records, the results store, and the rendered page."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from mle_gym.leaderboard.aggregate import aggregate, normalise, sem
from mle_gym.leaderboard.render import build
from mle_gym.leaderboard.store import EpisodeSpec, ResultsStore
from mle_gym.spec import load_task


def step(score, private=None, valid=True, duration=1.0, timed_out=False):
    return {
        "score": score,
        "private_score": private if private is not None else score,
        "valid": valid,
        "duration": duration,
        "milestones": [],
        "invalid_reason": None if valid else "broken",
        "timed_out": timed_out,
    }


def record(agent, task, seed, steps, data="lite", error=None, agent_args=None):
    spec = EpisodeSpec(agent, task, seed, data, agent_args=agent_args or {})
    return {"key": spec.key(), **spec.as_dict(), "model": spec.model, "steps": steps,
            "error": error}


def test_sem_matches_the_textbook_formula():
    values = [0.5, 0.7, 0.9]
    mean = sum(values) / 3
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    assert sem(values) == pytest.approx(sd / math.sqrt(3))
    assert sem([0.4]) is None


def test_normalised_score_maps_sample_to_zero_and_reference_to_one_in_both_directions():
    spooky = load_task("spooky-author")  # log loss, lower is better
    lite = spooky.lite_scores
    assert normalise(spooky, "lite", lite.sample) == pytest.approx(0.0)
    assert normalise(spooky, "lite", lite.strong) == pytest.approx(1.0)
    halfway = (lite.sample + lite.strong) / 2
    assert normalise(spooky, "lite", halfway) == pytest.approx(0.5)
    assert normalise(spooky, "lite", 30.0) == 0.0  # a catastrophe counts as the sample
    assert normalise(spooky, "lite", None) == 0.0  # no valid submission
    assert normalise(spooky, "full", spooky.full_scores.gold) == pytest.approx(1.0)
    insults = load_task("detecting-insults")  # AUC, higher is better
    assert normalise(insults, "lite", insults.lite_scores.strong) == pytest.approx(1.0)


def test_episode_score_is_the_private_score_of_the_best_public_submission():
    task = load_task("detecting-insults")  # higher is better
    steps = [step(0.80, private=0.70), step(0.90, private=0.60), step(None, valid=False)]
    (row,) = aggregate([record("a", task.slug, 0, steps)])
    cell = row.cells[task.slug]
    assert cell.scores == [0.60]  # best public (0.90) is picked; its private half is reported
    assert cell.valid_rate == 1.0
    assert cell.steps == 3 and cell.valid_steps == 2


def test_mean_sem_valid_rate_and_ranking_over_seeds():
    slug = "spooky-author"
    lite = load_task(slug).lite_scores
    good = [record("good", slug, s, [step(v)]) for s, v in enumerate([0.5, 0.52, 0.54])]
    weak = [record("weak", slug, 0, [step(0.9)]), record("weak", slug, 1, [step(None, valid=False)])]
    rows = aggregate(good + weak)
    assert [r.agent for r in rows] == ["good", "weak"]
    cell = rows[0].cells[slug]
    assert cell.mean == pytest.approx(0.52)
    assert cell.sem == pytest.approx(sem([0.5, 0.52, 0.54]))
    weak_cell = rows[1].cells[slug]
    assert weak_cell.valid_rate == 0.5
    expected = ((0.9 - lite.sample) / (lite.strong - lite.sample) + 0.0) / 2
    assert weak_cell.mean_normalised == pytest.approx(expected)
    assert rows[0].medal_rate is None  # lite data: no medals


def test_medals_and_above_median_on_full_data():
    slug = "spooky-author"
    full = load_task(slug).full_scores
    records = [
        record("x", slug, 0, [step(full.gold - 0.01)], data="full"),  # gold
        record("x", slug, 1, [step(full.median - 0.01)], data="full"),  # above median only
        record("x", slug, 2, [step(full.sample)], data="full"),
    ]
    (row,) = aggregate(records)
    cell = row.cells[slug]
    assert cell.medals == ["gold", None, None]
    assert cell.above_median == [True, True, False]
    assert row.medal_rate == pytest.approx(1 / 3)
    assert row.above_median_rate == pytest.approx(2 / 3)


def test_errored_episodes_are_counted_apart_and_reruns_replace_records():
    slug = "spooky-author"
    records = [
        record("a", slug, 0, [], error="step 1: Docker failed"),
        record("a", slug, 0, [step(0.6)]),
        record("a", slug, 0, [step(0.55)]),  # the same episode again: the last one counts
    ]
    (row,) = aggregate(records)
    assert row.errors == 1
    assert row.cells[slug].scores == [0.55]


def test_store_appends_resumes_and_survives_a_torn_last_line(tmp_path):
    store = ResultsStore(tmp_path / "results")
    done = record("a", "spooky-author", 0, [step(0.6)])
    failed = record("a", "spooky-author", 1, [], error="interrupted")
    with store.writer("run1") as writer:
        writer.append(done)
        writer.append(failed)
    with (tmp_path / "results" / "run1.jsonl").open("a") as handle:
        handle.write('{"key": "torn')  # a run killed mid-write
    assert [r["key"] for r in store.records()] == [done["key"], failed["key"]]
    assert store.finished_keys() == {done["key"]}  # the errored episode runs again
    assert all(r["run_id"] == "run1" for r in store.records())


def test_episode_keys_are_stable_and_distinguish_configurations():
    a = EpisodeSpec("template-fast", "spooky-author", 0)
    assert a.key() == EpisodeSpec("template-fast", "spooky-author", 0).key()
    assert a.key() != EpisodeSpec("template-fast", "spooky-author", 1).key()
    assert a.key() != EpisodeSpec("template-fast", "spooky-author", 0, max_steps=5).key()
    assert a.key() != EpisodeSpec("template-fast", "spooky-author", 0, agent_args={"t": 1}).key()


def test_the_model_is_in_the_key_and_the_record_but_its_address_and_key_are_not():
    """The same model behind another port (a server on --port 0) is the same episode, so a
    rerun resumes; another model is another episode; the API key is never stored."""
    def spec(**args):
        return EpisodeSpec("llm", "spooky-author", 0, agent_args=args)

    a = spec(model="m1", base_url="http://127.0.0.1:40001/v1", api_key="sk-secret", max_tokens=512)
    assert a.key() == spec(model="m1", base_url="http://127.0.0.1:40002/v1", max_tokens=512).key()
    assert a.key() != spec(model="m2", base_url="http://127.0.0.1:40001/v1", max_tokens=512).key()
    assert a.key() != spec(model="m1", max_tokens=256).key()
    assert a.model == "m1" and EpisodeSpec("template-fast", "spooky-author", 0).model is None
    stored = a.as_dict()
    assert "api_key" not in stored["agent_args"] and "sk-secret" not in json.dumps(stored)
    assert stored["agent_args"]["base_url"] == "http://127.0.0.1:40001/v1"


def test_an_llm_agent_without_a_model_argument_gets_the_environments_model():
    from mle_gym.leaderboard.runner import plan, with_models

    env = {"MLE_GYM_LLM_MODEL": "SmolLM2"}
    args = with_models(["llm", "aide", "template-fast"], {"aide": {"model": "other"}}, env)
    assert args == {"llm": {"model": "SmolLM2"}, "aide": {"model": "other"}}
    assert with_models(["llm"], None, {}) == {}  # no model anywhere: the agent says so itself
    episodes = plan(["llm", "template-fast"], ["spooky-author"], [0], agent_args=args)
    assert [e.model for e in episodes] == ["SmolLM2", None]


def test_agent_arguments_from_the_command_line_reach_the_agents():
    from mle_gym.leaderboard.cli import _agent_args
    from mle_gym.leaderboard.runner import EpisodeRunner, plan, with_models

    args = _agent_args(["llm.max_tokens=512", "llm.base_url=http://127.0.0.1:9/v1",
                        "aide.max_tokens=256", "aide.base_url=http://127.0.0.1:9/v1",
                        "aide.retries=1"])
    args = with_models(["llm", "aide"], args, {"MLE_GYM_LLM_MODEL": "served-name"})
    runner = EpisodeRunner(pool=None, env_options={})
    for spec in plan(["llm", "aide"], ["spooky-author"], [0], agent_args=args):
        if spec.agent == "aide":
            pytest.importorskip("aide", reason="the aide agent needs aideml (`make aide`)")
        agent = runner._agent(spec, {})
        assert agent.client.base_url == "http://127.0.0.1:9/v1"
        assert agent.client.model == "served-name"
        assert agent.max_tokens == (512 if spec.agent == "llm" else 256)
        if spec.agent == "aide":
            assert agent.retries == 1


def test_the_record_names_the_model_the_agent_was_built_with():
    from mle_gym.agents import load_agent
    from mle_gym.leaderboard.runner import model_of

    llm = load_agent("llm", model="m1", base_url="http://127.0.0.1:9/v1")
    assert model_of(llm) == "m1"

    class Wrapper:  # a wrapping agent (like the lessons agent) keeps the inner one as .agent
        agent = llm

    assert model_of(Wrapper()) == "m1"
    assert model_of(load_agent("template-fast")) is None


def test_rows_are_per_agent_and_model_and_the_page_names_the_model(tmp_path):
    slug = "spooky-author"
    records = [record("llm", slug, s, [{**step(0.6), "agent_seconds": 100.0 + 40 * s}],
                      agent_args={"model": "small-lm"}) for s in range(2)]
    records += [record("llm", slug, s, [step(None, valid=False)],
                       agent_args={"model": "tiny-lm"}) for s in range(2)]
    records.append(record("template-fast", slug, 0, [step(0.5)]))
    rows = aggregate(records)
    assert [(r.agent, r.model, r.episodes) for r in rows] == [
        ("template-fast", None, 1), ("llm", "small-lm", 2), ("llm", "tiny-lm", 2)]
    assert rows[1].label == "llm [small-lm]" and rows[0].label == "template-fast"
    paths = build(rows, tmp_path)
    md, page = paths["markdown"].read_text(), paths["html"].read_text()
    ranking, per_task = md.split("## Per task")
    assert "| # | agent | model | data |" in ranking
    assert "| 2 | llm | small-lm | lite |" in ranking and "| 3 | llm | tiny-lm | lite |" in ranking
    # the time to write a program (an LLM's answer) beside the program's own run time
    assert rows[1].median_agent_seconds == 120.0 and rows[2].median_agent_seconds is None
    assert "agent s/step" in ranking
    assert "| 1.0 | 120.0 | 2 |" in next(ln for ln in ranking.splitlines() if "small-lm" in ln)
    assert "| 1 | template-fast | – | lite |" in ranking
    assert f"| {slug} | log_loss ↓ | llm | tiny-lm |" in per_task
    assert "<td>small-lm</td>" in page and "<th>model</th>" in page


def _sample_rows():
    records = []
    for agent, scores in {"strong": [0.50, 0.51, 0.49], "fast": [0.67, 0.66, 0.68]}.items():
        for seed, value in enumerate(scores):
            records.append(record(agent, "spooky-author", seed, [step(value, duration=2.0)]))
            records.append(record(agent, "detecting-insults", seed, [step(0.9 - seed / 100)]))
    return aggregate(records)


def test_build_writes_markdown_html_and_plots_with_the_lite_warning(tmp_path):
    paths = build(_sample_rows(), tmp_path)
    md = paths["markdown"].read_text()
    page = paths["html"].read_text()
    assert "not comparable" in md and "not comparable" in page
    assert md.index("| 1 | strong") < md.index("| 2 | fast")
    assert "Qwen2.5-3B RL (paper)" in md  # the paper's numbers, aside
    for key in ("normalised", "time"):
        assert paths[key].stat().st_size > 5_000
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert str(paths[key].relative_to(tmp_path)) in page


def test_paper_rows_rank_beside_full_data_runs(tmp_path):
    slug = "spooky-author"
    rows = aggregate([record("mine", slug, s, [step(0.3)], data="full") for s in range(3)])
    paths = build(rows, tmp_path)
    md = paths["markdown"].read_text()
    ranking = md.split("## Per task")[0]
    assert "Qwen2.5-3B RL (paper)" in ranking and "mine" in ranking
    assert "not comparable" not in md
    page = paths["html"].read_text()
    assert 'class="reference"' in page


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_page_renders_in_headless_chromium(tmp_path):
    browser = chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    paths = build(_sample_rows(), tmp_path / "site")
    shot = tmp_path / "page.png"
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         paths["html"].as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<table>" in dom.stdout and "spooky-author" in dom.stdout
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=1200,1600", paths["html"].as_uri()],
        capture_output=True, timeout=120, check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a blank page compresses to a few KB
    keep = os.environ.get("MLE_GYM_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def test_cli_build_reports_an_empty_store(tmp_path, capsys):
    from mle_gym.cli import main

    assert main(["leaderboard", "build", "--results", str(tmp_path / "none"),
                 "--out", str(tmp_path / "out")]) == 1
    assert "no results" in capsys.readouterr().out


def test_cli_build_from_a_store(tmp_path, capsys):
    from mle_gym.cli import main

    store = ResultsStore(tmp_path / "results")
    with store.writer("r") as writer:
        writer.append(record("a", "spooky-author", 0, [step(0.6)]))
    assert main(["leaderboard", "build", "--results", str(tmp_path / "results"),
                 "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "index.html").is_file()
    lines = (tmp_path / "results" / "r.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["agent"] == "a"


@pytest.mark.docker
def test_two_agents_on_two_lite_tasks_end_to_end_and_a_rerun_resumes(tmp_path, docker_client):
    from mle_gym.cli import main

    # The plumbing, on two tasks whose reference programs take seconds (spooky-author's strong
    # one runs in test_env and test_tasks already).

    results, out = tmp_path / "results", tmp_path / "site"
    args = ["leaderboard", "run", "--agents", "template-fast", "template-strong",
            "--tasks", "essay-scoring", "detecting-insults", "--seeds", "0",
            "--max-steps", "1", "--workers", "2", "--time-limit", "600", "--results", str(results),
            "--out", str(out), "--build", "--quiet"]
    assert main(args) == 0
    records = ResultsStore(results).records()
    assert len(records) == 4
    assert {(r["agent"], r["task"]) for r in records} == {
        (a, t) for a in ("template-fast", "template-strong")
        for t in ("essay-scoring", "detecting-insults")
    }
    for r in records:
        assert r["error"] is None and r["valid"], r
        (only,) = r["steps"]
        assert only["private_score"] is not None and only["duration"] > 0
    rows = {row.agent: row for row in aggregate(records)}
    essays = load_task("essay-scoring")
    fast = rows["template-fast"].cells["essay-scoring"].mean
    strong = rows["template-strong"].cells["essay-scoring"].mean
    assert essays.better(strong, fast)
    assert (out / "index.html").is_file() and (out / "LEADERBOARD.md").is_file()

    files = sorted(results.glob("*.jsonl"))
    assert main(args) == 0  # the same run again: nothing to do
    assert sorted(results.glob("*.jsonl")) == files
    assert len(ResultsStore(results).records()) == 4


def timed_out_step():
    return step(None, valid=False, duration=120.0, timed_out=True)


def test_a_board_where_every_step_of_an_agent_timed_out_says_so(tmp_path, capsys):
    """A loaded machine once made every strong step time out: a silent tie with errors 0."""
    from mle_gym.cli import main

    store = ResultsStore(tmp_path / "results")
    with store.writer("r") as writer:
        for seed in range(2):
            writer.append(record("slow", "spooky-author", seed, [timed_out_step()] * 2))
            writer.append(record("quick", "spooky-author", seed,
                                 [step(None, valid=False), step(0.6)]))
            writer.append(record("mixed", "spooky-author", seed, [timed_out_step(), step(0.6)]))
            writer.append(record("mixed", "detecting-insults", seed, [timed_out_step()]))
    rows = {row.agent: row for row in aggregate(store.records())}
    assert (rows["slow"].timed_out_steps, rows["slow"].steps, rows["slow"].all_timed_out) == (
        4, 4, True)
    assert (rows["quick"].timed_out_steps, rows["quick"].all_timed_out) == (0, False)
    assert rows["mixed"].cells["detecting-insults"].all_timed_out
    assert not rows["mixed"].all_timed_out and rows["mixed"].timed_out_steps == 4

    assert main(["leaderboard", "build", "--results", str(tmp_path / "results"),
                 "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "warning: Every step of slow (lite) timed out (4 steps)" in printed
    assert "timed out 4/4" in printed
    md = (tmp_path / "out" / "LEADERBOARD.md").read_text()
    page = (tmp_path / "out" / "index.html").read_text()
    for text in (md, page):
        assert "Every step of slow (lite) timed out (4 steps)" in text
        assert "Every step of mixed (lite) on detecting-insults timed out (2 steps)" in text
        assert "4/4 (all)" in text  # the ranking's cell for the agent
    ranking = md.split("## Per task")[0]
    assert "timed out |" in ranking.splitlines()[ranking.splitlines().index("## Ranking") + 2]
    assert "| quick | – | lite |" in ranking and "0/4 |" in ranking  # no model: "–"


def test_build_without_matplotlib_writes_the_tables_and_says_how_to_get_plots(tmp_path):
    """After a plain `pip install .` (no matplotlib) `leaderboard build` used to crash."""
    store = ResultsStore(tmp_path / "results")
    with store.writer("r") as writer:
        writer.append(record("a", "spooky-author", 0, [step(0.6)]))
    # None in sys.modules makes `import matplotlib` raise ImportError, as if not installed.
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from mle_gym.cli import main\n"
        f"sys.exit(main(['leaderboard', 'build', '--results', {str(tmp_path / 'results')!r}, "
        f"'--out', {str(tmp_path / 'out')!r}]))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Plots skipped: matplotlib is not installed" in run.stdout
    assert "pip install 'mle-gym[plots]'" in run.stdout
    md = (tmp_path / "out" / "LEADERBOARD.md").read_text()
    page = (tmp_path / "out" / "index.html").read_text()
    assert "| 1 | a | – | lite |" in md and "<table>" in page
    assert "Plots skipped" in md and "Plots skipped" in page and "<img" not in page
    assert not (tmp_path / "out" / "plots").exists()


def test_run_refuses_a_zero_time_limit_before_any_episode(tmp_path, capsys):
    from mle_gym.cli import main

    results = tmp_path / "results"
    assert main(["leaderboard", "run", "--agents", "template-fast", "--tasks", "spooky-author",
                 "--seeds", "0", "--time-limit", "0", "--results", str(results),
                 "--quiet"]) == 2
    assert "time_limit must be a number of seconds between 1" in capsys.readouterr().err
    assert not results.exists()  # once: every episode ran with the task's default instead


def test_the_paper_agents_name_every_field_of_paper_scores():
    from mle_gym.leaderboard.paper import AGENTS
    from mle_gym.spec import PaperScores

    assert list(AGENTS) == list(PaperScores.model_fields)


def test_the_paper_rows_come_from_the_task_specs(monkeypatch):
    from mle_gym.leaderboard import paper
    from mle_gym.spec import all_tasks

    records = paper.paper_records(["spooky-author", "nomad2018"])
    assert {r["task"] for r in records} == {"spooky-author", "nomad2018"}
    assert len(records) == 2 * len(paper.AGENTS)
    for r in records:
        field = next(f for f, name in paper.AGENTS.items() if name == r["agent"])
        expected = getattr(load_task(r["task"]).paper, field)
        assert r["steps"][0]["private_score"] == expected
        assert r["steps"][0]["valid"] is (expected is not None)
    # A task the paper did not run (no ``paper:`` in its task.yaml) gets no reference rows.
    specs = tuple(s.model_copy(update={"paper": None}) if s.slug == "nomad2018" else s
                  for s in all_tasks())
    monkeypatch.setattr(paper, "all_tasks", lambda: specs)
    assert "nomad2018" not in paper.paper_results()[paper.AGENTS["gpt4o_aide"]]
    assert {r["task"] for r in paper.paper_records(["spooky-author", "nomad2018"])} == {
        "spooky-author"}
