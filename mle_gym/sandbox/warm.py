"""Warm Docker containers: started once, reused for many steps, so start-up leaves the step.

``WarmDockerSandbox(size=N)`` keeps up to N containers, each with exactly the lockdown of
the cold backend (one ``container_config`` builds both): no network, read-only root, bounded
/tmp, non-root user, memory/CPU/process limits, no capabilities. The container's first
process is a tiny reaper (``INIT``) that never runs agent code; each step runs the runner as
a fresh ``docker exec`` with an explicit environment, so a container is a reusable shell
around one step at a time.

How a step gets a clean ``/step`` and leaves nothing behind:

* **Folders.** Every container owns a host folder ``mle-warm-*/`` with ``step/`` (bound at
  /step, read-write) and ``ctl/`` (bound at /mle/ctl: runner, program, one-time token). The
  task's public data is bound read-only at /step/input when the container is created, so a
  container serves one (public data, memory, CPUs) combination; a step for another one
  takes an idle container and recycles it. Between steps the host deletes everything in
  ``step/`` except the ``input`` mount point (deleting a mount point from the host would
  unmount it inside the container) and everything in ``ctl/``, then writes fresh
  ``working/``, ``submission/`` and control files. The submission is copied to the host
  folder's root, which the container cannot see, and only after every process is dead.
* **Processes.** Everything in the container runs as the one sandbox user, and nothing can
  change user (no capabilities, no-new-privileges). After the runner's exec returns, a
  cleaner exec sends SIGKILL to every process it may signal (``kill(-1)``: all but itself
  and the reaper) until none is left, which ends detached sessions and double-forked
  daemons too; orphans are reparented to the reaper, which collects them. The reaper makes
  itself non-dumpable, so a program cannot ptrace it or read its memory.
* **Other state.** The cleaner empties the container's writable places (/tmp, /dev/shm,
  /dev/mqueue; the root filesystem is read-only) and removes SysV IPC objects, then checks
  that all of it is empty. Environment variables cannot persist: each exec gets the whole
  program environment explicitly and a process cannot change another's.
* **Recycling.** Anything unexpected removes the container and starts a fresh one: a
  timeout (inside or outside), an out-of-memory kill, a runner that did not report or did
  not exit cleanly, a cleaner that did not finish or found something it could not remove,
  a dead container, and every ``max_uses`` steps as a precaution.

Limits still hold per step: the runner enforces the time limit and the host enforces it
again (then removes the container). Memory is limited per container and only one step runs
in a container at a time; exec'd processes share the container's memory cgroup, so the
runner's OOM-kill counter works, and when the kernel's choice falls on the runner itself the
cleaner reads the same counter. Containers carry the cold backend's labels (step, session,
host pid), so leak checks and ``mle-gym gc`` find them; ``close()`` removes them, and a
finalizer does so at interpreter exit if the owner forgot.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mle_gym.sandbox.base import (
    RUNNER,
    RunRequest,
    RunResult,
    Sandbox,
    SandboxError,
    StepFolder,
    parse_memory,
)
from mle_gym.sandbox.docker_backend import (
    GRACE_SECONDS,
    container_config,
    docker_client,
    program_environment,
    remove_container,
    sandbox_user,
)

WARM_LABEL = "org.mle-gym.warm"
MAX_USES = 100
CLEAN_SECONDS = 30.0

# PID 1 of a warm container: reaps orphans, ignores signals from inside (an init without a
# handler is immune to them), and is non-dumpable so a same-user program cannot ptrace it.
INIT = r"""
import ctypes, os, signal
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
def reap(*_):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
signal.signal(signal.SIGCHLD, reap)
while True:
    signal.pause()
"""

# Run after every step: kill every process but PID 1 and itself, empty the writable places,
# drop SysV IPC objects, and report whether anything is left, with the cgroup's OOM kills.
CLEAN = r"""
import json, os, shutil, signal, stat, subprocess, time
me = os.getpid()

def alive():
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, me):
            try:
                with open("/proc/%s/stat" % name) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state not in ("Z", "X"):  # zombies hold nothing; the reaper collects them
                pids.append(int(name))
    return pids

left = alive()
for _ in range(100):
    if not left:
        break
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    time.sleep(0.02)
    left = alive()

def unlock(func, path, _exc):
    os.chmod(os.path.dirname(path), 0o700)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
    func(path)

def empty(folder):
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                os.chmod(entry.path, 0o700)
                shutil.rmtree(entry.path, onerror=unlock)
            else:
                os.unlink(entry.path)
        except OSError:
            pass

places = ("/tmp", "/dev/shm", "/dev/mqueue")
for folder in places:
    empty(folder)

def ipc_objects():
    count = 0
    for kind in ("shm", "msg", "sem"):
        try:
            with open("/proc/sysvipc/" + kind) as f:
                count += max(0, len(f.read().strip().splitlines()) - 1)
        except OSError:
            pass
    return count

def oom_kills():
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return -1

if ipc_objects():
    subprocess.run(["ipcrm", "--all"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
files = {folder: sorted(os.listdir(folder)) for folder in places if os.path.isdir(folder)}
with open("/proc/1/cmdline", "rb") as f:
    init_ok = f.read().endswith(b"mle-warm-init\0")
report = {
    "processes": alive(),
    "files": {k: v for k, v in files.items() if v},
    "ipc": ipc_objects(),
    "init": init_ok,
    "oom_kill": oom_kills(),
}
report["clean"] = not report["processes"] and not report["files"] and not report["ipc"] and init_ok
print(json.dumps(report))
"""


def _unlock(func: Any, path: str, _exc: Any) -> None:
    # A program may leave a folder without write or search permission: restore and retry.
    os.chmod(os.path.dirname(path), 0o700)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
    func(path)


def _empty(folder: Path, keep: tuple[str, ...] = ()) -> None:
    """Delete everything in ``folder`` (never following links) except the names in ``keep``."""
    for entry in os.scandir(folder):
        if entry.name in keep:
            continue
        if entry.is_dir(follow_symlinks=False):
            os.chmod(entry.path, 0o700)
            shutil.rmtree(entry.path, onerror=_unlock)
        else:
            os.unlink(entry.path)


@dataclass
class _Slot:
    """One warm container and the host folder bound into it."""

    root: Path
    key: tuple | None = None
    container: Any = None
    uses: int = 0
    oom_kills: int = 0  # the container's OOM-kill counter after its last step
    busy: bool = True


@dataclass
class _Registry:
    """What the finalizer must clean up; shared with it so it never holds the sandbox."""

    client: Any
    containers: dict[int, Any] = field(default_factory=dict)
    roots: set[Path] = field(default_factory=set)


def _cleanup(registry: _Registry) -> None:
    for container in list(registry.containers.values()):
        with contextlib.suppress(Exception):  # at exit: best effort, the daemon may be gone
            remove_container(container)
    registry.containers.clear()
    for root in list(registry.roots):
        shutil.rmtree(root, ignore_errors=True)
    registry.roots.clear()


class _SlotFolder(StepFolder):
    """A step folder inside a warm container's host folder, emptied and refilled per step."""

    def __init__(self, slot: _Slot, request: RunRequest) -> None:
        self.slot = slot
        self.root = slot.root
        self.step = slot.root / "step"
        self.ctl = slot.root / "ctl"
        self.request = request
        self.recycle = True  # set by the step: False when the container may serve another
        for folder in (self.step, self.ctl):
            folder.chmod(0o777)  # also undoes a program's chmod when it runs as the host user
        _empty(self.root, keep=("step", "ctl"))
        _empty(self.step, keep=("input",))
        _empty(self.ctl)
        for folder in (self.step / "working", self.step / "submission"):
            folder.mkdir()
            folder.chmod(0o777)  # the sandbox user is not the host user when the host is root
        self.token = os.urandom(16).hex()
        shutil.copy(RUNNER, self.ctl / "runner.py")
        (self.ctl / "program.py").write_text(request.program)
        (self.ctl / "token").write_text(self.token)

    def remove(self) -> None:
        # The folder belongs to the container; the sandbox empties it when the step ends.
        pass


class WarmDockerSandbox(Sandbox):
    """Docker with up to ``size`` started containers, each reused for ``max_uses`` steps.

    Thread-safe: up to ``size`` steps run at once, one per container; more wait for one to
    free up. See the module docstring for how steps are kept apart.
    """

    name = "docker-warm"

    def __init__(
        self,
        size: int = 1,
        max_uses: int = MAX_USES,
        image: str | None = None,
        build: bool = True,
        client: Any = None,
    ) -> None:
        from mle_gym.sandbox.image import ensure_image

        if size < 1:
            raise ValueError("size (warm containers kept) must be at least 1")
        if max_uses < 1:
            raise ValueError("max_uses (steps per container) must be at least 1")
        self.size = size
        self.max_uses = max_uses
        self._own_client = client is None  # a client passed in stays open for its owner
        self.client = client or docker_client()
        self.image = image or ensure_image(self.client, build=build)
        self.user = sandbox_user()
        self._slots: list[_Slot] = []
        self._cond = threading.Condition()
        self._closed = False
        self._registry = _Registry(self.client)
        self._finalizer = weakref.finalize(self, _cleanup, self._registry)

    # -- the Sandbox interface ---------------------------------------------------------------

    @contextmanager
    def run(self, request: RunRequest) -> Iterator[RunResult]:
        """Run one program in a warm container; the submission lives until the ``with`` ends."""
        try:
            slot = self._acquire(request)
        except SandboxError as exc:
            yield RunResult(exit_code=None, duration=0.0, sandbox_error=str(exc), backend=self.name)
            return
        try:
            folder = _SlotFolder(slot, request)
        except OSError as exc:  # the host folder cannot be emptied: give up on this slot
            self._drop(slot)
            yield RunResult(
                exit_code=None,
                duration=0.0,
                sandbox_error=f"could not empty the warm container's folder {slot.root}: {exc}",
                backend=self.name,
            )
            return
        recycle = True  # unless the step ends normally
        try:
            result = self._execute(request, folder)
            result.backend = self.name
            recycle = folder.recycle
            if result.sandbox_error is None:
                folder.collect_submission(result)
            yield result
        finally:
            self._release(slot, recycle)

    def _execute(self, request: RunRequest, folder: StepFolder) -> RunResult:
        import docker.errors

        assert isinstance(folder, _SlotFolder), "warm steps run in their container's folder"
        slot = folder.slot
        folder.write_config("/step", request.time_limit)
        result = RunResult(exit_code=None, duration=request.time_limit)
        try:
            output, exit_code, host_timeout = self._exec_runner(slot, request)
            if host_timeout:
                result.timed_out = True
                folder.parse_report(output, result)
                return result
            before = slot.oom_kills
            report = self._clean(slot)
            if report.get("oom_kill", -1) > before:
                result.oom = True  # the kernel may have picked the runner itself
            folder.parse_report(output, result)
            slot.uses += 1
            folder.recycle = not (
                report.get("clean")
                and exit_code == 0
                and result.sandbox_error is None
                and not result.timed_out
                and not result.oom
                and slot.uses < self.max_uses
            )
        except (docker.errors.DockerException, SandboxError) as exc:
            result.sandbox_error = f"Docker failed to run the step in a warm container: {exc}"
        return result

    def interrupt(self) -> int:
        """Remove the containers of the steps running now (a rollout pool cancelling a job);
        those steps end at once with a sandbox error. Returns how many there were."""
        with self._cond:
            busy = [s.container for s in self._slots if s.busy and s.container is not None]
        for container in busy:
            remove_container(container)
        return len(busy)

    def close(self) -> None:
        """Remove every warm container and its folder (steps still running are killed)."""
        with self._cond:
            self._closed = True
            self._slots.clear()
            self._cond.notify_all()
        self._finalizer()
        if self._own_client:
            self.client.close()

    def containers(self) -> list[Any]:
        """The warm containers now alive (for tests and diagnostics)."""
        with self._cond:
            return [s.container for s in self._slots if s.container is not None]

    def __reduce__(self) -> tuple:
        # Sent to another process (vector envs): start its own containers there.
        return (WarmDockerSandbox, (self.size, self.max_uses, self.image, False))

    # -- containers ----------------------------------------------------------------------------

    @staticmethod
    def _key(request: RunRequest) -> tuple:
        return (
            str(request.public_dir.resolve()),
            parse_memory(request.memory_limit),
            float(request.cpus),
            request.submission_file,
        )

    def _acquire(self, request: RunRequest) -> _Slot:
        """A container for this request's data and limits: an idle matching one, a new one,
        or an idle other one recycled; waits while all ``size`` are busy."""
        key = self._key(request)
        with self._cond:
            while True:
                if self._closed:
                    raise SandboxError("the warm sandbox is closed; make a new one")
                idle = [s for s in self._slots if not s.busy]
                same = [s for s in idle if s.key == key and s.container is not None]
                if same:
                    slot = same[0]
                    slot.busy = True
                    return slot
                if len(self._slots) < self.size:
                    slot = _Slot(root=self._new_root())
                    self._slots.append(slot)
                    break
                if idle:
                    slot = idle[0]
                    slot.busy = True
                    break
                self._cond.wait()
        try:
            self._retire(slot)
            self._start(slot, request, key)
        except BaseException:
            self._drop(slot)
            raise
        return slot

    def _release(self, slot: _Slot, recycle: bool) -> None:
        try:
            if recycle:
                self._retire(slot)
        finally:
            with self._cond:
                slot.busy = False
                if self._closed:
                    self._retire(slot)
                self._cond.notify_all()

    def _drop(self, slot: _Slot) -> None:
        self._retire(slot)
        with self._cond:
            if slot in self._slots:
                self._slots.remove(slot)
            self._registry.roots.discard(slot.root)
            self._cond.notify_all()
        shutil.rmtree(slot.root, ignore_errors=True)

    def _new_root(self) -> Path:
        base = Path(os.environ.get("MLE_GYM_WORKDIR") or tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="mle-warm-", dir=base))
        for folder in (root / "step", root / "step" / "input", root / "ctl"):
            folder.mkdir()
            folder.chmod(0o777)
        self._registry.roots.add(root)
        return root

    def _start(self, slot: _Slot, request: RunRequest, key: tuple) -> None:
        import docker.errors

        config = container_config(
            self.image,
            self.user,
            request,
            command=["python3", "-c", INIT, "mle-warm-init"],
            step_dir=slot.root / "step",
            ctl_dir=slot.root / "ctl",
            name=slot.root.name,
        )
        config["labels"][WARM_LABEL] = "1"
        try:
            container = self.client.containers.create(**config)
            self._registry.containers[id(slot)] = container
            slot.container = container
            container.start()
        except docker.errors.DockerException as exc:
            raise SandboxError(
                f"could not start a warm container: {exc}. Check that the Docker engine "
                "is healthy (`docker info`) and the image exists (`mle-gym sandbox build`)."
            ) from None
        slot.key, slot.uses, slot.oom_kills = key, 0, 0

    def _retire(self, slot: _Slot) -> None:
        """Remove the slot's container (if any); the slot stays, ready for a fresh one."""
        container, slot.container, slot.key = slot.container, None, None
        self._registry.containers.pop(id(slot), None)
        if container is not None:
            remove_container(container)

    # -- one step --------------------------------------------------------------------------------

    def _exec_runner(self, slot: _Slot, request: RunRequest) -> tuple[str, int | None, bool]:
        """Run the runner as a fresh exec; (output, exit code, host timed out)."""
        import docker.errors

        api = self.client.api
        command = ["python3", "/mle/ctl/runner.py", "/mle/ctl"]
        env = program_environment(request)
        try:
            exec_id = api.exec_create(
                slot.container.id, command, user=self.user, environment=env, workdir="/step"
            )["Id"]
        except docker.errors.APIError:  # it died while idle (daemon restart, OOM): once more
            key = slot.key
            self._retire(slot)
            self._start(slot, request, key or self._key(request))
            exec_id = api.exec_create(
                slot.container.id, command, user=self.user, environment=env, workdir="/step"
            )["Id"]
        # exec_start blocks without a socket timeout; the host's deadline is the join below.
        box: dict[str, Any] = {}

        def stream() -> None:
            try:
                box["output"] = api.exec_start(exec_id)
            except Exception as exc:  # a removed container ends the stream with an error
                box["error"] = exc

        reader = threading.Thread(target=stream, daemon=True, name="mle-warm-exec")
        reader.start()
        reader.join(request.time_limit + GRACE_SECONDS)
        if reader.is_alive():
            remove_container(slot.container)  # the only way to stop a hung exec
            reader.join(10)
            return _text(box.get("output")), None, True
        if "error" in box:
            raise SandboxError(f"the step's output stream broke: {box['error']}")
        code = api.exec_inspect(exec_id).get("ExitCode")
        return _text(box.get("output")), code, False

    def _clean(self, slot: _Slot) -> dict[str, Any]:
        """Kill leftovers and empty the writable places; the cleaner's report."""
        api = self.client.api
        exec_id = api.exec_create(
            slot.container.id, ["python3", "-c", CLEAN], user=self.user, environment={}
        )["Id"]
        box: dict[str, Any] = {}

        def stream() -> None:
            with contextlib.suppress(Exception):  # no output reads as "did not report"
                box["output"] = api.exec_start(exec_id)

        reader = threading.Thread(target=stream, daemon=True, name="mle-warm-clean")
        reader.start()
        reader.join(CLEAN_SECONDS)
        if reader.is_alive():
            return {"clean": False, "error": "the cleaner did not finish"}
        lines = _text(box.get("output")).strip().splitlines()
        try:
            report = json.loads(lines[-1])
        except (IndexError, ValueError):
            return {"clean": False, "error": "the cleaner did not report"}
        if api.exec_inspect(exec_id).get("ExitCode") != 0:
            report["clean"] = False
        slot.oom_kills = max(slot.oom_kills, int(report.get("oom_kill", 0)))
        return report


def _text(output: Any) -> str:
    if output is None:
        return ""
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return str(output)


__all__ = ["WarmDockerSandbox"]
