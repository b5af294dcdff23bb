"""A GGUF file made into a plain transformers folder, once, cached by the file's hash.

transformers loads a GGUF only as a "quantized" model that can be neither saved nor trained,
so the dequantized weights are copied into a fresh model of the same config and saved in
float32. The folder is keyed by the file's SHA-256: a changed file converts again.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mle_gym.models.locate import models_dir


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def converted_dir(gguf: Path) -> Path:
    """Where :func:`gguf_to_folder` keeps the plain folder for this file."""
    return models_dir() / "converted" / f"{gguf.stem}-{file_sha256(gguf)[:16]}"


def gguf_to_folder(gguf: str | Path, quiet: bool = False) -> Path:
    """The plain model folder (config, float32 safetensors, tokenizer) for a GGUF file;
    converted on first use (a minute or two for a small model), cached after that."""
    gguf = Path(gguf).expanduser().resolve()
    target = converted_dir(gguf)
    if (target / "config.json").is_file():
        return target
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ImportError(f"converting a GGUF model needs torch, transformers and gguf ({exc}): "
                          "pip install 'mle-gym[models]'") from exc
    if not quiet:
        print(f"mle-gym: converting {gguf.name} into a plain model folder once "
              f"(cached in {target})...", file=sys.stderr, flush=True)
    started = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                  dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are dequantized already
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed: a crash or a concurrent conversion never leaves
    # a half-written folder under the final name.
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: its folder is as good
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print(f"mle-gym: converted in {time.monotonic() - started:.0f} s", file=sys.stderr,
              flush=True)
    return target
