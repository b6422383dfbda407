"""A3C (asynchronous advantage actor-critic; Mnih et al., 2016) in one file: config, worker, agent.

``num_workers`` processes share one :class:`fastrl.agents.actor_critic.ActorCritic` and one optimizer in
shared memory (:mod:`fastrl.agents.hogwild`). Each worker, over and over:

1. copies the shared parameters into its local network;
2. steps its ``num_envs`` envs ``t_max`` times, sampling actions from the local policy (a recurrent policy's
   memory carries across rollouts and resets where an episode starts);
3. computes advantages and returns with ``fastrl.returns.gae`` (lambda 1: the n-step advantage
   ``R_t - V(s_t)`` of the paper, returns bootstrapped from the value of the last state). The bootstrap is
   truncation-correct: at a time limit it uses the value of the true final observation, at a termination 0;
4. takes the gradient of the summed loss (as the paper and PFRL; see :mod:`fastrl.agents.actor_critic`)::

       L = sum_t [ -A_t log pi(a_t | s_t) - ent_coef * H(pi(. | s_t)) + vf_coef * (V(s_t) - R_t)**2 ]

   (``vf_coef = 0.25`` is PFRL's ``0.5 * (0.5 * (V - R)**2)``), clips its global norm to ``max_grad_norm``
   and applies it to the shared parameters with the shared RMSprop (eps inside the square root, as the paper
   and PFRL) or Adam, its learning rate annealed linearly to ``learning_rate_final`` (0) over
   ``total_steps`` global steps;
5. adds its ``t_max * num_envs`` steps to the global step counter.

Hogwild updates race by design, so runs with several workers are not reproducible step for step; with one
worker a seeded run is. A checkpoint holds the shared network, the optimizer statistics and the counters; a
resumed run continues from those with fresh envs (seeded apart from the first run's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from fastrl.agents.actor_critic import (
    ActorCritic,
    actor_critic_loss,
    mlp_loss_backward,
    rollout_advantages,
    sample_categorical,
)
from fastrl.agents.config import require_real
from fastrl.agents.hogwild import HogwildAgent, HogwildConfig, HogwildWorker, WorkerLink

__all__ = ["A3CConfig", "A3C", "PRESETS"]

PRESETS: dict[str, dict[str, Any]] = {
    # 2 workers of 8 envs each (t_max 5: 40 transitions per update), RMSprop 1.5e-3 annealed to 0 with a
    # small eps (1e-5), no entropy bonus, gradient norm 20 (0.5 per sample, as rl-zoo's A2C), 64x64 policy and
    # value MLPs. With one env per worker and PFRL's settings (eps 0.1, beta 0.01, norm 40) CartPole learns
    # slowly: greedy returns of 80-130 after 500K steps on the seeds tried.
    "CartPole-v1": dict(num_workers=2, num_envs=8, total_steps=500_000, learning_rate=1.5e-3, rms_eps=1e-5,
                        ent_coef=0.0, max_grad_norm=20.0),
    # The paper's and PFRL's Atari settings: 16 workers, t_max 5, RMSprop 7e-4 (alpha 0.99, eps 0.1 inside
    # the square root) annealed to 0 over 80M steps, beta 0.01, gradient norm 40, on the Nature CNN. Set
    # num_workers to the cores you have.
    "atari": dict(num_workers=16, num_envs=1, total_steps=80_000_000, log_interval=100_000),
}

_DEFAULTS: dict[str, Any] = dict(
    total_steps=1_000_000, num_workers=2, num_envs=1, t_max=5, learning_rate=7e-4, learning_rate_final=0.0,
    gamma=0.99, gae_lambda=1.0, ent_coef=0.01, vf_coef=0.25, max_grad_norm=40.0, optimizer="rmsprop",
    rms_alpha=0.99, rms_eps=0.1, hidden_sizes=(64, 64), recurrent=False, lstm_size=256, eval_interval=0,
    torch_threads=None, log_interval=10_000, save_replay=False, stop_window=10,
)


@dataclass
class A3CConfig(HogwildConfig):
    """Every setting of an :class:`A3C` run: the asynchronous agents' fields (:class:`HogwildConfig`) and the
    loss's. Fields left None come from the preset (``preset`` if named, else the one of ``env_id``;
    ``"atari"`` for every Atari id), then from the defaults. Steps are global env steps: every worker's env
    steps added together. ``num_envs`` is envs per worker."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    DEFAULTS: ClassVar[dict[str, Any]] = _DEFAULTS

    gae_lambda: float | None = None
    """GAE lambda (1: the paper's n-step advantage)."""
    ent_coef: float | None = None
    """entropy bonus coefficient (the paper's beta)."""
    vf_coef: float | None = None
    """coefficient of the summed squared value error."""

    def validate(self) -> None:
        super().validate()
        require_real(self, "gae_lambda", 0, 1)
        for name in ("ent_coef", "vf_coef"):
            require_real(self, name, 0)


class _Worker(HogwildWorker):
    """One worker process (envs, local network, rollout arrays): steps 1-5 of the module docstring."""

    def rollout(self, link: WorkerLink) -> None:
        memory0, before = self.collect(link, lambda logits: sample_categorical(logits, self.rng))
        policy_loss, value_loss, entropy = self._gradient(memory0)
        norm = self.apply(before)
        for name, value in zip(A3C.METERS, (policy_loss, value_loss, entropy, norm), strict=True):
            link.add(name, float(value))

    def _gradient(self, memory0: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Writes the gradient of the rollout's loss into ``self.grad``; returns the logged means."""
        cfg = self.config
        T, N = cfg.t_max, cfg.num_envs
        obs, next_obs = torch.from_numpy(self.obs), torch.from_numpy(self.next_obs)
        actions = torch.from_numpy(self.actions.reshape(-1))
        coefs = dict(ent_coef=cfg.ent_coef, vf_coef=cfg.vf_coef, reduction="sum")
        if self.local.separate:  # two MLPs: the gradient by hand, no autograd graph
            with torch.no_grad():
                next_values = self.local.value(next_obs.reshape(T * N, -1))
            return mlp_loss_backward(self.local, obs.reshape(T * N, -1), actions,
                                     lambda values: self._targets(values, next_values), **coefs)
        logits, values, next_values = self.local.unroll(obs, next_obs, memory0, torch.from_numpy(self.starts[:T]))
        adv, ret = self._targets(values.detach(), next_values)
        loss, policy_loss, value_loss, entropy = actor_critic_loss(logits, values, actions, adv, ret, **coefs)
        self.grad.zero_()
        loss.backward()
        return policy_loss, value_loss, entropy

    def _targets(self, values: torch.Tensor, next_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE advantages and returns ``(T * N,)`` (see the module docstring)."""
        cfg = self.config
        return rollout_advantages(self.rewards, values, next_values, self.terminated, self.truncated, cfg.gamma,
                                  cfg.gae_lambda)


class A3C(HogwildAgent):
    """An A3C agent: the shared network and optimizer, the global step counter and the worker processes.

    ``agent.train(steps)`` runs ``steps`` more global env steps on the workers; ``agent.act(obs)`` picks
    actions; ``agent.save(path)`` / ``A3C.load(path)`` checkpoint and resume (see the module docstring for
    what a resume reproduces); ``agent.close()`` stops the workers.
    """

    KIND = "a3c"
    CONFIG: ClassVar[type] = A3CConfig
    WORKER: ClassVar[type] = _Worker
    METERS = ("losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/grad_norm")

    def __init__(self, config: A3CConfig | None = None, **overrides: Any) -> None:
        self._init_hogwild(config, overrides)

    def build_network(self) -> ActorCritic:
        """A fresh network of this agent's architecture."""
        cfg = self.config
        return ActorCritic(self.obs_shape, self.n_actions, cfg.hidden_sizes, recurrent=cfg.recurrent,
                           lstm_size=cfg.lstm_size)

    def _explore(self, logits: torch.Tensor) -> np.ndarray:
        """Actions sampled from the policy (``act(obs, deterministic=False)``)."""
        return torch.multinomial(F.softmax(logits, dim=1), 1).squeeze(1).numpy()
