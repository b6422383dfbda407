"""TD3 (Fujimoto et al., 2018): DDPG with three changes, and only those three are written here.

1. **Clipped double Q.** Two critics; the target takes the smaller of their values::

       y = r + discount * min(Q1_target(s', a'), Q2_target(s', a'))

   (``N_CRITICS = 2``: :meth:`fastrl.agents.ddpg.DDPG._update` already takes the minimum over its critics and
   sums their losses.)
2. **Target policy smoothing.** ``a' = clip(mu_target(s') + clip(eps, -c, c), low, high)`` with
   ``eps ~ N(0, target_policy_noise)``; noise and clip are fractions of the action box's half-width, as the
   exploration noise (SB3's convention).
3. **Delayed policy updates.** The actor and the target networks are updated after every
   ``policy_delay``-th critic update.

Everything else (envs, replay, exploration, the loop, checkpoints) is DDPG's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from fastrl.agents.config import require_int, require_real
from fastrl.agents.ddpg import _DEFAULTS as _DDPG_DEFAULTS
from fastrl.agents.ddpg import DDPG, DDPGConfig
from fastrl.agents.ddpg import PRESETS as _DDPG_PRESETS

__all__ = ["TD3Config", "TD3", "PRESETS"]

#: rl-zoo's tuned Pendulum-v1 and MountainCarContinuous-v0 settings (the same as DDPG's there), and
#: ``"paper"``: TD3 as published (400-300, Adam 1e-3, batch 100, tau 0.005, Gaussian exploration 0.1,
#: 1K steps of uniform actions first, gamma 0.99).
PRESETS: dict[str, dict[str, Any]] = {
    "Pendulum-v1": _DDPG_PRESETS["Pendulum-v1"],
    "MountainCarContinuous-v0": _DDPG_PRESETS["MountainCarContinuous-v0"],
    "paper": dict(hidden_sizes=(400, 300), learning_rate=1e-3, batch_size=100, tau=0.005, action_noise="normal",
                  action_noise_sigma=0.1, learning_starts=1000, gamma=0.99, train_freq=1, gradient_steps=1,
                  buffer_size=1_000_000),
}


@dataclass
class TD3Config(DDPGConfig):
    """Every setting of a :class:`TD3` run: DDPG's, plus the three below."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    DEFAULTS: ClassVar[dict[str, Any]] = {**_DDPG_DEFAULTS, "policy_delay": 2, "target_policy_noise": 0.2,
                                          "target_noise_clip": 0.5}

    policy_delay: int | None = None
    """critic updates per actor (and target) update."""
    target_policy_noise: float | None = None
    """std of the Gaussian noise on the target action, as a fraction of the box's half-width."""
    target_noise_clip: float | None = None
    """that noise is clipped to +-this (same units)."""

    def validate(self) -> None:
        super().validate()
        require_int(self, "policy_delay", 1)
        require_real(self, "target_policy_noise", 0)
        require_real(self, "target_noise_clip", 0)


class TD3(DDPG):
    """A TD3 agent: :class:`fastrl.agents.ddpg.DDPG` with the three changes of the module docstring."""

    KIND = "td3"
    CONFIG: ClassVar[type] = TD3Config
    N_CRITICS = 2  # 1. clipped double Q

    def __init__(self, config: TD3Config | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        low, high = (torch.as_tensor(x, device=self.device) for x in (self.low, self.high))
        self._low, self._high = low, high

    def _next_action(self, next_obs: torch.Tensor) -> torch.Tensor:
        """2. Target policy smoothing: clipped Gaussian noise on the target actor's action, then the box."""
        cfg = self.config
        a = self._mu_target(next_obs)
        noise = torch.randn_like(a).mul_(cfg.target_policy_noise)
        noise.clamp_(-cfg.target_noise_clip, cfg.target_noise_clip).mul_(self._scale)
        return a.add_(noise).clamp_(self._low, self._high)

    def _actor_due(self) -> bool:
        """3. Delayed policy updates: after every ``policy_delay``-th critic update."""
        return self.num_updates % self.config.policy_delay == 0
