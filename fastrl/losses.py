"""TD losses of the value-based agents, with a hand-written gradient for MLP Q-networks.

For a small MLP Q-network on a CPU, autograd's bookkeeping (recording a graph of ~10 nodes, running the
engine, accumulating six gradients) costs about a quarter of a gradient step. The Huber TD loss has a short
closed-form gradient with respect to the Q-values, and :func:`fastrl.nets.linear_stack_backward` carries it
through the network with the same arithmetic as autograd, so :func:`huber_td_backward` gives autograd's
gradients, bit for bit, without a graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fastrl.nets import QNetwork, linear_stack_backward, linear_stack_forward

__all__ = ["huber_td_backward"]


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
