"""IWM, SR and imitation datasets (Hugging Face ``datasets``) from collected experience.

Every row is ``{"prompt", "completion", ...}`` (TRL's prompt-completion format), plus columns
to filter and evaluate by. The README's "Early experience" section documents the schemas.

* IWM (implicit world modelling): prompt = the observation + the program (:func:`iwm_prompt`);
  completion = what the env reports after the step (:func:`iwm_target`: the env's own
  attempt report, without the program: outcome line with validity and why, score, run time
  and milestones, then the reported diagnostics, stdout and stderr tails).
* SR (self-reflection): prompt = the observation; completion = a reflection grounded in the
  recorded outcomes (:mod:`mle_gym.experience.reflect`), then the expert program.
* imitation: prompt = the observation; completion = the expert program.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from mle_gym.experience.collect import attempt_of
from mle_gym.experience.reflect import Group, Reflector, TemplateReflector
from mle_gym.prompt import LAST_HEADING, attempt_report, clip, parse_observation
from mle_gym.spec import load_task
from mle_gym.trajectories import load_trajectories

IWM_REQUEST = ("## Program to run\nPredict what the environment reports after running this "
               "program: validity and why, score, run time, milestones and its output.")
OUTPUT_CHARS = 1000
_FIRST_CODE = re.compile(r"```python\n.*?\n```\n?", re.DOTALL)


def _records(source: str | os.PathLike[str] | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = load_trajectories(source) if isinstance(source, (str, os.PathLike)) else list(source)
    return [r for r in rows if r.get("key")]  # experience records only


def fenced(program: str) -> str:
    """A program as the env expects an answer: one python block."""
    return f"```python\n{program.strip()}\n```"


def iwm_prompt(observation: str, program: str) -> str:
    return f"{observation}\n\n{IWM_REQUEST}\n{fenced(program)}"


def iwm_target(record: dict[str, Any], output_chars: int = OUTPUT_CHARS) -> str:
    """The env's report of this step (its renderer, :func:`mle_gym.prompt.attempt_report`),
    without the program (the prompt has it), outputs cut to their last ``output_chars``."""
    attempt = attempt_of(record)
    attempt.stdout = clip(attempt.stdout, output_chars)
    attempt.stderr = clip(attempt.stderr, output_chars)
    title = f"{LAST_HEADING}1)".removeprefix("## ")
    return _FIRST_CODE.sub("", attempt_report(attempt, title), count=1).strip()


def parse_outcome(text: str) -> tuple[bool | None, int | None]:
    """(valid, milestone count) from an IWM target or a model's prediction of one; None where
    the text does not say."""
    last = parse_observation(text).last
    if last is None or "Outcome:" not in last.report:
        return None, None
    return last.valid, last.milestone_count


def iwm_rows(source: str | os.PathLike[str] | Iterable[dict[str, Any]],
             output_chars: int = OUTPUT_CHARS) -> list[dict[str, Any]]:
    rows = []
    for r in _records(source):
        rows.append({
            "prompt": iwm_prompt(r["observation"], r.get("extracted_program") or r["program"]),
            "completion": iwm_target(r, output_chars),
            "task": r["task"], "state": r["state"], "role": r["role"], "kind": r["kind"],
            "stage": r.get("stage"), "mutation": r.get("mutation"), "key": r["key"],
            "program_sha256": r.get("program_sha256"),
            "valid": bool(r.get("valid")), "milestones": len(r.get("milestones") or []),
            "score": r.get("score"), "duration": float(r.get("duration") or 0.0),
        })
    return rows


def groups(source: str | os.PathLike[str] | Iterable[dict[str, Any]]) -> list[Group]:
    """One :class:`Group` per (task, data, state) that has an expert record."""
    by_state: dict[tuple, dict[str, Any]] = {}
    for r in _records(source):
        slot = by_state.setdefault((r["task"], r.get("data"), r.get("data_seed"), r["state"]),
                                   {"expert": None, "alternatives": [], "observation": None})
        if r["role"] == "expert":
            slot["expert"] = r
        else:
            slot["alternatives"].append(r)
    out = []
    for (task, _, _, state), slot in by_state.items():
        if slot["expert"] is None or not slot["alternatives"]:
            continue
        spec = load_task(task)
        out.append(Group(task, state, spec.direction, spec.metric, slot["expert"],
                         slot["alternatives"]))
    return out


def sr_rows(source: str | os.PathLike[str] | Iterable[dict[str, Any]],
            reflector: Reflector | None = None) -> list[dict[str, Any]]:
    """SR rows; groups whose reflection is dropped (its conclusion is not the expert's
    program) give none."""
    reflector = reflector or TemplateReflector()
    rows = []
    for group in groups(source):
        reflection = reflector(group)
        if reflection is None:
            continue
        expert = group.expert
        program = expert.get("extracted_program") or expert["program"]
        rows.append({
            "prompt": expert["observation"],
            "completion": f"{reflection}\n\n{fenced(program)}",
            "task": group.task, "state": group.state,
            "reflector": getattr(reflector, "name", type(reflector).__name__),
            "alternatives": len(group.alternatives),
        })
    return rows


def imitation_rows(source: str | os.PathLike[str] | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The expert's valid steps: (observation, expert program)."""
    rows = []
    for r in _records(source):
        if r["role"] == "expert" and r.get("valid") and not r.get("no_model_trained"):
            rows.append({"prompt": r["observation"],
                         "completion": fenced(r.get("extracted_program") or r["program"]),
                         "task": r["task"], "state": r["state"]})
    return rows


def _dataset(rows: list[dict[str, Any]]) -> Any:
    try:
        import datasets
    except ImportError:
        raise ImportError("the experience datasets need 'datasets': pip install "
                          "'mle-gym[train]' (or pip install datasets)") from None
    if not rows:
        return datasets.Dataset.from_dict({"prompt": [], "completion": []})
    return datasets.Dataset.from_list(rows)


def iwm_dataset(source: str | os.PathLike[str] | Iterable[dict[str, Any]],
                output_chars: int = OUTPUT_CHARS) -> Any:
    """The IWM rows as a ``datasets.Dataset``."""
    return _dataset(iwm_rows(source, output_chars))


def sr_dataset(source: str | os.PathLike[str] | Iterable[dict[str, Any]],
               reflector: Reflector | None = None) -> Any:
    """The SR rows as a ``datasets.Dataset``."""
    return _dataset(sr_rows(source, reflector))


def imitation_dataset(source: str | os.PathLike[str] | Iterable[dict[str, Any]]) -> Any:
    return _dataset(imitation_rows(source))


__all__ = ["IWM_REQUEST", "fenced", "groups", "imitation_dataset", "imitation_rows",
           "iwm_dataset", "iwm_prompt", "iwm_rows", "iwm_target", "parse_outcome",
           "sr_dataset", "sr_rows"]
