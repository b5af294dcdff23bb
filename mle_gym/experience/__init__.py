"""Early experience (Meta, arXiv 2510.08558): supervision from the agent's own actions.

* :mod:`~mle_gym.experience.alternatives` — alternative programs per task (bugs at each
  stage, weaker or slower models), deterministic given a seed;
* :mod:`~mle_gym.experience.collect` — run the expert and its alternatives from each state
  through the rollout pool, resumably, one trajectory-style record per step;
* :mod:`~mle_gym.experience.datasets` — IWM, SR and imitation datasets (Hugging Face);
* :mod:`~mle_gym.experience.reflect` — reflections grounded in the recorded outcomes.

Importing this package is light: ``datasets`` loads only when a dataset is built.
"""

from mle_gym.experience.alternatives import (
    KINDS,
    MUTATIONS,
    STAGES,
    Alternative,
    alternatives,
    mutate,
    reference_programs,
)
from mle_gym.experience.collect import CollectReport, collect
from mle_gym.experience.datasets import (
    imitation_dataset,
    iwm_dataset,
    iwm_rows,
    iwm_target,
    parse_outcome,
    sr_dataset,
    sr_rows,
)
from mle_gym.experience.reflect import ChatReflector, TemplateReflector

__all__ = [
    "KINDS",
    "MUTATIONS",
    "STAGES",
    "Alternative",
    "ChatReflector",
    "CollectReport",
    "TemplateReflector",
    "alternatives",
    "collect",
    "imitation_dataset",
    "iwm_dataset",
    "iwm_rows",
    "iwm_target",
    "mutate",
    "parse_outcome",
    "reference_programs",
    "sr_dataset",
    "sr_rows",
]
