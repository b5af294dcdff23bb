"""Collect early experience: run the expert and K alternatives from each state, record it all.

A *state* is what the agent sees before acting: the task's scratch observation, and (improve
mode) the observation that shows the task's fast reference program with its real output.
From each state the expert program (the task's strong reference by default) and ``k``
alternatives (:func:`~mle_gym.experience.alternatives.alternatives`, and optionally samples
of a policy) run as real steps through the :class:`~mle_gym.pool.RolloutPool`. Each step
becomes one JSON line in ``OUT/<task>.jsonl``, with the trajectory recorder's columns
(:mod:`mle_gym.trajectories`) plus:

``key`` (identity of (task, data, state, program): what resume skips), ``state`` (state id),
``role`` (``expert`` | ``alternative``), ``kind``, ``stage``, ``mutation``, ``base``,
``description`` (the alternative's label) and ``next_observation`` (what the env would show
after this step, rendered by :class:`mle_gym.episode.Episode`).

Collection is resumable: records already in ``OUT`` are skipped; a step whose sandbox broke
is not recorded, so the next run tries it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mle_gym.episode import Episode
from mle_gym.experience.alternatives import Alternative, alternatives, reference_programs
from mle_gym.options import RuntimeOptions
from mle_gym.prompt import Attempt
from mle_gym.trajectories import TrajectoryWriter, load_trajectories, trajectory_fields

SCHEMA = "mle-gym-experience/1"
STATES = ("scratch", "improve")
Policy = Callable[[str], str]  # observation -> program (an agent's answer)


@dataclass(frozen=True)
class State:
    """An expert state: its id, the env mode, and (improve) the attempt it starts from."""

    id: str
    mode: str
    previous: Attempt | None = None


@dataclass
class CollectReport:
    """What one ``collect`` call did."""

    task: str
    path: Path
    ran: int = 0  # steps run now
    skipped: int = 0  # already in OUT
    errors: list[str] = field(default_factory=list)  # sandbox failures (not recorded)
    seconds: float = 0.0
    records: int = 0  # records in the file afterwards

    @property
    def steps_per_minute(self) -> float:
        return 60.0 * self.ran / self.seconds if self.seconds > 0 else 0.0


def record_key(task: str, data: str, data_seed: int, state: str, program: str,
               time_limit: float | None = None) -> str:
    """A step's identity for resuming: the same program from the same state on the same data
    under the same time limit (a longer limit is a new experiment)."""
    text = json.dumps([task, data, data_seed, state, program] + ([time_limit] if time_limit else []))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def attempt_of(record: dict[str, Any]) -> Attempt:
    """The attempt a record describes, as an observation shows it."""
    return Attempt(
        program=record.get("extracted_program") or record.get("program") or "",
        milestones=list(record.get("milestones") or []),
        score=record.get("score"),
        valid=bool(record.get("valid")),
        invalid_reason=record.get("invalid_reason"),
        duration=float(record.get("duration") or 0.0),
        stdout=record.get("stdout_tail") or "",
        stderr=record.get("stderr_tail") or "",
        reward=record.get("raw_reward"),
        diagnostics=dict(record.get("diagnostics") or {}),
    )


@dataclass
class _Job:
    state: State
    role: str
    program: str
    alternative: Alternative | None
    key: str


def collect(
    task: str,
    k: int,
    out: str | os.PathLike[str],
    *,
    workers: int = 2,
    sandbox: str = "docker-warm",
    data: str = "lite",
    data_seed: int = 0,
    seed: int = 0,
    states: Sequence[str] = STATES,
    time_limit: float | None = None,
    expert: str = "strong",
    policy: Policy | None = None,
    policy_samples: int = 0,
    progress: bool = True,
) -> CollectReport:
    """Run the expert and ``k`` alternatives from each state of ``task``; append records to
    ``out/<task>.jsonl`` and return a report. ``policy`` (observation -> program), when
    given, adds ``policy_samples`` of its answers per state as alternatives (kind
    ``policy``)."""
    from tqdm.auto import tqdm

    from mle_gym.pool import RolloutPool, StepJob
    from mle_gym.step import TaskRuntime
    from mle_gym.wrappers.rewards import program_sha256

    unknown = [s for s in states if s not in STATES]
    if unknown or not states:
        raise ValueError(f"states must be some of {', '.join(STATES)}, not {list(states)}")
    if k < 0:
        raise ValueError(f"--alternatives must be >= 0, not {k}")
    runtime = TaskRuntime.create(task, RuntimeOptions(data=data, data_seed=data_seed,
                                                      time_limit=time_limit))
    spec = runtime.spec
    programs = reference_programs(spec)
    if expert not in programs:
        raise ValueError(f"{spec.slug} has no reference program {expert!r}; it has "
                         f"{', '.join(programs)}")
    options = RuntimeOptions(data=data, data_seed=data_seed, time_limit=runtime.time_limit,
                             memory_limit=runtime.memory_limit, cpus=runtime.cpus)
    prompt = runtime.prompt()
    path = Path(out) / f"{spec.slug}.jsonl"
    done: dict[str, dict[str, Any]] = {}
    if path.exists():
        done = {r["key"]: r for r in load_trajectories(path) if r.get("key")}
    report = CollectReport(spec.slug, path)
    run_id = uuid.uuid4().hex[:16]
    writer = TrajectoryWriter(path)

    def jobs_for(state: State, number: int) -> list[_Job]:
        observation = Episode(spec, prompt, mode=state.mode, previous=state.previous).observation
        exclude = [programs[expert]]
        if state.previous is not None:
            exclude.append(state.previous.program)
        alts = alternatives(spec, k, seed=seed * 1000 + number, exclude=tuple(exclude))
        if policy is not None:
            for i in range(policy_samples):
                answer = policy(observation)
                alts.append(Alternative("policy", "policy", "sample", "policy", answer,
                                        f"policy sample {i}"))
        made = [_Job(state, "expert", programs[expert], None,
                     record_key(spec.slug, str(data), data_seed, state.id, programs[expert],
                                runtime.time_limit))]
        made += [_Job(state, "alternative", a.program, a,
                      record_key(spec.slug, str(data), data_seed, state.id, a.program,
                                 runtime.time_limit))
                 for a in alts]
        return made

    def record(job: _Job, number: int, step: Any) -> dict[str, Any]:
        state = job.state
        episode = Episode(spec, prompt, mode=state.mode, previous=state.previous, max_steps=None)
        observation = episode.observation
        step = episode.record(step)
        alt = job.alternative
        return {
            "schema": SCHEMA,
            "run_id": run_id,
            "episode": number,
            "reset_seed": None,
            "mode": state.mode,
            "observation": observation,
            "program": job.program,
            "program_sha256": program_sha256(job.program),
            **trajectory_fields(step, runtime, data_seed),
            "step": step.step,
            "reward": step.reward,
            "raw_reward": step.reward,
            "terminated": False,
            "truncated": False,
            "sandbox": step.sandbox,
            "mle_gym_version": _version(),
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "key": job.key,
            "state": state.id,
            "role": job.role,
            "kind": "expert" if alt is None else alt.kind,
            "stage": None if alt is None else alt.stage,
            "mutation": None if alt is None else alt.mutation,
            "base": expert if alt is None else alt.base,
            "description": f"the task's {expert} reference program" if alt is None
            else alt.description,
            "next_observation": episode.observation,
        }

    started = time.perf_counter()
    state_numbers = {name: i for i, name in enumerate(STATES)}
    pending_improve = "improve" in states
    fast_key = record_key(spec.slug, str(data), data_seed, "scratch", programs.get("fast", ""),
                          runtime.time_limit)
    try:
        with RolloutPool(backend="local", workers=workers, sandbox=sandbox,
                         max_pending=10_000) as pool, \
                tqdm(total=0, desc=f"experience {spec.slug}", unit="step", file=sys.stderr,
                     disable=not progress) as bar:

            def submit(jobs: list[_Job], number: int) -> None:
                for job in jobs:
                    if job.key in done:
                        report.skipped += 1
                        continue
                    bar.total += 1
                    bar.refresh()
                    pool.submit(StepJob(spec.slug, job.program, options, tag=(job, number)))

            def start_improve() -> bool:
                """Improve mode starts from the fast program's real outcome, once known."""
                if fast_key not in done:
                    return False
                state = State("improve", "improve", attempt_of(done[fast_key]))
                submit(jobs_for(state, state_numbers["improve"]), state_numbers["improve"])
                return True

            scratch = jobs_for(State("scratch", "scratch"), 0)
            needs_fast = pending_improve and "fast" in programs
            if needs_fast and "scratch" not in states:
                fast = _Job(State("scratch", "scratch"), "alternative", programs["fast"],
                            Alternative("reference", "modelling", "reference", "fast",
                                        programs["fast"], "the task's fast reference program"),
                            fast_key)
                scratch = [fast]
            elif needs_fast and not any(j.key == fast_key for j in scratch):
                scratch.append(_Job(scratch[0].state, "alternative", programs["fast"],
                                    Alternative("reference", "modelling", "reference", "fast",
                                                programs["fast"], "the task's fast reference "
                                                "program as it is"), fast_key))
            submit(scratch, 0)
            if pending_improve and start_improve():
                pending_improve = False
            for result in pool.as_completed():
                job, number = result.job.tag
                bar.update()
                if result.step is None:
                    report.errors.append(f"{job.role} {job.alternative and job.alternative.label}: "
                                         f"{result.error}")
                    continue
                row = record(job, number, result.step)
                writer.write(row)
                done[job.key] = row
                report.ran += 1
                if pending_improve and start_improve():
                    pending_improve = False
    finally:
        writer.close()
    report.seconds = time.perf_counter() - started
    report.records = len(load_trajectories(path)) if path.exists() else 0
    if pending_improve and "fast" in programs:
        report.errors.append("the fast reference program did not run, so no improve state")
    return report


def _version() -> str:
    import mle_gym

    return mle_gym.__version__


__all__ = ["SCHEMA", "STATES", "CollectReport", "State", "attempt_of", "collect", "record_key"]
