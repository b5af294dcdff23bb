"""A task as a TRL tool environment: ``GRPOTrainer(environment_factory=...)``.

TRL (1.x) builds one environment per rollout with the zero-argument factory, calls
``reset(**row)`` with the dataset row (the text it returns is appended to the last user
message), exposes every public method other than ``reset`` and ``get_reward`` as a tool
(schema from the type hints and the Google-style docstring), runs the tool calls the model
makes, and after the rollout calls ``get_reward()`` once, logging it under the class name.
So the public methods here are exactly the two tools; everything else a trainer may read
(durations, per-run info) is a property, which TRL does not turn into a tool::

    from trl import GRPOConfig, GRPOTrainer
    from mle_gym.integrations.trl import environment_factory

    trainer = GRPOTrainer(model=..., args=GRPOConfig(max_steps=100, ...),
                          environment_factory=environment_factory("spooky-author"))

The tokenizer needs a chat template that renders tools and that TRL can parse tool calls
from (Qwen2.5/3, Llama 3.1, ... : see ``trl.chat_template_utils.add_response_schema``).

Rewards are the environment's own (:func:`mle_gym.step.run_step`), so a program earns the
same here as in ``env.step``. The episode's reward is the best run's (``episode_reward=
"best"``, the default: the agent may explore and only its best program counts, as when the
paper keeps the better of the scratch and improve answers) or the last run's (``"last"``:
the agent must end on its best program). A rollout that never calls ``run_code`` earns what
an empty program earns, the task's failure reward.

This module imports neither torch nor TRL; ``import mle_gym`` does not import it.
"""

from __future__ import annotations

from typing import Any, Literal

from mle_gym.diagnostics import format_diagnostics
from mle_gym.episode import Episode
from mle_gym.options import NAMES as RUNTIME_OPTIONS
from mle_gym.options import RuntimeOptions
from mle_gym.prompt import Attempt, clip
from mle_gym.reward import compute_reward
from mle_gym.sandbox import Sandbox, SandboxError, make_sandbox
from mle_gym.step import StepResult, TaskRuntime, Validation, run_step, validate_step

EpisodeReward = Literal["best", "last"]
EPISODE_REWARDS = ("best", "last")
# The static prompt ends by asking for a markdown answer; with tools, the tools section
# replaces that request.
_ANSWER_REQUEST = "\n\nAnswer with a short plan"


class MLEGymToolEnv:
    """One task of mle-gym as a TRL environment: tools ``run_code`` and ``validate``.

    Args (keyword-only except ``task``): ``data`` ("lite", "full" or a prepared folder),
    ``data_seed``, ``sandbox`` ("auto", "docker", "local" or a Sandbox, shared when given as
    an object), ``reward`` (preset name, RewardConfig or dict), ``instrumenter``,
    ``time_limit``, ``memory_limit``, ``cpus`` (as in ``gym.make``), ``max_tool_calls``
    (programs the sandbox runs per episode, ``run_code`` and ``validate`` together),
    ``episode_reward`` ("best" or "last"), ``output_chars`` (how much of each output stream
    a tool result shows), ``runtime`` (a TaskRuntime to share instead of building one from
    ``task`` and the data options).

    After a rollout a trainer can read ``rewards``, ``durations`` (seconds each
    ``run_code`` program ran), ``total_duration`` (sandbox seconds of the whole episode,
    validations included), ``steps`` (each run's ``info``) and ``time_limit``.
    """

    def __init__(
        self,
        task: str | None = None,
        *,
        data: str = "lite",
        data_seed: int = 0,
        sandbox: str | Sandbox = "auto",
        reward: Any = None,
        instrumenter: Any = None,
        time_limit: float | None = None,
        memory_limit: str | None = None,
        cpus: float | None = None,
        max_tool_calls: int = 3,
        episode_reward: EpisodeReward = "best",
        output_chars: int = 1500,
        runtime: TaskRuntime | None = None,
    ) -> None:
        if episode_reward not in EPISODE_REWARDS:
            raise ValueError(
                f"episode_reward must be one of {', '.join(EPISODE_REWARDS)}, not {episode_reward!r}"
            )
        if max_tool_calls < 1:
            raise ValueError("max_tool_calls must be at least 1 (each call runs one program)")
        if runtime is None and task is None:
            raise ValueError("name a task, e.g. MLEGymToolEnv('spooky-author'); `mle-gym tasks` lists them")
        if runtime is not None and task is not None and task not in (runtime.spec.slug, runtime.spec.kaggle_id):
            raise ValueError(f"task {task!r} does not match the runtime's task {runtime.spec.slug!r}")
        self.runtime = runtime or TaskRuntime.create(task, RuntimeOptions(
            data=data, data_seed=data_seed, time_limit=time_limit, memory_limit=memory_limit,
            cpus=cpus, instrumenter=instrumenter, reward=reward,
        ))
        self.task = self.runtime.spec.slug
        self.max_tool_calls = int(max_tool_calls)
        self.episode_reward: EpisodeReward = episode_reward
        self.output_chars = int(output_chars)
        self._sandbox_choice = sandbox
        self._sandbox: Sandbox | None = sandbox if isinstance(sandbox, Sandbox) else None
        rt = self.runtime
        self._base_prompt = rt.prompt().split(_ANSWER_REQUEST)[0] + "\n\n" + self._tools_section()
        # What an empty program earns: the reward of a rollout that never ran anything.
        self.failure_reward, _ = compute_reward(rt.reward_config, rt.anchors, milestones=0, score=None)
        self._clear()

    # -- the TRL protocol ------------------------------------------------------------------

    def reset(self, previous: str | dict | None = None, **row: Any) -> str:
        """Start an episode; return the task prompt (TRL appends it to the user message).

        ``row`` is the dataset row TRL passes (``prompt`` and any other columns); a
        ``previous`` column (a program, or a dict with ``program``, ``score``, ``stdout``...)
        makes it an improve prompt, as in the paper's self-improvement training.
        """
        self._clear(Attempt.from_previous(previous) if previous else None)
        text = self.episode.observation
        return ("\n\n" + text) if _has_text(row.get("prompt")) else text

    def run_code(self, code: str) -> str:
        """Run a complete Python program on the task data and report how it did.

        The program runs in a sandbox with the task's input files and must write the
        submission file. The result gives its score on the public half of the test set,
        the milestones it reached, errors and the end of its output.

        Args:
            code: The whole Python program, as plain source code.

        Returns:
            The outcome: score or why the submission is invalid, milestones, output.
        """
        refusal = self._refuse(code)
        if refusal:
            return refusal
        self._calls += 1
        try:
            result = run_step(self.runtime, self._get_sandbox(), code, step=self._calls)
        except SandboxError as exc:
            self._sandbox_error = str(exc)
            return f"The sandbox failed (not your program): {exc}"
        return self._run_report(self.episode.record(result, number=self._calls))

    def validate(self, code: str) -> str:
        """Run a complete Python program and check only the submission's format.

        Says whether the submission file has the right columns, ids and values, without a
        score. Uses one of the episode's runs, like run_code.

        Args:
            code: The whole Python program, as plain source code.

        Returns:
            Whether the submission is valid and, if not, why; milestones and output.
        """
        refusal = self._refuse(code)
        if refusal:
            return refusal
        self._calls += 1
        try:
            checked = validate_step(self.runtime, self._get_sandbox(), code)
        except SandboxError as exc:
            self._sandbox_error = str(exc)
            return f"The sandbox failed (not your program): {exc}"
        self._validations.append(checked)
        return self._validation_report(checked)

    def get_reward(self) -> float:
        """The episode's reward: the best (or last) ``run_code`` reward, else the failure reward."""
        if self._sandbox_error:
            # A broken sandbox says nothing about the policy; training on it would be wrong.
            raise SandboxError(
                f"the sandbox failed during a {self.task} rollout, so its reward is unknown: "
                f"{self._sandbox_error}"
            )
        if not self.episode.results:
            return float(self.failure_reward)
        rewards = self.rewards
        return float(max(rewards) if self.episode_reward == "best" else rewards[-1])

    # -- what a trainer can read after a rollout (properties, so never tools) --------------

    @property
    def rewards(self) -> list[float]:
        """Each ``run_code`` reward of this episode, in order."""
        return [result.reward for result in self.episode.results]

    @property
    def durations(self) -> list[float]:
        """Seconds each ``run_code`` program ran in this episode, in order."""
        return [float(result.duration) for result in self.episode.results]

    @property
    def total_duration(self) -> float:
        """Sandbox seconds of the whole episode: every run and every validation."""
        return sum(self.durations) + sum(v.duration for v in self._validations)

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The ``info`` dict of each ``run_code`` (as ``env.step`` returns it)."""
        return [result.info() for result in self.episode.results]

    @property
    def private_scores(self) -> list[float | None]:
        """Each run's private-half score (for evaluation harnesses; never shown to the model)."""
        return [result.private_score for result in self.episode.results]

    @property
    def calls_left(self) -> int:
        return self.max_tool_calls - self._calls

    @property
    def time_limit(self) -> float:
        return self.runtime.time_limit

    # -- internals -------------------------------------------------------------------------

    def __enter__(self) -> MLEGymToolEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        # Only a sandbox this environment made itself; a shared one belongs to its owner.
        if self._sandbox is not None and not isinstance(self._sandbox_choice, Sandbox):
            self._sandbox.close()
            self._sandbox = None

    def _clear(self, previous: Attempt | None = None) -> None:
        # The episode's runs (run_code); validations are counted apart, as calls.
        self.episode = Episode(self.runtime.spec, self._base_prompt, max_steps=None,
                               previous=previous)
        self._validations: list[Validation] = []
        self._calls = 0
        self._sandbox_error: str | None = None

    def _get_sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = make_sandbox(self._sandbox_choice)
        return self._sandbox

    def _refuse(self, code: Any) -> str | None:
        if not isinstance(code, str):
            return f"`code` must be the program's source text (a string), not {type(code).__name__}."
        if self._calls >= self.max_tool_calls:
            return (
                f"No runs left: this episode allows {self.max_tool_calls} program runs "
                f"(run_code and validate together). Your reward is {self._reward_rule()}."
            )
        return None

    def _reward_rule(self) -> str:
        return "the best run's" if self.episode_reward == "best" else "the last run's"

    def _tools_section(self) -> str:
        spec = self.runtime.spec
        return (
            "## Tools\n"
            "- `run_code(code)` runs your whole program once and tells you its "
            f"{spec.metric} on the public half of the test set, the milestones it reached, "
            "its errors and the end of its output.\n"
            "- `validate(code)` runs it and only checks the submission's format (no score).\n"
            f"You have {self.max_tool_calls} runs in this episode (both tools count); "
            f"your reward is {self._reward_rule()} reward from `run_code`. "
            "Pass the whole program as plain Python in `code`."
        )

    def _streams(self, stdout: str, stderr: str, show_stderr: bool) -> list[str]:
        parts = []
        if stdout.strip():
            parts.append("Standard output (tail):\n" + clip(stdout, self.output_chars))
        if show_stderr and stderr.strip():
            parts.append("Standard error (tail):\n" + clip(stderr, self.output_chars))
        return parts

    def _run_report(self, run: StepResult) -> str:
        spec = self.runtime.spec
        if run.valid_submission:
            better = "lower" if spec.direction == "lower" else "higher"
            result = f"valid submission, public {spec.metric} {run.score:.5g} ({better} is better)"
            if run.no_model_trained:
                result += "; but no model was trained, so it earns the failure reward"
        else:
            result = f"no valid submission: {run.invalid_reason or 'unknown reason'}"
        parts = [
            f"Run {self._calls} of {self.max_tool_calls}: {result}. Ran {run.duration:.1f} s.",
            f"Milestones reached: {', '.join(run.milestones) or 'none'}.",
        ]
        reported = format_diagnostics(run.diagnostics)
        if reported:
            parts.append("Your program reported:\n" + reported)
        parts += self._streams(run.stdout_tail, run.stderr_tail, not run.valid_submission)
        parts.append(f"Runs left: {self.calls_left}.")
        return "\n".join(parts)

    def _validation_report(self, checked: Validation) -> str:
        parts = [
            f"Validation (run {self._calls} of {self.max_tool_calls}): {checked.message()} "
            f"Ran {checked.duration:.1f} s.",
            f"Milestones reached: {', '.join(checked.milestones) or 'none'}.",
        ]
        parts += self._streams(checked.stdout_tail, checked.stderr_tail, not checked.valid)
        parts.append(f"Runs left: {self.calls_left}.")
        return "\n".join(parts)


def _has_text(prompt: Any) -> bool:
    """Whether the dataset's prompt (text or chat messages) already ends with some text."""
    if isinstance(prompt, str):
        return bool(prompt.strip())
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict):
        content = prompt[-1].get("content")
        return bool(content.strip()) if isinstance(content, str) else bool(content)
    return False


class EnvironmentFactory:
    """A zero-argument callable making :class:`MLEGymToolEnv` instances for one task.

    The task's data, grader and sandbox are built once, here, and shared by every instance
    (TRL makes one per rollout), so a bad option or a missing Docker engine fails now, with
    its message, rather than in the middle of training.
    """

    def __init__(self, task: str = "spooky-author", **options: Any) -> None:
        env_keys = ("max_tool_calls", "episode_reward", "output_chars")
        unknown = sorted(set(options) - {*RUNTIME_OPTIONS, *env_keys, "sandbox"})
        if unknown:
            known = ", ".join((*RUNTIME_OPTIONS, "sandbox", *env_keys))
            raise TypeError(f"unknown option(s) {', '.join(unknown)}; known: {known}")
        self.runtime = TaskRuntime.create(
            task, RuntimeOptions.of({k: options[k] for k in RUNTIME_OPTIONS if k in options})
        )
        choice = options.get("sandbox", "auto")
        self.sandbox = make_sandbox(choice)
        self._owns_sandbox = not isinstance(choice, Sandbox)
        self.env_options = {k: options[k] for k in env_keys if k in options}
        self()  # one instance now, so bad episode options raise here

    def __call__(self) -> MLEGymToolEnv:
        return MLEGymToolEnv(runtime=self.runtime, sandbox=self.sandbox, **self.env_options)

    def close(self) -> None:
        """Release the shared sandbox (its Docker client) once training is over, if made here."""
        if self._owns_sandbox:
            self.sandbox.close()


def environment_factory(task: str = "spooky-author", **options: Any) -> EnvironmentFactory:
    """``GRPOTrainer(environment_factory=environment_factory("spooky-author", data="lite"))``.

    Options are :class:`MLEGymToolEnv`'s keyword arguments (``data``, ``data_seed``,
    ``sandbox``, ``reward``, ``instrumenter``, ``time_limit``, ``memory_limit``, ``cpus``,
    ``max_tool_calls``, ``episode_reward``, ``output_chars``).
    """
    return EnvironmentFactory(task, **options)


__all__ = ["EPISODE_REWARDS", "EnvironmentFactory", "MLEGymToolEnv", "environment_factory"]
