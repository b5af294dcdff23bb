"""One lock for syntax-tree work, because CPython 3.11's ``ast`` is not thread-safe.

Parsing or compiling syntax trees in several threads at once can fail in CPython 3.11 with
``SystemError: AST constructor recursion depth mismatch`` (python/cpython#106905): the
rollout pool's worker threads hit it when they instrumented programs concurrently.
Everything in mle-gym that builds, walks into or compiles a syntax tree from a worker
thread does it under this lock; it is reentrant and held only for CPU-bound tree work,
never across a model call or a sandbox run.
"""

from __future__ import annotations

import threading

AST_LOCK = threading.RLock()
