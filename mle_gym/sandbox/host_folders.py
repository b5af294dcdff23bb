"""Host folders of steps and warm containers, and removing what this process made on SIGTERM.

A folder's name carries its owner's pid and creation time (``mle-<kind>-<pid>-<epoch>-``), and
an ``owner`` file repeats the pid, so ``mle-gym sandbox gc`` can tell whose it is after the
owner died; a live process removes its own on SIGTERM (the Docker backends add hooks that
remove its containers first).
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mle_gym.sandbox.inside.step_supervisor import remove_tree

OWNER_FILE = "owner"  # the pid of the process that made a step folder, for `mle-gym sandbox gc`

# Step folders of this process (pid, path): removed on SIGTERM. A forked child inherits the
# set, hence the pid.
LIVE_FOLDERS: set[tuple[int, Path]] = set()
# Called on SIGTERM before the folders go (the Docker backends remove their containers).
TERMINATE_HOOKS: list[Callable[[], None]] = []
_previous_sigterm: Any = None
_installed_in: int | None = None


def folder_prefix(kind: str) -> str:
    """``mle-<kind>-<pid>-<epoch>-``: the owner and creation time are in the name itself, so
    ``gc`` still knows them when a partial delete took the owner file."""
    return f"mle-{kind}-{os.getpid()}-{int(time.time())}-"


def make_folder(kind: str) -> Path:
    """A fresh private folder for one step (``kind`` "step") or warm container ("warm")."""
    base = Path(os.environ.get("MLE_GYM_WORKDIR") or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=folder_prefix(kind), dir=base))
    (root / OWNER_FILE).write_text(str(os.getpid()))
    LIVE_FOLDERS.add((os.getpid(), root))
    return root


def forget_folder(root: Path) -> None:
    """Remove a folder made by :func:`make_folder` (iteratively: deep trees and locked
    folders included)."""
    remove_tree(str(root))
    LIVE_FOLDERS.discard((os.getpid(), root))


def emergency_cleanup() -> None:
    """Remove this process's containers and step folders now (on SIGTERM)."""
    for hook in list(TERMINATE_HOOKS):
        with contextlib.suppress(Exception):
            hook()
    for pid, root in list(LIVE_FOLDERS):
        if pid == os.getpid():
            forget_folder(root)


def _on_sigterm(signum: int, frame: Any) -> None:
    emergency_cleanup()
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # then die of SIGTERM as before
    os.kill(os.getpid(), signal.SIGTERM)


def install_terminate_handler() -> None:
    """On SIGTERM (``docker stop``, Kubernetes, Slurm, ``kill``) remove this process's
    containers and step folders first, then do what SIGTERM did before: call the previous
    handler, or die of it. Installed once per process, from the main thread only (Python
    allows no other); a process that ignores SIGTERM keeps ignoring it."""
    global _previous_sigterm, _installed_in
    if _installed_in == os.getpid() or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_IGN, None):
        return
    if previous is not _on_sigterm:  # a forked child inherits ours: keep its predecessor
        _previous_sigterm = previous
    signal.signal(signal.SIGTERM, _on_sigterm)
    _installed_in = os.getpid()
