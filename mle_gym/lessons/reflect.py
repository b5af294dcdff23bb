"""Reflectors: from attempts and their outcomes to changes of the lesson book.

* :class:`RuleReflector` needs no model: it reads each failed step's facts (the fields of
  :class:`mle_gym.step.StepResult`: ``invalid_reason``, ``stderr_tail``, ``timed_out``,
  ``oom``...), names the failure with a :func:`failure_signature`, and once a signature has
  recurred (``min_count`` times over this task's episodes) writes the lesson that fixes it,
  unless the book already holds one for that signature.
* :class:`ModelReflector` puts the last attempts into one context (each program, or its diff
  against the one before; milestones, invalid reason, output tails, score, duration,
  diagnostics) and asks a chat model (:class:`mle_gym.llm.ChatClient`, any OpenAI-compatible
  endpoint) for JSON operations (add, update, merge, remove), checked with pydantic. A
  malformed answer, or one naming lessons that are not there, changes nothing and is logged
  in the book with the reason.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mle_gym.lessons.book import GLOBAL, Lesson, LessonBook, metric_family, task_scopes
from mle_gym.spec import TaskSpec

logger = logging.getLogger(__name__)

INSTALLED = "numpy, pandas, scipy, scikit-learn, lightgbm, Pillow"
# What to use instead of a package the sandbox does not have.
ALTERNATIVES = {
    "xgboost": "lightgbm (LGBMClassifier / LGBMRegressor) or scikit-learn's HistGradientBoosting",
    "catboost": "lightgbm (LGBMClassifier / LGBMRegressor)",
    "torch": "scikit-learn models (LogisticRegression, HistGradientBoosting, MLPClassifier)",
    "tensorflow": "scikit-learn models (LogisticRegression, HistGradientBoosting, MLPClassifier)",
    "keras": "scikit-learn models (LogisticRegression, HistGradientBoosting, MLPClassifier)",
    "transformers": "scikit-learn's TfidfVectorizer with a linear model",
    "nltk": "scikit-learn's TfidfVectorizer / CountVectorizer (they tokenise on their own)",
    "spacy": "scikit-learn's TfidfVectorizer / CountVectorizer",
    "cv2": "Pillow (PIL.Image) and numpy",
    "skimage": "Pillow (PIL.Image) and numpy",
}


@dataclass
class AttemptRecord:
    """One step's facts, as a reflector reads them (a StepResult's fields, or a step's info)."""

    task: str
    program: str
    step: int = 0
    episode: str = ""
    valid: bool = False
    score: float | None = None
    reward: float = 0.0
    duration: float = 0.0
    milestones: list[str] = field(default_factory=list)
    invalid_reason: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    exit_code: int | None = None
    timed_out: bool = False
    oom: bool = False
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(cls, task: str, result: Any, episode: str = "") -> AttemptRecord:
        """From a :class:`mle_gym.step.StepResult`."""
        return cls.from_info(task, result.program, result.info(), episode)

    @classmethod
    def from_info(cls, task: str, program: str, info: Mapping[str, Any], episode: str = "",
                  reward: float | None = None) -> AttemptRecord:
        """From an env step's ``info`` (what ``agent.observe`` receives) and the program."""
        score = info.get("score")
        exit_code = info.get("exit_code")
        return cls(
            task=task, program=program, step=int(info.get("step") or 0), episode=episode,
            valid=bool(info.get("valid_submission")),
            score=None if score is None else float(score),
            reward=float(info.get("reward", 0.0) if reward is None else reward),
            duration=float(info.get("duration") or 0.0),
            milestones=list(info.get("milestones") or []),
            invalid_reason=info.get("invalid_reason"),
            stdout_tail=str(info.get("stdout_tail") or ""),
            stderr_tail=str(info.get("stderr_tail") or ""),
            exit_code=None if exit_code is None else int(exit_code),
            timed_out=bool(info.get("timed_out")), oom=bool(info.get("oom")),
            diagnostics=dict(info.get("diagnostics") or {}),
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- failure signatures ----------------------------------------------------------------------

_MODULE = re.compile(r"(?:ModuleNotFoundError|ImportError): No module named '([A-Za-z0-9_]+)")
_PATH = re.compile(r"FileNotFoundError: \[Errno 2\] No such file or directory: '([^']*)'")
_COLUMNS = ("missing column", "unexpected column", "repeated column", "surrounding spaces",
            "look like a pandas index", "The header must be")
_IDS = ("are not test ids", "missing from the submission", "appear more than once",
        "rows must keep the test file's order", "the submission has no rows")
_SCALE = ("must hold probabilities", "must hold whole numbers", "must be one of the task's labels",
          "must not be negative", "must sum to 1", "every row needs a positive probability")


def failure_signature(attempt: AttemptRecord) -> str | None:
    """A stable name for why a step failed, or None (valid, or a failure no rule knows).
    ``missing-module:<name>``, ``oom``, ``time-limit``, ``submission-columns``,
    ``submission-ids``, ``wrong-path``, ``metric-scale``."""
    if attempt.valid:
        return None
    if attempt.oom:
        return "oom"
    if attempt.timed_out:
        return "time-limit"
    module = _MODULE.search(attempt.stderr_tail)
    if module:
        return f"missing-module:{module[1]}"
    reason = attempt.invalid_reason or ""
    if any(marker in reason for marker in _COLUMNS):
        return "submission-columns"
    if any(marker in reason for marker in _IDS) or re.search(r"the submission has [\d,]+ rows", reason):
        return "submission-ids"
    if any(marker in reason for marker in _SCALE):
        return "metric-scale"
    if _PATH.search(attempt.stderr_tail) or "finished without writing submission/" in reason:
        return "wrong-path"
    return None


def _scale_fix(reason: str) -> str:
    if "probabilities" in reason or "positive probability" in reason:
        return ("write probabilities in [0, 1] from predict_proba (the positive class's column "
                "for a binary target), not labels, logits or decision scores")
    if "sum to 1" in reason:
        return "divide each row of probabilities by its sum and write at least 7 significant digits"
    if "negative" in reason:
        return "clip predictions at 0 (np.clip(pred, 0, None)) before writing them"
    return "write one of the task's labels per row (round and clip numeric predictions), not probabilities"


def lesson_for(signature: str, spec: TaskSpec, example: AttemptRecord) -> tuple[str, str]:
    """(scope, text) of the lesson that fixes a failure signature on a task."""
    header = ",".join([spec.id_column, *spec.target_columns])
    kind, _, detail = signature.partition(":")
    if kind == "missing-module":
        instead = ALTERNATIVES.get(detail, f"what is installed ({INSTALLED})")
        return GLOBAL, (f"Do not import {detail}: the sandbox has no {detail} module (installed: "
                        f"{INSTALLED}); use {instead} instead.")
    if kind == "submission-columns":
        return f"task:{spec.slug}", (
            f"Write submission/{spec.submission_file} with exactly the columns {header} "
            f"(that header, in that order) and to_csv(path, index=False); copy the names from "
            f"input/sample_submission.csv rather than typing them.")
    if kind == "submission-ids":
        return f"task:{spec.slug}", (
            f"Take the {spec.id_column!s} column from input/test.csv as it is: one submission row "
            f"per test row, in the test file's order, no ids dropped, renumbered or repeated.")
    if kind == "metric-scale":
        return f"metric:{metric_family(spec.metric)}", (
            f"The metric {spec.metric} checks the scale of the predictions: "
            f"{_scale_fix(example.invalid_reason or '')}.")
    if kind == "wrong-path":
        return GLOBAL, (
            "Read data from input/ (relative to the working directory, or $MLE_INPUT_DIR), "
            "never /kaggle/input or ../input, and write the submission to $MLE_SUBMISSION_PATH "
            "(submission/<file>), creating no other folders for it.")
    if kind == "oom":
        return f"task:{spec.slug}", (
            "Programs ran out of memory on this task: keep sparse features sparse (no "
            ".toarray()), cap max_features of vectorizers, use float32 and free large frames.")
    if kind == "time-limit":
        return f"task:{spec.slug}", (
            "Programs hit the time limit on this task: fit on a subsample first, use fewer "
            "trees or iterations and no grid search, and aim to finish in half the limit.")
    raise ValueError(f"no rule for failure signature {signature!r}")


@dataclass
class Reflection:
    """What one reflection did to the book."""

    added: list[Lesson] = field(default_factory=list)
    changed: list[Lesson] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    refused: str | None = None  # why an answer changed nothing


class RuleReflector:
    """Recurring failure signatures become lessons; no model needed."""

    name = "rule"

    def __init__(self, min_count: int = 2) -> None:
        self.min_count = max(1, int(min_count))

    def reflect(self, book: LessonBook, spec: TaskSpec, attempts: Sequence[AttemptRecord],
                episode: str = "") -> Reflection:
        """``attempts``: this episode's steps; the book's earlier episodes of the task count too."""
        counts: Counter[str] = Counter()
        examples: dict[str, AttemptRecord] = {}
        sources: dict[str, set[str]] = {}
        for past in book.episodes(spec.slug):
            if past["id"] == episode:
                continue
            for signature in past["failures"]:
                counts[signature] += 1
                sources.setdefault(signature, set()).add(past["id"])
        for attempt in attempts:
            signature = failure_signature(attempt)
            if signature:
                counts[signature] += 1
                examples.setdefault(signature, attempt)
                sources.setdefault(signature, set()).add(attempt.episode or episode)
        known = {x.signature for x in book.for_task(spec) if x.signature}
        out = Reflection()
        for signature, count in counts.items():
            # Only a failure seen in this episode: an old one the book has no lesson for was
            # pruned, or predates the book's rules; it is learnt again when it comes back.
            if count < self.min_count or signature in known or signature not in examples:
                continue
            scope, text = lesson_for(signature, spec, examples[signature])
            lesson = book.add(scope, text, sources=sources[signature] - {""},
                              origin=f"rule:{signature.split(':')[0]}", signature=signature)
            out.added.append(lesson)
        if out.added:
            book.log("reflection", {"reflector": self.name, "task": spec.slug, "episode": episode,
                                    "added": [x.id for x in out.added]})
        return out


# -- the model reflector ------------------------------------------------------------------------

MAX_LESSON_CHARS = 500
MAX_OPERATIONS = 12


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddOp(_Op):
    op: Literal["add"]
    scope: Literal["task", "metric", "all"] = "task"
    text: str = Field(min_length=10, max_length=MAX_LESSON_CHARS)


class UpdateOp(_Op):
    op: Literal["update"]
    id: int
    text: str = Field(min_length=10, max_length=MAX_LESSON_CHARS)


class MergeOp(_Op):
    op: Literal["merge"]
    ids: list[int] = Field(min_length=2)
    text: str = Field(min_length=10, max_length=MAX_LESSON_CHARS)


class RemoveOp(_Op):
    op: Literal["remove"]
    id: int


Operation = Annotated[AddOp | UpdateOp | MergeOp | RemoveOp, Field(discriminator="op")]


class Operations(_Op):
    operations: list[Operation] = Field(max_length=MAX_OPERATIONS)


REFLECT_SYSTEM = """You keep a book of short, actionable lessons for a machine-learning \
engineering agent that writes Python programs for Kaggle-style tasks in a sandbox (no \
network; installed: """ + INSTALLED + """). Read the agent's last attempts and their \
outcomes, then change the book with small operations, never a rewrite. A good lesson names \
a concrete action (what to do or avoid, and why), holds for later attempts, and is not \
already in the book. Answer with JSON only."""

REFLECT_REQUEST = """# What to answer
One JSON object: {"operations": [...]}, at most MAX_OPS operations, each one of
- {"op": "add", "scope": "task" | "metric" | "all", "text": "..."}  (scope: this task only, every task with this metric family, or every task)
- {"op": "update", "id": N, "text": "..."}  (reword a lesson above)
- {"op": "merge", "ids": [N, M, ...], "text": "..."}  (lessons above that say the same thing)
- {"op": "remove", "id": N}  (a lesson above that is wrong or useless)
Lesson texts are 10 to MAX_CHARS characters. Answer {"operations": []} when nothing is worth \
changing.""".replace("MAX_OPS", str(MAX_OPERATIONS)).replace("MAX_CHARS", str(MAX_LESSON_CHARS))


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else "[...]\n" + text[-limit:]


def describe_attempts(attempts: Sequence[AttemptRecord], program_chars: int = 4000,
                      tail_chars: int = 1200) -> str:
    """The attempts as one context: each program (or its diff against the previous one when
    that is shorter), its outcome, milestones, diagnostics and output tails."""
    parts, previous = [], None
    for i, a in enumerate(attempts, 1):
        outcome = (f"valid submission, score {a.score:.5g}" if a.valid and a.score is not None
                   else f"no valid submission ({a.invalid_reason or 'unknown reason'})")
        lines = [f"## Attempt {i}: {outcome}; reward {a.reward:.3f}; ran {a.duration:.1f} s; "
                 f"milestones: {', '.join(a.milestones) or 'none'}"]
        signature = failure_signature(a)
        if signature:
            lines.append(f"Failure kind: {signature}")
        program = a.program
        if previous is not None:
            diff = "\n".join(difflib.unified_diff(previous.splitlines(), program.splitlines(),
                                                  "previous", "this", lineterm="", n=1))
            if len(diff) < len(program):
                program = diff or "(same program as the previous attempt)"
                lines.append("Changes against the previous attempt:")
        lines.append("```\n" + _clip(program, program_chars) + "\n```")
        if a.diagnostics:
            lines.append("Reported: " + json.dumps(a.diagnostics, default=str)[:600])
        if a.stdout_tail.strip():
            lines.append("stdout (tail):\n```\n" + _clip(a.stdout_tail, tail_chars) + "\n```")
        if a.stderr_tail.strip():
            lines.append("stderr (tail):\n```\n" + _clip(a.stderr_tail, tail_chars) + "\n```")
        parts.append("\n".join(lines))
        previous = a.program
    return "\n\n".join(parts)


_FENCED = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


def parse_operations(answer: str) -> Operations:
    """The operations in a model's answer (JSON, possibly fenced or with prose around it).
    Raises ValueError with the reason when there are none to trust."""
    candidates = [m.group(1) for m in _FENCED.finditer(answer)] + [answer]
    last_error = "no JSON object found"
    for text in candidates:
        start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
        if start < 0:
            continue
        try:
            data, _ = json.JSONDecoder().raw_decode(text[start:])
        except json.JSONDecodeError as exc:
            last_error = f"not JSON: {exc}"
            continue
        if isinstance(data, list):
            data = {"operations": data}
        try:
            return Operations.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            raise ValueError(f"the operations do not fit the schema: {problems}") from None
    raise ValueError(last_error)


class ModelReflector:
    """Asks a chat model for lesson operations. ``client`` is a :class:`mle_gym.llm.ChatClient`
    (default: one from the ``MLE_GYM_LLM_*`` environment variables)."""

    name = "model"

    def __init__(self, client: Any = None, temperature: float = 0.2, max_tokens: int = 1024) -> None:
        if client is None:
            from mle_gym.llm import ChatClient

            client = ChatClient()
        self.client = client
        self.temperature = temperature
        self.max_tokens = max_tokens

    def messages(self, book: LessonBook, spec: TaskSpec,
                 attempts: Sequence[AttemptRecord]) -> list[dict[str, str]]:
        lessons = book.for_task(spec)
        listed = "\n".join(f"- id {x.id} [{x.scope}] (helpful {x.helpful}, harmful {x.harmful}): "
                           f"{x.text}" for x in lessons) or "(none yet)"
        user = (f"# Task: {spec.title} ({spec.slug}); metric {spec.metric}, "
                f"{spec.direction} is better; metric family {metric_family(spec.metric)}\n\n"
                f"# The book's lessons for this task\n{listed}\n\n"
                f"# The last attempts\n{describe_attempts(attempts)}\n\n{REFLECT_REQUEST}")
        return [{"role": "system", "content": REFLECT_SYSTEM}, {"role": "user", "content": user}]

    def reflect(self, book: LessonBook, spec: TaskSpec, attempts: Sequence[AttemptRecord],
                episode: str = "") -> Reflection:
        from mle_gym.llm import LLMError

        try:
            answer = self.client.chat(self.messages(book, spec, attempts),
                                      temperature=self.temperature, max_tokens=self.max_tokens)
        except LLMError as exc:  # reflection is a side job: a lost answer changes nothing
            return self._refuse(book, spec, episode, f"no answer from the model: {exc}", "")
        try:
            operations = parse_operations(answer).operations
        except ValueError as exc:
            return self._refuse(book, spec, episode, str(exc), answer)
        return self.apply(book, spec, operations, episode, answer)

    def apply(self, book: LessonBook, spec: TaskSpec, operations: Sequence[Any],
              episode: str = "", answer: str = "") -> Reflection:
        """Apply checked operations in one transaction; any bad id refuses them all."""
        scopes = task_scopes(spec)
        scope_of = {"task": scopes[0], "metric": scopes[1], "all": scopes[2]}
        out = Reflection()
        sources = [episode] if episode else []
        try:
            with book.transaction() as conn:
                visible = {x.id for x in book.lessons(scopes)}
                named = [i for op in operations for i in named_ids(op)]
                unknown = sorted(set(named) - visible)
                if unknown:
                    raise ValueError(f"the answer names lesson id(s) {unknown}, which are not "
                                     f"among this task's lessons {sorted(visible)}")
                gone: set[int] = set()
                for op in operations:
                    if set(named_ids(op)) & gone:
                        raise ValueError(f"operation {op.model_dump()} names a lesson an earlier "
                                         f"operation removed or merged away")
                    if op.op == "add":
                        out.added.append(book.add(scope_of[op.scope], op.text, sources=sources,
                                                  origin="model", conn=conn))
                    elif op.op == "update":
                        out.changed.append(book.update(op.id, text=op.text, sources=sources,
                                                       conn=conn))
                    elif op.op == "merge":
                        out.changed.append(book.merge(op.ids, op.text, conn=conn))
                        gone |= set(op.ids[1:])
                    else:
                        book.remove(op.id, conn=conn)
                        out.removed.append(op.id)
                        gone.add(op.id)
                book.log("reflection", {"reflector": self.name, "task": spec.slug,
                                        "episode": episode,
                                        "operations": [op.model_dump() for op in operations]},
                         conn=conn)
        except ValueError as exc:
            return self._refuse(book, spec, episode, str(exc), answer)
        return out

    def _refuse(self, book: LessonBook, spec: TaskSpec, episode: str, reason: str,
                answer: str) -> Reflection:
        logger.warning("lesson reflection changed nothing on %s: %s", spec.slug, reason)
        book.log("reflection-refused", {"reflector": self.name, "task": spec.slug,
                                        "episode": episode, "reason": reason,
                                        "answer": answer[:2000]})
        return Reflection(refused=reason)


def named_ids(op: Any) -> list[int]:
    if op.op == "merge":
        return list(op.ids)
    return [op.id] if op.op in ("update", "remove") else []


def make_reflectors(kind: str, client: Any = None) -> list[Any]:
    """``rule``, ``model`` or ``both`` (rules first: they are free and certain)."""
    if kind not in ("rule", "model", "both", "none"):
        raise ValueError(f"reflector must be rule, model, both or none, not {kind!r}")
    out: list[Any] = []
    if kind in ("rule", "both"):
        out.append(RuleReflector())
    if kind in ("model", "both"):
        out.append(ModelReflector(client))
    return out


__all__ = [
    "AttemptRecord",
    "ModelReflector",
    "Operations",
    "Reflection",
    "RuleReflector",
    "describe_attempts",
    "failure_signature",
    "lesson_for",
    "make_reflectors",
    "parse_operations",
]
