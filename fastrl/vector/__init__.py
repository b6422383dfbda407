"""``fastrl.make_vec``: one call for every environment, behind gymnasium's ``VectorEnv`` API.

- native C++ classic-control tasks (``fastrl.vector.native``), stepped in batches on a thread pool;
- Atari ids (``fastrl.vector.atari``) through ale-py's C++ vector env with DQN preprocessing;
- every other gymnasium id (``fastrl.vector.gym``) through gymnasium's own sync or async vector env.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from fastrl.vector._common import check_num_envs, check_num_threads, parse_autoreset_mode

__all__ = ["make_vec"]


def make_vec(
    env_id: str,
    num_envs: int,
    *,
    seed: int | None = None,
    num_threads: int | None = None,
    autoreset_mode: str | AutoresetMode = "next_step",
    episode_statistics: bool = False,
    **env_kwargs: Any,
) -> gym.vector.VectorEnv:
    """Creates ``num_envs`` copies of ``env_id`` as one ``gymnasium.vector.VectorEnv``.

    Args:
        env_id: a gymnasium id. Native C++ tasks: CartPole-v1, CartPole-v0, Pendulum-v1, MountainCar-v0,
            MountainCarContinuous-v0, Acrobot-v1. Atari ids (``"ALE/Pong-v5"``, ``"PongNoFrameskip-v4"``)
            go to ale-py's vector env; any other registered id to gymnasium's vector env.
        num_envs: number of environments stepped together (>= 1).
        seed: seed of the first ``reset()`` called without one; env i gets ``seed + i``.
        num_threads: worker threads (``None``: chosen from the batch size and the machine).
        autoreset_mode: ``"next_step"`` (gymnasium's default), ``"same_step"`` or ``"disabled"``, or a
            ``gymnasium.vector.AutoresetMode``.
        episode_statistics: where an episode ends, add ``infos["episode"] = {"r", "l", "t"}`` and the mask
            ``infos["_episode"]`` as gymnasium's ``RecordEpisodeStatistics`` does (Atari: whole games with raw
            scores). Off by default: infos then hold what gymnasium's ``SyncVectorEnv`` gives, so gymnasium's
            own wrappers (``RecordEpisodeStatistics`` included) go on top.
        **env_kwargs: passed to the environment (for example ``max_episode_steps``, ``g`` for Pendulum, or
            the Atari options documented in ``fastrl.vector.atari``); ``vectorization_mode="async"`` asks
            the gymnasium fallback for an ``AsyncVectorEnv``.

    Returns:
        A ``gymnasium.vector.VectorEnv``; ``step`` returns ``(obs, rewards, terminations, truncations, infos)``.

    Raises:
        ValueError: unknown ``env_id``, bad ``num_envs``/``num_threads``/``autoreset_mode``.
    """
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a str, got {type(env_id).__name__}")
    num_envs = check_num_envs(num_envs)
    num_threads = check_num_threads(num_threads)
    mode = parse_autoreset_mode(autoreset_mode)

    from fastrl.vector import native

    if native.is_native_id(env_id):
        return native.NativeVectorEnv(
            env_id, num_envs, seed=seed, num_threads=num_threads, autoreset_mode=mode,
            episode_statistics=episode_statistics, **env_kwargs
        )

    from fastrl.vector import atari

    if atari.is_atari_id(env_id):
        return atari.AtariVectorEnv(
            env_id, num_envs, seed=seed, num_threads=num_threads, autoreset_mode=mode,
            episode_statistics=episode_statistics, **env_kwargs
        )

    # import_module, not `from fastrl.vector import gym`: that name is bound to gymnasium in this module.
    gym_fallback = import_module("fastrl.vector.gym")
    return gym_fallback.make_gym_vec(
        env_id, num_envs, seed=seed, num_threads=num_threads, autoreset_mode=mode,
        episode_statistics=episode_statistics, **env_kwargs
    )
