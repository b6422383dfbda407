"""Ape-X DDPG (Horgan et al., 2018, "Ape-X DPG"): Ape-X's actors, replay shards and learner loop with a DDPG
learner, for continuous (Box) actions.

Everything but the learner is the shared Ape-X layer (:class:`fastrl.agents.apex.ApeXAgent`). Actors
(:class:`fastrl.distributed.ApeXDDPGActor`) act with a copy of the deterministic actor plus Gaussian noise of
their own scale, geometrically spaced from ``noise_sigma_max`` (actor 0) down to ``noise_sigma_min`` (the last
actor), after ``random_steps`` uniform actions each, and compute initial priorities with a copy of the critic.
For a sampled n-step transition ``(s, a, R, discount, s')`` with importance weight ``w`` the learner does::

    y = R + discount * Q_target(s', mu_target(s'))
    critic loss = mean_i w_i (Q(s_i, a_i) - y_i)**2             (importance-weighted, as Ape-X DPG)
    actor loss  = -mean_i Q(s_i, mu(s_i))                       (deterministic policy gradient)
    theta_target <- (1 - tau) * theta_target + tau * theta      (both networks, every update)
    new priority_i = |Q(s_i, a_i) - y_i|

and publishes the actor's and the critic's parameters (one flat array) every ``publish_interval`` updates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces

from fastrl.agents.apex import ApeXAgent, ApeXConfig, batch_tensors
from fastrl.agents.config import require, require_int, require_real
from fastrl.agents.ddpg import actor_step, critic_step
from fastrl.agents.loop import DeviceMeans
from fastrl.nets import Actor, Critics, NumpyLinearStack
from fastrl.optim import FlatAdam, flatten_parameters

__all__ = ["ApeXDDPG", "ApeXDDPGConfig"]


@dataclass
class ApeXDDPGConfig(ApeXConfig):
    """Every setting of an :class:`ApeXDDPG` run (fields not given come from the preset of ``env_id``)."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # DDPG's tuned Pendulum settings (400-300 networks, Adam 1e-3, batch 256, tau 0.005, gamma 0.98) on
        # two actors; the learner samples 64 transitions per inserted one (a gradient step per 4 env steps).
        "Pendulum-v1": dict(
            total_steps=40_000, num_actors=2, actor_envs=1, weight_sync_interval=50, push_size=50,
            buffer_size=200_000, min_replay_size=1000, samples_per_insert=64.0, learning_rate=1e-3, batch_size=256,
            gamma=0.98, n_step=1, tau=0.005, hidden_sizes=(400, 300), noise_sigma_max=0.2, noise_sigma_min=0.05,
            random_steps=500, publish_interval=10, log_interval=2000, torch_threads=1,
        ),
    }
    DEFAULTS: ClassVar[dict[str, Any]] = dict(
        ApeXConfig.COMMON_DEFAULTS, learning_rate=1e-3, batch_size=256, hidden_sizes=(400, 300),
        max_grad_norm=float("inf"), n_step=1, tau=0.005, noise_sigma_max=0.3, noise_sigma_min=0.05,
        random_steps=1000, min_replay_size=5000,
    )

    env_id: str = "Pendulum-v1"
    """gymnasium id of the task (a one-dimensional Box action space), made with ``fastrl.make_vec``."""
    actor_learning_rate: float | None = None
    """Adam learning rate of the actor (None: ``learning_rate``), scaled over the run by the same factor as
    ``learning_rate`` (ending at ``actor_learning_rate * learning_rate_final / learning_rate``)."""
    critic_learning_rate: float | None = None
    """Adam learning rate of the critic (None: ``learning_rate``), scaled as ``actor_learning_rate``."""
    tau: float | None = None
    """Polyak coefficient of the target networks, applied after every update (1 copies)."""
    noise_sigma_max: float | None = None
    """Gaussian noise scale of actor 0, as a fraction of the action box's half-width."""
    noise_sigma_min: float | None = None
    """noise scale of the last actor; the others' lie geometrically between the two."""
    random_steps: int | None = None
    """env steps of uniform random actions each actor takes before its policy acts (while it holds the
    learner's initial weights: a resumed run does not repeat them)."""

    def validate(self) -> None:
        super().validate()
        require_real(self, "actor_learning_rate", 0.0, low_open=True, optional=True)
        require_real(self, "critic_learning_rate", 0.0, low_open=True, optional=True)
        require_real(self, "tau", 0.0, 1.0, low_open=True)
        require_real(self, "noise_sigma_min", 0.0, low_open=True)
        require_real(self, "noise_sigma_max", 0.0, low_open=True)
        require(self, "noise_sigma_max", math.isfinite(self.noise_sigma_max), "finite")
        require(self, "noise_sigma_max", self.noise_sigma_max >= self.noise_sigma_min, "at least noise_sigma_min")
        require_int(self, "random_steps", 0)


class ApeXDDPG(ApeXAgent):
    """Ape-X DDPG; see the module docstring. ``act`` gives the learner's deterministic actions in the action
    box (``deterministic=False`` adds the first actor's noise)."""

    KIND = "apex-ddpg"
    CONFIG = ApeXDDPGConfig

    def _actor_class(self) -> type:
        from fastrl.distributed import ApeXDDPGActor

        return ApeXDDPGActor

    def _check_env(self, action_space: Any) -> None:
        env_id = self.config.env_id
        if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
            raise ValueError(f"env_id {env_id!r} has a {action_space} action space; Ape-X DDPG needs a "
                             "one-dimensional Box")
        if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
            raise ValueError(f"env_id {env_id!r} has an unbounded action box; Ape-X DDPG needs finite bounds")
        self.act_dim = int(action_space.shape[0])
        self.low, self.high = action_space.low.astype(np.float32), action_space.high.astype(np.float32)
        self.action_shape, self.action_dtype = (self.act_dim,), np.dtype(np.float32)

    def _build_learner(self) -> None:
        """Actor and critic, their Polyak targets, Adam over one flat buffer each."""
        cfg = self.config
        obs_dim = int(np.prod(self.obs_shape))
        self.actor = Actor(obs_dim, self.act_dim, self.low, self.high, cfg.hidden_sizes).to(self.device)
        self.critic = Critics(1, obs_dim, self.act_dim, cfg.hidden_sizes).to(self.device)
        self.actor_target = Actor(obs_dim, self.act_dim, self.low, self.high, cfg.hidden_sizes).to(self.device)
        self.critic_target = Critics(1, obs_dim, self.act_dim, cfg.hidden_sizes).to(self.device)
        for net, target in ((self.actor, self.actor_target), (self.critic, self.critic_target)):
            target.load_state_dict(net.state_dict())
            target.requires_grad_(False)
        self.actor_optimizer = FlatAdam(self.actor, lr=cfg.actor_learning_rate or cfg.learning_rate)
        self.critic_optimizer = FlatAdam(self.critic, lr=cfg.critic_learning_rate or cfg.learning_rate)
        self._actor_target_params = flatten_parameters(self.actor_target)
        self._critic_target_params = flatten_parameters(self.critic_target)
        self._hand_grad = self.device.type == "cpu"  # the gradients by hand (fastrl.losses), as DDPG on the CPU
        self._numpy_mu = NumpyLinearStack(self.actor.net.linears) if self.device.type == "cpu" else None
        self.meters = DeviceMeans(self.device, ("losses/critic_loss", "losses/actor_loss", "losses/q_values"))

    def _noise_scales(self) -> list[float]:
        from fastrl.distributed import apex_noise_scales

        cfg = self.config
        return apex_noise_scales(cfg.num_actors, cfg.noise_sigma_max, cfg.noise_sigma_min)

    def _actor_kwargs(self, i: int) -> dict[str, Any]:
        cfg = self.config
        return dict(noise_sigma=self._noise_scales()[i], random_steps=cfg.random_steps,
                    hidden_sizes=tuple(cfg.hidden_sizes))

    def _weights(self) -> np.ndarray:
        """The actor's parameters followed by the critic's (the critic gives the actors' initial priorities)."""
        return torch.cat([self.actor_optimizer.params.detach(), self.critic_optimizer.params.detach()]).cpu().numpy()

    # ---- acting ----

    @torch.no_grad()
    def act(self, obs: np.ndarray | torch.Tensor, deterministic: bool = True) -> np.ndarray:
        """Actions ``(B, act_dim)`` float32 in the action box: the learner's actor, plus the first actor's
        Gaussian noise when ``deterministic`` is false."""
        obs_np = obs.cpu().numpy() if isinstance(obs, torch.Tensor) else np.asarray(obs)
        if obs_np.shape[1:] != self.obs_shape:
            raise ValueError(f"obs must have shape (B, *{self.obs_shape}), got {tuple(obs_np.shape)}")
        flat = obs_np.reshape(len(obs_np), -1)
        if self._numpy_mu is not None:
            scale, bias = self.actor.action_scale.numpy(), self.actor.action_bias.numpy()
            mu = (bias + scale * np.tanh(self._numpy_mu(flat))).astype(np.float32)
        else:
            mu = self.actor(torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32)).to(self.device))
            mu = mu.cpu().numpy()
        if deterministic:
            return mu
        half_width = (self.high - self.low) / 2
        noise = self.rng.standard_normal(mu.shape) * self._noise_scales()[0] * half_width
        return np.clip(mu + noise, self.low, self.high).astype(np.float32)

    # ---- learning ----

    def _learn(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """One critic and one actor step on a shard's batch, then the Polyak updates; returns the new
        priorities ``|Q(s, a) - y|``."""
        cfg = self.config
        t = batch_tensors(batch, self.device)
        obs, action, next_obs = t["obs"].flatten(1).float(), t["action"], t["next_obs"].flatten(1).float()
        with torch.no_grad():
            y = t["reward"] + t["discount"] * self.critic_target.first(next_obs, self.actor_target(next_obs))
        factor = self.lr(self.global_step) / cfg.learning_rate  # learning_rate_final's decay, for both
        self.critic_optimizer.lr = (cfg.critic_learning_rate or cfg.learning_rate) * factor
        self.actor_optimizer.lr = (cfg.actor_learning_rate or cfg.learning_rate) * factor
        # the critic's and the actor's steps of single-process DDPG, the critic's importance-weighted
        critic_loss, q = critic_step(self.critic, self.critic_optimizer, obs, action, y, t["weights"],
                                     hand_grad=self._hand_grad, max_grad_norm=cfg.max_grad_norm)
        q = q[0]
        actor_loss = actor_step(self.actor, self.critic, self.actor_optimizer, obs, hand_grad=self._hand_grad,
                                max_grad_norm=cfg.max_grad_norm)
        with torch.no_grad():  # Polyak averaging: one fused op per network
            self._actor_target_params.lerp_(self.actor_optimizer.params, cfg.tau)
            self._critic_target_params.lerp_(self.critic_optimizer.params, cfg.tau)
        self.num_updates += 1
        self.meters.add("losses/critic_loss", critic_loss, 1)
        self.meters.add("losses/actor_loss", actor_loss, 1)
        self.meters.add("losses/q_values", q.mean(), 1)
        if cfg.sync or cfg.backend == "local":
            self.losses.append(float(critic_loss))
        if self.num_updates % cfg.publish_interval == 0:
            self._publish()
        return (q - y).abs().double().cpu().numpy()

    # ---- checkpoints ----

    def _learner_state(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "actor_target": self.actor_target.state_dict(), "critic_target": self.critic_target.state_dict(),
                "actor_optimizer": self.actor_optimizer.state_dict(),
                "critic_optimizer": self.critic_optimizer.state_dict()}

    def load_networks(self, state: dict[str, Any]) -> None:
        for name in ("actor", "critic", "actor_target", "critic_target"):
            getattr(self, name).load_state_dict(state[name])

    def _load_learner_state(self, state: dict[str, Any]) -> None:
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
