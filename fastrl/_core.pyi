"""Type stubs of fastrl's private compiled module. Use the public wrappers in fastrl.replay and
fastrl.vector instead of these names."""

from __future__ import annotations

__version__: str

# ---- replay memory (csrc/bindings/bind_replay.cpp) ----

from typing import Any

import numpy as np

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
    def _update_priorities(self, indices: Any, priorities: Any) -> None: ...
    def _state(self) -> dict[str, Any]: ...
    def _set_state(self, state: dict[str, Any]) -> None: ...
    def __len__(self) -> int: ...
    @property
    def _write_count(self) -> int: ...
    @property
    def capacity(self) -> int: ...

def _set_batch_type(batch_type: type) -> None: ...

# ---- vectorized environments (csrc/bindings/bind_envs.cpp) ----
