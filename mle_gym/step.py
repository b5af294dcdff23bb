"""One step without an episode: instrument a program, run it, grade it, reward it.

:class:`TaskRuntime` holds what a step needs for one task (data, grader, limits, reward
anchors, instrumenter), built from :class:`~mle_gym.options.RuntimeOptions`. :func:`run_step`
is the step itself and returns a :class:`StepResult`; the environment, the rollout pool and
the adapters all call it, so a program earns the same reward whichever way it arrives.
:func:`validate_step` runs a program and checks only the submission's format.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from mle_gym.data import TaskData, file_sha256, prepare
from mle_gym.diagnostics import extract_diagnostics
from mle_gym.grading import Grade, Grader, InvalidSubmission
from mle_gym.grading.sentinel import no_model_reason
from mle_gym.instrument import (
    MAX_PROGRAM_CHARS,
    InstrumentationError,
    Instrumenter,
    extract_code,
    get_instrumenter,
)
from mle_gym.instrument.milestones import HOOK, REPORTED
from mle_gym.instrument.tamper import find_tampering
from mle_gym.limits import validate_data, validate_limits
from mle_gym.options import RuntimeOptions
from mle_gym.prompt import Attempt, task_prompt
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
    """Everything one task's steps share. Cheap to rebuild anywhere from its options."""

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
        cls, task: str | TaskSpec, options: RuntimeOptions | None = None, /, **kwargs: Any
    ) -> TaskRuntime:
        """``create(task, RuntimeOptions(...))``, or ``create(task, data=..., time_limit=...)``
        with :class:`RuntimeOptions`' fields as keywords."""
        spec = task if isinstance(task, TaskSpec) else load_task(task)
        # Everything cheap is checked before the data is prepared (which can take minutes).
        options = RuntimeOptions.of(options, **kwargs)
        data = validate_data(options.data)
        reward_config = get_reward_config(options.reward)
        chosen_instrumenter = get_instrumenter(options.instrumenter)
        prepared = prepare(spec, data, options.data_seed)
        limits = resolve_limits(spec, prepared.flavour, options)
        scores = spec.scores(prepared.flavour)
        return cls(
            spec=spec,
            data=prepared,
            grader=Grader(prepared),
            anchors=Anchors(spec.direction, scores.sample, scores.reference),
            instrumenter=chosen_instrumenter,
            reward_config=reward_config,
            **limits,
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

    def prompt(self) -> str:
        """The observation's fixed part: the task, its data files and these limits."""
        return task_prompt(self.spec, self.data.public, self.time_limit, self.memory_limit,
                           self.cpus)


def resolve_limits(spec: TaskSpec, flavour: str, options: RuntimeOptions) -> dict[str, Any]:
    """The limits a program runs under: the options', else the task's for this data flavour.
    The one place they are decided, so a prompt and the sandbox never disagree."""
    defaults = spec.full_limits if flavour == "full" else spec.limits
    # ``is None``, not ``or``: 0 is an error to report, not a request for the default.
    return validate_limits(
        time_limit=defaults.time_limit if options.time_limit is None else options.time_limit,
        memory_limit=defaults.memory_limit if options.memory_limit is None else options.memory_limit,
        cpus=defaults.cpus if options.cpus is None else options.cpus,
        disk_limit=defaults.disk_limit,
    )


@dataclass(frozen=True)
class StepResult:
    """One step, as it happened: what the program reached, its grade and its reward.

    ``info()`` is the env's ``info``; :meth:`attempt` is what the next observation shows;
    trajectory records, leaderboard records, the TRL reports and the pool's results are
    all read from here. ``grade`` holds the private half: for harnesses, never for agents.
    """

    program: str  # the code that was run (extracted from the action, before instrumenting)
    step: int = 0
    duration: float = 0.0
    milestones: tuple[str, ...] = ()
    milestone_times: dict[str, float] = field(default_factory=dict)
    valid_submission: bool = False
    score: float | None = None  # the public half
    invalid_reason: str | None = None
    exit_code: int | None = None
    timed_out: bool = False
    oom: bool = False
    no_model_trained: bool = False
    no_model_reason: str | None = None
    tampering: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    diagnostics: dict[str, Any] = field(default_factory=dict)
    instrumenter: str = "custom"
    instrumenter_note: str | None = None
    sandbox: str | None = None
    submission_sha256: str | None = None
    reward: float = 0.0
    reward_components: dict[str, Any] = field(default_factory=dict)
    grade: Grade | None = None
    instrumented: str | None = None  # the program text that ran

    def info(self) -> dict[str, Any]:
        """The env's step ``info``: a fresh dict (wrappers add keys to it)."""
        return {
            "duration": self.duration,
            "milestones": list(self.milestones),
            "milestone_times": dict(self.milestone_times),
            "valid_submission": self.valid_submission,
            "score": None if self.score is None else Score(self.score),
            "invalid_reason": self.invalid_reason,
            "exit_code": None if self.exit_code is None else ExitCode(self.exit_code),
            "timed_out": self.timed_out,
            "oom": self.oom,
            "no_model_trained": self.no_model_trained,
            "no_model_reason": self.no_model_reason,
            "tampering": self.tampering,
            "stdout_tail": self.stdout_tail,
            "stderr_tail": self.stderr_tail,
            "diagnostics": dict(self.diagnostics),
            "instrumenter": self.instrumenter,
            "instrumenter_note": self.instrumenter_note,
            "sandbox": self.sandbox,
            "submission_sha256": self.submission_sha256,
            "step": self.step,
            "reward": self.reward,
            "reward_components": dict(self.reward_components),
        }

    @property
    def private_score(self) -> float | None:
        """The private half's score (what leaderboards rank), None without a valid submission."""
        return None if self.grade is None else float(self.grade.private)

    def attempt(self) -> Attempt:
        """The step as the next observation reports it."""
        return Attempt(
            program=self.program,
            milestones=list(self.milestones),
            score=self.score,
            valid=self.valid_submission,
            invalid_reason=self.invalid_reason,
            duration=self.duration,
            stdout=self.stdout_tail,
            stderr=self.stderr_tail,
            reward=self.reward,
            diagnostics=dict(self.diagnostics),
        )

    def numbered(self, step: int) -> StepResult:
        """The same result as step ``step`` of an episode."""
        return dataclasses.replace(self, step=step)


# Moved: run_step's result was a StepOutcome holding an ``info`` dict; it is StepResult now.
StepOutcome = StepResult


@dataclass(frozen=True)
class _Ran:
    """What the sandbox said about one program, as credited: the part of a step before
    grading, shared by run_step and validate_step."""

    duration: float = 0.0
    milestones: tuple[str, ...] = ()
    milestone_times: dict[str, float] = field(default_factory=dict)
    exit_code: int | None = None
    timed_out: bool = False
    oom: bool = False
    stdout_tail: str = ""
    stderr_tail: str = ""
    diagnostics: dict[str, Any] = field(default_factory=dict)
    sandbox: str | None = None
    submission_sha256: str | None = None
    problem: str | None = None  # why there is no submission to grade

    def facts(self) -> dict[str, Any]:
        """The fields a StepResult takes from the run, as they are."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "problem"}


def _refusal(code: str) -> str | None:
    """Why a program is refused before it is instrumented, or None."""
    if len(code) > MAX_PROGRAM_CHARS:
        return (f"the program could not be run: it has {len(code):,} characters, over the "
                f"limit of {MAX_PROGRAM_CHARS:,}")
    if HOOK in code or HOOK in unicodedata.normalize("NFKC", code):
        # Every instrumenter refuses it too; a custom one might not.
        return f"the program could not be run: it uses the reserved name {HOOK}"
    return None


def _instrument(runtime: TaskRuntime, code: str) -> tuple[Any, str | None]:
    """(instrumented program, None) or (None, why it cannot run)."""
    refusal = _refusal(code)
    if refusal:
        return None, refusal
    try:
        return runtime.instrumenter.instrument(code), None
    except InstrumentationError as exc:
        return None, f"the program could not be run: {exc}"


def _credit(runtime: TaskRuntime, result: RunResult, tampering: str | None) -> _Ran:
    """The run's facts, with only the milestones a program may claim."""
    if result.sandbox_error:
        raise SandboxError(result.sandbox_error)
    # Only names a program may report, each once; submission_written is the host's alone.
    times: dict[str, float] = {}
    for name, t in result.milestones:
        if name in REPORTED and name not in times:
            times[name] = t
    stopped = result.timed_out or result.oom
    if tampering:
        times = {}
    elif result.submission is not None and not stopped:
        times["submission_written"] = result.duration
    exit_code = result.exit_code
    why = why_stopped(runtime, result.timed_out, result.oom, exit_code)
    if stopped:  # a stopped program's file may be half written: it is not its submission
        problem = why + ("; a submission file written before that is not graded"
                         if result.submission is not None else "")
    elif result.submission is None:
        problem = result.submission_problem or why
    else:
        problem = None
    return _Ran(
        duration=result.duration,
        milestones=tuple(times),
        milestone_times=times,
        exit_code=exit_code,
        timed_out=result.timed_out,
        oom=result.oom,
        stdout_tail=result.stdout,
        stderr_tail=result.stderr,
        diagnostics=extract_diagnostics(result.stdout),
        sandbox=result.backend,
        # The answer's identity: reward wrappers use it to pay a resubmission only once.
        submission_sha256=None if problem else file_sha256(result.submission),
        problem=problem,
    )


def run_step(runtime: TaskRuntime, sandbox: Sandbox, action: str, step: int = 0) -> StepResult:
    """Extract, instrument, run, grade and reward one program (an env action: plain Python
    or markdown with a ```python block). Raises SandboxError if the sandbox broke."""
    code = extract_code(action) if isinstance(action, str) else action
    program, refused = _instrument(runtime, code)
    ran, grade, reason, no_model = _Ran(problem=refused), None, None, None
    tampering = None
    if program is not None:
        tampering = find_tampering(code)
        with sandbox.run(runtime.request(program.source)) as result:
            ran = _credit(runtime, result, tampering)
            if ran.problem is None:
                try:
                    grade = runtime.grader.grade(result.submission)
                except InvalidSubmission as exc:
                    reason = exc.reason
                else:  # decided from the file too: milestones come from inside the sandbox
                    no_model = no_model_reason(result.submission, runtime.spec,
                                               runtime.data.public)
    valid = grade is not None
    if valid and not no_model and "model_trained" not in ran.milestones:
        no_model = ("its milestones are not credited" if tampering
                    else "the program never reached model_trained")
    reason = ran.problem or reason
    if tampering:
        note = (f"milestones not credited: the program inspects the interpreter's internals "
                f"({tampering}), which could forge them")
        reason = note if reason is None else f"{reason}; {note}"
    score = None if grade is None else float(grade.public)
    reward, parts = compute_reward(
        runtime.reward_config,
        runtime.anchors,
        milestones=len(ran.milestones),
        score=score,
        no_model=bool(valid and no_model),
    )
    return StepResult(
        program=code,
        step=step,
        **ran.facts(),
        valid_submission=valid,
        score=score,
        invalid_reason=reason,
        no_model_trained=bool(valid and no_model),
        no_model_reason=no_model if valid else None,
        tampering=tampering,
        instrumenter=getattr(runtime.instrumenter, "name", "custom"),
        instrumenter_note=getattr(program, "note", None),
        reward=reward,
        reward_components=parts,
        grade=grade,
        instrumented=None if program is None else program.source,
    )


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


def validate_step(runtime: TaskRuntime, sandbox: Sandbox, action: str) -> Validation:
    """Run a program and check the submission it writes, the way MLE-bench's validation
    server does, without a server in the container and without revealing any score."""
    code = extract_code(action) if isinstance(action, str) else action
    program, refused = _instrument(runtime, code)
    ran, reason = _Ran(problem=refused), None
    if program is not None:
        with sandbox.run(runtime.request(program.source)) as result:
            ran = _credit(runtime, result, find_tampering(code))
            if ran.problem is None:
                try:
                    runtime.grader.check(result.submission)
                except InvalidSubmission as exc:
                    reason = exc.reason
    reason = ran.problem or reason
    return Validation(
        valid=reason is None,
        reason=reason,
        duration=ran.duration,
        milestones=list(ran.milestones),
        stdout_tail=ran.stdout_tail,
        stderr_tail=ran.stderr_tail,
    )


def why_stopped(runtime: TaskRuntime, timed_out: bool, oom: bool, exit_code: int | None) -> str:
    """Why a program left no submission to grade, from how it ended."""
    path = f"submission/{runtime.spec.submission_file}"
    if timed_out:
        return f"the program ran past the {runtime.time_limit:g} s time limit and was stopped"
    if oom:
        return f"the program ran out of memory (limit {runtime.memory_limit})"
    if exit_code:
        return f"the program failed (exit code {exit_code}) before writing {path}"
    return f"the program finished without writing {path}"


__all__ = [
    "ExitCode",
    "Score",
    "StepOutcome",
    "StepResult",
    "TaskRuntime",
    "Validation",
    "resolve_limits",
    "run_step",
    "validate_step",
]
