"""AIDE (Jiang et al., 2025; PyPI ``aideml``) plugged in as an mle-gym agent.

AIDE's own search loop runs: its ``Agent.search_policy`` picks draft, debug or improve, its
prompts ask the model, its ``Journal`` keeps the tree. Three parts are ours instead:

* **execution**: AIDE's ``Interpreter`` runs programs unsandboxed on the host; here every
  program is the action of an mle-gym step, run in the sandbox. The loop is turned inside
  out to fit ``act(observation) -> program``: ``act`` first files the last program's outcome
  in the journal, then lets AIDE choose and write the next one.
* **the score**: AIDE asks the model to read the metric off the program's output (a review
  call); here a node's metric is our grader's public score and "buggy" means no valid
  submission, so what the model prints never counts. The review call is skipped.
* **the transport**: requests go through :class:`mle_gym.llm.ChatClient` (bounded retries,
  clear errors, the seed sent), not AIDE's backend, which retries a dead server forever.

AIDE tells programs to write ``./working/submission.csv``; a preamble copies that file to the
path the grader reads when the program ends, unless the program wrote that one itself.

Install: ``pip install --no-deps aideml==0.2.2`` and ``pip install 'mle-gym[aide]'`` (its
loop's own dependencies; aideml's full list pins old versions of half of PyPI).
"""

from __future__ import annotations

import random
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mle_gym.llm import ChatClient, LLMError
from mle_gym.prompt import ParsedObservation, ReportedAttempt, parse_observation

INSTALL = ("the aide agent needs AIDE: pip install --no-deps aideml==0.2.2 && "
           "pip install 'mle-gym[aide]' (or `make aide`)")

SUBMISSION_PREAMBLE = '''\
# mle-gym: AIDE writes ./working/{name}; the grader reads $MLE_SUBMISSION_PATH.
import atexit as _mle_gym_atexit


def _mle_gym_map_submission():
    import os
    import shutil

    made = os.path.join("working", "{name}")
    wanted = os.environ.get("MLE_SUBMISSION_PATH", os.path.join("submission", "{name}"))
    if os.path.isfile(made) and not os.path.exists(wanted):
        shutil.copyfile(made, wanted)


_mle_gym_atexit.register(_mle_gym_map_submission)
'''


def map_submission(code: str, submission_file: str = "submission.csv") -> str:
    """The program with the preamble that maps AIDE's submission path to the grader's.
    ``from __future__`` imports must stay first, so they go above it."""
    lines = code.splitlines()
    future = [ln for ln in lines if ln.startswith("from __future__ import")]
    rest = [ln for ln in lines if not ln.startswith("from __future__ import")]
    preamble = SUBMISSION_PREAMBLE.replace("{name}", submission_file)
    return "\n".join([*future, preamble, *rest]) + "\n"


def _import_aide() -> Any:
    # aideml's config module calls ``shutup.please()``, which replaces ``warnings.warn`` with
    # a no-op for the whole process: our own warnings (local sandbox, rebuilt data) would go
    # silent. Keep the real functions across the import.
    warn, warn_explicit = warnings.warn, warnings.warn_explicit
    try:
        import aide.agent
        import aide.journal
        import aide.utils.data_preview  # noqa: F401 - used through the package
    except ImportError as exc:
        raise ImportError(f"{INSTALL} ({exc})") from exc
    finally:
        warnings.warn, warnings.warn_explicit = warn, warn_explicit
        muter = sys.modules.get("shutup")
        if muter is not None:  # imported before us elsewhere: undo its mute as well
            muter.jk()
    return aide


class AIDEAgent:
    """AIDE's draft / debug / improve tree search, each program one mle-gym step.

    ``model``, ``base_url``, ``api_key`` default to ``MLE_GYM_LLM_MODEL``,
    ``MLE_GYM_LLM_BASE_URL`` (else ``OPENAI_BASE_URL``) and ``MLE_GYM_LLM_API_KEY``. The
    search settings default to AIDE's own (``aide/utils/config.yaml``: 5 drafts, debug
    probability 0.5, debug depth 3, temperature 0.5, 5-fold validation); ``max_tokens``
    bounds each answer; ``retries`` is how often AIDE asks again when an answer has no plan
    or no code (AIDE: 3). ``data`` ("lite", "full" or a folder) is where AIDE's data
    preview is made from, when ``data_preview`` is on.
    """

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        num_drafts: int | None = None,
        debug_prob: float | None = None,
        max_debug_depth: int | None = None,
        temperature: float | None = None,
        k_fold_validation: int | None = None,
        data_preview: bool | None = None,
        max_tokens: int | None = 2048,
        retries: int = 3,
        data: str = "lite",
        timeout: float = 600.0,
        max_retries: int = 4,
    ) -> None:
        self._aide = _import_aide()
        from omegaconf import OmegaConf

        self.cfg = OmegaConf.load(Path(self._aide.__file__).parent / "utils" / "config.yaml")
        search = self.cfg.agent.search
        for key, value in (("num_drafts", num_drafts), ("debug_prob", debug_prob),
                           ("max_debug_depth", max_debug_depth)):
            if value is not None:
                search[key] = value
        if temperature is not None:
            self.cfg.agent.code.temp = float(temperature)
        if k_fold_validation is not None:
            self.cfg.agent.k_fold_validation = int(k_fold_validation)
        if data_preview is not None:
            self.cfg.agent.data_preview = bool(data_preview)
        if retries < 1 or search.num_drafts < 1:
            raise ValueError("retries and num_drafts must be at least 1")
        self.client = ChatClient(base_url=base_url, model=model, api_key=api_key,
                                 timeout=timeout, max_retries=max_retries)
        self.cfg.agent.code.model = self.client.model
        self.max_tokens = max_tokens
        self.retries = int(retries)
        self.data = data
        self.seed: int | None = None
        self.task: str | None = None
        self.search: Any = None  # AIDE's Agent, one per episode
        self._pending: Any = None  # the node whose program the env is running
        self._lower_is_better = False
        self._rng = random.Random()
        self._requests = 0

    # -- Agent protocol ---------------------------------------------------------------------

    def reset(self, task: str, seed: int | None = None) -> None:
        self.task, self.seed = task, seed
        self.search, self._pending = None, None
        self._rng = random.Random(seed)
        self._requests = 0

    def observe(self, reward: float, info: dict[str, Any]) -> None:
        """File the program's outcome now, so the journal is whole when the episode ends."""
        if self._pending is not None and self.search is not None:
            self._file(self._pending, info=info)
            self._pending = None

    def act(self, observation: str) -> str:
        parsed = parse_observation(observation)
        if parsed.last is None or self.search is None:  # a new episode
            self._start(parsed)
        elif self._pending is not None:  # a harness that does not call observe()
            self._file(self._pending, attempt=parsed.last)
        with self._global_random():  # AIDE's policy draws from the random module
            parent = self.search.search_policy()
            if parent is None:
                node = self.search._draft()
            elif parent.is_buggy:
                node = self.search._debug(parent)
            else:
                node = self.search._improve(parent)
        self._pending = node
        return map_submission(node.code, self._submission_file)

    @property
    def journal(self) -> Any:
        """AIDE's journal of this episode (its tree of filed attempts)."""
        return None if self.search is None else self.search.journal

    # -- the episode ------------------------------------------------------------------------

    def _start(self, parsed: ParsedObservation) -> None:
        from mle_gym.spec import load_task

        aide = self._aide
        task = parsed.task or self.task
        self._lower_is_better = parsed.lower_is_better
        spec = load_task(task) if task else None
        self._submission_file = spec.submission_file if spec else "submission.csv"
        if parsed.time_limit:
            self.cfg.exec.timeout = int(parsed.time_limit)
        self.search = _search_agent(aide, self)(parsed.task_prompt, self.cfg,
                                                aide.journal.Journal())
        if self.cfg.agent.data_preview and spec is not None:
            from mle_gym.data import prepare

            public = prepare(spec, self.data).public
            self.search.data_preview = aide.utils.data_preview.generate(public)
        self._pending = None
        if parsed.previous is not None and parsed.previous.program:  # improve mode
            given = aide.journal.Node(code=parsed.previous.program,
                                      plan="The solution given to improve.")
            self._file(given, attempt=parsed.previous)

    def _file(self, node: Any, info: dict[str, Any] | None = None,
              attempt: ReportedAttempt | None = None) -> None:
        """Put a run's outcome into AIDE's node (our grader's verdict, not the model's):
        the step's ``info``, else what the observation reports."""
        from aide.interpreter import ExecutionResult
        from aide.utils.metric import MetricValue, WorstMetricValue

        if info is not None:
            valid, score = bool(info.get("valid_submission")), info.get("score")
            reason, duration = info.get("invalid_reason"), float(info.get("duration") or 0.0)
            output = [str(info.get("stdout_tail") or ""), str(info.get("stderr_tail") or "")]
            failed = bool(info.get("timed_out")) or info.get("exit_code") not in (None, 0)
        else:
            assert attempt is not None
            valid, score, reason = attempt.valid, attempt.score, attempt.reason
            duration, output, failed = attempt.duration, [attempt.report], not attempt.valid
        valid = valid and score is not None
        verdict = (f"valid submission, score {float(score):.6g} (mle-gym's grader)" if valid
                   else f"no valid submission: {reason or 'unknown reason'}")
        output.append(f"\n[mle-gym] {verdict}; ran {duration:.1f} s\n")
        node.absorb_exec_result(ExecutionResult(
            term_out=output, exec_time=duration,
            exc_type="ProgramFailed" if failed else (None if valid else "InvalidSubmission"),
            exc_info={"reason": reason} if reason else None))
        node.analysis = verdict
        node.is_buggy = not valid
        node.metric = (MetricValue(float(score), maximize=not self._lower_is_better) if valid
                       else WorstMetricValue())
        self.search.journal.append(node)

    @contextmanager
    def _global_random(self):  # noqa: ANN202 - a context manager
        saved = random.getstate()
        random.setstate(self._rng.getstate())
        try:
            yield
        finally:
            self._rng.setstate(random.getstate())
            random.setstate(saved)

    def ask(self, system: str) -> str:
        """One request as AIDE makes it (the whole prompt as the system message)."""
        extra = {"seed": self.seed + self._requests} if self.seed is not None else {}
        self._requests += 1
        try:
            reply = self.client.complete([{"role": "system", "content": system}],
                                         temperature=self.cfg.agent.code.temp,
                                         max_tokens=self.max_tokens, **extra)
        except LLMError as exc:
            raise LLMError(f"the aide agent got no answer: {exc}", url=exc.url,
                           model=exc.model, status=exc.status) from exc
        return reply.content


def _search_agent(aide: Any, owner: AIDEAgent) -> Any:
    """AIDE's ``Agent`` with its model call routed through ``owner`` (a subclass made here,
    so that importing this module does not need AIDE)."""
    from aide.backend.utils import compile_prompt_to_md
    from aide.utils.response import extract_code, extract_text_up_to_code

    base = aide.agent.Agent

    class SearchAgent(base):  # type: ignore[misc, valid-type]
        def plan_and_code_query(self, prompt: Any, retries: int = 3) -> tuple[str, str]:
            # AIDE's own method, with our transport and our retry count
            text = ""
            for _ in range(owner.retries):
                text = owner.ask(compile_prompt_to_md(prompt))
                code, plan = extract_code(text), extract_text_up_to_code(text)
                if code and plan:
                    return plan, code
            return "", text

    return SearchAgent


__all__ = ["AIDEAgent", "map_submission"]
