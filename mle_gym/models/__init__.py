"""Local models by path: locate (GGUF file, folder, cached Hub id), convert, load, serve.

Light to import: torch and transformers load only when a model does.
"""

from mle_gym.models.load import default_threads, load_causal_lm, model_folder, set_torch_threads
from mle_gym.models.locate import (
    DEFAULT_GGUF_NAME,
    ModelSource,
    default_gguf,
    locate_model,
    models_dir,
)
from mle_gym.models.spawn import start_server, stop_server

__all__ = [
    "DEFAULT_GGUF_NAME",
    "ModelSource",
    "default_gguf",
    "default_threads",
    "load_causal_lm",
    "locate_model",
    "model_folder",
    "models_dir",
    "set_torch_threads",
    "start_server",
    "stop_server",
]
