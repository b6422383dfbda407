"""Frames of the native tasks, drawn by gymnasium's own renderer from the C++ state.

A native env keeps its physical state in C++ in gymnasium's layout (``NativeVectorEnv.get_state``), so one
gymnasium env of the same task, given that state, draws exactly the frame gymnasium would: the pixels come from
gymnasium's code, not a copy of it. Drawing needs pygame (``pip install "fastrl[video]"``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["ClassicFrames"]


class ClassicFrames:
    """Draws frames of a classic-control task from states ``(n, state_dim)``.

    Pendulum's frame also shows the last torque (gymnasium's ``last_u``, ``None`` right after a reset), so
    callers pass ``last_u`` for it: a float per env, NaN where the env was just reset.
    """

    def __init__(self, env_id: str, env_kwargs: dict[str, Any]) -> None:
        try:
            env = gym.make(env_id, render_mode="rgb_array", **env_kwargs)
        except TypeError:  # a setting gymnasium's constructor does not take; it does not affect the drawing
            env = gym.make(env_id, render_mode="rgb_array")
        self._env = env.unwrapped
        self._env.reset(seed=0)  # sets every attribute the drawing reads (Pendulum's last_u among them)
        self.metadata = dict(self._env.metadata)
        self.uses_last_u = hasattr(self._env, "last_u")

    def frames(self, states: np.ndarray, last_u: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """One ``(H, W, 3)`` uint8 frame per row of ``states``."""
        env = self._env
        out = []
        for i, state in enumerate(states):
            env.state = np.array(state, dtype=np.float64)
            if self.uses_last_u:
                u = None if last_u is None or np.isnan(last_u[i]) else last_u[i]
                env.last_u = u
            try:
                out.append(env.render())
            except gym.error.DependencyNotInstalled as err:
                raise gym.error.DependencyNotInstalled(
                    f"{err}; rendering a fastrl env needs pygame: pip install 'fastrl[video]'"
                ) from None
        return tuple(out)

    def close(self) -> None:
        self._env.close()
