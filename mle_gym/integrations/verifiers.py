"""A task as a verifiers environment: ``load_environment(task=...)`` -> ``vf.MultiTurnEnv``.

verifiers (Prime Intellect; evaluated with ``vf-eval``, trained with prime-rl) finds an
environment by module name and calls its ``load_environment(**env_args)``; this module is
that module::

    vf-eval mle_gym.integrations.verifiers -a '{"task": "spooky-author", "max_turns": 3}' \\
        -m MODEL -b http://127.0.0.1:8000/v1 -k OPENAI_API_KEY -n 1 -r 4

    import verifiers as vf
    env = vf.load_environment("mle_gym.integrations.verifiers", task="spooky-author")

The model answers with a program (plain Python, or a plan and a ```python block, as the
prompt asks); the environment runs it as an mle-gym step (:func:`mle_gym.step.run_step`,
exactly what ``env.step`` runs) and answers with the step's report, for up to ``max_turns``
programs. Each turn's reward is set on its trajectory step; the rubric's reward is the
episode's: the best program's reward (``episode_reward="best"``, the default) or the last
one's (``"last"``), partial credit included; a rollout that ran no program earns the
task's failure reward. Metrics: ``duration`` (seconds the rollout's programs ran, the
weight a duration-aware trainer needs), ``score`` (the rewarded program's public score;
without a valid submission the task's sample-submission score, since verifiers sums metrics
into the reward with weight 0 and a NaN would spoil it) and ``valid_submission`` (1 or 0).
``state["mle_steps"]`` holds each step's ``info`` (``vf-eval -C mle_steps`` saves it).

Written for verifiers' classic environment API (``vf.MultiTurnEnv``, ``vf.Rubric``), which
verifiers 0.3.x serves; 0.4 dropped it for a different one. Needs ``pip install
'mle-gym[verifiers]'``; ``import mle_gym`` does not import this module.
"""

from __future__ import annotations

import asyncio
from typing import Any

import verifiers as vf

from mle_gym.episode import Episode
from mle_gym.options import RuntimeOptions
from mle_gym.prompt import LAST_HEADING, LAST_REQUEST, attempt_report
from mle_gym.reward import compute_reward
from mle_gym.sandbox import Sandbox, SandboxError, make_sandbox
from mle_gym.step import StepResult, TaskRuntime, run_step

EPISODE_REWARDS = ("best", "last")


class MLEGymEnv(vf.MultiTurnEnv):
    """One task; every rollout is an episode of up to ``max_turns`` programs."""

    def __init__(self, runtime: TaskRuntime, sandbox: Sandbox, *, max_turns: int = 3,
                 episode_reward: str = "best", parallel_steps: int = 4, num_examples: int = 1,
                 own_sandbox: bool = True, **kwargs: Any) -> None:
        from datasets import Dataset

        check_options(max_turns, episode_reward, parallel_steps, num_examples)
        self.runtime = runtime
        self.sandbox = sandbox
        self.own_sandbox = own_sandbox
        self.episode_reward = episode_reward
        self.program_turns = int(max_turns)
        self.failure_reward, _ = compute_reward(runtime.reward_config, runtime.anchors,
                                                milestones=0, score=None)
        self._episodes: dict[str, Episode] = {}
        self._steps = asyncio.Semaphore(parallel_steps)  # programs running at once
        slug = runtime.spec.slug
        rows = [{"question": runtime.prompt(), "answer": "", "info": {"mle_task": slug}}
                for _ in range(num_examples)]
        dataset = Dataset.from_list(rows)
        # MultiTurnEnv stops once the model has answered max_turns times, before the last
        # answer would run; the last step sets final_env_response instead, and the +1 only
        # guards against a rollout that somehow goes on.
        super().__init__(dataset=dataset, eval_dataset=dataset, max_turns=max_turns + 1,
                         rubric=self._rubric(), **kwargs)

    # -- the rollout -------------------------------------------------------------------------

    async def setup_state(self, state: vf.State) -> vf.State:
        self._episodes[state["trajectory_id"]] = Episode(
            self.runtime.spec, self.runtime.prompt(), max_steps=self.program_turns)
        state["mle_steps"] = []
        return state

    async def env_response(self, messages: vf.Messages, state: vf.State, **kwargs: Any
                           ) -> vf.Messages:
        """Run the model's last answer as a step and answer with its report."""
        episode = self._episodes[state["trajectory_id"]]
        program = _text(messages[-1]) if messages else ""
        try:
            async with self._steps:
                result = await asyncio.to_thread(run_step, self.runtime, self.sandbox, program,
                                                 episode.steps + 1)
        except SandboxError as exc:  # not the policy's doing: the rollout has no reward
            raise vf.SandboxError(f"the mle-gym sandbox failed: {exc}") from exc
        result = episode.record(result)
        state["mle_steps"].append(_public_info(result))
        if state["trajectory"]:
            state["trajectory"][-1]["reward"] = result.reward  # this turn's own reward
        title = f"{LAST_HEADING}{result.step})".removeprefix("## ")
        report = attempt_report(result.attempt(), title)
        left = self.program_turns - episode.steps
        if left <= 0:
            text = report + f"\n\nThat was your last program; the {self.episode_reward} reward counts."
            reply: vf.Messages = [vf.UserMessage(content=text)]
            state["final_env_response"] = reply
            return reply
        turns = "1 program" if left == 1 else f"{left} programs"
        return [vf.UserMessage(content=f"{report}\n\n{LAST_REQUEST} ({turns} left)")]

    @vf.cleanup
    async def forget_episode(self, state: vf.State) -> None:
        self._episodes.pop(state.get("trajectory_id"), None)

    @vf.teardown
    async def close_sandbox(self) -> None:
        if self.own_sandbox:
            self.sandbox.close()

    # -- the rubric ----------------------------------------------------------------------------

    def rewarded(self, state: vf.State) -> dict[str, Any] | None:
        """The step whose reward is the episode's (best or last), None if none ran."""
        steps = state.get("mle_steps") or []
        if not steps:
            return None
        if self.episode_reward == "last":
            return steps[-1]
        return max(steps, key=lambda info: info["reward"])  # the first of equals

    def _rubric(self) -> vf.Rubric:
        async def mle_reward(state: vf.State) -> float:
            step = self.rewarded(state)
            return float(self.failure_reward if step is None else step["reward"])

        async def duration(state: vf.State) -> float:
            return float(sum(info["duration"] for info in state.get("mle_steps") or []))

        # verifiers sums every function times its weight, metrics too (weight 0): a NaN
        # would make the reward NaN, so no valid submission reads as the sample's score.
        no_score = self.runtime.anchors.sample
        no_score = 0.0 if no_score is None else float(no_score)

        async def score(state: vf.State) -> float:
            step = self.rewarded(state)
            return no_score if step is None or step["score"] is None else float(step["score"])

        async def valid_submission(state: vf.State) -> float:
            step = self.rewarded(state)
            return float(step is not None and step["valid_submission"])

        rubric = vf.Rubric(funcs=[mle_reward], weights=[1.0])
        for metric in (duration, score, valid_submission):
            rubric.add_metric(metric)
        return rubric


def load_environment(task: str = "spooky-author", *, max_turns: int = 3,
                     episode_reward: str = "best", data: str = "lite", data_seed: int = 0,
                     sandbox: str | Sandbox = "auto", parallel_steps: int = 4,
                     time_limit: float | None = None, memory_limit: str | None = None,
                     cpus: float | None = None, reward: Any = None, instrumenter: Any = None,
                     num_examples: int = 1, **options: Any) -> MLEGymEnv:
    """The verifiers environment of ``task``.

    ``data``, ``data_seed``, ``time_limit``, ``memory_limit``, ``cpus``, ``reward`` and
    ``instrumenter`` are ``gym.make``'s; ``sandbox`` is a backend name ("docker-warm" keeps
    ``parallel_steps`` started containers) or a Sandbox; ``parallel_steps`` is how many
    programs run at once (more rollouts wait their turn); ``num_examples`` is the dataset's
    rows (the same task prompt: vary rollouts with ``rollouts_per_example``). Other
    ``options`` go to ``vf.MultiTurnEnv`` (``system_prompt``, ``timeout_seconds``, ...).
    """
    check_options(max_turns, episode_reward, parallel_steps, num_examples)  # before any data
    runtime = TaskRuntime.create(task, RuntimeOptions(
        data=data, data_seed=data_seed, time_limit=time_limit, memory_limit=memory_limit,
        cpus=cpus, reward=reward, instrumenter=instrumenter))
    own = not isinstance(sandbox, Sandbox)
    if sandbox == "docker-warm":
        from mle_gym.sandbox.warm import WarmDockerSandbox

        box: Sandbox = WarmDockerSandbox(size=parallel_steps)
    else:
        box = make_sandbox(sandbox)
    return MLEGymEnv(runtime, box, max_turns=max_turns, episode_reward=episode_reward,
                     parallel_steps=parallel_steps, num_examples=num_examples,
                     own_sandbox=own, **options)


def check_options(max_turns: int, episode_reward: str, parallel_steps: int,
                  num_examples: int) -> None:
    if episode_reward not in EPISODE_REWARDS:
        raise ValueError(f"episode_reward must be one of {', '.join(EPISODE_REWARDS)}, "
                         f"not {episode_reward!r}")
    for name, value in (("max_turns", max_turns), ("parallel_steps", parallel_steps),
                        ("num_examples", num_examples)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, not {value!r}")


def _text(message: Any) -> str:
    """A chat message's text (a dict or verifiers' message object; text parts joined)."""
    content = message.get("content") if isinstance(message, dict) else getattr(
        message, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") if isinstance(p, dict) else getattr(p, "text", None)
                 for p in content]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def _public_info(result: StepResult) -> dict[str, Any]:
    """The step's ``info`` in plain JSON types (what the agent may see: no private score)."""
    info = result.info()
    info["score"] = None if result.score is None else float(result.score)
    info["exit_code"] = None if result.exit_code is None else int(result.exit_code)
    return info


__all__ = ["MLEGymEnv", "load_environment"]
