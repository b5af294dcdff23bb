"""Register every task folder as a Gymnasium environment id.

Registration only reads the small ``task.yaml`` files; the environment class, the sandbox
and the data are imported lazily by ``gym.make`` through the entry-point string.

Gymnasium 1.x no longer loads plugin environments from the ``gymnasium.envs`` entry-point
group, so the ids exist once ``mle_gym`` is imported. Where that import cannot be written
(a worker process started by spawn, a config file), the module-prefixed id
``gym.make("mle_gym:mle/spooky-author-v0")`` makes Gymnasium import ``mle_gym`` first.
"""

from __future__ import annotations

import gymnasium as gym
from gymnasium.envs.registration import WrapperSpec

from mle_gym.limits import DEFAULT_MAX_STEPS
from mle_gym.task_folders import task_names

ENTRY_POINT = "mle_gym.env:MLEEnv"
# DEFAULT_MAX_STEPS is the registry's max_episode_steps, so gym.make adds Gymnasium's
# TimeLimit; the env's max_steps keyword and gym.make's max_episode_steps both set it.
# Agrees the TimeLimit and the env's own count (mle_gym.env.EpisodeLength explains why).
EPISODE_LENGTH = WrapperSpec("EpisodeLength", "mle_gym.env:EpisodeLength", kwargs={})


def register_all() -> list[str]:
    """Register ``mle/<slug>-v0`` and ``mle/<kaggle-id>-v0`` for every task; return the ids."""
    ids = []
    for slug, kaggle_id in task_names():  # names only: the specs load when an env is made
        for name in dict.fromkeys((slug, kaggle_id)):
            env_id = f"mle/{name}-v0"
            if env_id not in gym.registry:
                gym.register(
                    id=env_id,
                    entry_point=ENTRY_POINT,
                    kwargs={"task": slug},
                    disable_env_checker=False,
                    max_episode_steps=DEFAULT_MAX_STEPS,
                    additional_wrappers=(EPISODE_LENGTH,),
                )
            ids.append(env_id)
    return ids
