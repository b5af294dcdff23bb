"""The Docker sandbox image: its tag, and building it with or without an image registry.

The image is described by ``image_recipe/Dockerfile`` and ``image_recipe/requirements.txt`` beside
this module;
its tag is ``mle-gym-sandbox:<hash>``, a hash of those two files, so that changing either one
makes the next :func:`ensure_image` build a new image. The base is ``debian:bookworm-slim`` when
a registry can be reached, or an image made from Debian packages by ``image_recipe/bootstrap.sh``
(debootstrap + ``docker import``) when none can: ``mle-gym sandbox build --bootstrap``.

pip inside the build reaches PyPI with the host's CA bundle (copied into the build context, used
in a build stage only) so that it works behind a TLS-intercepting proxy as the host's pip does.

``docker`` is imported inside the functions: importing this module stays light.
"""

from __future__ import annotations

import collections
import configparser
import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

IMAGE_REPO = "mle-gym-sandbox"
DEFAULT_BASE = "debian:bookworm-slim"
BOOTSTRAP_BASE = "mle-gym-base:bookworm"
IMAGE_DIR = Path(__file__).with_name("image_recipe")  # what the image is built from
DOCKERFILE = IMAGE_DIR / "Dockerfile"
REQUIREMENTS = IMAGE_DIR / "requirements.txt"
BOOTSTRAP_SCRIPT = IMAGE_DIR / "bootstrap.sh"
LABEL = "org.mle-gym.sandbox"
BUILD_TIMEOUT = 3600  # seconds without a byte from the engine before a build is given up
ERROR_TAIL = 30  # build log lines quoted in an error

Progress = Callable[[str], None] | None


class SandboxImageError(RuntimeError):
    """The sandbox image is missing and could not be built; the message says what to do."""


def image_tag() -> str:
    """``mle-gym-sandbox:<first 12 hex digits of sha256(Dockerfile + requirements.txt)>``."""
    digest = hashlib.sha256()
    for path in (DOCKERFILE, REQUIREMENTS):
        digest.update(path.read_bytes())
    return f"{IMAGE_REPO}:{digest.hexdigest()[:12]}"


def image_exists(client: Any, tag: str | None = None) -> bool:
    """Whether the engine behind ``client`` has the image ``tag`` (default :func:`image_tag`)."""
    import docker.errors

    try:
        client.images.get(tag or image_tag())
        return True
    except docker.errors.ImageNotFound:
        return False


def _say(progress: Progress, line: str) -> None:
    if progress is not None:
        progress(line)


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from mle_gym.sandbox.engine import docker_client

    return docker_client()


def stream_command(argv: list[str], progress: Progress) -> tuple[int, list[str]]:
    """Run ``argv``, passing each output line to ``progress``; (exit code, last lines).

    The ``with`` block closes the pipe: left to the garbage collector it printed an
    "unclosed file" ResourceWarning in the first ``make demo``.
    """
    tail: collections.deque[str] = collections.deque(maxlen=ERROR_TAIL)
    with subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
    ) as proc:
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip()
                tail.append(line)
                _say(progress, line)
            code = proc.wait()
        except BaseException:
            proc.terminate()  # bootstrap.sh's trap removes its root filesystem
            proc.wait()
            raise
    return code, list(tail)


def build_base_bootstrap(tag: str = BOOTSTRAP_BASE, progress: Progress = print) -> str:
    """Make the base image ``tag`` from Debian packages with ``image_recipe/bootstrap.sh``.

    Needs root, ``debootstrap`` and the docker CLI; takes a minute or two and about 300 MB of
    temporary disk. Returns ``tag``. Raises :class:`SandboxImageError` when it cannot run or fails.
    """
    if os.name != "posix" or os.geteuid() != 0:
        raise SandboxImageError(
            "building the base image from Debian packages (--bootstrap) needs root: run "
            "`sudo .venv/bin/mle-gym sandbox build --bootstrap` (with debootstrap installed: "
            "`apt-get install debootstrap`), or build from a registry base with "
            "`mle-gym sandbox build`."
        )
    if shutil.which("debootstrap") is None:
        raise SandboxImageError(
            "debootstrap is not installed: run `apt-get install debootstrap` as root, then "
            "`mle-gym sandbox build --bootstrap` as root."
        )
    if shutil.which("docker") is None:
        raise SandboxImageError(
            "the docker command-line client is missing (bootstrap.sh imports the root "
            "filesystem with `docker import`): install it, e.g. `apt-get install docker.io`."
        )
    _say(progress, f"building the base image {tag} from Debian packages (debootstrap)")
    start = time.monotonic()
    code, tail = stream_command(["bash", str(BOOTSTRAP_SCRIPT), tag], progress)
    if code != 0:
        raise SandboxImageError(
            f"bootstrap.sh failed (exit {code}) building {tag}. Last lines:\n"
            + "\n".join(tail)
            + "\nCheck that deb.debian.org (or $MLE_GYM_DEBIAN_MIRROR) is reachable and that "
            "there is free disk under /var/tmp (or $MLE_GYM_BOOTSTRAP_DIR)."
        )
    _say(progress, f"base image {tag} ready in {time.monotonic() - start:.0f} s")
    return tag


def _pip_config_cert() -> str | None:
    """The ``cert`` of the host's pip configuration files, if one sets it."""
    files = [
        os.environ.get("PIP_CONFIG_FILE", ""),
        "/etc/pip.conf",
        os.path.expanduser("~/.config/pip/pip.conf"),
        os.path.expanduser("~/.pip/pip.conf"),
    ]
    found = None
    for name in files:  # later files win, as in pip
        if not name or not os.path.isfile(name):
            continue
        parser = configparser.ConfigParser()
        try:
            parser.read(name)
        except configparser.Error:
            continue
        for section in ("global", "install"):
            if parser.has_option(section, "cert"):
                found = parser.get(section, "cert")
    return found


def host_ca_bundle() -> Path | None:
    """The CA bundle the host trusts, to let pip in the build through the same TLS proxy.

    ``$MLE_GYM_CA_BUNDLE`` first (``none`` or empty: use none), then pip's own setting
    (``$PIP_CERT``, pip.conf's ``cert``), then ``$SSL_CERT_FILE``, ``$REQUESTS_CA_BUNDLE`` and the
    usual system paths. It holds public certificates only.
    """
    override = os.environ.get("MLE_GYM_CA_BUNDLE")
    if override is not None:
        if override.strip().lower() in ("", "none"):
            return None
        return Path(override) if Path(override).is_file() else None
    candidates = [
        os.environ.get("PIP_CERT"),
        _pip_config_cert(),
        os.environ.get("SSL_CERT_FILE"),
        os.environ.get("REQUESTS_CA_BUNDLE"),
        "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
        "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
        "/etc/ssl/cert.pem",  # macOS, BSD
    ]
    for name in candidates:
        if name and os.path.isfile(name):
            return Path(name)
    return None


def _build_context(directory: Path) -> None:
    shutil.copy2(DOCKERFILE, directory / "Dockerfile")
    shutil.copy2(REQUIREMENTS, directory / "requirements.txt")
    ca = host_ca_bundle()
    if ca is not None:
        shutil.copyfile(ca, directory / "host-ca.crt")


def _stream_build(
    chunks: Iterable[dict[str, Any]], progress: Progress, stage_ends: list[str]
) -> tuple[str | None, list[str]]:
    """Pass the engine's build log to ``progress``; return (error or None, last lines).

    Appends to ``stage_ends`` the image id each earlier build stage ended on (the classic
    builder keeps those as untagged images).
    """
    tail: collections.deque[str] = collections.deque(maxlen=ERROR_TAIL)
    error = None
    last_id = None
    for chunk in chunks:
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            error = str(chunk.get("error") or detail.get("message") or chunk).strip()
            tail.append(error)
            _say(progress, error)
            continue
        text = chunk.get("stream")
        if text is None and chunk.get("status"):  # pulling the base
            text = " ".join(str(chunk[k]) for k in ("id", "status") if chunk.get(k))
        if not text:
            continue
        for line in str(text).splitlines():
            if not line.strip():
                continue
            words = line.split()
            if len(words) == 2 and words[0] == "--->":
                last_id = words[1]
            elif words[0] == "Step" and words[3:4] == ["FROM"] and last_id is not None:
                stage_ends.append(last_id)
            tail.append(line.rstrip())
            _say(progress, line.rstrip())
    return error, list(tail)


def _remove_stage_images(client: Any, ids: Iterable[str]) -> None:
    """Remove untagged images a build left: its earlier stages (the pip stage holds the CA
    copy) and the images it took its tags from.

    Best effort: those the final image is built on are refused by the engine and stay.
    """
    for image_id in ids:
        # Refused or failing: in use, a parent of the final image, or gone.
        with contextlib.suppress(Exception):
            if not client.images.get(image_id).tags:
                client.images.remove(image_id, noprune=False)


def build_image(
    client: Any = None,
    base: str | None = None,
    bootstrap: bool = False,
    progress: Progress = print,
    force: bool = False,
) -> str:
    """Build the sandbox image on ``base`` and return its tag (also tagged ``:latest``).

    An image of this tag that exists already is kept as it is unless ``force``: the tag is a
    hash of what the image is built from.

    ``base`` defaults to ``debian:bookworm-slim``. With ``bootstrap``, the base is instead made
    from Debian packages by :func:`build_base_bootstrap` (tagged ``base`` if given, else
    ``mle-gym-base:bookworm``), unless an image of that tag exists already. Build log lines go to
    ``progress``. Raises :class:`SandboxImageError` saying what to do when the build fails.
    """
    import docker.errors

    client = _client(client)
    tag = image_tag()
    if not force and image_exists(client, tag):
        client.api.tag(tag, IMAGE_REPO, "latest")
        _say(progress, f"the sandbox image {tag} is built already")
        return tag
    if bootstrap:
        base = base or BOOTSTRAP_BASE
        if image_exists(client, base):
            _say(progress, f"using the existing base image {base}")
        else:
            build_base_bootstrap(base, progress)
    base = base or DEFAULT_BASE
    buildargs = {"BASE": base}
    index = os.environ.get("MLE_GYM_PIP_INDEX_URL") or os.environ.get("PIP_INDEX_URL")
    if index:
        buildargs["PIP_INDEX"] = index
    _say(progress, f"building the sandbox image {tag} on {base}")
    start = time.monotonic()
    stage_ends: list[str] = []
    # Images the new one will take a tag from: removed afterwards if left with no tag.
    for previous in (tag, f"{IMAGE_REPO}:latest"):
        with contextlib.suppress(Exception):
            stage_ends.append(client.images.get(previous).id)
    with tempfile.TemporaryDirectory(prefix="mle-gym-build-") as ctx:
        _build_context(Path(ctx))
        try:
            chunks = client.api.build(
                path=ctx,
                tag=tag,
                buildargs=buildargs,
                labels={LABEL: "1", f"{LABEL}.base": base},
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                timeout=BUILD_TIMEOUT,
            )
            error, tail = _stream_build(chunks, progress, stage_ends)
        except docker.errors.DockerException as exc:  # a refused request, a lost engine
            error, tail = f"{type(exc).__name__}: {exc}", []
        except Exception as exc:  # requests' timeouts and connection errors
            error, tail = f"{type(exc).__name__}: {exc}", []
    if error is None and not image_exists(client, tag):
        error = "the engine reported no error but the image is missing"
    if error is not None:
        hint = (
            "Check the log above."
            if bootstrap
            else f"If the base {base} cannot be pulled (no image registry), build the base "
            "from Debian packages instead: `sudo mle-gym sandbox build --bootstrap`."
        )
        raise SandboxImageError(
            f"building the sandbox image {tag} on {base} failed: {error}\n"
            "Last lines of the build log:\n"
            + "\n".join(tail[-ERROR_TAIL:])
            + f"\n{hint} pip inside the build needs PyPI (or $PIP_INDEX_URL); behind a "
            "TLS-intercepting proxy set $MLE_GYM_CA_BUNDLE to the proxy's CA bundle."
        )
    client.api.tag(tag, IMAGE_REPO, "latest")
    _remove_stage_images(client, stage_ends)
    _say(progress, f"sandbox image {tag} built in {time.monotonic() - start:.0f} s")
    return tag


def _pull(client: Any, image: str, progress: Progress) -> bool:
    """Try to pull ``image``; False when no registry answers."""
    _say(progress, f"pulling {image}")
    try:
        client.images.pull(image)
        return True
    except Exception as exc:  # no registry, no DNS, refused: all mean "bootstrap instead"
        _say(progress, f"cannot pull {image}: {str(exc)[:200]}")
        return False


def ensure_image(client: Any, build: bool = True, progress: Progress = print) -> str:
    """The sandbox image's tag, building the image first if it is missing and ``build``.

    The base is ``$MLE_GYM_SANDBOX_BASE`` if set, else ``debian:bookworm-slim`` when present or
    pullable, else an existing ``mle-gym-base:bookworm``, else one made from Debian packages
    (which needs root and debootstrap). Raises :class:`SandboxImageError` when the image is
    missing and ``build`` is false, or when it cannot be built.
    """
    tag = image_tag()
    if image_exists(client, tag):
        return tag
    if not build:
        raise SandboxImageError(
            f"the sandbox image {tag} is missing: run `mle-gym sandbox build --bootstrap` "
            "(or `mle-gym sandbox build` where Docker Hub can be reached)."
        )
    _say(progress, f"the sandbox image {tag} is missing: building it (once)")
    base = os.environ.get("MLE_GYM_SANDBOX_BASE")
    if base:
        return build_image(client, base=base, progress=progress)
    if image_exists(client, DEFAULT_BASE):
        return build_image(client, base=DEFAULT_BASE, progress=progress)
    if image_exists(client, BOOTSTRAP_BASE):
        return build_image(client, base=BOOTSTRAP_BASE, progress=progress)
    if _pull(client, DEFAULT_BASE, progress):
        return build_image(client, base=DEFAULT_BASE, progress=progress)
    _say(progress, "no image registry: making the base from Debian packages")
    return build_image(client, base=BOOTSTRAP_BASE, bootstrap=True, progress=progress)
