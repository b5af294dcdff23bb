"""One way to load a causal LM by path for every part of mle-gym that needs one.

``load_causal_lm("model.gguf")``, a model folder, or a Hub id already in the local cache:
the LM instrumenter's backend, the GRPO baseline and the model server all go through here.
"""

from __future__ import annotations

import os
from typing import Any

from mle_gym.models.locate import locate_model


def default_threads() -> int:
    """Torch threads for a model on this machine: half the cores, at least one. On a small
    shared machine one thread is much faster than two (two threads on two busy cores were
    about ten times slower when measured)."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def set_torch_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads explicitly (``None``: :func:`default_threads`)."""
    import torch

    n = int(threads) if threads else default_threads()
    torch.set_num_threads(n)
    return n


def model_folder(name_or_path: str | os.PathLike[str], quiet: bool = False) -> str:
    """A folder ``from_pretrained`` can load: the folder itself, the Hub snapshot, or the
    cached conversion of a GGUF file."""
    source = locate_model(name_or_path)
    if source.kind == "gguf":
        from mle_gym.models.convert import gguf_to_folder

        return str(gguf_to_folder(source.path, quiet=quiet))
    return str(source.path)


def load_causal_lm(
    name_or_path: str | os.PathLike[str], quiet: bool = False, **model_kwargs: Any
) -> tuple[Any, Any]:
    """(model, tokenizer) from a ``.gguf`` file, a folder or a cached Hub id; ``model_kwargs``
    go to ``AutoModelForCausalLM.from_pretrained`` (``dtype=``, ...)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ImportError(f"loading a model needs torch and transformers ({exc}): "
                          "pip install 'mle-gym[models]'") from exc
    folder = model_folder(name_or_path, quiet=quiet)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, **model_kwargs)
    return model, tokenizer
