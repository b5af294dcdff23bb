"""Whether an instrumented program is the original plus hooks and nothing else.

Both instrumenters answer it the same way: strip the hooks from the instrumented program's
syntax tree (statements ``__mle_milestone__("x")`` go, ``__mle_milestone__("x", expr)``
becomes ``expr``, the prologue goes) and compare what is left with the original tree,
positions and comments aside. The static instrumenter checks its own edits with
:func:`same_program`; the LM instrumenter checks a model's answer with :func:`strip_hooks`
and more (see :func:`mle_gym.instrument.lm.verify_rewrite`).
"""

from __future__ import annotations

import ast

from mle_gym.instrument.milestones import HOOK, PROLOGUE
from mle_gym.instrument.source import parse

_PROLOGUE_DUMP = ast.dump(ast.parse(PROLOGUE).body[0])


def hook_name(call: ast.Call) -> str | None:
    """The milestone a well-formed hook call names, else None."""
    if not (isinstance(call.func, ast.Name) and call.func.id == HOOK) or call.keywords:
        return None
    if not call.args or len(call.args) > 2 or isinstance(call.args[-1], ast.Starred):
        return None
    first = call.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


class _Unhook(ast.NodeTransformer):
    """Removes well-formed milestone calls, collecting the names they report."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def visit_Module(self, node: ast.Module) -> ast.AST:
        # A top-level copy of the prologue goes too (a model may have copied ours).
        node.body = [s for s in node.body if ast.dump(s) != _PROLOGUE_DUMP]
        self.generic_visit(node)
        return node

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        value = node.value
        if isinstance(value, ast.Call) and len(value.args) == 1:
            name = hook_name(value)
            if name is not None:
                self.names.append(name)
                return None
        self.generic_visit(node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if len(node.args) == 2:
            name = hook_name(node)
            if name is not None:
                self.names.append(name)
                return node.args[1]
        return node


def strip_hooks(tree: ast.Module) -> tuple[ast.Module, list[str]]:
    """``tree`` with its well-formed milestone calls and top-level prologues removed (in
    place), and the milestone names those calls reported, in the order walked. A malformed
    use of the hook stays in the tree, for the caller to find."""
    unhook = _Unhook()
    stripped = unhook.visit(tree)
    return stripped, unhook.names


def tree_dump(tree: ast.AST) -> str | None:
    """``ast.dump(tree)``, or None when the tree is too deep to dump (and to compare)."""
    try:
        return ast.dump(tree)
    except RecursionError:
        return None


def same_program(source: str, original_dump: str) -> bool | None:
    """Whether ``source`` is the original program (``original_dump``, see :func:`tree_dump`)
    plus hooks and nothing else; None when the trees are too deep to tell."""
    try:
        tree = parse(source)
    except (SyntaxError, ValueError, MemoryError):
        return False
    except RecursionError:
        return None
    try:
        return ast.dump(strip_hooks(tree)[0]) == original_dump
    except RecursionError:
        return None
