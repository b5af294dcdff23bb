"""The default instrumenter: standard-library ``ast`` heuristics, no model in the loop.

How a program is rewritten
--------------------------
1. The text is normalised the way Python reads it (:mod:`mle_gym.instrument.source`) and
   parsed; a program that does not parse or compile is refused with the reason.
2. :mod:`mle_gym.instrument.rules` says which calls reach which milestone (the name
   heuristics, documented there), and :mod:`mle_gym.instrument.plan` where each hook goes:
   detected calls are wrapped, a statement follows the last top-level import and each
   outermost training loop, and a one-line prologue makes ``__mle_milestone__`` a no-op where
   the runner did not put its hook into the module's globals. In the sandbox the runner
   renames the placeholder ``__mle_milestone__`` to a random name per step (see
   :mod:`mle_gym.sandbox.runner`).
3. :mod:`mle_gym.instrument.edit` edits the hooks into the text in place, so comments,
   formatting and, almost always, line numbers stay those of the agent's program.
4. The rewrite of a program of ordinary size is checked (:mod:`mle_gym.instrument.check`):
   the edited text must parse to the original tree plus hooks and nothing else. Should that
   ever fail, the tree is rewritten with ``ast.unparse`` instead (comments lost, lines
   renumbered), and failing that the program runs unchanged with no hooks rather than being
   rejected.

Forgery: a program that mentions ``__mle_milestone__`` anywhere (after Unicode NFKC
normalisation, the way Python reads identifiers) is rejected. Printing milestone names earns
nothing because the runner reads milestones from a private pipe, with a per-step secret, and
its hook records a milestone only when called from a call site the instrumenter inserted
(see :mod:`mle_gym.sandbox.runner`); :mod:`mle_gym.instrument.tamper` flags programs that
introspect frames, closures or code objects to get around that.
"""

from __future__ import annotations

import logging
import unicodedata

from mle_gym.instrument.base import InstrumentationError, InstrumentedProgram
from mle_gym.instrument.check import same_program, tree_dump
from mle_gym.instrument.edit import regenerate, splice
from mle_gym.instrument.milestones import HOOK, PROLOGUE
from mle_gym.instrument.plan import make_plan
from mle_gym.instrument.source import compile_tree, normalise, parse
from mle_gym.instrument.threadsafe import AST_LOCK

log = logging.getLogger(__name__)

# PROLOGUE moved to mle_gym.instrument.milestones; imported above and re-exported here.
__all__ = ["PROLOGUE", "StaticInstrumenter"]


class StaticInstrumenter:
    """Inserts milestone hooks found by static heuristics (see the module docstring).

    ``check`` also compiles the program (so that errors Python reports only when compiling,
    such as ``return`` outside a function, are caught before anything runs) and checks the
    rewrite against the original tree. ``None`` (the default) checks programs shorter than
    ``CHECK_BELOW_CHARS``, which covers agents' programs at a few milliseconds; the check
    costs about two more parses, which would break the budget for very long programs.
    """

    name = "static"
    CHECK_BELOW_CHARS = 20_000

    def __init__(self, check: bool | None = None) -> None:
        self.check = check

    def instrument(self, code: str) -> InstrumentedProgram:
        with AST_LOCK:
            return self._instrument(code)

    def _instrument(self, code: str) -> InstrumentedProgram:
        if not isinstance(code, str):
            raise InstrumentationError(f"the program must be text, not {type(code).__name__}")
        if not code.strip():
            raise InstrumentationError("empty program")
        if HOOK in code or HOOK in unicodedata.normalize("NFKC", code):
            raise InstrumentationError(f"program uses the reserved name {HOOK}")
        text = normalise(code)
        if "\x00" in text:  # Python refuses these (a ValueError or a SyntaxError, by version)
            line = text.count("\n", 0, text.index("\x00")) + 1
            raise InstrumentationError(f"the program contains a null byte (line {line})")
        check = self.check if self.check is not None else len(text) < self.CHECK_BELOW_CHARS
        try:
            tree = parse(text)
            if check:
                compile_tree(tree)
        except SyntaxError as exc:
            raise InstrumentationError(_describe(exc)) from None
        except ValueError as exc:  # UnicodeEncodeError for lone surrogates
            raise InstrumentationError(_value_problem(exc)) from None
        except (RecursionError, MemoryError):
            raise InstrumentationError("the program is nested too deeply to parse") from None
        if not tree.body:
            raise InstrumentationError("empty program")
        original_dump = tree_dump(tree) if check else None
        try:
            plan = make_plan(tree, text.split("\n"))
            source = splice(text, tree, plan)
        except Exception:  # a bug here must not cost the agent its program
            log.exception("static instrumenter: editing the program text failed")
        else:
            if original_dump is None or same_program(source, original_dump) is not False:
                return InstrumentedProgram(source, code, plan.milestones())
            log.error("static instrumenter: the edited program differs; regenerating it")
        return _regenerated(code, text, original_dump)


def _regenerated(code: str, text: str, original_dump: str | None) -> InstrumentedProgram:
    """The fallback: the plan applied to the tree and printed, else the program unchanged."""
    try:
        fresh = parse(text)
        plan = make_plan(fresh, text.split("\n"))
        source = regenerate(fresh, plan)
        if original_dump is None or same_program(source, original_dump) is not False:
            return InstrumentedProgram(source, code, plan.milestones())
    except Exception:
        log.exception("static instrumenter: regenerating the program failed")
    return InstrumentedProgram(text, code, ())


def _describe(exc: SyntaxError) -> str:
    kind = type(exc).__name__
    where = f" at line {exc.lineno}" if exc.lineno else ""
    return f"{kind}{where}: {exc.msg}"


def _value_problem(exc: ValueError) -> str:
    if isinstance(exc, UnicodeError):
        return "the program text is not valid Unicode (a lone surrogate?)"
    return f"the program could not be parsed: {exc}"
