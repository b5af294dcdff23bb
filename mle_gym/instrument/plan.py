"""Where the hooks go: one walk of the syntax tree, before any text is touched.

* Detected *calls* (see :mod:`mle_gym.instrument.rules`) are wrapped, so the milestone fires
  once the call has returned, wherever the call sits (assignments, returns, arguments,
  lambdas, comprehensions, ``with`` items)::

      df = pd.read_csv(p)   ->   df = __mle_milestone__("data_loaded", pd.read_csv(p))

  ``await`` of a detected call is wrapped as a whole. Calls inside f-strings and annotations
  are left alone (rewriting them could change the string or the annotation).
* A ``for``/``while`` loop whose body calls ``.backward(...)`` gets a ``model_trained``
  statement after it: after the outermost such loop of its function.
* ``imports`` is a statement after the last top-level import (after a whole top-level
  ``try``/``if``/``with`` block that only imports and sets flags; inside a ``try``/``with``
  block or an ``if __name__ == "__main__":`` block that also runs code, right after its last
  import). A program with no top-level import never reaches it: it imported nothing.
* The prologue (:data:`mle_gym.instrument.milestones.PROLOGUE`) goes after the module
  docstring and any ``from __future__`` imports.

The plan names syntax-tree nodes and positions; :mod:`mle_gym.instrument.edit` applies it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from mle_gym.instrument.milestones import in_order
from mle_gym.instrument.rules import TRIGGER_WORDS, classify, collect_names
from mle_gym.instrument.syntax import (
    BLOCKS,
    DEFS,
    child_statements,
    dotted,
    is_compound,
)

# Flag-setting statements allowed in a block that still counts as "only imports".
QUIET_CALL_PREFIXES = ("warnings.", "sys.path.", "os.environ.", "logging.", "os.putenv")


def _is_import(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Import):
        return True
    return isinstance(stmt, ast.ImportFrom) and stmt.module != "__future__"


def _quiet(stmt: ast.stmt) -> bool:
    """A statement that may sit in an "only imports" block: an import, a flag, a setting."""
    if _is_import(stmt) or isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
        value = stmt.value
        return value is None or not any(isinstance(n, ast.Call) for n in ast.walk(value))
    if isinstance(stmt, ast.Expr):
        if isinstance(stmt.value, ast.Constant):
            return True
        if isinstance(stmt.value, ast.Call):
            func = dotted(stmt.value.func) or ""
            return func.startswith(QUIET_CALL_PREFIXES)
        return False
    if is_compound(stmt):
        return all(_quiet(s) for s in child_statements(stmt))
    return False


def _has_import(stmt: ast.stmt) -> bool:
    if _is_import(stmt):
        return True
    return is_compound(stmt) and any(_has_import(s) for s in child_statements(stmt))


def _is_main_guard(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.If) or not isinstance(stmt.test, ast.Compare):
        return False
    test = stmt.test
    sides = [test.left, *test.comparators]
    return (
        len(sides) == 2
        and isinstance(test.ops[0], ast.Eq)
        and any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
        and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    )


_TRY_WITH = tuple(t for t in BLOCKS if t.__name__ in ("Try", "TryStar", "With"))


def _imports_anchor(body: list[ast.stmt]) -> tuple[list[ast.stmt], int] | None:
    """Where the ``imports`` hook goes: after statement ``body[i]`` of the returned body."""
    anchor = None
    for i, stmt in enumerate(body):
        if _is_import(stmt) or (is_compound(stmt) and _has_import(stmt) and _quiet(stmt)):
            anchor = (body, i)
        elif isinstance(stmt, _TRY_WITH) or _is_main_guard(stmt):
            # A block that imports and then runs the program: the hook goes inside it.
            anchor = _imports_anchor(stmt.body) or anchor  # type: ignore[attr-defined]
    return anchor


@dataclass
class Plan:
    """The hooks for one program: calls to wrap, statements to add, the prologue's place."""

    wraps: list[tuple[ast.expr, str]] = field(default_factory=list)
    # (body, i, milestone): a hook statement after body[i].
    after: list[tuple[list[ast.stmt], int, str]] = field(default_factory=list)
    prologue_at: int = 0  # module body index the prologue goes before

    def milestones(self) -> tuple[str, ...]:
        found = {m for _, m in self.wraps} | {m for _, _, m in self.after}
        return in_order(found)


_SKIP_FIELDS = frozenset({"annotation", "returns", "type_comment", "ctx"})
_LOOPS = (ast.For, ast.AsyncFor, ast.While)


class _Planner:
    """One recursive pass: which calls to wrap, and after which loops to add a hook.

    Statements whose lines mention none of the names the rules look for are skipped
    whole, which keeps long programs cheap (most of their statements are skipped)."""

    def __init__(self, tree: ast.Module, lines: list[str]) -> None:
        self.names = collect_names(tree)
        words = sorted(TRIGGER_WORDS | self.names.model_classes, key=len, reverse=True)
        pattern = re.compile("|".join(map(re.escape, words)))
        # hot[n] = number of lines among the first n that may hold a detected call; a
        # non-ASCII line always counts (identifiers are NFKC-normalised by the parser).
        self.hot = [0]
        for line in lines:
            flag = not line.isascii() or pattern.search(line) is not None
            self.hot.append(self.hot[-1] + flag)
        self.plan = Plan()

    def is_hot(self, stmt: ast.stmt) -> bool:
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
        last = min(stmt.end_lineno or stmt.lineno, len(self.hot) - 1)
        return self.hot[last] > self.hot[first - 1]

    def visit_stmt(self, node: ast.AST) -> bool:
        """Visit a statement (or an except/case clause); True when it calls ``.backward``
        outside nested functions and classes. Statements nest only ~100 deep, so recursion
        is safe here; expressions, which can nest far deeper, are walked without it."""
        backward = False
        for name, value in ast.iter_fields(node):
            if name in _SKIP_FIELDS:
                continue
            items = value if isinstance(value, list) else [value]
            if items and isinstance(items[0], ast.stmt):
                backward |= self.visit_body(items)
                continue
            for item in items:
                if isinstance(item, ast.excepthandler | ast.match_case):
                    backward |= self.visit_stmt(item)
                elif isinstance(item, ast.AST):
                    backward |= self.visit_expr(item)
        return backward and not isinstance(node, DEFS)

    def visit_expr(self, root: ast.AST) -> bool:
        backward = False
        claimed: set[int] = set()  # calls wrapped through their ``await``
        stack: list[tuple[ast.AST, bool]] = [(root, False)]
        while stack:
            node, in_lambda = stack.pop()
            if isinstance(node, ast.JoinedStr):
                continue  # rewriting inside an f-string could clash with its quotes
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr == "backward" and not in_lambda:
                    backward = True
                milestone = None if id(node) in claimed else classify(node, self.names)
                if milestone:
                    self.plan.wraps.append((node, milestone))
            elif isinstance(node, ast.Await) and isinstance(node.value, ast.Call):
                # Fire when the awaited call has finished, not when its coroutine exists.
                milestone = classify(node.value, self.names)
                if milestone:
                    self.plan.wraps.append((node, milestone))
                    claimed.add(id(node.value))
            in_lambda = in_lambda or isinstance(node, ast.Lambda)
            for name in node._fields:
                if name in _SKIP_FIELDS:
                    continue
                value = getattr(node, name, None)
                if isinstance(value, list):
                    stack.extend((item, in_lambda) for item in value if isinstance(item, ast.AST))
                elif isinstance(value, ast.AST):
                    stack.append((value, in_lambda))
        return backward

    def visit_body(self, body: list[ast.stmt]) -> bool:
        backward = False
        for i, stmt in enumerate(body):
            if not self.is_hot(stmt):
                continue
            marks = len(self.plan.after)
            inner = self.visit_stmt(stmt)
            if inner and isinstance(stmt, _LOOPS):
                # Only the outermost training loop of a function gets the hook.
                del self.plan.after[marks:]
                self.plan.after.append((body, i, "model_trained"))
            backward |= inner
        return backward


def prologue_index(body: list[ast.stmt]) -> int:
    """The module body index the prologue goes before: after the docstring and any
    ``from __future__`` imports (Python requires those first)."""
    k = 0
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        k = int(isinstance(first.value.value, str))  # the module docstring stays first
    while k < len(body) and isinstance(body[k], ast.ImportFrom) and body[k].module == "__future__":
        k += 1
    return k


def make_plan(tree: ast.Module, lines: list[str]) -> Plan:
    """Where the hooks go in ``tree``, parsed from the program's ``lines``."""
    planner = _Planner(tree, lines)
    planner.visit_body(tree.body)
    plan = planner.plan
    body = tree.body
    plan.prologue_at = prologue_index(body)
    anchor = _imports_anchor(body)
    if anchor is not None:
        plan.after.append((anchor[0], anchor[1], "imports"))
    return plan
