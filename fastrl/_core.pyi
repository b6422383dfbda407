"""Type stubs of fastrl's private compiled module. Use the public wrappers in fastrl.replay and
fastrl.vector instead of these names."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

# ---- replay memory (csrc/bindings/bind_replay.cpp) ----

class _ReplayCore:
    """C++ replay memory; fastrl.ReplayBuffer / PrioritizedReplayBuffer subclass it."""

    def __init__(
        self,
        capacity: int,
        obs_shape: list[int],
        obs_dtype: np.dtype[Any],
        action_shape: list[int],
        action_dtype: np.dtype[Any],
        num_envs: int,
        n_step: int,
        gamma: float,
        frame_stack: int,
        seed: int,
        prioritized: bool,
        alpha: float,
        eps: float,
    ) -> None: ...
    def add(
        self,
        obs: np.ndarray,
        action: Any,
        reward: Any,
        next_obs: np.ndarray,
        terminated: Any,
        truncated: Any,
        mask: Any = None,
    ) -> None: ...
    def _sample(self, batch_size: int, beta: float) -> Any: ...
    def _sample_into(
        self,
        batch_size: int,
        beta: float,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        next_obs: np.ndarray,
        discount: np.ndarray,
        indices: np.ndarray,
        weights: np.ndarray,
    ) -> None: ...
    # METH_FASTCALL methods, installed as ReplayBuffer.sample, PrioritizedReplayBuffer.sample and
    # PrioritizedReplayBuffer.update_priorities; calls they do not serve go to ``_sample_slow``.
    def _uniform_sample(
        self, batch_size: int, *, out: Any = None, as_torch: bool = False, pin_memory: bool | None = None
    ) -> Any: ...
    def _prioritized_sample(
        self,
        batch_size: int,
        beta: float = 0.4,
        *,
        out: Any = None,
        as_torch: bool = False,
        pin_memory: bool | None = None,
    ) -> Any: ...
    def _update_priorities(self, indices: Any, priorities: Any) -> None: ...
    def _state(self) -> dict[str, Any]: ...
    def _set_state(self, state: dict[str, Any]) -> None: ...
    def _save_stream(self, fd: int, cls: str, config_json: str) -> None: ...
    def _load_stream(self, fd: int, payload_offset: int, payload_bytes: int, write_count: int, max_priority: float,
                     rng_state: list[int], arrays: list[tuple[str, str, list[int]]]) -> None: ...
    @property
    def _held_bytes(self) -> int: ...
    def __len__(self) -> int: ...
    @property
    def _write_count(self) -> int: ...
    @property
    def capacity(self) -> int: ...

def _set_batch_type(batch_type: type) -> None: ...
def _replay_upfront_bytes(capacity: int, obs_bytes: int, action_bytes: int, num_envs: int, frame_stack: int,
                          prioritized: bool) -> int: ...

# ---- vectorized environments (csrc/bindings/bind_envs.cpp) ----

class _NativeVecEnv:
    """A batch of one native task (use fastrl.vector.NativeVectorEnv / fastrl.make_vec instead)."""

    obs_dim: int  # class attribute
    state_dim: int  # class attribute
    info: dict[str, Any]  # class attribute: the task's TaskInfo (ids, spaces, reset options, settings)
    grain: int  # class attribute: envs per thread below which a batch is not split
    @property
    def num_envs(self) -> int: ...
    @property
    def num_threads(self) -> int: ...
    @property
    def pending(self) -> bool: ...
    episode_statistics: bool  # infos of steps that end an episode carry "episode"/"_episode" (default True)
    def reset(
        self, seeds: list[int] | None, mask: npt.NDArray[np.bool_] | None, bound_a: float, bound_b: float
    ) -> npt.NDArray[np.float32]: ...
    def step(
        self, actions: npt.ArrayLike
    ) -> tuple[
        npt.NDArray[np.float32], npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_], dict
    ]: ...
    def step_async(self, actions: npt.ArrayLike) -> None: ...
    def step_wait(
        self,
    ) -> tuple[
        npt.NDArray[np.float32], npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_], dict
    ]: ...
    def get_state(self) -> npt.NDArray[np.float64]: ...
    def set_state(self, states: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]: ...

# The task classes, in registration order; fastrl/vector/native.py builds its task table from their `info`.
NATIVE_TASKS: tuple[str, ...]

class CartPoleVecEnv(_NativeVecEnv):
    def __init__(
        self, num_envs: int, num_threads: int, max_episode_steps: int, autoreset_mode: int,
        sutton_barto_reward: bool = False,
    ) -> None: ...

class PendulumVecEnv(_NativeVecEnv):
    def __init__(
        self, num_envs: int, num_threads: int, max_episode_steps: int, autoreset_mode: int, g: float = 10.0
    ) -> None: ...

class MountainCarVecEnv(_NativeVecEnv):
    def __init__(
        self, num_envs: int, num_threads: int, max_episode_steps: int, autoreset_mode: int,
        goal_velocity: float = 0.0,
    ) -> None: ...

class MountainCarContinuousVecEnv(_NativeVecEnv):
    def __init__(
        self, num_envs: int, num_threads: int, max_episode_steps: int, autoreset_mode: int,
        goal_velocity: float = 0.0,
    ) -> None: ...

class AcrobotVecEnv(_NativeVecEnv):
    def __init__(self, num_envs: int, num_threads: int, max_episode_steps: int, autoreset_mode: int) -> None: ...
