"""Static check of an agent's own program for ways to reach the milestone channel.

The runner's hook accepts a call only from the exact source position where the instrumenter
put it, and the channel accepts only records carrying a per-step secret the hook holds in its
closure (see :mod:`mle_gym.sandbox.runner`). What could still defeat that is code that reads
frames, closures or code objects, walks the heap, or builds code at run time. None of it is
needed to train a model, so a program that uses any of it gets no milestone credit: it still
runs and its submission is still graded, but ``info["milestones"]`` is empty and
``info["invalid_reason"]`` says why (see :func:`mle_gym.step.run_step`).

Checked after Unicode NFKC normalisation (Python reads identifiers that way), on the syntax
tree: attribute and imported names, bare names, string constants (``getattr(f, "__code__")``,
``eval("...")``) and dynamic code (``compile``, ``eval``/``exec`` of a computed string).
``gc.collect()``, ``globals()``, ``getattr(obj, name)`` and ``os.write`` stay allowed: holding
the hook or writing the channel earns nothing without the call site and the secret.
"""

from __future__ import annotations

import ast
import re
import unicodedata

from mle_gym.instrument.source import parse
from mle_gym.instrument.threadsafe import AST_LOCK

# Attributes that lead to frames, closures, globals/builtins dicts or code objects.
ATTRIBUTES = frozenset(
    {
        "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_lasti", "f_trace",
        "tb_frame", "gi_frame", "cr_frame", "ag_frame", "gi_code", "cr_code", "ag_code",
        "__code__", "__closure__", "cell_contents", "__globals__", "__builtins__",
        "co_consts", "co_names", "co_code", "co_positions", "co_linetable",
    }
)
# Functions that hand out frames, trace or profile callbacks, audit events or heap objects.
FUNCTIONS = frozenset(
    {
        "_getframe", "_current_frames", "_current_exceptions", "settrace", "setprofile",
        "settrace_all_threads", "setprofile_all_threads", "addaudithook", "currentframe",
        "getouterframes", "getinnerframes", "getclosurevars", "getgeneratorlocals",
        "getcoroutinelocals", "get_objects", "get_referrers", "get_referents", "walk_stack",
        "walk_tb", "CodeType", "FunctionType",
    }
)
# inspect.stack() / inspect.trace(): only from the inspect module (np.stack is fine).
INSPECT_FUNCTIONS = frozenset({"stack", "trace"})
# Raw memory and code from bytes.
MODULES = frozenset({"ctypes", "_ctypes", "cffi", "marshal", "_testcapi", "_xxsubinterpreters"})
FORBIDDEN_WORDS = ATTRIBUTES | FUNCTIONS
PROC_MEMORY = re.compile(r"/proc/[^/\s]*/(?:task/[^/\s]*/)?(?:mem|environ|fd|map_files)\b")


def _strings(node: ast.AST) -> str | None:
    """The text of a string constant, or of an f-string's constant parts ({} between)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
        value = node.value
        return value.decode("latin-1") if isinstance(value, bytes) else value
    if isinstance(node, ast.JoinedStr):
        return "{}".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
    return None


def _finding(node: ast.AST, inspect_names: set[str]) -> str | None:
    if isinstance(node, ast.Attribute):
        if node.attr in FORBIDDEN_WORDS:
            return node.attr
        if (
            node.attr in INSPECT_FUNCTIONS
            and isinstance(node.value, ast.Name)
            and node.value.id in inspect_names
        ):
            return f"inspect.{node.attr}"
    elif isinstance(node, ast.Name):
        if node.id in FORBIDDEN_WORDS:
            return node.id
    elif isinstance(node, ast.Import | ast.ImportFrom):
        modules = (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
        for module in modules:
            if module.split(".")[0] in MODULES:
                return f"import {module}"
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in FORBIDDEN_WORDS or alias.name in MODULES:
                    return f"from {node.module} import {alias.name}"
                if node.module == "inspect" and alias.name in INSPECT_FUNCTIONS:
                    return f"inspect.{alias.name}"
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if name == "compile":
            return "compile()"
        if name in ("eval", "exec", "__import__") and (
            not node.args or _strings(node.args[0]) is None
            or isinstance(node.args[0], ast.JoinedStr)
        ):
            return f"{name}() of a computed value"
    text = _strings(node)
    if text is not None:
        if PROC_MEMORY.search(text):
            return f"the string {text[:60]!r}"
        for word in FORBIDDEN_WORDS:
            if word in text:
                return f"the string {text[:60]!r}"
    return None


def find_tampering(code: str) -> str | None:
    """What in ``code`` could reach the milestone hook or its channel (``"line 3: uses
    sys._getframe"``), or None. A program that does not parse is not judged here."""
    text = unicodedata.normalize("NFKC", code)
    try:
        with AST_LOCK:
            tree = parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    inspect_names = {"inspect"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            inspect_names.update(a.asname or a.name for a in node.names if a.name == "inspect")
    for node in ast.walk(tree):
        found = _finding(node, inspect_names)
        if found is not None:
            line = getattr(node, "lineno", None)
            where = f"line {line}: " if line else ""
            return f"{where}uses {found}"
    return None


__all__ = ["find_tampering"]
