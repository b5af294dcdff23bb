"""Where prepared data lives, and the cache's secret that salts the lite data.

The lite generators are public code, so the lite data of ``seed`` would be rebuildable by
any program. The seed each generator actually receives is therefore an HMAC of ``seed``
under a secret of the cache (``<cache>/secret``, or ``$MLE_GYM_DATA_SECRET``): the same
secret and seed give the same files on every machine, and nothing a program sees holds it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from mle_gym.data.errors import DataNotAvailable

SECRET_FILE = "secret"
SECRET_ENV = "MLE_GYM_DATA_SECRET"
MIN_SECRET_CHARS = 16  # a short secret could be guessed, and the answers rebuilt with it


def cache_root() -> Path:
    """``$MLE_GYM_CACHE``, else ``$XDG_CACHE_HOME/mle-gym``, else ``~/.cache/mle-gym``."""
    if os.environ.get("MLE_GYM_CACHE"):
        return Path(os.environ["MLE_GYM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mle-gym"


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
