"""Docker backend: one locked-down container per step, removed whatever happens.

Per container: no network, the public data read-only, a read-only root filesystem, a
non-root user, memory (no swap), CPU and process-count limits, no capabilities, no privilege
escalation, and a wall-clock timeout enforced twice (by the runner inside and by the host
outside).

Disk: every place a program can write is a size-limited tmpfs inside the container (/step,
holding working/ and submission/, and /tmp, each ``disk_limit`` big; /dev/shm 64 MiB), never
a host folder. tmpfs pages are charged to the container's memory cgroup too, so what a
program writes also counts against its memory limit and is gone with the container. The
host sees the submission only: the runner (the container's PID 1) sends it after the report
on its stdout, once every process of the program is dead, at most ``max_submission`` bytes.

The host talks to the runner through the engine's attach stream (stdin and stdout, which the
program cannot reach): the per-step token goes in, the report and submission come out, and
no log is kept. When the host process dies (even by SIGKILL) the stream closes, the runner's
stdin ends and the container stops itself; the next sandbox made on this machine removes
stopped containers and step folders whose owner is dead (``mle-gym sandbox gc`` too). A
SIGTERM removes the process's containers and folders at once (``install_terminate_handler``).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mle_gym.sandbox.base import (
    TERMINATE_HOOKS,
    RunRequest,
    RunResult,
    Sandbox,
    SandboxError,
    StepFolder,
    install_terminate_handler,
    parse_memory,
)

LABEL = "org.mle-gym.step"
# Set MLE_GYM_SESSION to tag every container a run (and its child processes) starts.
SESSION_LABEL = "org.mle-gym.session"
HOST_LABEL = "org.mle-gym.host"  # the machine (hostname) whose pids the pid label names
GRACE_SECONDS = 10.0  # container start and runner reporting, on top of the program's limit
PIDS_LIMIT = 512
SHM_SIZE = "64m"
SEND_SECONDS = 30.0  # writing to a container's stdin: the engine reads it at once
MAX_LINE = 64 << 20  # a report line longer than this is not a report
STDERR_KEPT = 64 << 10  # what a runner or supervisor printed on stderr, for error messages


class Channel:
    """A container's stdin and stdout through the engine's attach stream.

    Without a TTY the engine multiplexes stdout and stderr in frames: an 8-byte header
    (stream number, three zero bytes, big-endian payload size), then the payload.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle  # docker-py's wrapper keeps the HTTP response (and TLS) alive
        sock = getattr(handle, "_sock", handle)
        if not isinstance(sock, socket.socket):
            raise SandboxError(
                "the Docker sandbox needs an engine reached through a unix or TCP socket "
                f"(DOCKER_HOST); this one gives a {type(sock).__name__}."
            )
        self.sock = sock
        self._frames = bytearray()
        self.stdout = bytearray()
        self.stderr = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.settimeout(SEND_SECONDS)
        self.sock.sendall(data)

    def _fill(self, timeout: float) -> bool:
        """Read what arrives within ``timeout``; False if nothing did. EOFError at the end."""
        self.sock.settimeout(max(timeout, 1e-3))
        try:
            chunk = self.sock.recv(1 << 16)
        except (TimeoutError, BlockingIOError):
            return False
        if not chunk:
            raise EOFError("the container's stream ended")
        frames = self._frames
        frames += chunk
        while len(frames) >= 8:
            size = int.from_bytes(frames[4:8], "big")
            if len(frames) < 8 + size:
                break
            (self.stderr if frames[0] == 2 else self.stdout).extend(frames[8 : 8 + size])
            del frames[: 8 + size]
        if len(self.stderr) > 2 * STDERR_KEPT:
            del self.stderr[:-STDERR_KEPT]
        return True

    def line(self, deadline: float) -> bytes | None:
        """The next stdout line, or None at ``deadline`` (time.monotonic)."""
        while True:
            end = self.stdout.find(b"\n")
            if end >= 0:
                line = bytes(self.stdout[:end])
                del self.stdout[: end + 1]
                return line
            if len(self.stdout) > MAX_LINE:
                raise EOFError(f"the container sent a line over {MAX_LINE >> 20} MiB")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._fill(remaining)

    def read_into(self, path: Any, size: int, deadline: float) -> bool:
        """Write the next ``size`` bytes of stdout to the file ``path``; False at ``deadline``."""
        with open(path, "wb") as sink:
            while size > 0:
                if not self.stdout:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._fill(remaining)
                    continue
                chunk = self.stdout[:size]
                sink.write(chunk)
                del self.stdout[: len(chunk)]
                size -= len(chunk)
        return True

    def idle(self) -> bool:
        """True if the other end is alive and said nothing since its last report."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            if readable:
                self._fill(0)
        except (OSError, EOFError):
            return False
        return not (self.stdout or self.stderr or self._frames)

    def said(self) -> str:
        """The end of what the container wrote on stderr."""
        return self.stderr[-2000:].decode("utf-8", "replace").strip()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(Exception):
            self._handle.close()


def docker_client(timeout: int = 60) -> Any:
    """A connected Docker client, or SandboxError saying how to get one."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as exc:  # the SDK raises several kinds for "no daemon"
        raise SandboxError(
            "cannot reach a Docker engine "
            f"({type(exc).__name__}: {str(exc)[:200]}). Start Docker (for example "
            "`sudo scripts/start-docker.sh` from the repository, or `sudo systemctl start "
            "docker`), make sure your user may use it, or pass sandbox='local'."
        ) from None


def docker_available() -> bool:
    try:
        docker_client(timeout=5)
        return True
    except SandboxError:
        return False


def sandbox_user() -> str:
    """The container user: the host user, so files the program writes stay removable by it;
    never root (a root host maps to the image's ``agent`` user)."""
    uid = os.getuid()
    return "1000:1000" if uid == 0 else f"{uid}:{os.getgid()}"


def program_environment(request: RunRequest) -> dict[str, str]:
    """The whole environment a program starts with (the step folder layout and thread caps)."""
    threads = str(max(1, int(request.cpus)))
    return {
        "HOME": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLCONFIGDIR": "/tmp",
        "OMP_NUM_THREADS": threads,
        "OMP_WAIT_POLICY": "PASSIVE",  # idle OpenMP threads sleep: no stalls when CPUs are shared
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "MLE_INPUT_DIR": "/step/input",
        "MLE_SUBMISSION_PATH": f"/step/submission/{request.submission_file}",
        "MLE_WORKING_DIR": "/step/working",
    }


def container_labels(name: str) -> dict[str, str]:
    """Labels that leak checks and ``mle-gym gc`` select step containers by."""
    return {
        LABEL: name,
        SESSION_LABEL: os.environ.get("MLE_GYM_SESSION", ""),
        "org.mle-gym.host-pid": str(os.getpid()),
        HOST_LABEL: socket.gethostname(),
    }


def tmpfs_options(size: str | int, user: str, exec_ok: bool = False) -> str:
    """A tmpfs of ``size`` (docker syntax) owned by ``user`` ("uid:gid"; the engine copies
    the image folder's mode onto a tmpfs, so ownership is what makes it writable), no
    devices, no set-uid, and no programs run from it unless ``exec_ok``."""
    uid, _, gid = user.partition(":")
    flags = "exec" if exec_ok else "noexec"
    return f"rw,nosuid,nodev,{flags},size={parse_memory(size)},uid={uid},gid={gid or uid}"


def container_config(
    image: str,
    user: str,
    request: RunRequest,
    *,
    command: list[str],
    ctl_dir: Path,
    name: str,
    ctl_target: str = "/mle/ctl",
    tmpfs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``containers.create`` arguments of the lockdown every step container gets (cold or warm):
    /step and /tmp are tmpfs of ``request.disk_limit`` each, the public data is read-only at
    /step/input, ``ctl_dir`` (runner and program) read-only at ``ctl_target``; the container
    talks to the host on stdin and stdout through the attach stream, closed when the host goes.
    """
    memory = parse_memory(request.memory_limit)
    step_fs = tmpfs_options(request.disk_limit, user, exec_ok=True)  # as the cwd always was
    return {
        "image": image,
        "command": command,
        "working_dir": "/step",
        "user": user,
        "environment": program_environment(request),
        "volumes": {
            str(request.public_dir.resolve()): {"bind": "/step/input", "mode": "ro"},
            str(ctl_dir): {"bind": ctl_target, "mode": "ro"},
        },
        "network_mode": "none",
        "mem_limit": memory,
        "memswap_limit": memory,
        "nano_cpus": int(request.cpus * 1e9),
        "pids_limit": PIDS_LIMIT,
        "read_only": True,
        "tmpfs": {"/step": step_fs, "/tmp": tmpfs_options(request.disk_limit, user),
                  **(tmpfs or {})},
        "shm_size": SHM_SIZE,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "labels": container_labels(name),
        # stdin stays open until the host's attach ends (docker-py sets StdinOnce with it).
        "stdin_open": True,
        "detach": False,
        "log_config": {"type": "none", "config": {}},  # reports travel on the attach stream
    }


def attach(client: Any, container: Any) -> Channel:
    """The container's stdin and stdout (attach before start: no output is missed)."""
    handle = client.api.attach_socket(
        container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
    )
    return Channel(handle)


def remove_own_containers() -> None:
    """Remove every step container this process started (on SIGTERM): a fresh connection,
    since the signal may have interrupted a call on the usual one."""
    import docker

    client = docker.from_env(timeout=10)
    try:
        filters = {"label": [f"org.mle-gym.host-pid={os.getpid()}",
                             f"{HOST_LABEL}={socket.gethostname()}"]}
        containers = client.containers.list(all=True, filters=filters, ignore_removed=True)
        threads = [threading.Thread(target=remove_container, args=(c,), daemon=True)
                   for c in containers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
    finally:
        client.close()


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
        from mle_gym.sandbox.gc import sweep_dead_owners

        with contextlib.suppress(Exception):  # best effort: `mle-gym sandbox gc` remains
            sweep_dead_owners(client)

    threading.Thread(target=sweep, daemon=True, name="mle-sandbox-sweep").start()


def remove_container(container: Any) -> None:
    """Kill and remove a container; one already gone (or going) is fine."""
    import docker.errors

    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise


class DockerSandbox(Sandbox):
    name = "docker"

    def __init__(self, image: str | None = None, build: bool = True, client: Any = None) -> None:
        from mle_gym.sandbox.image import ensure_image

        self.client = client or docker_client()
        self.image = image or ensure_image(self.client, build=build)
        self.user = sandbox_user()
        on_first_sandbox(self.client)
        self._running: set[Any] = set()  # containers of steps in progress, for interrupt()
        self._lock = threading.Lock()
        self._removals = threading.local()  # this thread's step's container being removed

    def _execute(self, request: RunRequest, folder: StepFolder) -> RunResult:
        import docker.errors

        folder.streamed = True
        places = ["/step", "/tmp", "/dev/shm"]
        folder.write_config("/step", request.time_limit, stream=True, places=places,
                            submission_file=request.submission_file,
                            max_submission=request.max_submission)
        (folder.ctl / "token").unlink()  # it travels on stdin, never in a file
        container = None
        channel = None
        result = RunResult(exit_code=None, duration=request.time_limit)
        try:
            container = self.client.containers.create(
                **container_config(
                    self.image,
                    self.user,
                    request,
                    command=["python3", "/mle/ctl/runner.py", "/mle/ctl"],
                    ctl_dir=folder.ctl,
                    name=folder.root.name,
                )
            )
            with self._lock:
                self._running.add(container)
            channel = attach(self.client, container)
            container.start()
            channel.send(folder.token.encode() + b"\n")
            deadline = time.monotonic() + request.time_limit + GRACE_SECONDS
            self._report(channel, folder, result, deadline, container)
            # Done with it: remove it while the host grades (joined when the step ends).
            channel.close()
            channel = None
            self._remove_later(container)
            container = None
        except docker.errors.DockerException as exc:
            result.sandbox_error = f"Docker failed to run the step: {exc}"
        finally:
            if channel is not None:
                channel.close()
            if container is not None:
                with self._lock:
                    self._running.discard(container)
                remove_container(container)
        return result

    def _report(self, channel: Channel, folder: StepFolder, result: RunResult,
                deadline: float, container: Any) -> None:
        """Read the runner's report and the submission after it from the attach stream."""
        import docker.errors

        prefix = folder.token.encode() + b" "
        try:
            while True:
                line = channel.line(deadline)
                if line is None:  # the runner did not stop the program: the host does
                    result.timed_out = True
                    return
                if line.startswith(prefix):
                    break
        except (EOFError, OSError):  # no report: was the runner itself OOM-killed?
            with contextlib.suppress(docker.errors.DockerException):
                container.reload()
                result.oom = bool(container.attrs["State"].get("OOMKilled"))
            if not result.oom:
                said = channel.said()
                result.sandbox_error = "the sandbox runner did not report" + (
                    f"; it said: {said}" if said else ""
                )
            return
        folder.parse_report(line.decode("utf-8", "replace"), result)
        size = folder.incoming
        if size is not None and result.sandbox_error is None:
            target = folder.root / "submission-copy"
            try:
                complete = channel.read_into(target, int(size), deadline + GRACE_SECONDS)
            except (EOFError, OSError):
                complete = False
            if complete:
                result.submission = target
            else:
                result.sandbox_error = "the submission did not arrive whole from the container"

    def _remove_later(self, container: Any) -> None:
        def remove() -> None:
            try:
                remove_container(container)
            except Exception as exc:  # raised when the step ends, in run()
                errors.append(exc)
            finally:
                with self._lock:
                    self._running.discard(container)

        errors: list[Exception] = []
        thread = threading.Thread(target=remove, daemon=True, name="mle-docker-remove")
        thread.start()
        self._removals.removal = (thread, errors)

    @contextmanager
    def run(self, request: RunRequest) -> Iterator[RunResult]:
        """As :meth:`Sandbox.run`; the container is removed by the time the ``with`` ends.

        Removing a container costs the engine 50-100 ms, so it overlaps the host's grading
        of the submission instead of delaying the result.
        """
        try:
            with super().run(request) as result:
                yield result
        finally:
            pending = getattr(self._removals, "removal", None)
            self._removals.removal = None
            if pending is not None:
                thread, errors = pending
                thread.join()
                if errors:
                    raise SandboxError(f"Docker could not remove a step container: {errors[0]}")

    def interrupt(self) -> int:
        """Remove the containers of the steps running now (a rollout pool cancelling a job);
        those steps end at once with a sandbox error. Returns how many there were."""
        with self._lock:
            running = list(self._running)
        for container in running:
            remove_container(container)
        return len(running)

    def close(self) -> None:
        self.closed = True
        self.client.close()

    def __reduce__(self) -> tuple:
        # Sent to another process (vector envs): reconnect there instead of pickling a socket.
        return (DockerSandbox, (self.image, False))
