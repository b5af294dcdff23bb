"""Integrity of a prepared data folder: its marker, and the checks run when it is opened.

Layout of a prepared folder::

    <root>/public/    train/test files, sample submission, description.md  (mounted read-only)
    <root>/private/   answers.csv (a perfect submission), split.csv (id -> public | private)
    <root>/.mle-gym   metadata and the size and sha256 of every file; written last, so its
                      presence means "complete" (outside public/: never mounted)

Every prepared folder is checked against its marker when it is opened: a changed, missing
or added file is rebuilt (lite) or refused with the command that fixes it (full, custom).
A folder whose public/ gives the answers away is refused too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from mle_gym.data.errors import DataCorrupted, DataNotAvailable
from mle_gym.spec import TaskSpec

MARKER = ".mle-gym"
MARKER_FORMAT = 2  # 2: the marker lists every file with its size (and sha256)


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


def read_marker(root: Path) -> dict | None:
    try:
        meta = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def write_marker(root: Path, meta: dict) -> None:
    tmp = root / f"{MARKER}.{secrets.token_hex(4)}"
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, root / MARKER)


def fix_command(spec: TaskSpec, flavour: str, root: Path) -> str:
    """The command that rebuilds the ``flavour`` data of ``spec`` prepared in ``root``."""
    if flavour == "lite":
        meta = read_marker(root) or {}
        seed = meta.get("seed", 0)
        return f"mle-gym prepare {spec.slug} --seed {seed} --force"
    if flavour == "full":
        return f"mle-gym prepare {spec.slug} --full --force (add --raw FILE for a download)"
    return "prepare the folder again (public/, private/answers.csv and private/split.csv)"


_verified: dict[str, tuple] = {}  # root -> fingerprint of the files when last verified
_verified_lock = threading.Lock()


def _fingerprint(root: Path, listing: dict[str, os.stat_result]) -> tuple:
    marker = root / MARKER
    stamp = marker.stat().st_mtime_ns if marker.exists() else None
    files = tuple((rel, st.st_size, st.st_mtime_ns, st.st_ino) for rel, st in sorted(listing.items()))
    return (stamp, files)


def verify_folder(spec: TaskSpec, flavour: str, root: Path) -> None:
    """Check the ``flavour`` data of ``spec`` in ``root`` against its marker's record, and
    that public/ holds no answers."""
    listing = _listing(root)
    fingerprint = _fingerprint(root, listing)
    with _verified_lock:
        if _verified.get(str(root)) == fingerprint:
            return
    problems: list[str] = []
    for needed in ("private/answers.csv", "private/split.csv"):
        if needed not in listing:
            problems.append(f"{needed} is missing")
    meta = read_marker(root)
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
            f"the {flavour} data of {spec.slug} in {root} is not what was prepared: "
            f"{'; '.join(problems[:5])}{' ...' if len(problems) > 5 else ''}. "
            f"Rebuild it: `{fix_command(spec, flavour, root)}`"
        )
    # A recorded folder was checked for leaks when it was prepared, and its public/ has not
    # changed since (lite: hashes; full: names and sizes). Others are checked here.
    leak = None if isinstance(recorded, dict) else answers_in_public(spec, root)
    if leak:
        raise DataNotAvailable(
            f"refusing {root}: {leak}, so programs could read the answers. Keep the answers in "
            f"private/ only"
        )
    if meta is not None and not isinstance(recorded, dict) and flavour != "custom":
        # A folder prepared before files were recorded: record them now (trust on first use).
        meta.update(format=MARKER_FORMAT, files=manifest(root, flavour != "full"))
        write_marker(root, meta)
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


def read_answers(spec: TaskSpec, path: Path) -> pd.DataFrame:
    """The answers with ids exactly as written (a converter keeps "NA" a string)."""
    return pd.read_csv(path, converters={spec.id_column: str})
