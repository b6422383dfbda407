"""Every gymnasium id without a native or Atari implementation: gymnasium's own sync or async vector env,
with the API of the other ``make_vec`` kinds (seed of the first reset, episode statistics, action checks,
``step_async``/``step_wait``, ``ValueError`` for unknown ids)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from fastrl.vector._api import BaseVectorEnv, EpisodeStatistics, StepWaitError, check_reset_mask
from fastrl.vector._common import check_bool, check_num_envs, check_num_threads, check_seed, parse_autoreset_mode

__all__ = ["GymVectorEnv", "make_gym_vec"]

_MODES = ("sync", "async")


def make_gym_vec(
    env_id: str,
    num_envs: int,
    *,
    seed: int | list[int] | None = None,
    num_threads: int | None = None,
    autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
    vectorization_mode: str = "sync",
    episode_statistics: bool = False,
    **env_kwargs: Any,
) -> GymVectorEnv:
    """``num_envs`` copies of gymnasium id ``env_id`` in gymnasium's ``SyncVectorEnv`` (``"sync"``, one
    thread, the caller's) or ``AsyncVectorEnv`` (``"async"``, one worker process per env).

    Args:
        env_id: any id gymnasium knows (``gymnasium.registry``), e.g. ``"FrozenLake-v1"``.
        num_envs: number of envs.
        seed: seed of the first ``reset()`` called without one; env i gets ``seed + i``.
        num_threads: accepted for a uniform ``make_vec`` signature and unused: gymnasium's vector envs
            have no thread pool (sync steps in the calling thread, async in one process per env).
        autoreset_mode: passed to gymnasium's vector env (``"next_step"``, ``"same_step"``, ``"disabled"``).
        vectorization_mode: ``"sync"`` (default) or ``"async"``.
        episode_statistics: add ``infos["episode"]``/``infos["_episode"]`` as ``RecordEpisodeStatistics``.
        **env_kwargs: passed to the env constructor (``gymnasium.make(env_id, **env_kwargs)``), for example
            ``max_episode_steps`` or ``map_name="8x8"``.

    Raises:
        ValueError: unknown ``env_id`` (gymnasium's registry error is chained), bad ``vectorization_mode``.
        TypeError: keywords the env does not accept.
    """
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a str, got {type(env_id).__name__}")
    num_envs = check_num_envs(num_envs)
    check_num_threads(num_threads)
    mode = parse_autoreset_mode(autoreset_mode)
    if vectorization_mode not in _MODES:
        raise ValueError(f"vectorization_mode must be one of {_MODES}, got {vectorization_mode!r}")
    seeds = check_seed(seed, num_envs)
    try:
        gym.spec(env_id)
    except gym.error.Error as err:
        raise ValueError(f"unknown env_id {env_id!r}: {err}") from err
    try:
        inner = gym.make_vec(
            env_id,
            num_envs=num_envs,
            vectorization_mode=vectorization_mode,
            vector_kwargs={"autoreset_mode": mode},
            **env_kwargs,
        )
    except TypeError as err:
        raise TypeError(f"env_kwargs {sorted(env_kwargs)} not accepted by {env_id!r}: {err}") from err
    return GymVectorEnv(inner, seed=seeds, episode_statistics=episode_statistics)


class GymVectorEnv(BaseVectorEnv):
    """A gymnasium ``SyncVectorEnv``/``AsyncVectorEnv`` with ``make_vec``'s API on top.

    Same spaces, observations, rewards (float64 ``(N,)``), terminations/truncations (bool ``(N,)``),
    autoreset behaviour and infos as the wrapped env, plus:

    - with ``episode_statistics``: ``infos["episode"] = {"r", "l", "t"}`` and ``infos["_episode"]``, as
      gymnasium's ``RecordEpisodeStatistics`` gives them;
    - actions checked before any env steps (``ValueError`` naming ``actions``; the envs stay usable);
    - ``reset()`` without a seed uses the constructor's seed the first time (env i: ``seed + i``);
    - ``step_async``/``step_wait`` for both kinds (the sync kind steps in ``step_wait``);
    - under DISABLED autoreset, stepping an env that ended without ``reset(options={"reset_mask": ...})``
      raises ``RuntimeError`` instead of gymnasium's assertion.
    """

    def __init__(self, env: VectorEnv, seed: list[int] | None = None, episode_statistics: bool = False) -> None:
        self.env = env
        self.num_envs = env.num_envs
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.metadata = dict(env.metadata)
        self.autoreset_mode = self.metadata["autoreset_mode"]
        self.render_mode = env.render_mode
        self.spec = getattr(env, "spec", None)
        self._initial_seeds = seed
        self._async = hasattr(env, "step_async")
        self._stats = EpisodeStatistics(self.num_envs, same_step=self.autoreset_mode == AutoresetMode.SAME_STEP,
                                        enabled=check_bool("episode_statistics", episode_statistics))
        self._needs_reset = np.zeros(self.num_envs, dtype=np.bool_)
        self._pending: Any = None
        self._waiting = False
        self._has_reset = False

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        """Resets every env, or those in ``options["reset_mask"]``; returns ``(obs, infos)``."""
        self._check_idle("reset")
        seeds = check_seed(seed, self.num_envs)
        if seeds is None and self._initial_seeds is not None:
            seeds = self._initial_seeds
        mask = check_reset_mask(options, self.num_envs)
        if mask is not None and not self._has_reset:
            raise RuntimeError("call reset() without a reset_mask before a partial reset")
        # gymnasium pops "reset_mask" from the options it is given: pass a copy, never the caller's dict.
        obs, infos = self.env.reset(seed=seeds, options=None if options is None else dict(options))
        self._initial_seeds = None
        self._stats.reset(mask)
        self._needs_reset[slice(None) if mask is None else mask] = False
        self._has_reset = True
        return obs, infos

    def step(self, actions: Any):
        """Steps every env; returns ``(obs, rewards, terminations, truncations, infos)``."""
        self.step_async(actions)
        return self.step_wait()

    def step_async(self, actions: Any) -> None:
        """Checks ``actions`` and starts the step (async kind: the workers start stepping now).

        Raises:
            ValueError: ``actions`` of the wrong shape/dtype or outside the action space; nothing is stepped.
            RuntimeError: a step already pending, no ``reset()`` yet, or (DISABLED) an ended env not reset.
        """
        actions = self._check_step(actions)
        if self._async:
            self.env.step_async(actions)
        else:
            self._pending = actions
        self._waiting = True

    def step_wait(self):
        """Finishes the step started by ``step_async`` and returns its results (see ``step``)."""
        if not self._waiting:
            raise StepWaitError()
        self._waiting = False
        if self._async:
            obs, rewards, terminations, truncations, infos = self.env.step_wait()
        else:
            actions, self._pending = self._pending, None
            obs, rewards, terminations, truncations, infos = self.env.step(actions)
        dones = terminations | truncations
        if self.autoreset_mode == AutoresetMode.DISABLED:
            self._needs_reset |= dones
        self._stats.step(np.asarray(rewards, dtype=np.float64), dones, infos)
        return obs, rewards, terminations, truncations, infos

    def close_extras(self, **kwargs: Any) -> None:
        """Closes the wrapped vector env (and the async kind's worker processes)."""
        if self._waiting and self._async:
            self.env.step_wait()
        self._waiting = False
        self.env.close(**kwargs)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Calls method ``name`` of every sub-env (gymnasium's ``VectorEnv.call``)."""
        return self.env.call(name, *args, **kwargs)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Attribute ``name`` of every sub-env."""
        return self.env.get_attr(name)

    def set_attr(self, name: str, values: Any) -> None:
        """Sets attribute ``name`` of every sub-env (one value for all, or a list or tuple of one per env)."""
        self.env.set_attr(name, values)

    @property
    def np_random_seed(self) -> tuple[int, ...]:
        """The seed of each sub-env's generator (gymnasium's ``np_random_seed``)."""
        return tuple(self.env.np_random_seed)
