"""Warm Docker containers: started once, reused for many steps, so start-up leaves the step.

``WarmDockerSandbox(size=N)`` keeps up to N containers, each with exactly the lockdown of
the cold backend (one ``container_config`` builds both): no network, read-only root, bounded
/tmp, non-root user, memory/CPU/process limits, no capabilities. The container's PID 1 is a
resident supervisor (``inside/warm_supervisor.py``, which explains why a same-user program can neither
signal, ptrace nor impersonate it). A step costs no ``docker exec``: the host writes one
request line to the supervisor's stdin through the engine's attach stream and reads its
token-tagged report from its stdout. Only the engine reaches those two pipes, so requests,
tokens and reports never touch a file the program could read or write.

How a step gets a clean ``/step`` and leaves nothing behind:

* **Folders.** What a program can write lives in the container's size-limited tmpfs
  mounts (/step, holding working/ and submission/, and /tmp: ``disk_limit`` each; /mle/ctl,
  where the program is written: 64 MiB), never on the host's disk. The container's host
  folder ``mle-warm-*/`` holds only ``lib/`` (the two supervisors, read-only inside). The
  task's public data is bound read-only at /step/input when the container is created, so a
  container serves one (public data, limits) combination; a step for another one takes an
  idle container and recycles it. After each program the supervisor deletes what it left
  in ``/step`` but its submission (so a program that writes a million files pays for
  deleting them, not the next one), unlocking folders a program locked and without
  recursion; before the next program it deletes the submission and ``/mle/ctl``, and resets
  the mode, extended attributes and times of the folders that stay. The submission reaches
  the host on the supervisor's stdout right after the report, that is after every process
  in the container is dead, at most ``max_submission`` bytes.
* **Processes.** After the program the supervisor sends SIGKILL to every other process
  (``kill(-1)``) and reaps them (orphans are reparented to it) until none is left, which
  ends detached sessions and double-forked daemons too.
* **Other state.** It empties the container's writable places (/tmp, /dev/shm, /dev/mqueue;
  the root filesystem is read-only), removes SysV IPC objects, and reports whether all of
  it is gone. Environment variables cannot persist: each program starts from the
  supervisor's pristine environment plus the request's.
* **Recycling.** Anything unexpected removes the container and starts a fresh one: a
  timeout (inside or outside), an out-of-memory kill, a report that says something was
  left, a supervisor that failed or whose stream ended (a dead container), and every
  ``max_uses`` steps as a precaution. A container that ends while a step runs fails that
  step: as out of memory when the kernel killed it for that, else as a sandbox error (it
  was removed or killed from outside: the supervisor ignores a program's signals).

Limits still hold per step: the supervisor enforces the time limit and the host enforces it
again (then removes the container). Memory is limited per container and only one step runs
in a container at a time, so the cgroup's OOM-kill counter, read before and after the
program, tells whether this step hit the limit. Containers carry the cold backend's labels
(step, session, host pid), so leak checks and ``mle-gym gc`` find them; ``close()`` removes
them, a finalizer does so at interpreter exit if the owner forgot, and a container whose
host process died stops by itself (its stdin closes, and the supervisor exits).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mle_gym.sandbox.attach import AttachStream, attach
from mle_gym.sandbox.base import (
    RunRequest,
    RunResult,
    Sandbox,
    SandboxError,
    StepFolder,
    parse_memory,
)
from mle_gym.sandbox.engine import docker_client, remove_container
from mle_gym.sandbox.gc import on_first_sandbox
from mle_gym.sandbox.host_folders import forget_folder, make_folder
from mle_gym.sandbox.image import ensure_image
from mle_gym.sandbox.inside import STEP_SUPERVISOR, WARM_SUPERVISOR
from mle_gym.sandbox.lockdown import (
    GRACE_SECONDS,
    container_config,
    program_environment,
    sandbox_user,
    tmpfs_options,
)

SUPERVISOR = WARM_SUPERVISOR  # the old name
WARM_LABEL = "org.mle-gym.warm"
MAX_USES = 100
CTL_SIZE = "64m"  # /mle/ctl, where the supervisor writes the program


@dataclass
class _Slot:
    """One warm container, its supervisor's stream, and the host folder bound into it."""

    root: Path | None = None  # the container's host folder; a fresh one per container
    key: tuple | None = None
    container: Any = None
    channel: AttachStream | None = None
    uses: int = 0
    busy: bool = True
    interrupted: bool = False  # interrupt() removed its container under a running step
    removal: threading.Thread | None = None  # its last container being removed


@dataclass
class _Registry:
    """What the finalizer must clean up; shared with it so it never holds the sandbox."""

    client: Any
    containers: dict[str, Any] = field(default_factory=dict)  # by container id
    roots: set[Path] = field(default_factory=set)
    removals: list[threading.Thread] = field(default_factory=list)


def _cleanup(registry: _Registry) -> None:
    for thread in list(registry.removals):
        thread.join()
    for container in list(registry.containers.values()):
        with contextlib.suppress(Exception):  # at exit: best effort, the daemon may be gone
            remove_container(container)
    registry.containers.clear()
    for root in list(registry.roots):
        forget_folder(root)
    registry.roots.clear()


class _SlotFolder(StepFolder):
    """A step in a warm container's host folder; the supervisor empties and refills it, and
    the folder goes with its container (:meth:`WarmDockerSandbox._retire`)."""

    streamed = True  # the supervisor sends the submission after its report

    def __init__(self, slot: _Slot, request: RunRequest) -> None:
        assert slot.root is not None, "a slot has a folder while it has a container"
        super().__init__(request, slot.root)
        self.slot = slot
        self.recycle = True  # set by the step: False when the container may serve another
        with contextlib.suppress(FileNotFoundError):
            (self.root / "submission-copy").unlink()  # the previous step's


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
        on_first_sandbox(self.client)

    # -- the Sandbox steps (run() itself is Sandbox.run) --------------------------------------

    def _open_folder(self, request: RunRequest) -> StepFolder:
        """A warm container for this request (waits while all ``size`` are busy); after
        ``close()`` it raises SandboxError, so no container is ever started again."""
        return _SlotFolder(self._acquire(request), request)

    def _close_folder(self, folder: StepFolder) -> None:
        """Hand the container back: kept for the next step, or recycled when the step did
        not end cleanly (``recycle`` stays True when ``_execute`` raised)."""
        assert isinstance(folder, _SlotFolder), "warm steps run in their container's folder"
        self._release(folder.slot, folder.recycle)

    def _execute(self, request: RunRequest, folder: StepFolder) -> RunResult:
        assert isinstance(folder, _SlotFolder), "warm steps run in their container's folder"
        slot = folder.slot
        result = RunResult(exit_code=None, duration=request.time_limit)
        message = (
            json.dumps(
                {
                    "token": folder.token,
                    "program": request.program,
                    "env": program_environment(request),
                    "cwd": "/step",
                    "time_limit": request.time_limit,
                    "submission_file": request.submission_file,
                    "max_submission": request.max_submission,
                }
            ).encode()
            + b"\n"
        )
        try:
            channel = self._send(slot, request, message)
        except SandboxError as exc:
            result.sandbox_error = str(exc)
            return result
        sent = time.monotonic()
        prefix = folder.token.encode() + b" "
        try:
            while True:
                line = channel.line(sent + request.time_limit + GRACE_SECONDS)
                if line is None:  # the supervisor did not stop the program: remove it all
                    result.timed_out = True
                    result.duration = time.monotonic() - sent
                    return result
                if line.startswith(prefix):
                    break
        except (EOFError, OSError):
            self._ended(slot, result, time.monotonic() - sent)
            return result
        report = json.loads(line[len(prefix) :])
        if "error" in report:
            result.sandbox_error = f"the warm container's supervisor failed: {report['error']}"
            return result
        folder.parse_report(line.decode("utf-8", "replace"), result)
        if folder.incoming is not None:
            target = folder.root / "submission-copy"
            try:
                whole = channel.read_into(target, int(folder.incoming),
                                          time.monotonic() + GRACE_SECONDS)
            except (EOFError, OSError):
                whole = False
            if not whole:
                result.sandbox_error = "the submission did not arrive whole from the container"
                return result
            result.submission = target
        slot.uses += 1
        folder.recycle = not (
            report["clean"]
            and not result.timed_out
            and not result.oom
            and slot.uses < self.max_uses
        )
        return result

    def _send(self, slot: _Slot, request: RunRequest, message: bytes) -> AttachStream:
        """Hand the request to the supervisor; a container that died while idle (an engine
        restart, a kill from outside) is replaced once, before the program ever ran."""
        for attempt in range(2):
            channel = slot.channel
            if channel is not None and channel.idle():
                try:
                    channel.send(message)
                    return channel
                except OSError:
                    pass
            if attempt == 0:
                key = slot.key or self._key(request)
                self._retire(slot)
                self._start(slot, request, key)
        raise SandboxError(
            "a fresh warm container did not take the step; check the engine (`docker info`)"
        )

    def _ended(self, slot: _Slot, result: RunResult, elapsed: float) -> None:
        """The container stopped during the step: out of memory, or removed or killed from
        outside (the program cannot signal the supervisor)."""
        import docker.errors

        said = (slot.channel.stderr if slot.channel else b"").decode("utf-8", "replace")[-2000:]
        state: dict[str, Any] = {}
        if slot.container is not None and not slot.interrupted:
            with contextlib.suppress(docker.errors.DockerException):
                slot.container.reload()
                state = slot.container.attrs.get("State", {})
        if state.get("OOMKilled"):
            result.oom = True
            result.duration = elapsed
            result.stderr = "the container ran out of memory and its supervisor was killed\n" + said
            return
        why = "it was removed (the step was interrupted)" if slot.interrupted or not state else (
            f"its supervisor exited with code {state.get('ExitCode')}"
        )
        result.sandbox_error = (
            f"the warm container stopped during the step: {why}"
            + (f"; it said: {said.strip()}" if said.strip() else "")
            + ". A fresh container serves the next step."
        )

    def interrupt(self) -> int:
        """Remove the containers of the steps running now (a rollout pool cancelling a job);
        those steps end at once with a sandbox error. Returns how many there were."""
        with self._cond:
            busy = [s for s in self._slots if s.busy and s.container is not None]
            for slot in busy:
                slot.interrupted = True
            containers = [s.container for s in busy]
        for container in containers:
            remove_container(container)
        return len(containers)

    def close(self) -> None:
        """Remove every warm container and its folder (steps still running are killed)."""
        self.closed = True
        with self._cond:
            self._closed = True
            slots, self._slots = self._slots, []
            self._cond.notify_all()
        for slot in slots:
            if slot.channel is not None:
                slot.channel.close()
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
                    slot = _Slot()
                    self._slots.append(slot)
                    break
                if idle:
                    slot = idle[0]
                    slot.busy = True
                    break
                self._cond.wait()
        try:
            if slot.removal is not None:  # at most ``size`` containers exist at any time
                slot.removal.join()
            self._retire(slot)
            self._start(slot, request, key)
        except BaseException:
            self._drop(slot)
            raise
        return slot

    def _release(self, slot: _Slot, recycle: bool) -> None:
        try:
            if recycle:
                self._retire(slot, wait=False)
        finally:
            with self._cond:
                slot.busy = False
                slot.interrupted = False
                if self._closed:
                    self._retire(slot)
                self._cond.notify_all()

    def _drop(self, slot: _Slot) -> None:
        self._retire(slot)
        with self._cond:
            if slot in self._slots:
                self._slots.remove(slot)
            self._cond.notify_all()

    def _new_root(self) -> Path:
        """The container's host folder: only ``lib/`` (the two supervisors, read-only in the
        container); what programs write lives in the container's tmpfs mounts."""
        root = make_folder("warm")
        (root / "lib").mkdir()
        self._registry.roots.add(root)
        return root

    def _start(self, slot: _Slot, request: RunRequest, key: tuple) -> None:
        import docker.errors

        slot.root = self._new_root()
        lib = slot.root / "lib"
        for source in (STEP_SUPERVISOR, WARM_SUPERVISOR):  # the second imports the first
            shutil.copy(source, lib / source.name)
        config = container_config(
            self.image,
            self.user,
            request,
            command=["python3", f"/mle/lib/{WARM_SUPERVISOR.name}", "mle-warm-supervisor"],
            ctl_dir=lib,
            ctl_target="/mle/lib",
            tmpfs={"/mle/ctl": tmpfs_options(CTL_SIZE, self.user)},
            name=slot.root.name,
        )
        config["labels"][WARM_LABEL] = "1"
        try:
            container = self.client.containers.create(**config)
            self._registry.containers[container.id] = container
            slot.container = container
            slot.channel = attach(self.client, container)  # before start: no output missed
            container.start()
        except docker.errors.DockerException as exc:
            raise SandboxError(
                f"could not start a warm container: {exc}. Check that the Docker engine "
                "is healthy (`docker info`) and the image exists (`mle-gym sandbox build`)."
            ) from None
        slot.key, slot.uses, slot.interrupted = key, 0, False

    def _retire(self, slot: _Slot, wait: bool = True) -> None:
        """Remove the slot's container and then its host folder (a new container gets a new
        one, so nothing of a removed container's steps can reach it). With ``wait=False`` the
        engine's removal (0.1-1 s) overlaps the host's work after the step (grading); the
        slot's next container, ``close()`` and the finalizer wait for it."""
        container, root, channel = slot.container, slot.root, slot.channel
        slot.container, slot.root, slot.channel, slot.key = None, None, None, None
        if channel is not None:
            channel.close()
        registry = self._registry

        def remove() -> None:
            if container is not None:
                remove_container(container)
                registry.containers.pop(container.id, None)
            if root is not None:
                forget_folder(root)
                registry.roots.discard(root)

        if wait:
            remove()
            return

        def remove_quietly() -> None:
            try:
                remove()
            except Exception:  # still registered: close() or the finalizer tries again
                pass
            finally:
                with contextlib.suppress(ValueError):
                    registry.removals.remove(threading.current_thread())

        thread = threading.Thread(target=remove_quietly, daemon=True, name="mle-warm-remove")
        registry.removals.append(thread)
        slot.removal = thread
        thread.start()


__all__ = ["WarmDockerSandbox"]
