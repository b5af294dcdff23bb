"""Early experience: alternative programs, collection through the pool, IWM/SR datasets, SFT."""

from __future__ import annotations

import ast
import json

import pytest

from mle_gym.experience import (
    KINDS,
    MUTATIONS,
    STAGES,
    alternatives,
    iwm_rows,
    mutate,
    parse_outcome,
    reference_programs,
    sr_rows,
)
from mle_gym.experience.datasets import groups, imitation_rows
from mle_gym.experience.reflect import ChatReflector, Group, TemplateReflector
from mle_gym.llm import ChatClient
from mle_gym.spec import all_tasks
from mle_gym.trajectories import FIELDS, load_trajectories

TASK = "tabular-may-2022"  # the fastest reference programs of the suite
BUG_STAGES = {"imports", "paths", "columns", "training", "submission"}


# -- the generator ------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", all_tasks(), ids=lambda s: s.slug)
def test_alternatives_cover_every_stage_on_every_task(spec):
    programs = reference_programs(spec)
    alts = alternatives(spec, 24, seed=3, exclude=(programs["strong"],))
    assert len(alts) == 24
    texts = [a.program for a in alts]
    assert len(set(texts)) == 24 and programs["strong"] not in texts
    for alt in alts:
        ast.parse(alt.program)  # every alternative runs far enough to fail for its own reason
        assert alt.kind in KINDS and alt.stage in STAGES and alt.description
        assert alt.program != programs[alt.base] or alt.kind == "reference"
    assert {a.stage for a in alts if a.kind == "bug"} >= BUG_STAGES
    assert {"weaker", "slower"} <= {a.kind for a in alts}
    # Deterministic for a seed; another seed draws another population.
    assert alternatives(spec, 24, seed=3, exclude=(programs["strong"],)) == alts
    assert alternatives(spec, 24, seed=4, exclude=(programs["strong"],)) != alts


def test_a_mutation_edits_any_program_and_keeps_its_comments():
    program = (
        "import pandas as pd\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "train = pd.read_csv('input/train.csv')  # the labelled rows\n"
        "model = LogisticRegression(C=2.0, max_iter=300)\n"
        "model.fit(train[['f_00']], train['target'])\n"
        "sub = train[['id']].assign(target=model.predict_proba(train[['f_00']])[:, 1])\n"
        "sub.to_csv('submission/submission.csv', index=False)\n"
    )
    typo = mutate(program, TASK, "bad_hyperparameter", seed=1)
    assert typo is not None and typo.kind == "bug" and typo.stage == "training"
    assert "# the labelled rows" in typo.program
    assert "max_iters=300" in typo.program or "c=2.0" in typo.program
    header = mutate(program, TASK, "missing_header")
    assert header.program.rstrip().endswith("index=False, header=False)")
    assert mutate("print('no model here')\n", TASK, "fit_shape_mismatch") is None
    assert mutate("def broken(:\n", TASK, "import_typo") is None
    with pytest.raises(ValueError, match="unknown mutation"):
        mutate(program, TASK, "nope")
    assert set(MUTATIONS) >= {"missing_module", "wrong_input_path", "wrong_file_name"}


# -- reflections (records as collect writes them) ------------------------------------------------

def _record(role, valid, score=None, duration=1.0, milestones=6, description=None, **more):
    names = ["imports", "data_loaded", "model_defined", "model_trained", "predictions_made",
             "submission_written"][:milestones]
    return {"key": f"{role}-{description}", "task": TASK, "state": "scratch", "role": role,
            "kind": "expert" if role == "expert" else "bug", "valid": valid, "score": score,
            "duration": duration, "milestones": names, "observation": "OBS",
            "program": f"print({description!r})", "extracted_program": f"print({description!r})",
            "invalid_reason": None if valid else "the program failed (exit code 1)",
            "stderr_tail": "" if valid else "ModuleNotFoundError: No module named 'xgboost'",
            "description": description, **more}


def _group(expert_score, alt_score):
    return Group(TASK, "scratch", "higher", "roc_auc",
                 _record("expert", True, expert_score, 5.0, description="expert"),
                 [_record("alternative", True, alt_score, 1.0, description="a smaller model"),
                  _record("alternative", False, None, 0.5, 1, description="imports xgboost")])


def test_template_reflection_is_grounded_and_dropped_when_the_expert_lost():
    text = TemplateReflector()(_group(0.88, 0.77))
    assert "score 0.88" in text and "score 0.77" in text and "No module named 'xgboost'" in text
    assert text.splitlines()[-1].startswith("Conclusion: the program below is the best choice")
    assert TemplateReflector()(_group(0.70, 0.77)) is None  # an alternative did better
    rows = sr_rows([*_records_of(_group(0.88, 0.77)), *_records_of(_group(0.70, 0.77), "s2")])
    assert len(rows) == 1 and rows[0]["completion"].endswith("```python\nprint('expert')\n```")


def _records_of(group, state="scratch"):
    return [dict(r, state=state) for r in (group.expert, *group.alternatives)]


def test_chat_reflections_keep_only_conclusions_that_name_the_expert(chat_server):
    group = _group(0.88, 0.77)
    reflector = ChatReflector(ChatClient(base_url=chat_server.url, model=chat_server.model,
                                         max_retries=0))
    request, expert_number = reflector.prompt(group)
    assert request.count("## Program ") == 3 and "score 0.77" in request
    wrong = 1 if expert_number != 1 else 2
    chat_server.answers.extend([f"Program {expert_number} scored best.\nBest: Program {expert_number}",
                                f"Program {wrong} looks fine.\nBest: Program {wrong}"])
    kept = reflector(group)
    assert kept is not None and "the program below scored best" in kept
    assert reflector(group) is None  # its conclusion is another program: dropped
    assert len(chat_server.requests) == 2


# -- collection, datasets and training on real steps ----------------------------------------------

@pytest.fixture(scope="module")
def collected(tmp_path_factory, docker_client):
    from mle_gym.cli import main

    out = tmp_path_factory.mktemp("experience")
    argv = ["experience", "collect", "--task", TASK, "--alternatives", "2", "--out", str(out),
            "--workers", "2", "--sandbox", "docker-warm", "--time-limit", "600"]
    assert main(argv) == 0
    return out, argv


@pytest.mark.docker
def test_collect_records_real_outcomes_and_resumes(collected, capsys):
    from mle_gym.cli import main

    out, argv = collected
    path = out / f"{TASK}.jsonl"
    records = load_trajectories(path)
    # scratch: expert + 2 alternatives (the fast reference among them); improve: expert + 2
    assert len(records) == 6
    assert set(FIELDS) - {"image", "image_id", "agent_seconds", "extra_info"} <= set(records[0])
    by_state = {s: [r for r in records if r["state"] == s] for s in ("scratch", "improve")}
    for rows in by_state.values():
        expert = [r for r in rows if r["role"] == "expert"]
        assert len(expert) == 1 and expert[0]["valid"], expert[0]["invalid_reason"]
        assert len(rows) == 3
        for r in rows:
            assert r["next_observation"].startswith(r["observation"][:200])
            assert "## Your last attempt (attempt 1)" in r["next_observation"]
            assert r["duration"] > 0 and r["sandbox"].startswith("docker")
    # Improve mode starts from the fast reference's real outcome.
    fast = next(r for r in by_state["scratch"] if r["mutation"] == "reference")
    assert "## Improve this solution" in by_state["improve"][0]["observation"]
    assert f"score {fast['score']:.5g}" in by_state["improve"][0]["observation"]
    bugs = [r for r in records if r["kind"] == "bug"]
    assert bugs and all(not r["valid"] for r in bugs if r["stage"] in ("imports", "paths"))

    # Resume: nothing runs again; a lost record is run again, alone.
    capsys.readouterr()
    assert main(argv) == 0
    assert "ran 0 step(s), skipped 6" in capsys.readouterr().out
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    assert main(argv) == 0
    assert "ran 1 step(s), skipped 5" in capsys.readouterr().out
    assert len(load_trajectories(path)) == 6


@pytest.mark.docker
def test_iwm_and_sr_datasets_from_collected_steps(collected, tmp_path):
    from mle_gym.cli import main

    out, _ = collected
    records = load_trajectories(out)
    rows = iwm_rows(out)
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        assert row["prompt"].startswith(record["observation"])
        assert record["extracted_program"].strip() in row["prompt"]
        # The target is the env's report: validity, milestones and score read back from it.
        assert parse_outcome(row["completion"]) == (record["valid"], len(record["milestones"]))
        assert record["extracted_program"].strip() not in row["completion"]
        if record["score"] is not None:
            assert f"score {record['score']:.5g}" in row["completion"]
    assert len(groups(out)) == 2
    sr = sr_rows(out)
    experts = {r["state"]: r for r in records if r["role"] == "expert"}
    for row in sr:
        assert row["prompt"] == experts[row["state"]]["observation"]
        assert row["completion"].endswith(f"```python\n{experts[row['state']]['program'].strip()}\n```")
        assert "Conclusion: the program below is the best choice" in row["completion"]
    assert len(imitation_rows(out)) == 2

    assert main(["experience", "datasets", str(out), "--out", str(tmp_path / "ds")]) == 0
    import datasets

    iwm = datasets.load_from_disk(str(tmp_path / "ds" / "iwm"))
    assert len(iwm) == len(records) and {"prompt", "completion", "valid", "milestones"} <= set(
        iwm.column_names)


@pytest.mark.docker
@pytest.mark.slow
def test_iwm_recipe_trains_a_tiny_model_that_grpo_can_start_from(collected, tmp_path):
    from baselines import early_experience
    from baselines.duration_grpo import load_policy, parse_args
    from tests.tiny_lm import torch_threads

    out, _ = collected
    with torch_threads(1):
        args = early_experience.parse_args(["--experience", str(out), "--recipe", "iwm",
                                            "--steps", "4", "--eval", "--holdout", "0.3",
                                            "--output-dir", str(tmp_path / "ee")])
        summary = early_experience.train(args)
        assert summary["rows"]["iwm_held_out"] > 0 and summary["iwm_eval"]["held_out"] > 0
        assert json.loads((tmp_path / "ee" / "early_experience.json").read_text())["recipe"] == "iwm"

        class NoPrompts:
            def scratch(self):
                return "task"

            def improve(self):
                return None

        grpo = parse_args(["--task", TASK, "--init-from", str(tmp_path / "ee"),
                           "--warm-start-steps", "0"])
        model, tokenizer = load_policy(grpo, NoPrompts(), _runtime())
    # RL starts from the early-experience weights, not a fresh tiny model.
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "ee" / "model.safetensors"))
    name = next(iter(saved))
    assert (model.state_dict()[name] == saved[name]).all()
    assert tokenizer.padding_side == "left"


def _runtime():
    from mle_gym.step import TaskRuntime

    return TaskRuntime.create(TASK)
