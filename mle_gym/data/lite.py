"""Lite data: generated offline by the task's own ``lite.py``, from a seed salted with the
cache's secret (see :mod:`mle_gym.data.cache`), so no program can rebuild the answers."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import warnings
from pathlib import Path

from mle_gym.data.cache import cache_root, data_secret
from mle_gym.data.errors import DataCorrupted
from mle_gym.data.folder import TaskData, atomic_prepare, write_split
from mle_gym.data.integrity import MARKER, read_answers
from mle_gym.spec import TaskSpec, load_task_module


def _source_digest(spec: TaskSpec) -> str:
    """Hash of the generator and description: editing either re-prepares the lite data."""
    h = hashlib.sha256()
    for name in ("lite.py", "description.md"):
        path = spec.folder / name
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()[:10]


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

    atomic_prepare(target, build, replace=force, spec=spec)
    data.verify()  # records the fresh folder as verified in this process
    return data
