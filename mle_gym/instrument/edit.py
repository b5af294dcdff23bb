"""Applying a plan: the hooks edited into the program text in place, or, failing that, into
the tree printed afresh.

The program text is edited in place rather than regenerated, so comments, formatting and,
almost always, line numbers stay those of the agent's program: the prologue and the
``imports`` hook join an existing line (``; ...``), and a statement after a block (a training
loop, a ``try`` of imports) goes on the blank or comment-only line that follows it, or joins
the next simple statement. Only when neither exists is a line added (tracebacks then point
one line further down).

:func:`regenerate` is the fallback should an edit ever come out wrong: the same plan applied
to the tree, printed by ``ast.unparse`` (comments lost, lines renumbered).
"""

from __future__ import annotations

import ast

from mle_gym.instrument.milestones import HOOK, PROLOGUE
from mle_gym.instrument.plan import Plan, prologue_index
from mle_gym.instrument.source import CODING, parse
from mle_gym.instrument.syntax import is_simple


def _hook(milestone: str) -> str:
    return f'{HOOK}("{milestone}")'


class _Editor:
    """Insertions into the program text at AST positions, applied in one pass."""

    # Order of insertions at one offset: closing parentheses, then statement suffixes,
    # whole lines, statement prefixes, and opening wrappers (outermost first).
    CLOSE, SUFFIX, LINE, PREFIX, OPEN = range(5)

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.starts: list[int] = []
        pos = 0
        for line in self.lines:
            self.starts.append(pos)
            pos += len(line) + 1
        self.edits: list[tuple[int, int, int, int, str]] = []
        self.used_lines: set[int] = set()

    def offset(self, lineno: int, col: int) -> int:
        """Character offset of an AST position (``col`` counts UTF-8 bytes)."""
        line = self.lines[lineno - 1]
        if col and not line.isascii():
            col = len(line.encode("utf-8")[:col].decode("utf-8", "ignore"))
        return self.starts[lineno - 1] + col

    def insert(self, offset: int, rank: int, text: str, order: int = 0) -> None:
        # Ties keep the order of the calls (whole lines: inner blocks' hooks first).
        self.edits.append((offset, rank, order, len(self.edits), text))

    def wrap(self, node: ast.expr, milestone: str) -> None:
        start = self.offset(node.lineno, node.col_offset)
        end = self.offset(node.end_lineno or node.lineno, node.end_col_offset or 0)
        self.insert(start, self.OPEN, f'{HOOK}("{milestone}", ', -end)
        self.insert(end, self.CLOSE, ")")

    def _is_free(self, lineno: int) -> bool:
        """A blank or comment-only line not yet used (outside any statement when it
        directly follows a statement's last line or precedes the first statement)."""
        stripped = self.lines[lineno - 1].strip(" \t\f")
        return lineno not in self.used_lines and (not stripped or stripped.startswith("#"))

    def _continued(self, lineno: int) -> bool:
        line = self.lines[lineno - 1]
        return line.rstrip(" \t\f").endswith("\\") and "#" not in line

    def use_line(self, lineno: int, code: str) -> None:
        """Put ``code`` on a blank or comment-only line, keeping the comment."""
        self.used_lines.add(lineno)
        rest = self.lines[lineno - 1].strip(" \t\f")
        self.insert(self.starts[lineno - 1], self.LINE, code + ("  " if rest else ""))

    def add_line(self, lineno: int, code: str) -> None:
        """A new line before line ``lineno`` (or at the end): later lines move down."""
        if lineno > len(self.lines):
            # The last line has no newline of its own, or already holds a hook.
            ended = self.text.endswith("\n") and len(self.lines) not in self.used_lines
            self.insert(len(self.text), self.LINE, ("" if ended else "\n") + code + "\n")
        else:
            self.insert(self.starts[lineno - 1], self.LINE, code + "\n")

    def after(self, body: list[ast.stmt], i: int, code: str) -> None:
        """A statement right after ``body[i]``, at the same indentation."""
        stmt = body[i]
        end_line = stmt.end_lineno or stmt.lineno
        if is_simple(stmt):
            self.insert(self.offset(end_line, stmt.end_col_offset or 0), self.SUFFIX, "; " + code)
            return
        nxt = body[i + 1] if i + 1 < len(body) else None
        if nxt is not None and is_simple(nxt):
            self.insert(self.offset(nxt.lineno, nxt.col_offset), self.PREFIX, code + "; ")
            return
        # A block statement starts its own line, so what precedes it is its indentation.
        indent = self.lines[stmt.lineno - 1][: stmt.col_offset]
        lineno = end_line + 1
        while lineno <= len(self.lines) and self._continued(lineno - 1):
            lineno += 1  # a backslash carries the statement on: not a line of its own
        while lineno in self.used_lines:  # hooks after nested blocks come first
            lineno += 1
        # The first blank or comment-only line after the block, else a new line there.
        if lineno <= len(self.lines) and self._is_free(lineno):
            self.use_line(lineno, indent + code)
        else:
            self.add_line(lineno, indent + code)

    def before_first(self, body: list[ast.stmt], k: int, code: str) -> None:
        """The prologue: after the docstring and ``__future__`` imports, else before body[0]."""
        if k > 0:
            prev = body[k - 1]
            end = self.offset(prev.end_lineno or prev.lineno, prev.end_col_offset or 0)
            self.insert(end, self.SUFFIX, "; " + code)
            return
        if not body:
            self.add_line(len(self.lines) + 1, code)
            return
        first = body[0]
        if is_simple(first):
            self.insert(self.offset(first.lineno, first.col_offset), self.PREFIX, code + "; ")
            return
        top = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
        for lineno in range(1, top):
            line = self.lines[lineno - 1]
            if lineno == 1 and line.startswith("#!"):
                continue
            if lineno <= 2 and CODING.match(line):
                continue
            if self._is_free(lineno):
                self.use_line(lineno, code)
                return
        self.insert(0, self.LINE, code + "\n")

    def result(self) -> str:
        pieces: list[str] = []
        pos = 0
        for offset, _rank, _order, _seq, text in sorted(self.edits):
            pieces.append(self.text[pos:offset])
            pieces.append(text)
            pos = offset
        pieces.append(self.text[pos:])
        return "".join(pieces)


def _last_line_then_depth(entry: tuple[list[ast.stmt], int, str]) -> tuple[int, int]:
    stmt = entry[0][entry[1]]
    return stmt.end_lineno or stmt.lineno, -stmt.col_offset


def splice(text: str, tree: ast.Module, plan: Plan) -> str:
    """``text`` with the hooks of ``plan`` (made for ``tree``, parsed from ``text``)."""
    editor = _Editor(text)
    for node, milestone in plan.wraps:
        editor.wrap(node, milestone)
    # Blocks ending on the same line: the innermost hook must come first.
    for body, i, milestone in sorted(plan.after, key=_last_line_then_depth):
        editor.after(body, i, _hook(milestone))
    editor.before_first(tree.body, plan.prologue_at, PROLOGUE)
    return editor.result()


def with_prologue(text: str) -> str:
    """``text`` (a program that parses) with the prologue where :func:`splice` puts it."""
    body = parse(text).body
    editor = _Editor(text)
    editor.before_first(body, prologue_index(body), PROLOGUE)
    return editor.result()


def _hook_call(milestone: str, value: ast.expr | None = None) -> ast.Call:
    args: list[ast.expr] = [ast.Constant(milestone)]
    if value is not None:
        args.append(value)
    return ast.Call(func=ast.Name(HOOK, ast.Load()), args=args, keywords=[])


class _Wrapper(ast.NodeTransformer):
    def __init__(self, wraps: dict[int, str]) -> None:
        self.wraps = wraps

    def visit(self, node: ast.AST) -> ast.AST:
        node = self.generic_visit(node)
        milestone = self.wraps.get(id(node))
        if milestone is not None:
            return ast.copy_location(_hook_call(milestone, node), node)  # type: ignore[arg-type]
        return node


def regenerate(tree: ast.Module, plan: Plan) -> str:
    """The same plan applied to the tree, printed by ``ast.unparse``: comments are lost and
    lines renumbered, so tracebacks point at the printed program."""
    _Wrapper({id(node): m for node, m in plan.wraps}).visit(tree)
    # Later positions first, so earlier indexes stay valid.
    for body, i, milestone in sorted(plan.after, key=lambda a: -a[1]):
        body.insert(i + 1, ast.Expr(_hook_call(milestone)))
    tree.body[plan.prologue_at : plan.prologue_at] = ast.parse(PROLOGUE).body
    ast.fix_missing_locations(tree)
    return ast.unparse(tree)
