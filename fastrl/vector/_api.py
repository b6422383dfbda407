"""Pieces of gymnasium's vector API shared by fastrl's vector envs.

- ``BaseVectorEnv``: the base class of every fastrl vector env (native, Atari, gymnasium fallback): a
  ``gymnasium.vector.VectorEnv`` that is also a context manager, closed on exit;
- ``check_actions``: batched actions checked against the action space before any env is touched, so a bad
  call raises ``ValueError`` naming ``actions`` and leaves the envs as they were;
- ``check_reset_mask``: ``options["reset_mask"]`` checked as gymnasium's vector envs check it;
- ``EpisodeStatistics``: ``infos["episode"]`` / ``infos["_episode"]`` exactly as gymnasium's
  ``gymnasium.wrappers.vector.RecordEpisodeStatistics`` builds them, for every autoreset mode.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import AlreadyPendingCallError, ClosedEnvironmentError, NoAsyncCallError
from gymnasium.vector import VectorEnv


class StepWaitError(NoAsyncCallError, RuntimeError, ValueError):
    """``step_wait()`` without a pending ``step_async()``: gymnasium's ``NoAsyncCallError`` (and, for code
    written against earlier fastrl versions, a ``RuntimeError`` and a ``ValueError``)."""

    def __init__(self, message: str = "Calling `step_wait` without any prior call to `step_async`.") -> None:
        super().__init__(message, "step")


class PendingCallError(AlreadyPendingCallError, RuntimeError, ValueError):
    """A call while a ``step_async()`` is pending: gymnasium's ``AlreadyPendingCallError`` (and a
    ``RuntimeError`` and a ``ValueError``, for code written against earlier fastrl versions)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"Calling `{what}` while waiting for a pending call to `step` to complete", "step")


class EnvClosedError(ClosedEnvironmentError, ValueError):
    """A vector env used after ``close()``: gymnasium's ``ClosedEnvironmentError`` (and a ``ValueError``, for
    code written against earlier fastrl versions)."""


class BaseVectorEnv(VectorEnv):
    """``gymnasium.vector.VectorEnv`` plus ``with make_vec(...) as envs:`` (closed on exit).

    Subclasses whose ``step_async`` leaves a step pending set ``_waiting`` while it is, and call
    ``_check_idle()`` before anything that must not overlap it.
    """

    _waiting: bool = False
    #: per-env seeds of the last seeded reset (-1 where unknown), kept by subclasses
    _env_seeds: list[int] | None = None

    def __enter__(self):
        return self

    # ---- per-env attributes, as gymnasium's SyncVectorEnv gives them ----

    @property
    def np_random_seed(self) -> tuple[int, ...]:
        """The seed of each env's generator: ``seed + i`` after ``reset(seed=seed)`` (``seeds[i]`` for a list),
        unchanged by resets without a seed, -1 where unknown (as gymnasium's envs report it)."""
        seeds = self._env_seeds
        if seeds is None:  # before the first reset: the seeds it will use, as gymnasium's envs report them
            seeds = self._first_reset_seeds()
        return tuple(seeds) if seeds is not None else (-1,) * self.num_envs

    def _first_reset_seeds(self) -> list[int] | None:
        """The per-env seeds the first ``reset()`` without a seed will use (None: unknown)."""
        return None

    def _set_env_seeds(self, seeds: list[int] | None, mask: np.ndarray | None) -> None:
        """Records the seeds a reset used (``None``: the envs kept their generators)."""
        if seeds is None:
            return
        current = self._env_seeds or [-1] * self.num_envs
        self._env_seeds = [int(s) if mask is None or mask[i] else current[i] for i, s in enumerate(seeds)]

    def _env_attributes(self) -> dict[str, Any]:
        """Attributes every env of the batch shares (name -> value), read by :meth:`get_attr`; subclasses add
        their task's settings. Settings fixed when the env is made cannot be changed by :meth:`set_attr`."""
        return {"spec": getattr(self, "spec", None), "render_mode": self.render_mode, "metadata": self.metadata,
                "observation_space": self.single_observation_space, "action_space": self.single_action_space}

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Attribute ``name`` of every env, as a tuple (gymnasium's ``VectorEnv.get_attr``): the shared
        attributes (``spec``, ``render_mode``, ``metadata``, ``observation_space``, ``action_space``, the task's
        settings), ``np_random_seed``, and attributes set with :meth:`set_attr`.

        Raises:
            AttributeError: the envs have no attribute ``name``.
        """
        user = self.__dict__.get("_user_attrs", {})
        if name in user:
            return tuple(user[name])
        if name == "np_random_seed":
            return self.np_random_seed
        shared = self._env_attributes()
        if name not in shared:
            raise AttributeError(f"{type(self).__name__} envs have no attribute {name!r} (they have: "
                                 f"{', '.join(sorted({*shared, 'np_random_seed', *user}))})")
        return (shared[name],) * self.num_envs

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Calls method ``name`` of every env with the arguments, or reads attribute ``name`` where it is not
        callable (gymnasium's ``VectorEnv.call``)."""
        return tuple(v(*args, **kwargs) if callable(v) else v for v in self.get_attr(name))

    def set_attr(self, name: str, values: Any) -> None:
        """Sets attribute ``name`` of every env: ``values`` is a list or tuple of one value per env, or one
        value for all (gymnasium's ``VectorEnv.set_attr``). The task's own settings are fixed when the env
        is made (``make_vec(..., name=value)``).

        Raises:
            ValueError: a list or tuple whose length is not ``num_envs``.
            AttributeError: ``name`` is a setting fixed when the env was made.
        """
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError("Values must be a list or tuple with length equal to the number of environments. "
                             f"Got `{len(values)}` values for {self.num_envs} environments.")
        if name in self._env_attributes() or name == "np_random_seed":
            raise AttributeError(f"{name!r} is fixed when the env is made; set_attr cannot change it (the task's "
                                 "settings are make_vec keywords, seeds go to reset(seed=...), and a native task's "
                                 "physical constants are compiled)")
        self.__dict__.setdefault("_user_attrs", {})[name] = list(values)

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _check_idle(self, what: str = "this method") -> None:
        if self.closed:
            raise EnvClosedError("this vector env is closed")
        if self._waiting:
            raise PendingCallError(what)

    def _check_step(self, actions: Any) -> Any:
        """The checks before a step, for subclasses that track resets in Python (``_has_reset``, and
        ``_needs_reset`` for the DISABLED autoreset mode): returns ``actions`` checked against the action
        space, or raises (RuntimeError, ValueError) before any env is touched."""
        self._check_idle("step_async")
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        actions = check_actions(actions, self.single_action_space, self.num_envs)
        if self._needs_reset.any():
            raise RuntimeError(
                f"envs {np.flatnonzero(self._needs_reset).tolist()} ended and autoreset_mode is DISABLED: "
                "call reset(options={'reset_mask': mask}) before stepping them"
            )
        return actions


def check_actions(actions: Any, space: spaces.Space, num_envs: int) -> Any:
    """Checks a batch of actions against a single-env action ``space``; returns them as an array.

    Args:
        actions: ``(num_envs, *space.shape)`` actions. Discrete/MultiDiscrete/MultiBinary need an integer
            dtype (no silent cast from float or bool) and values inside the space; Box needs a numeric dtype
            (values are left to the env, which clips where gymnasium clips). Other spaces pass unchecked.
        space: the single-env action space.
        num_envs: batch size.

    Raises:
        TypeError: a scalar instead of one action per env.
        ValueError: wrong shape, dtype or an out-of-range discrete action; the message names ``actions``.
    """
    if not isinstance(space, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Box)):
        return actions
    arr = actions if type(actions) is np.ndarray else np.asarray(actions)
    if arr.ndim == 0:  # gymnasium's vector envs raise TypeError here too
        raise TypeError(f"actions must be an array of one action per env, got a scalar {actions!r}")
    shape = (num_envs, *space.shape)
    if arr.shape != shape:
        raise ValueError(f"actions must have shape {shape} (num_envs, *action_shape), got {arr.shape}")
    if isinstance(space, spaces.Box):
        if arr.dtype.kind not in "iuf":
            raise ValueError(f"actions must have a numeric dtype for {space}, got {arr.dtype}")
        return arr
    if arr.dtype.kind not in "iu":
        raise ValueError(f"actions must have an integer dtype for {space}, got {arr.dtype}")
    if isinstance(space, spaces.Discrete):
        low, high = int(space.start), int(space.start) + int(space.n)
        # min/max as Python ints: no wrap-around for uint64 inputs, and two cheap passes over a small batch.
        if arr.size and (int(arr.min()) < low or int(arr.max()) >= high):
            bad = arr[(arr < low) | (arr >= high)]
            raise ValueError(f"actions must lie in [{low}, {high}) for {space}, got {bad.tolist()}")
    elif isinstance(space, spaces.MultiDiscrete):
        rel = arr.astype(np.int64) - space.start
        if np.any(rel < 0) or np.any(rel >= space.nvec):
            raise ValueError(f"actions lie outside {space}")
    elif np.any((arr != 0) & (arr != 1)):
        raise ValueError(f"actions must be 0 or 1 for {space}")
    return arr


def check_reset_mask(options: dict[str, Any] | None, num_envs: int) -> np.ndarray | None:
    """``options["reset_mask"]`` (a ``(num_envs,)`` bool array with at least one True) or ``None``."""
    if options is None or "reset_mask" not in options:
        return None
    mask = options["reset_mask"]
    # gymnasium's checks and messages, word for word
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"`options['reset_mask']` must be a numpy array, got {type(mask)}")
    if mask.shape != (num_envs,):
        raise ValueError(f"`options['reset_mask']` must have shape `({num_envs},)`, got {mask.shape}")
    if mask.dtype != np.bool_:
        raise TypeError(f"`options['reset_mask']` must have `dtype=np.bool_`, got {mask.dtype}")
    if not np.any(mask):
        raise ValueError("`options['reset_mask']` must contain a boolean array with at least one True value, "
                         f"got reset_mask={mask}")
    return mask


class EpisodeStatistics:
    """Running episode returns/lengths/start times that report as gymnasium's ``RecordEpisodeStatistics``.

    At a step where env i's episode ends, ``infos["episode"] = {"r": float64 (N,), "l": int64 (N,),
    "t": float64 (N,)}`` holds its return (sum of the rewards fed in), length (steps) and wall time in seconds
    (rounded to 1 us), zero for envs that did not end, and ``infos["_episode"]`` is the bool (N,) mask of
    ended envs (only when ``enabled``: envs add them on request, as gymnasium's wrapper). With ``same_step``
    every step counts towards an episode; otherwise (NEXT_STEP, DISABLED) the step after an end is the reset
    step and starts the next episode's counts at zero, as gymnasium does.
    """

    def __init__(self, num_envs: int, same_step: bool, enabled: bool = True) -> None:
        self.enabled = bool(enabled)
        self.num_envs = num_envs
        self.same_step = same_step
        self.returns = np.zeros(num_envs, dtype=np.float64)
        self.lengths = np.zeros(num_envs, dtype=np.int64)
        self.start_times = np.zeros(num_envs, dtype=np.float64)
        self.prev_dones = np.zeros(num_envs, dtype=np.bool_)

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Restarts the statistics of every env (``mask is None``) or of the envs in ``mask``."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if mask is None:
            mask = slice(None)
        self.returns[mask] = 0.0
        self.lengths[mask] = 0
        self.start_times[mask] = now
        self.prev_dones[mask] = False

    def step(self, rewards: np.ndarray, dones: np.ndarray, infos: dict[str, Any]) -> None:
        """Adds ``rewards`` (float (N,)) and writes the statistics of envs with ``dones`` (bool (N,)) to ``infos``
        (nothing when not ``enabled``)."""
        if not self.enabled:
            return
        if self.same_step:
            self.returns += rewards
            self.lengths += 1
        else:
            prev = self.prev_dones
            if prev.any():
                self.returns[prev] = 0.0
                self.lengths[prev] = 0
                self.start_times[prev] = time.perf_counter()
                self.returns += np.where(prev, 0.0, rewards)
                self.lengths += ~prev
            else:
                self.returns += rewards
                self.lengths += 1
        self.prev_dones = dones
        if dones.any():
            if "episode" in infos or "_episode" in infos:
                raise ValueError(f"infos already hold an 'episode' key: {sorted(infos)}")
            elapsed = np.round(time.perf_counter() - self.start_times, 6)
            infos["episode"] = {
                "r": np.where(dones, self.returns, 0.0),
                "l": np.where(dones, self.lengths, 0),
                "t": np.where(dones, elapsed, 0.0),
            }
            infos["_episode"] = dones
            if self.same_step:
                # The ended envs were already reset inside this step: their next episode starts now.
                self.returns[dones] = 0.0
                self.lengths[dones] = 0
                self.start_times[dones] = time.perf_counter()
