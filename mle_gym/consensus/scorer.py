"""Score a group of submissions against each other: a reward that reads no answers.

:class:`ConsensusScorer` is built from a task's spec and its ``public/`` folder only; it has
no path to ``private/`` and opens nothing there. It reads each submission with the task's own
bounded reader and metric reader (the ids come from the public sample submission), then:

1. **Invalid** submissions (the format check fails) do not vote and earn the usual failure
   reward (``compute_reward`` with no score: milestones still count).
2. **No model** (the sentinel of :mod:`mle_gym.grading.sentinel`: constant predictions, or the
   sample submission copied; or, from the pool, a program that never reached
   ``model_trained``) do not vote and earn ``no_model_reward``.
3. The rest are grouped into **copies**: two submissions whose predictions differ on at most
   ``near_rows`` of the rows (a number differs when it moves by more than ``near_tol`` of its
   column's range; AUC tasks compare ranks, so a rescaled copy is a copy) are one voter.
   Copies carry no information about each other: each group votes once, and a submission is
   scored against every group but its own (leave-one-out by group), so N copies of one
   program cannot vote for themselves.
4. With at least ``min_voters`` other groups, the pseudo-label (:mod:`.votes`) is made from
   one representative per other group and the submission's **agreement** is the task's
   metric against it. The agreement maps onto the reward preset's normalised scale with the
   **sample submission's agreement with the same pseudo-label as the zero** and the metric's
   perfect score as the one; the default preset then pays ``1 + z`` (``exp(z)`` below 0),
   so a valid submission stays above every invalid one, as in every preset. A sample
   submission whose agreement is undefined (Pearson of a constant) makes the zero 0.
5. With fewer voters the reward is **partial credit alone**: the valid case at ``z = 0`` (1.0
   by default, plus milestones where the preset pays them on valid runs): valid, nothing paid
   for agreement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mle_gym.consensus.votes import Voters, differing_rows, signature
from mle_gym.grading.grader import PredictionReader
from mle_gym.grading.metrics import get_metric
from mle_gym.grading.sentinel import no_model_reason, sample_submission_path
from mle_gym.grading.submission import (
    NA_VALUES,
    InvalidSubmission,
)
from mle_gym.reward import Anchors, RewardConfig, compute_reward, get_reward_config
from mle_gym.spec import TaskSpec, load_task

MIN_VOTERS = 3  # other copy groups needed before agreement is paid
NEAR_ROWS = 0.01  # copies: predictions differ on at most this fraction of the rows
NEAR_TOL = 1e-3  # ... where a number differs when it moves by more than this of its range


@dataclass(frozen=True)
class ConsensusResult:
    """One submission's consensus reward and what it was made from."""

    reward: float
    case: str  # "agreement", "few_voters", "invalid", "failure", "no_model_trained"
    valid: bool
    agreement: float | None = None  # the metric against the others' pseudo-label
    zero: float | None = None  # the sample submission's agreement (the normalised zero)
    voters: int = 0  # copy groups that voted on this submission's pseudo-label
    group: int | None = None  # its copy group (submissions with the same number are copies)
    reason: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class ConsensusScorer:
    """One task's consensus reward, from its public folder alone."""

    def __init__(
        self,
        task: str | TaskSpec,
        public: Path,
        reward: str | RewardConfig | dict | None = None,
        min_voters: int = MIN_VOTERS,
        near_rows: float = NEAR_ROWS,
        near_tol: float = NEAR_TOL,
    ) -> None:
        spec = task if isinstance(task, TaskSpec) else load_task(task)
        if min_voters < 1:
            raise ValueError("min_voters must be at least 1: a pseudo-label needs a voter")
        self.spec = spec
        self.public = Path(public)
        if self.public.name == "private" or (self.public / "answers.csv").exists():
            raise ValueError(f"{self.public} is not a public folder: consensus reads public/ only")
        self.config = get_reward_config(reward)
        self.min_voters = int(min_voters)
        self.near_rows = float(near_rows)
        self.near_tol = float(near_tol)
        self.metric = get_metric(spec.metric)
        self.sample = sample_submission_path(spec, self.public)
        if self.sample is None:
            raise ValueError(f"{spec.slug} has no sample submission in {self.public}: consensus "
                             f"takes the test ids from it")
        self.ids = _column(self.sample, spec.id_column)
        widest = {spec.id_column: _widest_cell([self.sample], spec.id_column)}
        if self.metric.text:  # a span is part of a text: the widest public text bounds it
            texts = sorted(self.public.glob("*.csv"))
            widest.update({c: _widest_cell(texts, None) for c in spec.target_columns})
        self.reader = PredictionReader(spec, self.ids, widest)
        self._sample_pred = self.read(self.sample)

    # -- reading --------------------------------------------------------------------------

    def read(self, path: Path) -> np.ndarray:
        """The submission's predictions in test order, validated by the task's reader;
        InvalidSubmission (with the reason) when the format check fails."""
        return self.reader.read(Path(path))

    # -- scoring --------------------------------------------------------------------------

    def score(
        self,
        submissions: Sequence[Path | None],
        milestones: Sequence[int] | None = None,
        no_model: Sequence[bool] | None = None,
    ) -> list[ConsensusResult]:
        """Consensus results for a group; ``None`` is a step that wrote no submission.

        ``milestones`` (per submission) feed the partial credit of invalid ones; ``no_model``
        marks steps known to have trained nothing (from the pool), besides the sentinel."""
        n = len(submissions)
        milestones = list(milestones) if milestones is not None else [0] * n
        flagged = list(no_model) if no_model is not None else [False] * n
        if len(milestones) != n or len(flagged) != n:
            raise ValueError(f"{n} submissions but {len(milestones)} milestone counts and "
                             f"{len(flagged)} no-model flags")
        results: list[ConsensusResult | None] = [None] * n
        preds: dict[int, np.ndarray] = {}
        for i, path in enumerate(submissions):
            if path is None:
                results[i] = self._invalid(milestones[i], "the step wrote no submission")
                continue
            try:
                pred = self.read(Path(path))
            except InvalidSubmission as exc:
                results[i] = self._invalid(milestones[i], exc.reason)
                continue
            why = no_model_reason(Path(path), self.spec, self.public)
            if why is None and flagged[i]:
                why = "the program never reached model_trained"
            if why is not None:
                reward, _ = compute_reward(self.config, self._anchors(0.0), milestones[i], 0.0, no_model=True)
                results[i] = ConsensusResult(reward, "no_model_trained", True, reason=why)
                continue
            preds[i] = pred
        voting = sorted(preds)
        groups = self._copy_groups([preds[i] for i in voting])
        # One representative per copy group votes (the first submitted).
        reps: dict[int, int] = {}
        for position, group in enumerate(groups):
            reps.setdefault(group, position)
        order = sorted(reps)
        if not order:
            return [r for r in results if r is not None]
        voters = Voters(self.spec.metric, [preds[voting[reps[g]]] for g in order], self.spec.metric_options)
        for position, i in enumerate(voting):
            own = groups[position]
            keep = [k for k, g in enumerate(order) if g != own]
            results[i] = self._agreement(preds[i], voters, keep, own, milestones[i])
        return [r for r in results if r is not None]

    def _agreement(self, pred: np.ndarray, voters: Voters, keep: list[int], group: int,
                   milestones: int) -> ConsensusResult:
        if len(keep) < self.min_voters:
            return self._few(milestones, len(keep), group,
                             f"{len(keep)} other distinct valid submission(s); {self.min_voters} needed")
        pseudo = voters.pseudo_label(keep)
        try:
            agreement = self._metric(pred, pseudo)
        except InvalidSubmission as exc:  # e.g. constant predictions where the metric needs spread
            return self._invalid(milestones, exc.reason)
        if agreement is None:
            return self._few(milestones, len(keep), group, "the voters' pseudo-label is uninformative")
        try:
            zero = self._metric(self._sample_pred, pseudo)
        except InvalidSubmission:
            zero = None
        if zero is None:
            zero = 0.0  # the chance level of a correlation, where the sample's is undefined
        reward, _ = compute_reward(self.config, self._anchors(zero), milestones, agreement)
        return ConsensusResult(reward, "agreement", True, agreement, zero, len(keep), group)

    def _metric(self, pred: np.ndarray, pseudo: np.ndarray) -> float | None:
        value = self.metric.score(pred, pseudo, self.spec.metric_options)
        return float(value) if math.isfinite(value) else None

    def _anchors(self, zero: float) -> Anchors:
        return Anchors(self.spec.direction, sample=zero, reference=self.metric.perfect)

    def _invalid(self, milestones: int, reason: str) -> ConsensusResult:
        reward, parts = compute_reward(self.config, self._anchors(0.0), milestones, None)
        return ConsensusResult(reward, str(parts["case"]), False, reason=reason)

    def _few(self, milestones: int, voters: int, group: int, reason: str) -> ConsensusResult:
        # Partial credit alone: the valid case at the normalised zero, no agreement paid.
        reward, _ = compute_reward(self.config, Anchors("higher", 0.0, 1.0), milestones, 0.0)
        return ConsensusResult(reward, "few_voters", True, voters=voters, group=group, reason=reason)

    def _copy_groups(self, preds: list[np.ndarray]) -> list[int]:
        """A group number per submission; near-copies share one (single linkage)."""
        m = self.spec.metric
        sigs = [signature(m, p) for p in preds]
        tolerance = None
        if sigs and not self.metric.text and m not in ("accuracy", "quadratic_weighted_kappa"):
            stacked = np.stack(sigs).astype(np.float64)
            spread = stacked.max(axis=(0, 1)) - stacked.min(axis=(0, 1))
            tolerance = self.near_tol * np.where(spread > 0, spread, 1.0)
        allowed = int(self.near_rows * len(self.ids))
        parent = list(range(len(preds)))

        def root(k: int) -> int:
            while parent[k] != k:
                parent[k] = parent[parent[k]]
                k = parent[k]
            return k

        for a in range(len(preds)):
            for b in range(a):
                if root(a) != root(b) and differing_rows(m, sigs[a], sigs[b], tolerance) <= allowed:
                    parent[root(a)] = root(b)
        return [root(k) for k in range(len(preds))]


def _column(path: Path, name: str) -> pa.Array:
    convert = pacsv.ConvertOptions(column_types={name: pa.string()}, include_columns=[name],
                                   null_values=NA_VALUES, strings_can_be_null=False)
    return pacsv.read_csv(path, convert_options=convert).column(name).combine_chunks()


def _widest_cell(paths: Sequence[Path], column: str | None) -> int:
    """The longest cell (bytes) of ``column`` (every column when None) in public CSV files."""
    widest = 0
    for path in paths:
        convert = pacsv.ConvertOptions(strings_can_be_null=False, null_values=NA_VALUES,
                                       include_columns=[column] if column else [])
        table = pacsv.read_csv(path, convert_options=convert)
        for values in table.columns:
            if pa.types.is_string(values.type):
                widest = max(widest, int(pc.max(pc.binary_length(values)).as_py() or 0))
    return widest


def public_folder(task: TaskSpec, data: str | Path = "lite", data_seed: int = 0) -> Path:
    """The public folder of ``data``: "lite"/"full" are prepared (or found) by the data
    layer; a path is a prepared folder (its ``public/``) or a public folder itself."""
    if isinstance(data, str) and data in ("lite", "full"):
        from mle_gym.data import prepare

        return prepare(task, data, data_seed).public
    folder = Path(data).expanduser()
    if (folder / "public").is_dir():
        return folder / "public"
    if folder.is_dir():
        return folder
    raise FileNotFoundError(f"{folder} is not a data folder: pass 'lite', 'full', a prepared "
                            f"folder (with public/) or a public folder")


def consensus_rewards(
    task: str | TaskSpec,
    submissions: Sequence[str | Path | None],
    data: str | Path = "lite",
    data_seed: int = 0,
    **options: object,
) -> list[float]:
    """Each submission's reward from its agreement with the others' pseudo-labels (leave-one-out
    by copy group), with the task's metric; answers are never read. ``options`` go to
    :class:`ConsensusScorer` (``reward``, ``min_voters``, ``near_rows``, ``near_tol``)."""
    spec = task if isinstance(task, TaskSpec) else load_task(task)
    scorer = ConsensusScorer(spec, public_folder(spec, data, data_seed), **options)  # type: ignore[arg-type]
    paths = [None if s is None else Path(s) for s in submissions]
    return [r.reward for r in scorer.score(paths)]


__all__ = ["MIN_VOTERS", "ConsensusResult", "ConsensusScorer", "consensus_rewards", "public_folder"]
