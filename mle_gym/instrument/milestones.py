"""The milestones a program can reach, in canonical order, and the hook that reports them.

The sandbox runner defines the builtin ``__mle_milestone__(name, value=<omitted>)``: it records
``name`` the first time it is reached and returns ``value`` unchanged (``None`` when omitted).
Instrumenters insert calls to it. ``submission_written`` is never reported by a program: the
host checks the submission file itself, so it cannot be forged from inside the sandbox.
``PROLOGUE`` binds a no-op hook for a program that runs outside the runner.
"""

from __future__ import annotations

HOOK = "__mle_milestone__"

# The first thing an instrumented program runs: it makes the hook a no-op where the runner did
# not put its own into the module's globals (the program run on its own, or re-run as
# ``__mp_main__`` by a spawned worker). Instrumenters add it; checks strip it again.
PROLOGUE = f'globals().setdefault("{HOOK}", lambda name, value=None: value)'

MILESTONES: tuple[str, ...] = (
    "imports",
    "data_loaded",
    "model_defined",
    "model_trained",
    "predictions_made",
    "submission_written",
)

DESCRIPTIONS: dict[str, str] = {
    "imports": "the program's libraries were imported",
    "data_loaded": "the task data was read from the input folder",
    "model_defined": "a model was constructed",
    "model_trained": "a model was fitted or trained",
    "predictions_made": "the model made predictions",
    "submission_written": "a submission file was written (checked by the host)",
}

# What instrumenters may emit: everything except the host-checked last milestone.
REPORTED: tuple[str, ...] = MILESTONES[:-1]


def in_order(names: set[str] | frozenset[str] | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The known milestones among ``names``, in canonical order."""
    present = set(names)
    return tuple(m for m in MILESTONES if m in present)
