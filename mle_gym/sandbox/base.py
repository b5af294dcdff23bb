"""What every sandbox backend shares: the step folder, the request, and the result.

The program's view (a contract, identical on every backend)::

    <cwd>/input/                  the task's public files, read-only
    <cwd>/working/                scratch space
    <cwd>/submission/<file>       where the submission must be written
    MLE_INPUT_DIR, MLE_SUBMISSION_PATH, MLE_WORKING_DIR   the same paths, as variables
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mle_gym.sandbox.host_folders import OWNER_FILE, forget_folder, make_folder  # noqa: F401 (OWNER_FILE moved there)
from mle_gym.sandbox.inside import STEP_SUPERVISOR

RUNNER = STEP_SUPERVISOR  # the old name: the program that runs a step inside the sandbox
MAX_SUBMISSION_BYTES = 1 << 30
DEFAULT_DISK_LIMIT = "1g"


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the program); the message says what to do."""


@dataclass(frozen=True)
class RunRequest:
    """One program to run against one task's public data."""

    program: str
    public_dir: Path
    submission_file: str = "submission.csv"
    time_limit: float = 600.0
    memory_limit: str = "4g"
    cpus: float = 2.0
    # Room for everything the program writes: /step (working/, submission/), and /tmp each.
    disk_limit: str = DEFAULT_DISK_LIMIT

    @property
    def max_submission(self) -> int:
        """The largest submission the sandbox hands to the host (it must fit on the disk)."""
        return min(MAX_SUBMISSION_BYTES, parse_memory(self.disk_limit))


@dataclass
class RunResult:
    """What happened when the program ran. ``submission`` is valid inside the ``with``."""

    exit_code: int | None
    duration: float
    timed_out: bool = False
    oom: bool = False
    milestones: list[tuple[str, float]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    submission: Path | None = None
    submission_problem: str | None = None
    sandbox_error: str | None = None
    backend: str = ""
    disk_full: list[str] = field(default_factory=list)  # writable places the program filled


def parse_memory(limit: str | int) -> int:
    """Docker-style sizes ("512m", "4g", 1073741824) to bytes."""
    if isinstance(limit, int):
        return limit
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*", str(limit).lower())
    if not match:
        raise ValueError(f"memory_limit {limit!r} is not a size like '512m' or '4g'")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[match.group(2)]
    return int(float(match.group(1)) * scale)


class StepFolder:
    """One step's host folder: ``step/`` (the program's cwd) and ``ctl/`` (the step supervisor,
    the program and its token). :meth:`create` makes a fresh one; a warm container's steps
    reuse the container's folder instead (``warm._SlotFolder``)."""

    streamed = False  # True where the supervisor sends the submission with its report
    incoming: int | None = None  # the size of the submission that follows the report

    def __init__(self, request: RunRequest, root: Path) -> None:
        self.request = request
        self.root = root
        self.step = root / "step"
        self.ctl = root / "ctl"
        self.token = secrets.token_hex(16)

    @classmethod
    def create(cls, request: RunRequest) -> StepFolder:
        """A fresh private folder laid out for one step, the step supervisor copied in."""
        folder = cls(request, make_folder("step"))
        step, ctl = folder.step, folder.ctl
        for sub in (step, step / "working", step / "submission", ctl):
            sub.mkdir()
            # The sandbox user is not the host user: let it write here (the parent stays 0700).
            sub.chmod(0o777)
        shutil.copy(STEP_SUPERVISOR, ctl / STEP_SUPERVISOR.name)
        (ctl / "program.py").write_text(request.program)
        (ctl / "token").write_text(folder.token)
        return folder

    def write_config(self, cwd: str, time_limit: float, **extra: Any) -> None:
        config = {"cwd": cwd, "time_limit": time_limit, **extra}
        # Replaced whole, never truncated in place: a prestarted container's supervisor may be
        # reading the previous config at this moment (it saw an empty file before).
        partial = self.ctl / "config.json.partial"
        partial.write_text(json.dumps(config))
        os.replace(partial, self.ctl / "config.json")

    def parse_report(self, output: str, result: RunResult) -> None:
        """Fill ``result`` from the runner's token-tagged line; anything else is untrusted."""
        prefix = self.token + " "
        for line in reversed(output.splitlines()):
            if line.startswith(prefix):
                report = json.loads(line[len(prefix) :])
                result.exit_code = report["exit_code"]
                result.duration = report["duration"]
                result.timed_out = result.timed_out or report["timed_out"]
                result.oom = result.oom or report["oom"]
                result.milestones = [(str(n), float(t)) for n, t in report["milestones"]]
                result.stdout = report["stdout"]
                result.stderr = report["stderr"]
                self.incoming = report.get("submission")  # bytes that follow the report
                if report.get("submission_problem"):
                    result.submission_problem = str(report["submission_problem"])
                result.disk_full = [str(p) for p in report.get("disk_full") or []]
                if result.disk_full:
                    result.submission_problem = (
                        f"the program hit the disk limit ({self.request.disk_limit} each for "
                        f"/step and /tmp) in {', '.join(result.disk_full)}: what it writes, "
                        "including working/ and submission/, must fit; the step failed"
                    )
                return
        if not result.timed_out and not result.oom:
            tail = output[-2000:].strip()
            result.sandbox_error = "the sandbox runner did not report" + (
                f"; its output ended with: {tail}" if tail else ""
            )

    def collect_submission(self, result: RunResult) -> None:
        """Copy the submission out of the step folder, refusing links and special files."""
        path = self.step / "submission" / self.request.submission_file
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            result.submission_problem = f"the submission could not be read: {exc.strerror}"
            return
        if not stat.S_ISREG(info.st_mode) or os.path.islink(self.step / "submission"):
            result.submission_problem = (
                f"submission/{self.request.submission_file} must be a regular file, "
                f"not a link or a special file"
            )
            return
        if info.st_size > MAX_SUBMISSION_BYTES:
            result.submission_problem = (
                f"the submission is {info.st_size / 2**20:.0f} MiB; the limit is "
                f"{MAX_SUBMISSION_BYTES >> 20} MiB"
            )
            return
        target = self.root / "submission-copy"
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        result.submission = target

    def remove(self) -> None:
        forget_folder(self.root)


class Sandbox(ABC):
    """A place to run untrusted programs.

    :meth:`run` is the same for every backend; a backend fills in its steps: where the step
    runs (:meth:`_open_folder`, a fresh :class:`StepFolder` by default), running the program
    there (:meth:`_execute`, the one a backend must write), and what happens to the place
    afterwards (:meth:`_close_folder`, removing the folder by default).
    """

    name = "abstract"
    closed = False

    def check_open(self) -> None:
        if self.closed:
            raise SandboxError(
                f"this {self.name} sandbox is closed; make a new one (or a new env) to run steps"
            )

    @contextmanager
    def run(self, request: RunRequest) -> Iterator[RunResult]:
        """Run one program; the step folder (and its submission) lives until the ``with`` ends."""
        self.check_open()
        try:
            folder = self._open_folder(request)
        except SandboxError as exc:  # no place to run it: the step fails, the caller goes on
            yield RunResult(exit_code=None, duration=0.0, sandbox_error=str(exc), backend=self.name)
            return
        try:
            result = self._execute(request, folder)
            result.backend = self.name
            if result.sandbox_error is None and not folder.streamed:
                folder.collect_submission(result)
            elif result.disk_full:
                result.submission = None  # whatever it wrote, the step failed
            yield result
        finally:
            self._close_folder(folder)

    def _open_folder(self, request: RunRequest) -> StepFolder:
        """The place the step runs in; SandboxError fails the step without running it."""
        return StepFolder.create(request)

    @abstractmethod
    def _execute(self, request: RunRequest, folder: StepFolder) -> RunResult:
        """Run ``request.program`` in ``folder`` and say what happened."""

    def _close_folder(self, folder: StepFolder) -> None:
        """After the step (whatever happened, once the caller's ``with`` ends)."""
        folder.remove()

    def close(self) -> None:
        """Release backend resources (connections, warm containers); later steps raise."""
        self.closed = True

    def __deepcopy__(self, memo: dict) -> Sandbox:
        # A sandbox is a shared resource (a daemon connection): copies of an env share it.
        return self
