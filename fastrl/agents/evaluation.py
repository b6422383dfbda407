"""Evaluation every agent shares: returns of a policy over fresh episodes on envs of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fastrl.vector import make_vec
from fastrl.vector.atari import is_atari_id

__all__ = ["evaluate_policy", "evaluation_env_kwargs"]


def evaluation_env_kwargs(env_id: str, env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """``make_vec`` keywords for evaluation: the training ones, except that an Atari game is played whole
    (no episode end at a lost life) and scored with raw rewards (no clipping)."""
    kwargs = dict(env_kwargs or {})
    if is_atari_id(env_id):
        kwargs.update(episodic_life=False, reward_clipping=False)
    return kwargs


def evaluate_policy(
    act: Callable[[np.ndarray], np.ndarray],
    env_id: str,
    episodes: int,
    *,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
    max_envs: int = 16,
    reset: Callable[[np.ndarray], None] | None = None,
) -> np.ndarray:
    """Returns ``(episodes,)`` float64 of ``act`` over ``episodes`` fresh episodes of ``env_id``.

    Up to ``max_envs`` episodes run at once, one per env, on envs separate from any training ones; batch k
    resets with ``seed + (episodes before it)``, so the result is a function of ``seed``.

    Args:
        act: maps observations ``(B, *obs_shape)`` to actions ``(B, ...)`` (e.g. a greedy policy).
        env_id: gymnasium id for ``fastrl.make_vec``.
        episodes: number of episodes (> 0).
        seed: seed of the evaluation envs.
        env_kwargs: the training envs' keywords (see :func:`evaluation_env_kwargs`).
        max_envs: envs stepped together.
        reset: for a policy with memory: called with a bool mask ``(B,)`` of the envs whose episode starts
            before ``act`` sees their first observation (all of them when a batch of ``B`` envs starts).
    """
    if not isinstance(episodes, (int, np.integer)) or isinstance(episodes, bool) or episodes <= 0:
        raise ValueError(f"episodes must be a positive int, got {episodes!r}")
    if not isinstance(max_envs, (int, np.integer)) or max_envs <= 0:
        raise ValueError(f"max_envs must be a positive int, got {max_envs!r}")
    kwargs = evaluation_env_kwargs(env_id, env_kwargs)
    returns: list[float] = []
    while len(returns) < episodes:
        m = min(max_envs, episodes - len(returns))
        envs = make_vec(env_id, m, seed=seed, autoreset_mode="disabled", **kwargs)
        try:
            obs, _ = envs.reset(seed=seed + len(returns))
            if reset is not None:
                reset(np.ones(m, dtype=bool))
            total = np.zeros(m)
            finished = np.zeros(m, dtype=bool)
            result = np.zeros(m)
            while not finished.all():
                obs, rewards, terminated, truncated, _ = envs.step(act(obs))
                total += np.where(finished, 0.0, rewards)
                ended = np.logical_or(terminated, truncated)
                newly = ended & ~finished
                result[newly] = total[newly]
                finished |= newly
                if ended.any() and not finished.all():
                    # finished envs keep stepping from fresh episodes whose returns are ignored
                    obs, _ = envs.reset(options={"reset_mask": ended})
                    if reset is not None:
                        reset(ended.copy())
            returns.extend(result.tolist())
        finally:
            envs.close()
    return np.asarray(returns[:episodes], dtype=np.float64)
