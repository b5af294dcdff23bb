"""mle-gym: Kaggle tasks as Gymnasium environments for machine-learning-engineering agents.

Importing this package registers ``mle/<slug>-v0`` (and the Kaggle id as an alias) for
every task folder. It stays light: no torch, no docker connection, no data preparation.
"""

from mle_gym.registry import register_all

__version__ = "0.1.0"

register_all()

__all__ = ["__version__", "register_all"]
