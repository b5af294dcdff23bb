"""The program text as Python reads it: normalised, then parsed or compiled quietly.

The sandbox writes the program as UTF-8, so what is parsed here is the text with its BOM
dropped, ``\\n`` newlines and a utf-8 coding cookie. Parsing and compiling silence the
SyntaxWarning/DeprecationWarning Python gives for bad escapes: the agent's program is data
here, and its warnings belong to its own run.
"""

from __future__ import annotations

import ast
import re
import warnings

# A PEP 263 coding cookie (it counts only on the first two lines).
CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def normalise(code: str) -> str:
    """The text Python would see: no BOM, ``\\n`` newlines, a utf-8 coding cookie (the
    sandbox writes the program as UTF-8)."""
    if code.startswith("\ufeff"):
        code = code[1:]
    if "\r" in code:
        code = code.replace("\r\n", "\n").replace("\r", "\n")
    head = code.split("\n", 2)
    for i in range(min(2, len(head))):
        match = CODING.match(head[i])
        if match:
            start, end = match.span(1)
            head[i] = head[i][:start] + "utf-8" + head[i][end:]
            code = "\n".join(head)
            break
        if head[i].strip(" \t\f") and not head[i].lstrip(" \t\f").startswith("#"):
            break  # the cookie counts only before any code
    return code


def parse(text: str) -> ast.Module:
    """``ast.parse`` without the warnings bad escapes raise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarning/DeprecationWarning for bad escapes
        return ast.parse(text)


def parses(text: str) -> bool:
    """Whether ``text`` parses (as :func:`parse`; too deep or too big counts as no)."""
    try:
        parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def compile_tree(tree: ast.Module) -> None:
    """Errors Python reports only when compiling (``return`` outside a function, ...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compile(tree, "<program>", "exec", dont_inherit=True)
