"""An AIDE-like prompting agent for any OpenAI-compatible chat endpoint (vLLM, Ollama, ...).

The loop, as in AIDE (Jiang et al., 2025), over a small tree of attempts:

* **draft**: send the task prompt, ask for a plan and a whole program;
* the environment runs it (that is ``env.step``); the next observation reports the outcome,
  the output tails and the diagnostics the program printed;
* **debug**: when the last attempt failed, send it back with its outcome and error tail and
  ask for a fix, up to ``max_debug`` times in a row for one line of fixes;
* **improve**: otherwise take the best valid attempt so far and ask for one improvement;
  when every attempt failed and the debug budget is spent, draft afresh.

Every request carries a short memory of the earlier attempts (plan, score or failure), so
the model does not repeat itself. A failed chat request (unreachable server, bad key,
unknown model, server errors after retries) raises :class:`mle_gym.llm.LLMError`: it is a
fault of the set-up, not of the agent's program, so it stops the run instead of being
recorded as a failed step that would pollute scores and training data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mle_gym.instrument import extract_code
from mle_gym.llm import ChatClient, LLMError
from mle_gym.prompt import ReportedAttempt, parse_observation

SYSTEM_PROMPT = """You are an expert machine-learning engineer competing in a Kaggle \
competition. You answer with a short plan and then one complete, runnable Python program \
in a single ```python block. The program reads the data from `input/`, prints its \
validation score and a line `MODEL APPROACH: ...`, and writes the submission file; it has \
no network access and must finish well inside the time limit."""

DRAFT = """# Instructions
Write a first solution. Start with a plan of 3-5 sentences: the features, the model and \
how you validate it. Then write the whole program in one ```python block. Prefer a solid, \
simple model that finishes well inside the time limit over an ambitious one that may not."""

DEBUG = """# Instructions
The program above did not produce a valid submission. Read its outcome and error output, \
find the bug, and fix it. Start with 1-3 sentences saying what went wrong and how you fix \
it, then write the whole corrected program in one ```python block (not a diff)."""

IMPROVE = """# Instructions
The program above is the best valid solution so far. Improve its score with one specific, \
atomic change (a feature, a model, a hyperparameter, the validation scheme), explained in \
a plan of 2-4 sentences. It ran {duration:.0f} s; stay well inside the time limit. Then \
write the whole improved program in one ```python block (not a diff)."""

TRUNCATED = """Your previous answer was cut off at the token limit before the program ended; \
write a shorter program."""

_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)


@dataclass
class Node:
    """One attempt in the tree: what the model answered and what came of it."""

    id: int
    stage: str  # "draft", "debug", "improve", or "given" (the solution improve mode starts from)
    parent: int | None
    plan: str
    code: str
    debug_depth: int = 0  # consecutive fixes above this node
    report: str = ""  # the environment's report: program, outcome, diagnostics, output tails
    ran: bool = False
    valid: bool = False
    score: float | None = None
    duration: float = 0.0
    reason: str | None = None
    truncated: bool = False  # the answer hit max_tokens

    def summary(self) -> str:
        if not self.ran:
            result = "not run"
        elif self.valid and self.score is not None:
            result = f"valid, score {self.score:.5g}, {self.duration:.0f} s"
        else:
            result = f"failed ({self.reason or 'no valid submission'})"
        plan = " ".join(self.plan.split())
        plan = plan[:240] + "..." if len(plan) > 240 else plan
        return f"- attempt {self.id} ({self.stage}): {result}. Plan: {plan or '(none given)'}"


def _plan_of(answer: str) -> str:
    """The text before the first code fence: the model's plan."""
    fence = _FENCE.search(answer)
    return (answer[: fence.start()] if fence else "").strip()


def split_observation(observation: str) -> tuple[str, str | None, str | None]:
    """(task prompt, improve-mode section or None, last-attempt section or None)."""
    parsed = parse_observation(observation)
    given = None if parsed.previous is None else parsed.previous.report
    last = None if parsed.last is None else parsed.last.report
    return parsed.task_prompt, given, last


class LLMAgent:
    """AIDE-like draft / debug / improve loop against an OpenAI-compatible endpoint.

    ``model``, ``base_url`` and ``api_key`` default to ``MLE_GYM_LLM_MODEL``,
    ``MLE_GYM_LLM_BASE_URL`` and ``MLE_GYM_LLM_API_KEY``. ``max_debug`` is how many fixes
    in a row one failing line of attempts gets before the agent moves on; ``num_drafts``
    how many independent drafts it writes before improving the best. ``max_tokens`` bounds
    each answer; ``max_retries`` and ``timeout`` go to the chat client.
    """

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.7,
        max_debug: int = 3,
        num_drafts: int = 1,
        max_tokens: int | None = 2048,
        max_retries: int = 4,
        timeout: float = 300.0,
    ) -> None:
        if max_debug < 0 or num_drafts < 1:
            raise ValueError("max_debug must be >= 0 and num_drafts >= 1")
        self.client = ChatClient(
            base_url=base_url,  # None: the client reads MLE_GYM_LLM_BASE_URL and friends
            model=model,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
        )
        self.temperature = float(temperature)
        self.max_debug = int(max_debug)
        self.num_drafts = int(num_drafts)
        self.max_tokens = max_tokens
        # The agent protocol's optional system-prompt hook (the lessons agent writes here).
        self.system_prompt: str = SYSTEM_PROMPT
        self.seed: int | None = None
        self.nodes: list[Node] = []
        self._lower_is_better = False  # read from the task prompt's metric line
        self._pending: Node | None = None  # the node whose program the env is running
        self._info: dict[str, Any] | None = None  # from observe(), if the harness calls it

    # -- Agent protocol ---------------------------------------------------------------------

    def set_system_prompt(self, text: str) -> None:
        """The system message of every later request ("" for none)."""
        self.system_prompt = str(text)

    def reset(self, task: str, seed: int | None = None) -> None:
        self.seed = seed
        self.nodes = []
        self._pending = None
        self._info = None

    def observe(self, reward: float, info: dict[str, Any]) -> None:
        self._info = info

    def act(self, observation: str) -> str:
        parsed = parse_observation(observation)
        task_prompt, given, last = parsed.task_prompt, parsed.previous, parsed.last
        self._lower_is_better = parsed.lower_is_better
        if last is None:  # a new episode, whether or not reset() was called
            self.nodes, self._pending, self._info = [], None, None
            if given is not None:
                self._add_given(given)
        elif self._pending is not None:
            self._record(self._pending, last)
        else:  # joined mid-episode: start from the attempt the observation shows
            self._pending = self._add_given(last)
        stage, parent = self._choose()
        messages = self._messages(task_prompt, stage, parent)
        extra = {"seed": self.seed + len(self.nodes)} if self.seed is not None else {}
        try:
            reply = self.client.complete(
                messages, temperature=self.temperature, max_tokens=self.max_tokens, **extra
            )
        except LLMError as exc:
            raise LLMError(
                f"the LLM agent got no answer for its {stage} request: {exc}",
                url=exc.url, model=exc.model, status=exc.status,
            ) from exc
        answer = reply.content
        node = Node(
            id=sum(n.stage != "given" for n in self.nodes) + 1,  # the env's attempt number
            stage=stage,
            parent=None if parent is None else parent.id,
            plan=_plan_of(answer),
            code=extract_code(answer),
            debug_depth=parent.debug_depth + 1 if stage == "debug" and parent else 0,
            truncated=reply.truncated,
        )
        self.nodes.append(node)
        self._pending = node
        return answer

    # -- the tree ---------------------------------------------------------------------------

    def _add_given(self, attempt: ReportedAttempt) -> Node:
        """A node for a program the agent did not write (improve mode's starting point)."""
        node = Node(id=0, stage="given", parent=None, plan="the solution to improve",
                    code=attempt.program or "")
        self._record(node, attempt, use_info=False)
        self.nodes.append(node)
        return node

    def _record(self, node: Node, attempt: ReportedAttempt, use_info: bool = True) -> None:
        """Attach the environment's report of a run to the node that wrote the program."""
        node.report, node.ran = attempt.report, True
        if attempt.milestones is not None:  # the outcome line was read
            node.valid, node.score = attempt.valid, attempt.score
            node.reason, node.duration = attempt.reason, attempt.duration
        info, self._info = self._info, None
        if use_info and info is not None:  # exact numbers when the harness calls observe()
            node.valid = bool(info.get("valid_submission"))
            node.score = info.get("score") if node.valid else None
            node.reason = info.get("invalid_reason")
            node.duration = float(info.get("duration") or node.duration)

    def best(self) -> Node | None:
        """The valid attempt with the best score (the metric's direction from the prompt)."""
        valid = [n for n in self.nodes if n.ran and n.valid and n.score is not None]
        if not valid:
            return None
        pick = min if self._lower_is_better else max
        return pick(valid, key=lambda n: n.score)

    def _choose(self) -> tuple[str, Node | None]:
        drafts = [n for n in self.nodes if n.stage == "draft"]
        given = any(n.stage == "given" for n in self.nodes)
        last = self._pending
        if last is not None and last.ran and not last.valid and last.debug_depth < self.max_debug:
            return "debug", last
        if len(drafts) < self.num_drafts and not given:
            return "draft", None
        best = self.best()
        if best is not None:
            return "improve", best
        return "draft", None

    # -- prompts ------------------------------------------------------------------------------

    def _messages(self, task_prompt: str, stage: str, parent: Node | None) -> list[dict[str, str]]:
        parts = [task_prompt]
        earlier = [n.summary() for n in self.nodes if n is not parent and n.stage != "given"]
        if earlier:
            parts.append("# Earlier attempts (do not repeat what failed)\n" + "\n".join(earlier))
        if stage == "draft":
            parts.append(DRAFT)
        else:
            assert parent is not None
            title = "# The program that failed" if stage == "debug" else "# The best solution so far"
            report = parent.report or f"```python\n{parent.code}\n```"
            parts.append(f"{title}\n{report}")
            if stage == "debug":
                parts.append(DEBUG + ("\n" + TRUNCATED if parent.truncated else ""))
            else:
                parts.append(IMPROVE.format(duration=parent.duration))
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*system, {"role": "user", "content": "\n\n".join(parts)}]


__all__ = ["LLMAgent", "Node", "split_observation"]
