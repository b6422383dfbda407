"""A2C (the synchronous, batched form of A3C; Mnih et al., 2016) in one file: config, networks, loss, loop.

One learner steps ``num_envs`` envs together, ``n_steps`` steps at a time, acting for all of them with one
forward pass per step; then one gradient step on the whole ``(n_steps, num_envs)`` rollout::

    A_t, R_t = gae(r, V(s), V(s'), terminated, truncated, gamma, gae_lambda)     fastrl.returns.gae
    loss = -mean(A_t * log pi(a_t | s_t)) - ent_coef * mean(H(pi(. | s_t))) + vf_coef * mean((V(s_t) - R_t)**2)

``V(s')`` is the value of the TRUE next state: at a time limit the advantage bootstraps from the final
observation (the shared env runner never hands over a reset observation as ``s'``), at a termination it
does not bootstrap. Gradients are clipped to ``max_grad_norm`` and applied with RMSprop (SB3's A2C: eps
outside the square root) or Adam. Discrete action spaces (categorical policy). The network and the loss are
A3C's (:mod:`fastrl.agents.actor_critic`): two MLPs for vector observations, the Nature CNN with a policy
and a value head for frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces

from fastrl.agents.actor_critic import (
    ActorCritic,
    actor_critic_loss,
    mlp_loss_backward,
    rollout_advantages,
    sample_categorical,
)
from fastrl.agents.base import AgentBase, resolve_config, torch_device
from fastrl.agents.config import AgentConfig, require, require_int, require_real
from fastrl.agents.loop import DeviceMeans, TrainLoop
from fastrl.agents.runner import EnvRunner
from fastrl.checkpoint import set_torch_rng_state, torch_rng_state
from fastrl.optim import FlatAdam, FlatRMSprop
from fastrl.schedules import LinearSchedule

__all__ = ["A2CConfig", "A2C", "PRESETS"]

#: rl-zoo's tuned CartPole-v1 settings for SB3's A2C (8 envs, 500K steps, SB3's defaults otherwise: RMSprop
#: 7e-4 with alpha 0.99 and eps 1e-5, n_steps 5, gamma 0.99, gae_lambda 1, vf_coef 0.5, max_grad_norm 0.5).
PRESETS: dict[str, dict[str, Any]] = {
    "CartPole-v1": dict(num_envs=8, total_steps=500_000, ent_coef=0.0),
}

_DEFAULTS: dict[str, Any] = dict(
    total_steps=1_000_000, num_envs=8, n_steps=5, learning_rate=7e-4, gamma=0.99, gae_lambda=1.0, ent_coef=0.0,
    vf_coef=0.5, max_grad_norm=0.5, optimizer="rmsprop", rms_alpha=0.99, rms_eps=1e-5, hidden_sizes=(64, 64),
    normalize_advantage=False, torch_threads=1, log_interval=10_000, save_replay=False, stop_window=10,
)


@dataclass
class A2CConfig(AgentConfig):
    """Every setting of an :class:`A2C` run. Fields left None come from the preset (``preset`` if named, else
    the one of ``env_id``), then from the defaults. Steps are env steps (transitions), summed over envs."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    DEFAULTS: ClassVar[dict[str, Any]] = _DEFAULTS

    n_steps: int | None = None
    """steps of every env per update: a rollout is ``n_steps * num_envs`` transitions."""
    learning_rate: float | None = None
    """optimizer learning rate (at step 0, if ``learning_rate_final`` is set)."""
    learning_rate_final: float | None = None
    """learning rate at ``total_steps``, reached linearly (None: constant; 0 anneals it away as A3C does)."""
    gamma: float | None = None
    """discount factor."""
    gae_lambda: float | None = None
    """GAE lambda (1: the n-step discounted advantage of A3C)."""
    ent_coef: float | None = None
    """entropy bonus coefficient."""
    vf_coef: float | None = None
    """value loss coefficient."""
    max_grad_norm: float | None = None
    """clip the global gradient norm to this (``inf``: no clipping)."""
    optimizer: str | None = None
    """"rmsprop" (SB3's A2C: eps outside the square root) or "adam"."""
    rms_alpha: float | None = None
    """RMSprop smoothing constant."""
    rms_eps: float | None = None
    """RMSprop (or Adam) epsilon."""
    hidden_sizes: tuple[int, ...] | None = None
    """hidden layer sizes of the policy and the value MLPs (vector observations; frames get the Nature CNN)."""
    normalize_advantage: bool | None = None
    """normalize the advantages of each rollout to zero mean and unit std."""

    def validate(self) -> None:
        super().validate()
        require_int(self, "n_steps", 1)
        require_real(self, "learning_rate", 0, low_open=True)
        require_real(self, "learning_rate_final", 0, optional=True)
        for name in ("gamma", "gae_lambda"):
            require_real(self, name, 0, 1)
        for name in ("ent_coef", "vf_coef"):
            require_real(self, name, 0)
        require_real(self, "max_grad_norm", 0, low_open=True)
        require(self, "optimizer", self.optimizer in ("rmsprop", "adam"), '"rmsprop" or "adam"')
        require_real(self, "rms_alpha", 0, 1)
        require_real(self, "rms_eps", 0, low_open=True)
        require(self, "hidden_sizes", len(self.hidden_sizes) > 0 and min(self.hidden_sizes) > 0, "positive sizes")


class A2C(AgentBase):
    """An A2C agent: its envs, policy and value networks, optimizer and counters.

    ``agent.train(steps)`` runs ``steps`` more env steps; ``agent.act(obs)`` picks actions;
    ``agent.save(path)`` / ``A2C.load(path)`` checkpoint and resume exactly (on CPU, bit for bit).
    """

    KIND = "a2c"
    CONFIG: ClassVar[type] = A2CConfig

    def __init__(self, config: A2CConfig | None = None, **overrides: Any) -> None:
        self.config = cfg = resolve_config(A2CConfig, config, overrides)
        self.device = torch_device(cfg.device, cfg.torch_threads)
        self.runner = EnvRunner(cfg.env_id, cfg.num_envs, cfg.seed, cfg.env_kwargs)
        space = self.runner.action_space
        if not isinstance(space, spaces.Discrete):
            self.runner.close()
            raise ValueError(f"env_id {cfg.env_id!r} has a {space} action space; A2C needs a Discrete one")
        self.n_actions, self.obs_shape = int(space.n), self.runner.obs_shape
        torch.manual_seed(cfg.seed)
        self.net = ActorCritic(self.obs_shape, self.n_actions, cfg.hidden_sizes).to(self.device)
        # One flat parameter buffer: clipping is one norm and one scale, the optimizer step a few ops on one
        # tensor (torch's per-parameter RMSprop and clip_grad_norm_ cost more than the whole forward pass).
        if cfg.optimizer == "rmsprop":
            self.optimizer: FlatAdam = FlatRMSprop(self.net, lr=cfg.learning_rate, alpha=cfg.rms_alpha,
                                                   eps=cfg.rms_eps)
        else:
            self.optimizer = FlatAdam(self.net, lr=cfg.learning_rate, eps=cfg.rms_eps)
        # The MLPs on the CPU get their gradient by hand (no autograd graph); autograd elsewhere.
        self._hand_grad = self.device.type == "cpu" and self.net.separate
        lr_end = cfg.learning_rate if cfg.learning_rate_final is None else cfg.learning_rate_final
        self.lr = LinearSchedule(cfg.learning_rate, lr_end, cfg.total_steps)
        self.buffer = None  # no replay memory
        self.rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0xA2C]))
        self.global_step = 0
        self.num_updates = 0
        self.meters = DeviceMeans(self.device, ("losses/policy_loss", "losses/value_loss", "losses/entropy"))

    # ---- acting ------------------------------------------------------------------------------------

    @torch.no_grad()
    def act(self, obs: np.ndarray | torch.Tensor, deterministic: bool = True) -> np.ndarray:
        """Actions ``(B,)`` int64 for observations ``(B, *obs_shape)``: the most likely, or sampled from the
        policy when ``deterministic`` is false."""
        obs_t = obs if isinstance(obs, torch.Tensor) else torch.as_tensor(np.asarray(obs, dtype=np.float32))
        if obs_t.shape[1:] != self.obs_shape:
            raise ValueError(f"obs must have shape (B, *{self.obs_shape}), got {tuple(obs_t.shape)}")
        logits, _ = self.net.policy(obs_t.to(self.device))
        if deterministic:
            return logits.argmax(dim=1).cpu().numpy()
        return torch.multinomial(F.softmax(logits, dim=1), 1).squeeze(1).cpu().numpy()

    def _sample_actions(self, obs: np.ndarray) -> np.ndarray:
        """Actions ``(N,)`` int64 drawn from the policy for the training envs, on the host from the agent's
        generator (the value network does not run)."""
        with torch.no_grad():
            logits, _ = self.net.policy(torch.from_numpy(obs).to(self.device))
        return sample_categorical(logits, self.rng)

    # ---- learning ----------------------------------------------------------------------------------

    def _update(self, obs, actions, rewards, next_obs, terminated, truncated) -> None:
        """One gradient step on a rollout: arrays ``(T, N, ...)``; see the module docstring."""
        cfg = self.config
        T, N = rewards.shape
        x = torch.from_numpy(obs).to(self.device).reshape(T * N, *self.obs_shape)
        next_x = torch.from_numpy(next_obs).to(self.device).reshape(T * N, *self.obs_shape)
        act_t = torch.from_numpy(actions.reshape(-1)).to(self.device)
        with torch.no_grad():
            # the TRUE next states: final observations where an episode ended, never a reset observation
            next_values = self.net.value(next_x)

        def targets(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self._advantages(values.detach(), next_values, rewards, terminated, truncated)

        coefs = dict(ent_coef=cfg.ent_coef, vf_coef=cfg.vf_coef, reduction="mean")
        if self._hand_grad:
            policy_loss, value_loss, entropy = mlp_loss_backward(self.net, x.flatten(1), act_t, targets, **coefs)
        else:
            logits, values, _ = self.net(x)
            adv_t, ret_t = targets(values)
            loss, policy_loss, value_loss, entropy = actor_critic_loss(logits, values, act_t, adv_t, ret_t, **coefs)
            self.optimizer.zero_grad()
            loss.backward()
        self.optimizer.lr = self.lr(self.global_step)
        if not math.isinf(cfg.max_grad_norm):
            self.optimizer.clip_grad_norm_(cfg.max_grad_norm)
        self.optimizer.step()
        self.num_updates += 1
        self.meters.add("losses/policy_loss", policy_loss.detach(), 1)
        self.meters.add("losses/value_loss", value_loss.detach(), 1)
        self.meters.add("losses/entropy", entropy.detach(), 1)

    def _advantages(self, values, next_values, rewards, terminated, truncated):
        """GAE advantages and value targets ``(T * N,)`` from ``fastrl.returns.gae`` (normalized if asked)."""
        cfg = self.config
        adv, ret = rollout_advantages(rewards, values, next_values, terminated, truncated, cfg.gamma, cfg.gae_lambda)
        adv_t = adv.to(self.device)
        if cfg.normalize_advantage and len(adv_t) > 1:
            adv_t = (adv_t - adv_t.mean()) / (adv_t.std() + 1e-8)
        return adv_t, ret.to(self.device)

    def train(self, steps: int | None = None, *, logger: Any = None, progress: bool = False,
              callback: Callable[[Any], None] | None = None, callback_interval: int = 0) -> A2C:
        """Trains for ``steps`` more env steps (default: up to ``config.total_steps``), in whole rollouts of
        ``n_steps * num_envs``; returns ``self``."""
        cfg = self.config
        T, N = cfg.n_steps, cfg.num_envs
        obs = np.empty((T, N, *self.obs_shape), np.float32)
        next_obs = np.empty_like(obs)
        actions = np.empty((T, N), np.int64)
        rewards = np.empty((T, N), np.float64)
        terminated = np.empty((T, N), bool)
        truncated = np.empty((T, N), bool)
        with TrainLoop(self, steps, log_interval=cfg.log_interval, logger=logger, progress=progress,
                       callback=callback, callback_interval=callback_interval) as loop:
            while loop.running:
                for t in range(T):
                    prev = self.global_step
                    obs[t] = self.runner.obs
                    a = self._sample_actions(obs[t])
                    tr = self.runner.step(a)
                    actions[t], rewards[t], next_obs[t] = a, tr.reward, tr.next_obs
                    terminated[t], truncated[t] = tr.terminated, tr.truncated
                    self.global_step = prev + N
                    if t == T - 1:  # the update belongs to this step's bookkeeping (logged losses, callbacks)
                        self._update(obs, actions, rewards, next_obs, terminated, truncated)
                    loop.record(prev, self.global_step, tr.episodes)
        return self

    def interval_metrics(self, step: int) -> dict[str, float]:
        """Host-side values logged every ``log_interval`` (the losses come from ``meters``)."""
        return {"charts/num_updates": self.num_updates, "charts/learning_rate": self.lr(step)}

    def progress_text(self, step: int) -> str:
        return ""

    # ---- checkpoints -------------------------------------------------------------------------------

    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        """Everything needed to continue exactly: networks, optimizer, counters, RNG, envs (``include_replay``
        is accepted for the shared interface: there is no replay memory)."""
        return {
            "config": self.config.to_dict(),
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "counters": {"global_step": self.global_step, "num_updates": self.num_updates},
            "meters": self.meters.state_dict(),
            "rng": {"numpy": self.rng.bit_generator.state, "torch": torch_rng_state()},
            "runner": self.runner.state_dict(),
        }

    def load_networks(self, state: dict[str, Any]) -> None:
        """Restores the policy and value networks from a checkpoint payload."""
        self.net.load_state_dict(state["net"])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output into this agent (same env and network settings)."""
        self.load_networks(state)
        self.optimizer.load_state_dict(state["optimizer"])
        c = state["counters"]
        self.global_step, self.num_updates = int(c["global_step"]), int(c["num_updates"])
        self.meters.load_state_dict(state["meters"])
        self.rng.bit_generator.state = state["rng"]["numpy"]
        set_torch_rng_state(state["rng"]["torch"])
        self.runner.load_state_dict(state["runner"])
