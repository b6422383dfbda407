"""The network and the loss that A2C and A3C share.

:class:`ActorCritic` maps observations to policy logits and a state value. For vector observations without
memory it is two MLPs (policy and value, as SB3's and PFRL's actor-critics), whose gradient is written by
hand on the CPU (:func:`mlp_loss_backward`: no autograd graph, which costs more than the arithmetic at these
sizes). For frames it is a Nature-CNN torso shared by a policy and a value head; ``recurrent=True`` adds an
LSTM after the torso, whose per-env state carries across steps and resets at episode starts.

The loss of a rollout of ``B`` samples (:func:`actor_critic_loss`), with ``w = 1/B`` (``reduction="mean"``,
SB3's A2C) or ``w = 1`` (``"sum"``, the A3C paper's and PFRL's)::

    L = w * sum_i [ -A_i log pi(a_i | s_i) - ent_coef * H(pi(. | s_i)) + vf_coef * (V(s_i) - R_i)**2 ]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fastrl.nets import MLP, LSTMCore, LSTMState, is_image_shape, linear_stack_backward, linear_stack_forward, torso
from fastrl.returns import gae

__all__ = ["ActorCritic", "actor_critic_loss", "mlp_loss_backward", "rollout_advantages", "sample_categorical"]


class ActorCritic(nn.Module):
    """Policy logits ``(B, n_actions)`` and values ``(B,)`` from observations ``(B, *obs_shape)``.

    Args:
        obs_shape: one observation's shape; ``(C, H, W)`` frames get the Nature CNN.
        n_actions: number of discrete actions.
        hidden_sizes: hidden layers of the MLPs (vector observations).
        recurrent: add an LSTM of ``lstm_size`` units after the torso (the torso is then shared).
        lstm_size: LSTM units.

    Attributes:
        separate: True when the policy and the value are two MLPs (``pi``, ``v``) with nothing shared: the
            case :func:`mlp_loss_backward` serves.
    """

    def __init__(self, obs_shape: Sequence[int], n_actions: int, hidden_sizes: Sequence[int] = (64, 64), *,
                 recurrent: bool = False, lstm_size: int = 256) -> None:
        super().__init__()
        if n_actions <= 0:
            raise ValueError(f"n_actions must be positive, got {n_actions}")
        self.recurrent = bool(recurrent)
        self.separate = not self.recurrent and not is_image_shape(obs_shape)
        self.lstm: LSTMCore | None = None
        if self.separate:
            in_dim = int(np.prod(obs_shape))
            self.pi = MLP(in_dim, hidden_sizes, n_actions)
            self.v = MLP(in_dim, hidden_sizes, 1)
            return
        self.torso = torso(obs_shape, hidden_sizes)
        features = self.torso.out_dim
        if self.recurrent:
            self.lstm = LSTMCore(features, lstm_size)
            features = lstm_size
        self.pi_head = nn.Linear(features, n_actions)
        self.v_head = nn.Linear(features, 1)

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> LSTMState | None:
        """The memory of ``batch`` envs at their episodes' start (None without ``recurrent``)."""
        return None if self.lstm is None else self.lstm.initial_state(batch, device)

    def _features(self, obs: torch.Tensor, state: LSTMState | None,
                  starts: torch.Tensor | None) -> tuple[torch.Tensor, LSTMState | None]:
        x = self.torso(obs)
        if self.lstm is None:
            return x, None
        assert state is not None, "a recurrent network needs its state"
        state = self.lstm(x, state, starts)
        return state[0], state

    def forward(self, obs: torch.Tensor, state: LSTMState | None = None, starts: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, LSTMState | None]:
        """One step: ``(logits, values, new state)``; ``starts`` ``(B,)`` bool zeroes the memory of envs
        whose episode starts at ``obs``."""
        if self.separate:
            obs = obs.flatten(1)
            return self.pi(obs), self.v(obs).squeeze(1), None
        x, state = self._features(obs, state, starts)
        return self.pi_head(x), self.v_head(x).squeeze(1), state

    def policy(self, obs: torch.Tensor, state: LSTMState | None = None, starts: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, LSTMState | None]:
        """``(logits, new state)``: acting, without the value where it costs a network of its own."""
        if self.separate:
            return self.pi(obs.flatten(1)), None
        x, state = self._features(obs, state, starts)
        return self.pi_head(x), state

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """Values ``(B,)`` of observations for a network without memory (the policy does not run when the
        networks are separate)."""
        if self.separate:
            return self.v(obs.flatten(1)).squeeze(1)
        if self.lstm is not None:
            raise ValueError("a recurrent network's values depend on its memory: use forward() or unroll()")
        return self.v_head(self.torso(obs)).squeeze(1)

    def unroll(self, obs: torch.Tensor, next_obs: torch.Tensor, state: LSTMState | None, starts: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A rollout ``obs`` ``(T, N, *obs_shape)`` from the memory it started with: ``(logits (T*N, A),
        values (T*N,), next_values (T*N,))``, where ``next_values[t]`` is the value of ``next_obs[t]`` (the TRUE
        next state) with the memory after step ``t``, computed without gradient. ``starts`` ``(T, N)`` marks
        episode starts (recurrent networks zero their memory there)."""
        T, N = obs.shape[:2]
        flat = obs.reshape(T * N, *obs.shape[2:])
        next_flat = next_obs.reshape(T * N, *obs.shape[2:])
        if self.separate:
            logits, values, _ = self.forward(flat)
            with torch.no_grad():
                next_values = self.value(next_flat)
            return logits, values, next_values
        x = self.torso(flat)
        if self.lstm is not None:
            assert state is not None, "a recurrent network needs its state"
            hs, cs = self.lstm.unroll(x.reshape(T, N, -1), state, starts)
            x = hs.reshape(T * N, -1)
            with torch.no_grad():
                next_x = self.lstm.cell(self.torso(next_flat), (hs.reshape(T * N, -1), cs.reshape(T * N, -1)))[0]
        else:
            with torch.no_grad():
                next_x = self.torso(next_flat)
        with torch.no_grad():
            next_values = self.v_head(next_x).squeeze(1)
        return self.pi_head(x), self.v_head(x).squeeze(1), next_values


def sample_categorical(logits: torch.Tensor, rng: np.random.Generator) -> np.ndarray:
    """Actions ``(B,)`` int64 drawn from ``softmax(logits)`` on the host, from ``rng``: the Gumbel-max trick,
    ``argmax(z + g)`` with ``g = -log(E)``, ``E ~ Exp(1)`` (cheaper than torch's sampler for a few envs)."""
    z = logits.detach().cpu().numpy()
    with np.errstate(divide="ignore"):  # E == 0 (probability 2**-53) gives +inf: that action, as it should
        return np.argmax(z - np.log(rng.standard_exponential(z.shape, dtype=np.float32)), axis=1)


def rollout_advantages(rewards: np.ndarray, values: torch.Tensor, next_values: torch.Tensor, terminated: np.ndarray,
                       truncated: np.ndarray, gamma: float, gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE advantages and value targets of a rollout, flat ``(T * N,)`` CPU tensors, from ``fastrl.returns.gae``
    with the rollout's ``(T, N)`` rewards and flags and the values ``(T * N,)`` of its states and of their TRUE
    next states (bootstrapped at time limits, not at terminations)."""
    T, N = rewards.shape
    adv, ret = gae(np.asarray(rewards, dtype=np.float32), values.cpu().numpy().reshape(T, N),
                   next_values.cpu().numpy().reshape(T, N), terminated, truncated, gamma, gae_lambda)
    return torch.from_numpy(adv.reshape(-1)), torch.from_numpy(ret.reshape(-1))


def actor_critic_loss(logits: torch.Tensor, values: torch.Tensor, actions: torch.Tensor,
                      advantages: torch.Tensor, returns: torch.Tensor, *, ent_coef: float, vf_coef: float,
                      reduction: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The module docstring's loss (autograd): ``(loss, policy_loss, value_loss, entropy)``, the last three
    per-sample means (for logging)."""
    log_probs = F.log_softmax(logits, dim=1)
    log_pi = log_probs.gather(1, actions.unsqueeze(1)).squeeze(1)
    entropy = -(log_probs.exp() * log_probs).sum(dim=1)
    sq = (values - returns).square()
    per_sample = -advantages * log_pi - ent_coef * entropy + vf_coef * sq
    loss = per_sample.mean() if reduction == "mean" else per_sample.sum()
    with torch.no_grad():
        return loss, -(advantages * log_pi).mean(), sq.mean(), entropy.mean()


@torch.no_grad()
def mlp_loss_backward(net: ActorCritic, x: torch.Tensor, actions: torch.Tensor,
                      targets: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], *, ent_coef: float,
                      vf_coef: float, reduction: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss of the module docstring for a :attr:`ActorCritic.separate` network, its gradient written over
    the parameters' ``.grad`` without autograd; returns ``(policy_loss, value_loss, entropy)`` means.

    ``targets(values)`` gives ``(advantages, returns)`` ``(B,)`` from the values ``(B,)`` of ``x``. With
    ``p = softmax(z)``, ``h = -sum(p log p)`` and the weight ``w`` of the reduction::

        dL/dz = w * A * (p - onehot(a)) + w * ent_coef * p * (log p + h)
        dL/dV = w * vf_coef * 2 * (V - R)
    """
    pi, v = net.pi.linears, net.v.linears
    logits, pi_acts = linear_stack_forward(x, pi, relu_last=False)
    values, v_acts = linear_stack_forward(x, v, relu_last=False)
    values = values.squeeze(1)
    adv, ret = targets(values)
    w = 1.0 / len(adv) if reduction == "mean" else 1.0
    log_probs = F.log_softmax(logits, dim=1)
    probs = log_probs.exp()
    h = -(probs * log_probs).sum(dim=1)
    index = actions.unsqueeze(1)
    scaled = adv * w
    grad_z = probs * scaled.unsqueeze(1)
    grad_z.scatter_add_(1, index, -scaled.unsqueeze(1))
    if ent_coef:
        grad_z.add_(probs * (log_probs + h.unsqueeze(1)), alpha=ent_coef * w)
    diff = values - ret
    linear_stack_backward(grad_z, pi_acts, pi, relu_last=False, accumulate=False)
    linear_stack_backward(diff.mul(vf_coef * 2.0 * w).unsqueeze(1), v_acts, v, relu_last=False, accumulate=False)
    policy_loss = -(adv * log_probs.gather(1, index).squeeze(1)).mean()
    return policy_loss, diff.square().mean(), h.mean()
