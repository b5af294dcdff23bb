"""The shapes of statements the instrumenter cares about: blocks, definitions, one-liners.

Shared by the rules (which walk every statement), the plan (which looks into blocks for
imports and training loops) and the text edits (which put a hook on a statement's line only
when the statement can share it through ``;``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

DEFS: tuple[type[ast.stmt], ...] = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
BLOCKS: tuple[type[ast.stmt], ...] = (
    ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.Match,
    *((ast.TryStar,) if hasattr(ast, "TryStar") else ()),
)  # fmt: skip

_BODY_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def is_compound(stmt: ast.stmt) -> bool:
    """A block statement other than def/class (those run no nested code when executed)."""
    return isinstance(stmt, BLOCKS)


def is_simple(stmt: ast.stmt) -> bool:
    """A statement that can share its line with others through ``;``."""
    return not isinstance(stmt, BLOCKS + DEFS)


def child_statements(stmt: ast.AST) -> Iterator[ast.stmt]:
    """Statements directly nested in a statement (all its clauses)."""
    for name in _BODY_FIELDS:
        for item in getattr(stmt, name, ()):
            if isinstance(item, ast.stmt):
                yield item
            else:  # an except clause or a match case
                yield from item.body


def all_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones included (cheaper than walking every expression)."""
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        yield stmt
        stack.extend(reversed(list(child_statements(stmt))))


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))
