"""Losses of the agents with hand-written gradients for MLP networks.

For a small MLP on a CPU, autograd's bookkeeping (recording a graph of ~10 nodes, running the engine,
accumulating six gradients) costs about a quarter of a gradient step. These losses have short closed-form
gradients with respect to the network outputs, and :func:`fastrl.nets.linear_stack_backward` carries them
through the networks with the same arithmetic as autograd:

- :func:`huber_td_backward`: DQN's Huber TD loss (autograd's gradients bit for bit);
- :func:`critic_mse_backward`: the critics' squared TD error of DDPG and TD3;
- :func:`dpg_actor_backward`: the deterministic policy gradient of the actor through a critic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fastrl.nets import Actor, Critic, Critics, QNetwork, linear_stack_backward, linear_stack_forward

__all__ = ["huber_td_backward", "critic_mse_backward", "dpg_actor_backward"]


def huber_td_backward(
    q_net: QNetwork, obs: torch.Tensor, action: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The Huber TD loss and its gradient, added to ``q_net``'s parameter ``.grad`` as ``loss.backward()``.

    With ``q_i = Q(obs_i, action_i)``, ``d_i = q_i - y_i`` and weights ``w_i`` (1 without ``weights``)::

        loss = mean_i w_i * huber(d_i),   huber(d) = d**2 / 2 if |d| < 1 else |d| - 1/2
        dloss/dq_i = w_i * clamp(d_i, -1, 1) / B

    which is ``F.smooth_l1_loss(q, y)`` (or ``(F.smooth_l1_loss(q, y, reduction="none") * weights).mean()``)
    and its autograd gradient, op for op.

    Args:
        q_net: a :class:`fastrl.nets.QNetwork` whose ``linear_layers`` is not None (an MLP Q-network).
        obs: ``(B, obs_dim)`` float observations.
        action: ``(B,)`` int64 actions taken.
        y: ``(B,)`` TD targets (no gradient flows into them).
        weights: ``(B,)`` importance weights, or None.

    Returns:
        ``(loss, q)``: the 0-d loss and ``Q(obs, action)`` ``(B,)``, both without a graph.
    """
    layers = q_net.linear_layers
    if layers is None:
        raise ValueError("q_net must be an MLP Q-network (q_net.linear_layers is None)")
    with torch.no_grad():
        q_all, acts = linear_stack_forward(obs.flatten(1) if obs.dim() > 2 else obs, layers, relu_last=False)
        index = action.unsqueeze(1)
        q = q_all.gather(1, index).squeeze(1)
        d = q - y
        # The factors multiply in the order autograd multiplies them, so the rounding is the same.
        if weights is None:
            loss = F.smooth_l1_loss(q, y)
            dq = d.clamp(-1.0, 1.0).mul_(1.0 / len(q))
        else:
            loss = (F.smooth_l1_loss(q, y, reduction="none") * weights).mean()
            dq = d.clamp(-1.0, 1.0).mul_(weights * (1.0 / len(q)))
        grad = torch.zeros_like(q_all).scatter_(1, index, dq.unsqueeze(1))
        linear_stack_backward(grad, acts, layers, relu_last=False)
    return loss, q


def _critic_layers(critic: Critic) -> list:
    if critic.linear_layers is None:
        raise ValueError("critic must take the action at its input (action_layer=0) for a hand-written gradient")
    return critic.linear_layers


def critic_mse_backward(
    critics: Critics, obs: torch.Tensor, action: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None,
    *, accumulate: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The critics' loss and its gradient, added to their parameters' ``.grad`` as ``loss.backward()``
    (``accumulate=False``: written over the existing ``.grad`` tensors, so no ``zero_grad`` is needed).

    With ``q_k = Q_k(obs, action)`` for the ``n`` critics and weights ``w_i`` (1 without ``weights``)::

        loss = sum_k mean_i w_i (q_ki - y_i)**2,      dloss/dq_ki = 2 w_i (q_ki - y_i) / B

    Args:
        critics: :class:`fastrl.nets.Critics` whose critics take the action at the input.
        obs: ``(B, obs_dim)`` float32 observations.
        action: ``(B, act_dim)`` float32 actions.
        y: ``(B,)`` TD targets (no gradient flows into them).
        weights: ``(B,)`` importance weights (prioritized replay), or None.

    Returns:
        ``(loss, q)``: the 0-d loss and ``(n, B)`` Q-values, without a graph.
    """
    with torch.no_grad():
        x = torch.cat([obs.flatten(1), action.flatten(1)], dim=1)
        scale = 2.0 / len(y)
        losses, qs = [], []
        for critic in critics.critics:
            layers = _critic_layers(critic)
            q, acts = linear_stack_forward(x, layers, relu_last=False)
            d = q.squeeze(1) - y
            if weights is None:
                losses.append(d.square().mean())
                dq = d.mul(scale)
            else:
                losses.append((d.square() * weights).mean())
                dq = d.mul(weights).mul_(scale)
            qs.append(q.squeeze(1))
            linear_stack_backward(dq.unsqueeze(1), acts, layers, relu_last=False, accumulate=accumulate)
        loss = losses[0] if len(losses) == 1 else sum(losses[1:], losses[0])
        return loss, torch.stack(qs)


def dpg_actor_backward(actor: Actor, critic: Critic, obs: torch.Tensor, *, accumulate: bool = True) -> torch.Tensor:
    """The deterministic policy gradient: ``loss = -mean_i Q(obs_i, mu(obs_i))`` and its gradient with
    respect to the actor's parameters, added to their ``.grad`` (``accumulate=False``: written over it); the
    critic's ``.grad`` is left alone.

    With ``mu(s) = bias + scale * tanh(z)`` and ``z`` the actor MLP's output::

        dloss/da_i = -(1/B) dQ/da (obs_i, a_i),    dloss/dz_i = dloss/da_i * scale * (1 - tanh(z_i)**2)

    Args:
        actor: a :class:`fastrl.nets.Actor`.
        critic: a :class:`fastrl.nets.Critic` taking the action at its input.
        obs: ``(B, obs_dim)`` float32 observations.

    Returns:
        The 0-d loss, without a graph.
    """
    critic_layers = _critic_layers(critic)
    with torch.no_grad():
        obs = obs.flatten(1)
        z, actor_acts = linear_stack_forward(obs, actor.net.linears, relu_last=False)
        t = torch.tanh(z)
        a = torch.addcmul(actor.action_bias, t, actor.action_scale)
        q, critic_acts = linear_stack_forward(torch.cat([obs, a], dim=1), critic_layers, relu_last=False)
        loss = q.mean().neg()
        grad_q = torch.full_like(q, -1.0 / len(q))
        grad_x = linear_stack_backward(grad_q, critic_acts, critic_layers, relu_last=False, param_grads=False,
                                       input_grad=True)
        assert grad_x is not None
        # d tanh(z)/dz = 1 - tanh(z)**2
        grad_z = grad_x[:, obs.shape[1]:] * actor.action_scale * (1.0 - t * t)
        linear_stack_backward(grad_z, actor_acts, actor.net.linears, relu_last=False, accumulate=accumulate)
        return loss
