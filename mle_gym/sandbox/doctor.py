"""``mle-gym sandbox doctor``: is this machine ready to run steps in Docker, and if not, why.

Each check says OK or FAIL and, when it fails, what to do. Checks that need an earlier one
(a running engine, the image) are skipped when it failed, and a skip counts as not passed.
The container checks run real steps through :class:`DockerSandbox`, so they test the exact
lockdown steps get, not a copy of it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mle_gym.sandbox.base import RunRequest, RunResult, parse_memory

MIN_FREE_BYTES = 2 << 30  # below this, an image build or a large step may fail
DOCTOR_DISK = "32m"  # the lockdown probe checks that /step and /tmp get this size
MIN_ENGINE_MAJOR = 20  # cgroup v2 and the options the backend uses need Docker 20.10+

# Runs inside the sandbox; prints what the lockdown should forbid, as one JSON line.
LOCKDOWN_PROBE = r"""
import json, os, socket
out = {"uid": os.getuid()}
def writable(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError:
        return False
out["root_writable"] = writable("/etc/mle-doctor-probe")
out["input_writable"] = writable(os.path.join(os.environ["MLE_INPUT_DIR"], "probe"))
out["tmp_writable"] = writable("/tmp/probe")
out["interfaces"] = sorted(os.listdir("/sys/class/net"))
out["sizes"] = {p: os.statvfs(p).f_blocks * os.statvfs(p).f_frsize for p in ("/step", "/tmp")}
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2).close()
    out["network"] = True
except OSError:
    out["network"] = False
print("MLE-DOCTOR " + json.dumps(out))
open(os.environ["MLE_SUBMISSION_PATH"], "w").write("id\n")
"""

# Touches 512 MiB under a 64 MiB limit: the kernel must kill it, and the step must say OOM.
OOM_PROBE = "block = b'x' * (512 << 20)\nprint(len(block))\n"


@dataclass
class Check:
    """One check: ``ok`` is True, False, or None when skipped because an earlier one failed."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""

    @property
    def status(self) -> str:
        return {True: "OK", False: "FAIL", None: "SKIP"}[self.ok]


def _fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, detail, fix)


def check_sdk() -> Check:
    try:
        import docker
    except ImportError as exc:
        return _fail("docker SDK", f"cannot import docker: {exc}",
                     "install it into this environment: pip install 'docker>=7'")
    return Check("docker SDK", True, f"docker {docker.__version__}")


def _socket_advice(exc: Exception) -> tuple[str, str]:
    """Why the engine does not answer, from DOCKER_HOST and the socket's permissions."""
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return (f"DOCKER_HOST={host} does not answer ({type(exc).__name__})",
                "check the address and that the engine there runs, or unset DOCKER_HOST "
                "to use the local socket")
    path = Path(host[len("unix://"):] if host else "/var/run/docker.sock")
    if not path.exists():
        return (f"no Docker socket at {path}: the engine is not running",
                "start it: sudo scripts/start-docker.sh (or sudo systemctl start docker)")
    if not os.access(path, os.R_OK | os.W_OK):
        import grp

        try:
            group = grp.getgrgid(path.stat().st_gid).gr_name
        except KeyError:
            group = "docker"
        return (f"permission denied on {path}",
                f"your user is not in the {group} group: sudo usermod -aG {group} $USER, "
                "then log out and in again (or run `newgrp docker`)")
    return (f"{path} exists but the engine does not answer ({type(exc).__name__}: "
            f"{str(exc)[:160]})",
            "the engine may be starting, hung or stopped: sudo scripts/start-docker.sh, "
            "or look at the dockerd log")


def connect() -> tuple[Check, Any]:
    try:
        import docker

        client = docker.from_env(timeout=15)
        client.ping()
    except Exception as exc:  # the SDK raises several kinds for "no daemon"
        detail, fix = _socket_advice(exc)
        return _fail("engine reachable", detail, fix), None
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return Check("engine reachable", True, where), client


def check_version(client: Any) -> Check:
    version = client.version()
    server = str(version.get("Version", "?"))
    detail = f"Docker {server}, API {version.get('ApiVersion', '?')}, {version.get('Os', '?')}"
    try:
        major = int(server.split(".")[0])
    except ValueError:
        return Check("engine version", True, detail + " (version not parsed)")
    if major < MIN_ENGINE_MAJOR:
        return _fail("engine version", detail,
                     f"upgrade to Docker {MIN_ENGINE_MAJOR}.10 or newer (cgroup v2 limits)")
    return Check("engine version", True, detail)


def check_image(client: Any) -> Check:
    from mle_gym.sandbox.image import IMAGE_REPO, image_exists, image_tag

    tag = image_tag()
    if image_exists(client, tag):
        size = client.images.get(tag).attrs.get("Size", 0) / 2**30
        return Check("sandbox image", True, f"{tag} ({size:.1f} GiB)")
    others = [t for img in client.images.list(name=IMAGE_REPO) for t in img.tags]
    stale = f"; other tags present: {', '.join(others)} (built from older files)" if others else ""
    return _fail("sandbox image", f"{tag} is missing{stale}",
                 "build it: mle-gym sandbox build (or `sudo mle-gym sandbox build --bootstrap` "
                 "where Docker Hub cannot be reached)")


def _probe_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="mle-doctor-"))
    (folder / "data.csv").write_text("id\n1\n")
    folder.chmod(0o755)
    return folder


def _probe(client: Any, program: str, **limits: Any) -> RunResult:
    """Run ``program`` in a cold container on an empty public folder (its submission, if
    any, is gone when this returns: the probes report on stdout)."""
    from mle_gym.sandbox.cold import DockerSandbox

    public = _probe_dir()
    try:
        sandbox = DockerSandbox(client=client, build=False)
        with sandbox.run(RunRequest(program=program, public_dir=public, cpus=1, **limits)) as result:
            return result
    finally:
        shutil.rmtree(public, ignore_errors=True)


def check_lockdown(client: Any) -> Check:
    result = _probe(client, LOCKDOWN_PROBE, time_limit=30, memory_limit="256m",
                    disk_limit=DOCTOR_DISK)
    error, out, err = result.sandbox_error, result.stdout, result.stderr
    if error:
        return _fail("container lockdown", f"the test container failed: {error}",
                     "run `docker info` and `mle-gym sandbox build`; see the message above")
    lines = [line for line in out.splitlines() if line.startswith("MLE-DOCTOR ")]
    if not lines:
        return _fail("container lockdown", f"the probe did not report; stderr: {err[-300:]}",
                     "rebuild the image: mle-gym sandbox build")
    seen = json.loads(lines[-1].split(" ", 1)[1])
    problems = []
    if seen["uid"] == 0:
        problems.append("runs as root")
    if seen["root_writable"]:
        problems.append("root filesystem is writable")
    if seen["input_writable"]:
        problems.append("input/ is writable")
    if not seen["tmp_writable"]:
        problems.append("/tmp is not writable")
    limit = parse_memory(DOCTOR_DISK)
    unbounded = [p for p, size in seen["sizes"].items() if not 0 < size <= limit]
    if unbounded:
        problems.append(f"{', '.join(unbounded)} not limited to {DOCTOR_DISK}")
    if seen["network"] or [i for i in seen["interfaces"] if i != "lo"]:
        problems.append(f"has network (interfaces {seen['interfaces']})")
    if problems:
        return _fail("container lockdown", "the test container " + "; ".join(problems),
                     "the engine ignores some options (rootless or an old engine?): use a "
                     "standard Docker engine 20.10+")
    return Check("container lockdown", True,
                 f"no network, read-only root and input, non-root uid {seen['uid']}, "
                 f"/step and /tmp limited to {DOCTOR_DISK}")


def check_memory_limit(client: Any) -> Check:
    result = _probe(client, OOM_PROBE, time_limit=60, memory_limit="64m")
    error, oom, code = result.sandbox_error, result.oom, result.exit_code
    if error:
        return _fail("memory limit", f"the test container failed: {error}",
                     "run `docker info`; see the message above")
    if not oom:
        return _fail("memory limit",
                     f"a program touching 512 MiB under a 64 MiB limit was not stopped for "
                     f"memory (exit code {code})",
                     "enable the memory cgroup controller (cgroup v2, or boot with "
                     "cgroup_enable=memory swapaccount=1) and restart Docker")
    return Check("memory limit", True, f"a 64 MiB limit stopped a 512 MiB program (exit {code})")


def _free(path: Path, name: str, fix: str) -> Check:
    try:
        free = shutil.disk_usage(path).free
    except OSError as exc:
        return Check(name, True, f"{path}: cannot see it from here ({exc.strerror}); not checked")
    detail = f"{free / 2**30:.1f} GiB free in {path}"
    if free < MIN_FREE_BYTES:
        return _fail(name, detail, fix)
    return Check(name, True, detail)


def check_docker_disk(client: Any) -> Check:
    root = Path(client.info().get("DockerRootDir") or "/var/lib/docker")
    return _free(root, "disk (Docker)",
                 "free space there: `docker system prune` removes unused images and containers")


def check_cache_disk() -> Check:
    from mle_gym.data import cache_root

    root = cache_root()
    probe = root if root.exists() else next((p for p in root.parents if p.exists()), Path("/"))
    return _free(probe, "disk (cache)",
                 f"free space there, or set MLE_GYM_CACHE to a folder with room (now {root})")


def check_cache_writable() -> Check:
    from mle_gym.data import cache_root

    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".doctor-"):
            pass
    except OSError as exc:
        return _fail("cache writable", f"cannot write in {root}: {exc.strerror}",
                     "fix its permissions, or set MLE_GYM_CACHE to a writable folder")
    return Check("cache writable", True, str(root))


def check_orphans(client: Any) -> Check:
    from mle_gym.sandbox.gc import collect_garbage

    report = collect_garbage(client, dry_run=True)
    containers = [i for i in report.garbage if i.kind == "container"]
    folders = [i for i in report.garbage if i.kind == "folder"]
    if containers:
        return _fail("orphaned containers",
                     f"{len(containers)} step container(s) whose owner is gone "
                     f"(and {len(folders)} step folder(s))",
                     "remove them: mle-gym sandbox gc")
    note = f"; {len(folders)} stale step folder(s): mle-gym sandbox gc" if folders else ""
    return Check("orphaned containers", True, "none" + note)


def run_checks(progress: Callable[[Check], None] | None = None) -> list[Check]:
    """Run every check in order; ``progress`` sees each result as it comes."""
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        if progress is not None:
            progress(check)

    def guarded(name: str, func: Callable[..., Check], *args: Any) -> Check:
        try:
            return func(*args)
        except Exception as exc:  # a check that breaks is a failed check, not a crash
            return _fail(name, f"{type(exc).__name__}: {str(exc)[:300]}",
                         "see the message; `docker info` shows the engine's state")

    add(check_sdk())
    client = None
    if checks[-1].ok:
        check, client = connect()
        add(check)
    else:
        add(Check("engine reachable", None, "needs the docker SDK"))
    engine = [("engine version", check_version), ("sandbox image", check_image)]
    containers = [("container lockdown", check_lockdown), ("memory limit", check_memory_limit)]
    for name, func in engine:
        add(guarded(name, func, client) if client else Check(name, None, "needs a running engine"))
    image_ok = bool(client) and checks[-1].ok
    for name, func in containers:
        add(guarded(name, func, client) if image_ok else Check(name, None, "needs the image"))
    add(guarded("disk (Docker)", check_docker_disk, client) if client
        else Check("disk (Docker)", None, "needs a running engine"))
    add(guarded("disk (cache)", check_cache_disk))
    add(guarded("orphaned containers", check_orphans, client) if client
        else Check("orphaned containers", None, "needs a running engine"))
    add(guarded("cache writable", check_cache_writable))
    if client is not None:
        client.close()
    return checks


def format_check(check: Check) -> str:
    line = f"{check.status:<5} {check.name:<20} {check.detail}"
    if check.ok is False and check.fix:
        line += f"\n      -> {check.fix}"
    return line


def as_json(checks: list[Check]) -> str:
    return json.dumps({"ok": all(c.ok for c in checks),
                       "checks": [asdict(c) | {"status": c.status} for c in checks]}, indent=2)


__all__ = ["Check", "as_json", "format_check", "run_checks"]
