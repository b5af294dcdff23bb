"""Garbage collection: step containers and step folders whose owner is gone.

Every step container (a prestarted one waiting for its step too, ``prestart.py``) carries
the labels ``org.mle-gym.step`` (its step folder's name) and
``org.mle-gym.host-pid`` (the process that started it). A process killed with SIGKILL, a
crashed interpreter or a lost machine leaves such containers running and their folders
(``mle-step-*``, ``mle-warm-*`` under ``$MLE_GYM_WORKDIR`` or the temp dir) on disk;
:func:`collect_garbage` (``mle-gym sandbox gc``) finds and removes them.

A container is garbage when its owner process is gone (checked by pid and, on Linux, by the
process start time, so a recycled pid does not keep it alive), when it is older than
``older_than``, or always with ``everything``. A folder is garbage when its owner is gone:
the pid in its ``owner`` file, else the owner of the container named after it; a folder
with neither (a folder from an older version) goes only when older than ``older_than`` or
with ``everything``. Folder names carry the owner's pid and creation time
(``mle-step-<pid>-<epoch>-*``), so a folder whose owner file a partial delete removed is
still judged by its owner. Deletion is iterative and unlocks folders a program locked, so
deep folder chains and mode-000 folders go too.

:func:`on_first_sandbox` runs :func:`sweep_dead_owners` automatically, once per process, when a
Docker sandbox is made: containers of this machine whose owner is gone, and step folders whose
owner is gone. It also installs the SIGTERM handler that removes this process's own.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mle_gym.sandbox.engine import (
    HOST_LABEL,
    LABEL,
    PID_LABEL,
    SESSION_LABEL,
    remove_container,
    remove_own_containers,
)
from mle_gym.sandbox.host_folders import OWNER_FILE, TERMINATE_HOOKS, install_terminate_handler
from mle_gym.sandbox.inside.step_supervisor import remove_tree

FOLDER_PREFIXES = ("mle-step-", "mle-warm-")
NAMED_OWNER = re.compile(r"mle-(?:step|warm)-(\d+)-(\d+)-")
START_SLACK = 2.0  # seconds: a process started this long after its container is not its owner


@dataclass
class Removal:
    """One container or folder, whether it is garbage, and why."""

    kind: str  # "container" or "folder"
    name: str
    reason: str
    garbage: bool
    removed: bool = False
    error: str | None = None


@dataclass
class GcReport:
    """What :func:`collect_garbage` found: everything it looked at, garbage or kept."""

    items: list[Removal] = field(default_factory=list)
    dry_run: bool = False

    @property
    def garbage(self) -> list[Removal]:
        return [i for i in self.items if i.garbage]

    @property
    def kept(self) -> list[Removal]:
        return [i for i in self.items if not i.garbage]


def parse_age(text: str | float | None) -> float | None:
    """``"90"``, ``"90s"``, ``"30m"``, ``"2h"``, ``"1d"`` to seconds (None stays None)."""
    if text is None or isinstance(text, int | float):
        return None if text is None else float(text)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text).lower())
    if not match:
        raise ValueError(f"--older-than {text!r} is not an age like 90s, 30m, 2h or 1d")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds), where /proc tells; else None."""
    boot = _boot_time()
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return None if boot is None else boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def owner_alive(pid: int, since: float | None = None) -> bool:
    """Whether process ``pid`` exists and (when ``since`` is given) is older than ``since``,
    i.e. is the process that created something at time ``since`` and not a recycled pid."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    if since is not None:
        started = process_start_time(pid)
        if started is not None and started > since + START_SLACK:
            return False
    return True


def _created(container: Any) -> float:
    """A container's creation time in epoch seconds (Docker gives RFC 3339 with nanoseconds)."""
    text = container.attrs.get("Created", "")
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", text)
    if not match:
        return time.time()
    stamp = datetime.fromisoformat(match.group(1) + (match.group(3) or "Z").replace("Z", "+00:00"))
    return stamp.timestamp() + float(match.group(2) or 0)


def work_dirs() -> list[Path]:
    """Where step folders are made: ``$MLE_GYM_WORKDIR`` and the temp dir."""
    dirs = [Path(tempfile.gettempdir())]
    if os.environ.get("MLE_GYM_WORKDIR"):
        dirs.insert(0, Path(os.environ["MLE_GYM_WORKDIR"]))
    return dirs


def _judge_container(container: Any, older_than: float | None, everything: bool, now: float) -> Removal:
    labels = container.labels or {}
    name = f"{container.name} (step {labels.get(LABEL, '?')}, {container.status})"
    created = _created(container)
    age = now - created
    if everything:
        return Removal("container", name, "--all", True)
    if older_than is not None and age > older_than:
        return Removal("container", name, f"{age / 60:.0f} min old", True)
    try:
        pid = int(labels.get(PID_LABEL, ""))
    except ValueError:
        return Removal("container", name, "no owner pid label (use --older-than or --all)", False)
    if not owner_alive(pid, since=created):
        return Removal("container", name, f"owner pid {pid} is gone", True)
    return Removal("container", name, f"owner pid {pid} is alive", False)


def _judge_folder(
    folder: Path,
    containers: dict[str, bool],
    older_than: float | None,
    everything: bool,
    now: float,
) -> Removal:
    try:
        age = now - folder.stat().st_mtime
    except OSError:
        age = 0.0
    if everything:
        return Removal("folder", str(folder), "--all", True)
    if older_than is not None and age > older_than:
        return Removal("folder", str(folder), f"{age / 60:.0f} min old", True)
    pid, since = folder_owner(folder)
    if pid is not None:
        if owner_alive(pid, since=since):
            return Removal("folder", str(folder), f"owner pid {pid} is alive", False)
        return Removal("folder", str(folder), f"owner pid {pid} is gone", True)
    if folder.name in containers:
        garbage = containers[folder.name]
        why = "its container is garbage" if garbage else "its container is in use"
        return Removal("folder", str(folder), why, garbage)
    return Removal("folder", str(folder), "owner unknown (use --older-than or --all)", False)


def folder_owner(folder: Path) -> tuple[int | None, float | None]:
    """(pid, creation time) of a step folder's owner: from its name, else its owner file."""
    named = NAMED_OWNER.match(folder.name)
    if named:
        return int(named.group(1)), float(named.group(2))
    owner = folder / OWNER_FILE
    try:
        return int(owner.read_text().strip()), owner.stat().st_mtime
    except (OSError, ValueError):
        return None, None


def collect_garbage(
    client: Any = None,
    *,
    older_than: float | str | None = None,
    everything: bool = False,
    dry_run: bool = False,
    session: str | None = None,
    dirs: list[Path] | None = None,
    host: str | None = None,
) -> GcReport:
    """Find (and unless ``dry_run``, remove) garbage step containers and step folders.

    ``session`` limits the containers to those of one ``MLE_GYM_SESSION``; ``dirs`` the folders
    to those folders' step folders (default :func:`work_dirs`). Without a ``client`` only
    folders are looked at.
    """
    limit = parse_age(older_than)
    now = time.time()
    report = GcReport(dry_run=dry_run)
    verdicts: dict[str, bool] = {}
    if client is not None:
        filters = {"label": [LABEL] + ([f"{SESSION_LABEL}={session}"] if session else [])
                   + ([f"{HOST_LABEL}={host}"] if host else [])}
        for container in client.containers.list(all=True, ignore_removed=True, filters=filters):
            item = _judge_container(container, limit, everything, now)
            verdicts[(container.labels or {}).get(LABEL, "")] = item.garbage
            if item.garbage and not dry_run:
                try:
                    remove_container(container)
                    item.removed = True
                except Exception as exc:  # report and go on: one stuck container blocks nothing
                    item.error = f"{type(exc).__name__}: {exc}"
            report.items.append(item)
    for base in dirs if dirs is not None else work_dirs():
        try:
            folders = sorted(p for p in base.iterdir() if p.name.startswith(FOLDER_PREFIXES) and p.is_dir())
        except OSError:
            continue
        for folder in folders:
            item = _judge_folder(folder, verdicts, limit, everything, now)
            if item.garbage and not dry_run:
                remove_tree(str(folder))
                item.removed = not folder.exists()
                if not item.removed:
                    item.error = "could not remove it all (files of another user?)"
            report.items.append(item)
    return report


def sweep_dead_owners(client: Any = None) -> GcReport:
    """Remove what processes of this machine that died (SIGKILL, a crash) left: their
    containers (stopped by themselves when their host went) and their step folders. Cheap:
    one list call and one folder listing."""
    return collect_garbage(client, host=socket.gethostname() if client is not None else None)


_started = False


def on_first_sandbox(client: Any) -> None:
    """Once per process: the SIGTERM handler, and a sweep (in the background) of stopped
    containers and step folders left by processes of this machine that died (SIGKILL)."""
    global _started
    install_terminate_handler()
    if remove_own_containers not in TERMINATE_HOOKS:
        TERMINATE_HOOKS.append(remove_own_containers)
    if _started:
        return
    _started = True

    def sweep() -> None:
        with contextlib.suppress(Exception):  # best effort: `mle-gym sandbox gc` remains
            sweep_dead_owners(client)

    threading.Thread(target=sweep, daemon=True, name="mle-sandbox-sweep").start()


def format_report(report: GcReport) -> str:
    """The lines ``mle-gym sandbox gc`` prints."""
    verb = "would remove" if report.dry_run else "removed"
    lines = []
    for item in report.garbage:
        status = verb if item.removed or report.dry_run else f"FAILED to remove ({item.error})"
        lines.append(f"{status:<14} {item.kind:<9} {item.name}  [{item.reason}]")
    kept = report.kept
    count = len(report.garbage)
    lines.append(
        f"{verb} {count} item(s); kept {len(kept)} in use"
        + (f" ({sum(1 for k in kept if 'unknown' in k.reason)} with unknown owner)" if kept else "")
    )
    return "\n".join(lines)


__all__ = ["GcReport", "Removal", "collect_garbage", "format_report", "owner_alive", "parse_age"]
