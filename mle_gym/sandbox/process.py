"""Local backend: the step supervisor as a plain host process with resource limits.

Weaker isolation than Docker: the program runs as your user, can reach the network and can
read any file your user can, including the cached answers. Use it only where Docker is not
available, for programs you trust.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import warnings

from mle_gym.sandbox.base import RunRequest, RunResult, Sandbox, StepFolder, parse_memory
from mle_gym.sandbox.inside import STEP_SUPERVISOR

WEAK_ISOLATION_WARNING = (
    "mle-gym is running programs with the LOCAL sandbox: no container, network allowed, "
    "your files readable (including the graded answers). Install and start Docker for real "
    "isolation (`sudo make docker` from the repository starts one on Debian or Ubuntu)."
)

GRACE_SECONDS = 5.0


class LocalSandbox(Sandbox):
    """No container: weaker isolation, for machines without Docker (it says so when made)."""

    name = "local"

    def __init__(self, python: str | None = None, warn: bool = True) -> None:
        self.python = python or sys.executable
        if warn:
            warnings.warn(WEAK_ISOLATION_WARNING, RuntimeWarning, stacklevel=3)

    def _execute(self, request: RunRequest, folder: StepFolder) -> RunResult:
        os.symlink(request.public_dir.resolve(), folder.step / "input")
        folder.write_config(str(folder.step), request.time_limit)
        memory = parse_memory(request.memory_limit)
        threads = str(max(1, int(request.cpus)))

        def limit_resources() -> None:  # runs in the child before exec
            resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 30, 4 << 30))

        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(folder.step / "working"),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": threads,
            "OMP_WAIT_POLICY": "PASSIVE",  # idle OpenMP threads sleep: no stalls when CPUs are shared
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "MLE_INPUT_DIR": str(folder.step / "input"),
            "MLE_SUBMISSION_PATH": str(folder.step / "submission" / request.submission_file),
            "MLE_WORKING_DIR": str(folder.step / "working"),
        }
        proc = subprocess.Popen(
            [self.python, str(folder.ctl / STEP_SUPERVISOR.name), str(folder.ctl)],
            cwd=folder.step,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_resources,
            start_new_session=True,
        )
        result = RunResult(exit_code=None, duration=request.time_limit)
        try:
            output, _ = proc.communicate(timeout=request.time_limit + GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            result.timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        finally:
            if proc.poll() is None:  # interrupted (Ctrl-C): leave nothing running
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        folder.parse_report(output.decode("utf-8", "replace"), result)
        return result
