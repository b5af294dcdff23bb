"""The Gymnasium environment: one Kaggle task, one program per step.

``step(code)`` instruments the program, runs it in the sandbox against the task's public
data, grades the submission it wrote against answers it never sees (the public half of the
test set), and returns a reward with partial credit and the time the program ran.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from mle_gym.data import TaskData, prepare
from mle_gym.grading import Grade, Grader, InvalidSubmission
from mle_gym.instrument import InstrumentationError, extract_code, get_instrumenter
from mle_gym.instrument.milestones import MILESTONES
from mle_gym.prompt import CHARSET, MAX_OBSERVATION_CHARS, Attempt, observation, task_prompt
from mle_gym.reward import Anchors, compute_reward, get_reward_config
from mle_gym.sandbox import RunRequest, Sandbox, SandboxError, make_sandbox
from mle_gym.spec import load_task

MODES = ("scratch", "improve", "mixed")


# Gymnasium's vector envs give an info key a numeric array when the first env's value is a
# plain int or float, and then fail on another env's None. ``score`` and ``exit_code`` may be
# None (no valid submission, program never ran), so they are these subclasses: they behave
# as numbers everywhere, and vector envs collect them into object arrays beside None.
class Score(float):
    """A score in ``info``: a float that vector envs keep next to ``None``."""


class ExitCode(int):
    """An exit code in ``info``: an int that vector envs keep next to ``None``."""
KNOWN_KWARGS = (
    "data",
    "sandbox",
    "instrumenter",
    "reward",
    "max_steps",
    "time_limit",
    "memory_limit",
    "cpus",
    "mode",
    "data_seed",
    "render_mode",
)


class MLEEnv(gym.Env[str, str]):
    """A Kaggle task as an environment whose actions are Python programs.

    Keyword arguments (all optional): ``data`` ("lite", "full" or a prepared folder),
    ``sandbox`` ("auto", "docker", "local" or a Sandbox), ``instrumenter`` ("static" or an
    object with ``instrument(code)``), ``reward`` (preset name, RewardConfig or dict),
    ``max_steps`` (programs per episode), ``time_limit`` (seconds per program),
    ``memory_limit`` (e.g. "4g"), ``cpus``, ``mode`` ("scratch", "improve", "mixed"),
    ``data_seed`` (seed of the lite data) and ``render_mode`` ("ansi" or "human").

    After each step the harness (never the agent) can read ``last_grade`` for the private
    half's score, which is what leaderboards rank.
    """

    metadata = {"render_modes": ["ansi", "human"]}

    def __init__(self, task: str, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(KNOWN_KWARGS))
        if unknown:
            raise TypeError(
                f"unknown keyword argument(s) {', '.join(unknown)} for mle-gym; "
                f"known: {', '.join(KNOWN_KWARGS)}"
            )
        self.spec_task = load_task(task)
        spec = self.spec_task
        self.data: TaskData = prepare(spec, kwargs.get("data", "lite"), kwargs.get("data_seed", 0))
        limits = spec.full_limits if self.data.flavour == "full" else spec.limits
        self.time_limit = float(kwargs.get("time_limit") or limits.time_limit)
        self.memory_limit = str(kwargs.get("memory_limit") or limits.memory_limit)
        self.cpus = float(kwargs.get("cpus") or limits.cpus)
        self.max_steps = int(kwargs.get("max_steps", 3))
        if self.max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.mode = kwargs.get("mode", "scratch")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        self.render_mode = kwargs.get("render_mode")
        self.instrumenter = get_instrumenter(kwargs.get("instrumenter"))
        self.reward_config = get_reward_config(kwargs.get("reward"))
        scores = spec.scores(self.data.flavour)
        self.anchors = Anchors(spec.direction, scores.sample, scores.reference)
        self._sandbox_choice: str | Sandbox = kwargs.get("sandbox", "auto")
        self._sandbox: Sandbox | None = None
        self.grader = Grader(self.data)

        self.observation_space = spaces.Text(max_length=MAX_OBSERVATION_CHARS, charset=CHARSET)
        self.action_space = spaces.Text(max_length=MAX_OBSERVATION_CHARS, charset=CHARSET)
        self._base_prompt = task_prompt(
            spec, self.data.public, self.time_limit, self.memory_limit, self.cpus
        )
        self._history: list[Attempt] = []
        self._previous: Attempt | None = None
        self._best: Attempt | None = None  # best valid attempt so far, for mixed mode
        self._steps = 0
        self._obs = ""
        self.last_grade: Grade | None = None

    # -- Gymnasium API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        mode = options.pop("mode", self.mode)
        previous = options.pop("previous", None)
        if options:
            raise ValueError(f"unknown reset option(s) {sorted(options)}; known: mode, previous")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == "mixed":  # the paper's 50/50 draw between scratch and improve prompts
            wants_improve = self.np_random.random() < 0.5
            mode = "improve" if wants_improve and (previous or self._best) else "scratch"
        if mode == "improve":
            if previous is None and self._best is None:
                raise ValueError("improve mode needs options={'previous': <program or dict>}")
            self._previous = Attempt.from_previous(previous) if previous else self._best
        else:
            self._previous = None
        self._history = []
        self._steps = 0
        self.last_grade = None
        self._obs = observation(self._base_prompt, self._history, self._previous)
        info = {
            "task": self.spec_task.slug,
            "mode": mode,
            "data": self.data.flavour,
            "metric": self.spec_task.metric,
            "direction": self.spec_task.direction,
        }
        return self._obs, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError(f"an action is program text (str), not {type(action).__name__}")
        self._steps += 1
        code = extract_code(action)
        info = self._run(code)
        self._history.append(
            Attempt(
                program=code,
                milestones=info["milestones"],
                score=info["score"],
                valid=info["valid_submission"],
                invalid_reason=info["invalid_reason"],
                duration=info["duration"],
                stdout=info["stdout_tail"],
                stderr=info["stderr_tail"],
                reward=info["reward"],
            )
        )
        attempt = self._history[-1]
        if attempt.valid and (
            self._best is None or self.spec_task.better(attempt.score, self._best.score)
        ):
            self._best = attempt
        self._obs = observation(self._base_prompt, self._history, self._previous)
        truncated = self._steps >= self.max_steps
        if self.render_mode == "human":
            print(self._summary(info))
        return self._obs, float(info["reward"]), False, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._obs
        return None

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        super().close()

    # -- internals -------------------------------------------------------------------------

    @property
    def sandbox(self) -> Sandbox:
        """Created on first use, so making an env and stepping unparsable code stay cheap."""
        if self._sandbox is None:
            self._sandbox = make_sandbox(self._sandbox_choice)
        return self._sandbox

    def _run(self, code: str) -> dict[str, Any]:
        info: dict[str, Any] = {
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
            "stdout_tail": "",
            "stderr_tail": "",
            "instrumenter": self.instrumenter.name,
            "sandbox": None,
            "step": self._steps,
        }
        self.last_grade = None
        try:
            program = self.instrumenter.instrument(code)
        except InstrumentationError as exc:
            info["invalid_reason"] = f"the program could not be run: {exc}"
            return self._finish(info)

        request = RunRequest(
            program=program.source,
            public_dir=self.data.public,
            submission_file=self.spec_task.submission_file,
            time_limit=self.time_limit,
            memory_limit=self.memory_limit,
            cpus=self.cpus,
        )
        with self.sandbox.run(request) as result:
            if result.sandbox_error:
                raise SandboxError(result.sandbox_error)
            reached = [name for name, _ in result.milestones if name in MILESTONES]
            times = {name: t for name, t in result.milestones if name in MILESTONES}
            if result.submission is not None:
                reached.append("submission_written")
                times["submission_written"] = result.duration
            info.update(
                duration=result.duration,
                milestones=reached,
                milestone_times=times,
                exit_code=None if result.exit_code is None else ExitCode(result.exit_code),
                timed_out=result.timed_out,
                oom=result.oom,
                stdout_tail=result.stdout,
                stderr_tail=result.stderr,
                sandbox=result.backend,
            )
            if result.submission is None:
                info["invalid_reason"] = result.submission_problem or self._why_no_submission(info)
            else:
                try:
                    self.last_grade = self.grader.grade(result.submission)
                    info.update(valid_submission=True, score=Score(self.last_grade.public))
                except InvalidSubmission as exc:
                    info["invalid_reason"] = exc.reason
        info["no_model_trained"] = info["valid_submission"] and "model_trained" not in reached
        return self._finish(info)

    def _why_no_submission(self, info: dict[str, Any]) -> str:
        path = f"submission/{self.spec_task.submission_file}"
        if info["timed_out"]:
            return f"the program ran past the {self.time_limit:g} s time limit and was stopped"
        if info["oom"]:
            return f"the program ran out of memory (limit {self.memory_limit})"
        if info["exit_code"]:
            return f"the program failed (exit code {info['exit_code']}) before writing {path}"
        return f"the program finished without writing {path}"

    def _finish(self, info: dict[str, Any]) -> dict[str, Any]:
        reward, parts = compute_reward(
            self.reward_config,
            self.anchors,
            milestones=len(info["milestones"]),
            score=info["score"],
            no_model=info["no_model_trained"],
        )
        info["reward"] = reward
        info["reward_components"] = parts
        return info

    def _summary(self, info: dict[str, Any]) -> str:
        score = "invalid" if info["score"] is None else f"{info['score']:.4f}"
        return (
            f"[{self.spec_task.slug} step {self._steps}] reward {info['reward']:.3f}  "
            f"score {score}  {info['duration']:.1f}s  milestones {','.join(info['milestones'])}"
        )


def attempt_as_dict(attempt: Attempt) -> dict[str, Any]:
    """An attempt in the form ``reset(options={"previous": ...})`` accepts."""
    return dataclasses.asdict(attempt)


__all__ = ["MLEEnv", "attempt_as_dict"]
