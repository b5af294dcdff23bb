"""The program in an agent's answer: agents often write a plan, then one fenced code block.

``extract_code`` pulls the program out of such a markdown answer; a plain program passes
through unchanged.
"""

from __future__ import annotations

import re

from mle_gym.instrument.base import MAX_PROGRAM_CHARS
from mle_gym.instrument.source import parses
from mle_gym.instrument.threadsafe import AST_LOCK

# An opening fence: up to any indentation, 3+ backticks or tildes, an optional info string.
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*?)[ \t]*$")
_PYTHON_TAGS = {"", "python", "py", "python3", "py3", "ipython", "python2"}


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, content) for every fenced block; an unclosed fence runs to the end."""
    lines = text.splitlines()
    blocks: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        info = match["info"].strip()
        lang = info.split()[0].lstrip("{.").rstrip("}").lower() if info else ""
        body: list[str] = []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            # A closing fence: same character, at least as long, nothing else on the line.
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                break
            line = lines[i]
            # Remove up to the fence's own indentation (code blocks nested in list items).
            cut = len(line) - len(line.lstrip(" \t"))
            body.append(line[min(cut, indent) :])
            i += 1
        i += 1
        blocks.append((lang, "\n".join(body) + "\n" if body else ""))
    return blocks


def extract_code(text: str) -> str:
    """The program in an agent's answer.

    If ``text`` holds fenced blocks tagged python/py (or untagged), the longest of them is
    returned (agents often write a plan, then one program). Otherwise, or when ``text`` is
    already valid Python (a program that merely contains a fence inside a string), ``text``
    comes back unchanged. Backtick and tilde fences both count; an unclosed fence runs to
    the end of the text.
    """
    if "```" not in text and "~~~" not in text or len(text) > MAX_PROGRAM_CHARS:
        return text  # too long: the step refuses it unparsed
    candidates = [body for lang, body in _fenced_blocks(text) if lang in _PYTHON_TAGS]
    if not candidates:
        return text
    with AST_LOCK:
        if parses(text):
            return text
    # max() keeps the first of equally long blocks.
    return max(candidates, key=len)
