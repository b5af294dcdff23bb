"""Prepare a task's data into the cache: ``public/`` for the program, ``private/`` for grading.

Layout of a prepared folder::

    <root>/public/    train/test files, sample submission, description.md  (mounted read-only)
    <root>/private/   answers.csv (a perfect submission), split.csv (id -> public | private)
    <root>/.mle-gym   metadata and the size and sha256 of every file; written last, so its
                      presence means "complete" (outside public/: never mounted)

Preparation is idempotent and safe to interrupt: everything is written into a temporary
sibling folder that is renamed into place in one step.

The lite generators are public code, so the lite data of ``seed`` would be rebuildable by
any program. The seed each generator actually receives is therefore an HMAC of ``seed``
under a secret of the cache (``<cache>/secret``, or ``$MLE_GYM_DATA_SECRET``): the same
secret and seed give the same files on every machine, and nothing a program sees holds it.

Every prepared folder is checked against its marker when it is opened: a changed, missing
or added file is rebuilt (lite) or refused with the command that fixes it (full, custom).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from mle_gym.spec import TaskSpec, load_task

MARKER = ".mle-gym"
FLAVOURS = ("lite", "full")
SECRET_FILE = "secret"
SECRET_ENV = "MLE_GYM_DATA_SECRET"
MIN_SECRET_CHARS = 16  # a short secret could be guessed, and the answers rebuilt with it
MARKER_FORMAT = 2  # 2: the marker lists every file with its size (and sha256)


class DataNotAvailable(RuntimeError):
    """The requested data cannot be prepared here; the message says what to do."""


class DataCorrupted(DataNotAvailable):
    """A prepared folder no longer matches what was prepared; the message names the file
    and the command that rebuilds it."""


@dataclass(frozen=True)
class TaskData:
    """A prepared data folder for one task."""

    spec: TaskSpec
    flavour: str  # "lite", "full" or "custom"
    root: Path

    @property
    def public(self) -> Path:
        return self.root / "public"

    @property
    def private(self) -> Path:
        return self.root / "private"

    @property
    def answers_path(self) -> Path:
        return self.private / "answers.csv"

    @property
    def split_path(self) -> Path:
        return self.private / "split.csv"

    def verify(self) -> None:
        """Raise :class:`DataCorrupted` unless every file matches the marker's record.

        Cheap after the first call in a process: a folder whose files have the same paths,
        sizes and modification times as when it was last verified is not hashed again."""
        verify_folder(self)


def cache_root() -> Path:
    """``$MLE_GYM_CACHE``, else ``$XDG_CACHE_HOME/mle-gym``, else ``~/.cache/mle-gym``."""
    if os.environ.get("MLE_GYM_CACHE"):
        return Path(os.environ["MLE_GYM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mle-gym"


def load_task_module(spec: TaskSpec, name: str) -> ModuleType:
    """Import ``tasks/<slug>/<name>.py`` by path (task folders are not Python packages)."""
    path = spec.folder / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"task {spec.slug} has no {name}.py")
    module_spec = importlib.util.spec_from_file_location(f"mle_gym_tasks.{spec.slug}.{name}", path)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _source_digest(spec: TaskSpec) -> str:
    """Hash of the generator and description: editing either re-prepares the lite data."""
    h = hashlib.sha256()
    for name in ("lite.py", "description.md"):
        path = spec.folder / name
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()[:10]


# ---------------------------------------------------------------- the lite data's secret


def _read_secret(path: Path) -> bytes:
    text = path.read_text().strip()
    if len(text) < MIN_SECRET_CHARS:
        raise DataNotAvailable(
            f"{path} is damaged (it should hold 64 hex characters). Delete it to draw a new "
            f"secret (every lite data set then changes), or set {SECRET_ENV}"
        )
    return text.encode()


def data_secret() -> bytes:
    """The secret that salts the lite data: ``$MLE_GYM_DATA_SECRET`` when set, else the
    cache's ``secret`` file, drawn on first use (32 random bytes written as 64 hex
    characters, mode 0600). Copy that file's text into ``$MLE_GYM_DATA_SECRET`` on other
    machines to give them identical lite data."""
    value = os.environ.get(SECRET_ENV)
    if value is not None:
        value = value.strip()
        if len(value) < MIN_SECRET_CHARS:
            raise DataNotAvailable(
                f"{SECRET_ENV} must hold at least {MIN_SECRET_CHARS} characters: a short "
                f"secret can be guessed, and the lite answers rebuilt with it. Draw one with "
                f"`python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        return value.encode()
    path = cache_root() / SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        return _read_secret(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".secret.", dir=path.parent)  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:  # a hard link never replaces a file: racing processes all keep the first secret
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: exclusive create instead
            with contextlib.suppress(FileExistsError):
                out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(out, "w") as handle:
                    handle.write(Path(tmp).read_text())
    finally:
        os.unlink(tmp)
    return _read_secret(path)


def _keyed(secret: bytes, purpose: str, spec: TaskSpec, seed: int) -> bytes:
    message = f"mle-gym {purpose}\0{spec.slug}\0{seed}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


def lite_generator_seed(spec: TaskSpec, seed: int, secret: bytes | None = None) -> int:
    """The seed the task's lite generator actually gets for ``seed``: 128 bits that no
    program can compute without the secret (it never leaves the host)."""
    return int.from_bytes(_keyed(secret or data_secret(), "lite seed", spec, seed)[:16], "big")


def _lite_folder(spec: TaskSpec, seed: int, secret: bytes) -> Path:
    # The tag changes with the secret, so a cache drawn with another secret (or none, before
    # the salt existed) is never used. It is a separate HMAC: it reveals neither the secret
    # nor the generator's seed, even though a program can read mount paths.
    tag = _keyed(secret, "cache folder", spec, seed).hex()[:12]
    return cache_root() / spec.slug / f"lite-seed{seed}-{_source_digest(spec)}-{tag}"


# ---------------------------------------------------------------- integrity of a prepared folder


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _listing(root: Path) -> dict[str, os.stat_result]:
    """Every file under public/ and private/, by path relative to ``root``."""
    found: dict[str, os.stat_result] = {}
    for sub in ("public", "private"):
        for folder, _, names in os.walk(root / sub):
            for name in names:
                path = Path(folder) / name
                with contextlib.suppress(OSError):
                    found[path.relative_to(root).as_posix()] = path.stat()
    return found


def manifest(root: Path, hash_public: bool = True) -> dict[str, dict]:
    """Size of every file, and sha256 of every private file (of public ones too when
    ``hash_public``: full public data can be many gigabytes of images, sizes suffice there)."""
    files: dict[str, dict] = {}
    for rel, st in sorted(_listing(root).items()):
        entry: dict = {"size": st.st_size}
        if hash_public or rel.startswith("private/"):
            entry["sha256"] = file_sha256(root / rel)
        files[rel] = entry
    return files


def _read_marker(root: Path) -> dict | None:
    try:
        meta = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _write_marker(root: Path, meta: dict) -> None:
    tmp = root / f"{MARKER}.{secrets.token_hex(4)}"
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, root / MARKER)


def fix_command(data: TaskData) -> str:
    if data.flavour == "lite":
        meta = _read_marker(data.root) or {}
        seed = meta.get("seed", 0)
        return f"mle-gym prepare {data.spec.slug} --seed {seed} --force"
    if data.flavour == "full":
        return f"mle-gym prepare {data.spec.slug} --full --force (add --raw FILE for a download)"
    return "prepare the folder again (public/, private/answers.csv and private/split.csv)"


_verified: dict[str, tuple] = {}  # root -> fingerprint of the files when last verified
_verified_lock = threading.Lock()


def _fingerprint(root: Path, listing: dict[str, os.stat_result]) -> tuple:
    marker = root / MARKER
    stamp = marker.stat().st_mtime_ns if marker.exists() else None
    files = tuple((rel, st.st_size, st.st_mtime_ns, st.st_ino) for rel, st in sorted(listing.items()))
    return (stamp, files)


def verify_folder(data: TaskData) -> None:
    """Check ``data`` against its marker's record, and that public/ holds no answers."""
    root = data.root
    listing = _listing(root)
    fingerprint = _fingerprint(root, listing)
    with _verified_lock:
        if _verified.get(str(root)) == fingerprint:
            return
    problems: list[str] = []
    for needed in ("private/answers.csv", "private/split.csv"):
        if needed not in listing:
            problems.append(f"{needed} is missing")
    meta = _read_marker(root)
    recorded = (meta or {}).get("files")
    if isinstance(recorded, dict):
        for rel, entry in recorded.items():
            st = listing.get(rel)
            if st is None:
                if f"{rel} is missing" not in problems:
                    problems.append(f"{rel} is missing")
            elif st.st_size != entry.get("size"):
                problems.append(f"{rel} changed size ({entry.get('size')} bytes prepared, "
                                f"{st.st_size} now)")
            elif "sha256" in entry and file_sha256(root / rel) != entry["sha256"]:
                problems.append(f"{rel} was changed since it was prepared")
        # An added private file is never read; an added public file is shown to programs.
        problems += [f"{rel} was added since the data was prepared"
                     for rel in sorted(listing) if rel.startswith("public/") and rel not in recorded]
    if problems:
        raise DataCorrupted(
            f"the {data.flavour} data of {data.spec.slug} in {root} is not what was prepared: "
            f"{'; '.join(problems[:5])}{' ...' if len(problems) > 5 else ''}. "
            f"Rebuild it: `{fix_command(data)}`"
        )
    # A recorded folder was checked for leaks when it was prepared, and its public/ has not
    # changed since (lite: hashes; full: names and sizes). Others are checked here.
    leak = None if isinstance(recorded, dict) else answers_in_public(data.spec, root)
    if leak:
        raise DataNotAvailable(
            f"refusing {root}: {leak}, so programs could read the answers. Keep the answers in "
            f"private/ only"
        )
    if meta is not None and not isinstance(recorded, dict) and data.flavour != "custom":
        # A folder prepared before files were recorded: record them now (trust on first use).
        meta.update(format=MARKER_FORMAT, files=manifest(root, data.flavour != "full"))
        _write_marker(root, meta)
        fingerprint = _fingerprint(root, _listing(root))
    with _verified_lock:
        _verified[str(root)] = fingerprint


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    if b.isna().any():  # an id of the answers missing from the public file
        return False
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        return bool(np.allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=1e-12))
    return bool((a.astype(str).to_numpy() == b.astype(str).to_numpy()).all())


def answers_in_public(spec: TaskSpec, root: Path) -> str | None:
    """Why ``root/public`` gives the answers away (a copy of answers.csv, a link into
    private/, or a CSV with the answers' target values for every test id), else None."""
    answers_path = root / "private" / "answers.csv"
    private = (root / "private").resolve()
    answers_size = answers_path.stat().st_size
    answers_hash: str | None = None
    answers: pd.DataFrame | None = None
    columns = [spec.id_column, *spec.target_columns]
    for folder, _, names in os.walk(root / "public"):
        for name in sorted(names):
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink() and path.resolve().is_relative_to(private):
                return f"{rel} links into private/"
            if not path.is_file():
                continue
            if path.stat().st_size == answers_size:
                answers_hash = answers_hash or file_sha256(answers_path)
                if file_sha256(path) == answers_hash:
                    return f"{rel} is a copy of private/answers.csv"
            if path.suffix.lower() != ".csv":
                continue
            try:
                header = pd.read_csv(path, nrows=0).columns
            except (ValueError, OSError, UnicodeDecodeError):
                continue
            if not set(columns) <= set(header):
                continue
            if answers is None:
                answers = read_answers(spec, answers_path)[columns]
                if all(answers[c].nunique(dropna=False) <= 1 for c in spec.target_columns):
                    return None  # constant answers: any constant file would match them
            read = {"usecols": columns, "converters": {spec.id_column: str}}
            # A cheap look first: the sample submission has these columns in every task, and
            # one test id with another value is enough to tell it from the answers.
            probe = answers.merge(pd.read_csv(path, nrows=2000, **read).drop_duplicates(
                spec.id_column), on=spec.id_column, suffixes=("", "@public"))
            if len(probe) and not _agree(probe, spec.target_columns):
                continue
            shown = pd.read_csv(path, **read).drop_duplicates(spec.id_column)
            merged = answers.merge(shown, on=spec.id_column, how="left", suffixes=("", "@public"))
            if _agree(merged, spec.target_columns):
                return f"{rel} holds the answers ({', '.join(spec.target_columns)}) of every test id"
    return None


def _agree(merged: pd.DataFrame, targets: list[str]) -> bool:
    return all(_same_values(merged[c], merged[f"{c}@public"]) for c in targets)


# ---------------------------------------------------------------- preparation


def read_answers(spec: TaskSpec, path: Path) -> pd.DataFrame:
    """The answers with ids exactly as written (a converter keeps "NA" a string)."""
    return pd.read_csv(path, converters={spec.id_column: str})


def write_split(answers: pd.DataFrame, id_column: str, seed: int, path: Path) -> None:
    """Assign each test id to the public (reward) or private (leaderboard) half, 50/50."""
    ids = answers[id_column].astype(str).to_numpy()
    rng = np.random.default_rng([seed, 20250901])
    half = np.where(rng.permutation(len(ids)) < (len(ids) + 1) // 2, "public", "private")
    pd.DataFrame({id_column: ids, "half": half}).to_csv(path, index=False)


def _atomic_prepare(
    target: Path, build: Callable[[Path], dict], replace: bool = False, spec: TaskSpec | None = None
) -> None:
    """Run ``build(tmp)`` in a sibling temp folder, record every file in the marker, then
    rename it to ``target`` (``replace``: even over a complete folder there)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    trash = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
    try:
        meta = build(tmp)
        if spec is not None and (leak := answers_in_public(spec, tmp)):
            raise DataNotAvailable(f"the prepared data of {spec.slug} is unsafe: {leak}")
        meta.update(format=MARKER_FORMAT, files=manifest(tmp, meta.get("flavour") != "full"))
        (tmp / MARKER).write_text(json.dumps(meta, indent=2))
        if replace:
            with contextlib.suppress(FileNotFoundError):
                os.rename(target, trash)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / MARKER).exists():  # a half-written leftover: replace it
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)


def prepare_lite(
    spec: TaskSpec, seed: int = 0, root: Path | None = None, force: bool = False
) -> TaskData:
    """Generate the task's lite data (deterministic in the secret and ``seed``) unless it is
    cached and intact. A damaged cache is rebuilt: the same files come back."""
    secret = data_secret()
    target = root or _lite_folder(spec, seed, secret)
    data = TaskData(spec, "lite", target)
    if not force and (target / MARKER).exists():
        try:
            data.verify()
            return data
        except DataCorrupted as exc:
            warnings.warn(f"{exc}; rebuilding it now", stacklevel=2)
            force = True

    def build(tmp: Path) -> dict:
        generator_seed = lite_generator_seed(spec, seed, secret)
        load_task_module(spec, "lite").generate(tmp, seed=generator_seed)
        shutil.copy(spec.folder / "description.md", tmp / "public" / "description.md")
        write_split(read_answers(spec, tmp / "private" / "answers.csv"), spec.id_column,
                    generator_seed, tmp / "private" / "split.csv")
        # No secret and no generator seed here: only what the folder name already says.
        return {"task": spec.slug, "flavour": "lite", "seed": seed, "generator": _source_digest(spec)}

    _atomic_prepare(target, build, replace=force, spec=spec)
    data.verify()  # records the fresh folder as verified in this process
    return data


def from_folder(spec: TaskSpec, folder: Path) -> TaskData:
    """Use an existing prepared folder (``public/`` + ``private/answers.csv``), refused when
    its files changed since they were recorded or its public/ gives the answers away."""
    folder = Path(folder).expanduser().resolve()
    for sub in ("public", "private"):
        if not (folder / sub).is_dir():
            raise DataNotAvailable(
                f"{folder} is not a prepared data folder: it needs public/ and private/ "
                f"subfolders (run `mle-gym prepare {spec.slug}` to see the expected layout)"
            )
    answers = folder / "private" / "answers.csv"
    if not answers.is_file():
        raise DataNotAvailable(f"{answers} is missing: the grader needs the test answers there")
    split = folder / "private" / "split.csv"
    if not split.is_file():
        write_split(read_answers(spec, answers), spec.id_column, 0, split)
    data = TaskData(spec, "custom", folder)
    data.verify()
    return data


def full_root(spec: TaskSpec) -> Path:
    return cache_root() / spec.slug / "full"


def prepare(
    task: str | TaskSpec,
    data: str | Path = "lite",
    seed: int = 0,
    raw: Path | None = None,
    progress: bool = False,
    force: bool = False,
) -> TaskData:
    """Prepare (or find in the cache) the data of ``task``: "lite", "full" or a folder path.

    For "full", ``raw`` may point at the Kaggle download (the zip or its extracted folder);
    see :func:`mle_gym.full_data.prepare_full` for the other sources it tries. ``force``
    rebuilds a cached folder. Whatever comes back was checked against its marker's record.
    """
    spec = task if isinstance(task, TaskSpec) else load_task(task)
    if data == "lite":
        return prepare_lite(spec, seed, force=force)
    if data == "full":
        from mle_gym.full_data import prepare_full

        return prepare_full(spec, raw=raw, progress=progress, force=force)
    return from_folder(spec, Path(data))
