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
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

RUNNER = Path(__file__).with_name("runner.py")
OWNER_FILE = "owner"  # the pid of the process that made a step folder, for `mle-gym sandbox gc`
MAX_SUBMISSION_BYTES = 1 << 30


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
    """A fresh host folder for one step: ``step/`` (the program's cwd) and ``ctl/`` (runner)."""

    def __init__(self, request: RunRequest, base: Path | None = None) -> None:
        base = base or Path(os.environ.get("MLE_GYM_WORKDIR") or tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="mle-step-", dir=base))
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        self.step = self.root / "step"
        self.ctl = self.root / "ctl"
        for folder in (self.step, self.step / "working", self.step / "submission", self.ctl):
            folder.mkdir()
            # The sandbox user is not the host user: let it write here (the parent stays 0700).
            folder.chmod(0o777)
        self.token = secrets.token_hex(16)
        shutil.copy(RUNNER, self.ctl / "runner.py")
        (self.ctl / "program.py").write_text(request.program)
        (self.ctl / "token").write_text(self.token)
        self.request = request

    def write_config(self, cwd: str, time_limit: float) -> None:
        (self.ctl / "config.json").write_text(json.dumps({"cwd": cwd, "time_limit": time_limit}))

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
        shutil.rmtree(self.root, ignore_errors=True)


class Sandbox(ABC):
    """A place to run untrusted programs. Subclasses implement ``_execute``."""

    name = "abstract"

    @contextmanager
    def run(self, request: RunRequest) -> Iterator[RunResult]:
        """Run one program; the step folder (and its submission) lives until the ``with`` ends."""
        folder = StepFolder(request)
        try:
            result = self._execute(request, folder)
            result.backend = self.name
            if result.sandbox_error is None:
                folder.collect_submission(result)
            yield result
        finally:
            folder.remove()

    @abstractmethod
    def _execute(self, request: RunRequest, folder: StepFolder) -> RunResult: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release backend resources (connections, warm containers)."""

    def __deepcopy__(self, memo: dict) -> Sandbox:
        # A sandbox is a shared resource (a daemon connection): copies of an env share it.
        return self
