"""One step without an episode: instrument a program, run it, grade it, reward it.

:class:`TaskRuntime` holds what a step needs for one task (data, grader, limits, reward
anchors, instrumenter). :func:`run_step` is the step itself; the environment, the rollout
pool and the adapters all call it, so a program earns the same reward whichever way it
arrives. :func:`validate_step` runs a program and checks only the submission's format.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mle_gym.data import TaskData, prepare
from mle_gym.diagnostics import extract_diagnostics
from mle_gym.grading import Grade, Grader, InvalidSubmission
from mle_gym.grading.sentinel import no_model_reason
from mle_gym.instrument import (
    MAX_PROGRAM_CHARS,
    InstrumentationError,
    Instrumenter,
    get_instrumenter,
)
from mle_gym.instrument.milestones import HOOK, REPORTED
from mle_gym.instrument.tamper import find_tampering
from mle_gym.limits import validate_data, validate_data_seed, validate_limits
from mle_gym.reward import Anchors, RewardConfig, compute_reward, get_reward_config
from mle_gym.sandbox import RunRequest, RunResult, Sandbox, SandboxError
from mle_gym.spec import TaskSpec, load_task


# Gymnasium's vector envs give an info key a numeric array when the first env's value is a
# plain int or float, and then fail on another env's None. ``score`` and ``exit_code`` may be
# None (no valid submission, program never ran), so they are these subclasses: they behave
# as numbers everywhere, and vector envs collect them into object arrays beside None.
class Score(float):
    """A score in ``info``: a float that vector envs keep next to ``None``."""


class ExitCode(int):
    """An exit code in ``info``: an int that vector envs keep next to ``None``."""


@dataclass
class TaskRuntime:
    """Everything one task's steps share. Cheap to rebuild anywhere from its arguments."""

    spec: TaskSpec
    data: TaskData
    grader: Grader
    anchors: Anchors
    instrumenter: Instrumenter
    reward_config: RewardConfig
    time_limit: float
    memory_limit: str
    cpus: float
    disk_limit: str = "1g"  # per task (task.yaml); room for /step and /tmp, each

    @classmethod
    def create(
        cls,
        task: str | TaskSpec,
        data: str = "lite",
        data_seed: int = 0,
        time_limit: float | None = None,
        memory_limit: str | None = None,
        cpus: float | None = None,
        instrumenter: str | Instrumenter | None = None,
        reward: str | RewardConfig | dict | None = None,
    ) -> TaskRuntime:
        spec = task if isinstance(task, TaskSpec) else load_task(task)
        # Everything cheap is checked before the data is prepared (which can take minutes).
        validate_limits(time_limit=time_limit, memory_limit=memory_limit, cpus=cpus)
        data = validate_data(data)
        data_seed = validate_data_seed(data_seed)
        reward_config = get_reward_config(reward)
        chosen_instrumenter = get_instrumenter(instrumenter)
        prepared = prepare(spec, data, data_seed)
        defaults = spec.full_limits if prepared.flavour == "full" else spec.limits
        # ``is None``, not ``or``: 0 is an error to report, not a request for the default.
        limits = validate_limits(
            time_limit=defaults.time_limit if time_limit is None else time_limit,
            memory_limit=defaults.memory_limit if memory_limit is None else memory_limit,
            cpus=defaults.cpus if cpus is None else cpus,
        )
        disk_limit = validate_limits(disk_limit=defaults.disk_limit)["disk_limit"]
        scores = spec.scores(prepared.flavour)
        return cls(
            spec=spec,
            data=prepared,
            grader=Grader(prepared),
            anchors=Anchors(spec.direction, scores.sample, scores.reference),
            instrumenter=chosen_instrumenter,
            reward_config=reward_config,
            time_limit=limits["time_limit"],
            memory_limit=limits["memory_limit"],
            cpus=limits["cpus"],
            disk_limit=disk_limit,
        )

    def request(self, source: str) -> RunRequest:
        return RunRequest(
            program=source,
            public_dir=self.data.public,
            submission_file=self.spec.submission_file,
            time_limit=self.time_limit,
            memory_limit=self.memory_limit,
            cpus=self.cpus,
            disk_limit=self.disk_limit,
        )


@dataclass
class StepOutcome:
    """``info`` as the environment returns it, plus the grade (private half) for harnesses."""

    info: dict[str, Any]
    grade: Grade | None = None
    instrumented: str | None = None  # the program text that ran

    @property
    def reward(self) -> float:
        return float(self.info["reward"])


def empty_info(runtime: TaskRuntime, step: int) -> dict[str, Any]:
    return {
        "duration": 0.0,
        "milestones": [],
        "milestone_times": {},
        "valid_submission": False,
        "score": None,
        "invalid_reason": None,
        "exit_code": None,
        "timed_out": False,
        "oom": False,
        "no_model_trained": False,
        "no_model_reason": None,
        "tampering": None,
        "stdout_tail": "",
        "stderr_tail": "",
        "diagnostics": {},
        "instrumenter": getattr(runtime.instrumenter, "name", "custom"),
        "instrumenter_note": None,
        "sandbox": None,
        "submission_sha256": None,
        "step": step,
    }


def _execute(
    runtime: TaskRuntime, sandbox: Sandbox, code: str, info: dict[str, Any]
) -> tuple[str | None, Any]:
    """Instrument and run; yields (instrumented source, run context) or (None, None).
    Sets ``info["tampering"]`` when the program's own text reaches for the milestone
    channel (:func:`mle_gym.instrument.tamper.find_tampering`): it still runs, without
    milestone credit."""
    if isinstance(code, str) and len(code) > MAX_PROGRAM_CHARS:
        info["invalid_reason"] = (
            f"the program could not be run: it has {len(code):,} characters, over the limit "
            f"of {MAX_PROGRAM_CHARS:,}"
        )
        return None, None
    if isinstance(code, str) and (HOOK in code or HOOK in unicodedata.normalize("NFKC", code)):
        # Every instrumenter refuses it too; a custom one might not.
        info["invalid_reason"] = f"the program could not be run: it uses the reserved name {HOOK}"
        return None, None
    try:
        program = runtime.instrumenter.instrument(code)
    except InstrumentationError as exc:
        info["invalid_reason"] = f"the program could not be run: {exc}"
        return None, None
    info["instrumenter_note"] = getattr(program, "note", None)
    info["tampering"] = find_tampering(code)
    return program.source, sandbox.run(runtime.request(program.source))


def _record_run(runtime: TaskRuntime, result: RunResult, info: dict[str, Any]) -> None:
    if result.sandbox_error:
        raise SandboxError(result.sandbox_error)
    # Only names a program may report, each once; submission_written is the host's alone.
    times: dict[str, float] = {}
    for name, t in result.milestones:
        if name in REPORTED and name not in times:
            times[name] = t
    stopped = result.timed_out or result.oom
    if info.get("tampering"):
        times = {}
    elif result.submission is not None and not stopped:
        times["submission_written"] = result.duration
    reached = list(times)
    info.update(
        duration=result.duration,
        milestones=reached,
        milestone_times=times,
        exit_code=None if result.exit_code is None else ExitCode(result.exit_code),
        timed_out=result.timed_out,
        oom=result.oom,
        stdout_tail=result.stdout,
        stderr_tail=result.stderr,
        diagnostics=extract_diagnostics(result.stdout),
        sandbox=result.backend,
    )
    if stopped:  # a stopped program's file may be half written: it is not its submission
        info["invalid_reason"] = why_no_submission(runtime, info) + (
            "; a submission file written before that is not graded"
            if result.submission is not None else ""
        )
    elif result.submission is None:
        info["invalid_reason"] = result.submission_problem or why_no_submission(runtime, info)
    else:  # the answer's identity: reward wrappers use it to pay a resubmission only once
        info["submission_sha256"] = file_sha256(result.submission)


def run_step(runtime: TaskRuntime, sandbox: Sandbox, code: str, step: int = 0) -> StepOutcome:
    """Instrument, run, grade and reward one program. Raises SandboxError if the sandbox broke."""
    info = empty_info(runtime, step)
    grade = None
    source, running = _execute(runtime, sandbox, code, info)
    if running is not None:
        with running as result:
            _record_run(runtime, result, info)
            if _gradable(result):
                try:
                    grade = runtime.grader.grade(result.submission)
                    info.update(valid_submission=True, score=Score(grade.public))
                except InvalidSubmission as exc:
                    info["invalid_reason"] = exc.reason
                if info["valid_submission"]:
                    # Decided from the file too: milestones come from inside the sandbox.
                    info["no_model_reason"] = no_model_reason(
                        result.submission, runtime.spec, runtime.data.public
                    )
    if info["valid_submission"] and not info.get("no_model_reason") and (
        "model_trained" not in info["milestones"]
    ):
        info["no_model_reason"] = (
            "its milestones are not credited" if info.get("tampering")
            else "the program never reached model_trained"
        )
    info["no_model_trained"] = bool(info["valid_submission"] and info.get("no_model_reason"))
    if info.get("tampering"):
        note = (
            f"milestones not credited: the program inspects the interpreter's internals "
            f"({info['tampering']}), which could forge them"
        )
        info["invalid_reason"] = (
            note if info["invalid_reason"] is None else f"{info['invalid_reason']}; {note}"
        )
    reward, parts = compute_reward(
        runtime.reward_config,
        runtime.anchors,
        milestones=len(info["milestones"]),
        score=info["score"],
        no_model=info["no_model_trained"],
    )
    info["reward"] = reward
    info["reward_components"] = parts
    return StepOutcome(info=info, grade=grade, instrumented=source)


@dataclass
class Validation:
    """The result of a validate action: is the submission's format right? Never a score."""

    valid: bool
    reason: str | None
    duration: float
    milestones: list[str] = field(default_factory=list)
    stdout_tail: str = ""
    stderr_tail: str = ""

    def message(self) -> str:
        if self.valid:
            return "Submission is valid: it has the right columns, ids and values."
        return f"Submission is not valid: {self.reason}"


def validate_step(runtime: TaskRuntime, sandbox: Sandbox, code: str) -> Validation:
    """Run a program and check the submission it writes, the way MLE-bench's validation
    server does, without a server in the container and without revealing any score."""
    info = empty_info(runtime, 0)
    _, running = _execute(runtime, sandbox, code, info)
    if running is not None:
        with running as result:
            _record_run(runtime, result, info)
            if _gradable(result):
                try:
                    runtime.grader.check(result.submission)
                    info["valid_submission"] = True
                except InvalidSubmission as exc:
                    info["invalid_reason"] = exc.reason
    return Validation(
        valid=info["valid_submission"],
        reason=info["invalid_reason"],
        duration=info["duration"],
        milestones=info["milestones"],
        stdout_tail=info["stdout_tail"],
        stderr_tail=info["stderr_tail"],
    )


def _gradable(result: RunResult) -> bool:
    """A submission is graded only from a program that finished by itself: one stopped at
    the time limit or killed for memory is a failed step (its milestones still count)."""
    return result.submission is not None and not (result.timed_out or result.oom)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def why_no_submission(runtime: TaskRuntime, info: dict[str, Any]) -> str:
    path = f"submission/{runtime.spec.submission_file}"
    if info["timed_out"]:
        return f"the program ran past the {runtime.time_limit:g} s time limit and was stopped"
    if info["oom"]:
        return f"the program ran out of memory (limit {runtime.memory_limit})"
    if info["exit_code"]:
        return f"the program failed (exit code {info['exit_code']}) before writing {path}"
    return f"the program finished without writing {path}"


__all__ = [
    "ExitCode",
    "Score",
    "StepOutcome",
    "TaskRuntime",
    "Validation",
    "run_step",
    "validate_step",
]
