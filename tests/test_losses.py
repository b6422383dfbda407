"""The hand-written gradients (Huber TD loss, the critics' squared TD error, the deterministic policy
gradient) against autograd."""

import pytest
import torch
import torch.nn.functional as F

from fastrl.losses import critic_mse_backward, dpg_actor_backward, huber_td_backward
from fastrl.nets import Actor, Critic, Critics, q_network


def _autograd_reference(q_net, obs, action, y, weights):
    q = q_net(obs).gather(1, action.unsqueeze(1)).squeeze(1)
    if weights is None:
        loss = F.smooth_l1_loss(q, y)
    else:
        loss = (F.smooth_l1_loss(q, y, reduction="none") * weights).mean()
    loss.backward()
    return loss.detach(), q.detach()


@pytest.mark.parametrize("batch,weighted", [(64, False), (64, True), (48, False), (37, True)])
@pytest.mark.parametrize("hidden", [(256, 256), (16,)])
def test_gradients_equal_autograd_bit_for_bit(batch, weighted, hidden):
    torch.manual_seed(batch)
    q_net = q_network((4,), 3, hidden)
    obs = torch.randn(batch, 4)
    action = torch.randint(0, 3, (batch,))
    y = torch.randn(batch) * 3  # both sides of the Huber kink
    weights = torch.rand(batch) if weighted else None
    ref_loss, ref_q = _autograd_reference(q_net, obs, action, y, weights)
    ref_grads = [p.grad.clone() for p in q_net.parameters()]
    q_net.zero_grad(set_to_none=False)
    loss, q = huber_td_backward(q_net, obs, action, y, weights)
    assert torch.equal(loss, ref_loss) and torch.equal(q, ref_q)
    assert loss.grad_fn is None and q.grad_fn is None
    for p, ref in zip(q_net.parameters(), ref_grads, strict=True):
        assert torch.equal(p.grad, ref)


def test_gradients_accumulate_like_backward():
    torch.manual_seed(0)
    q_net = q_network((4,), 2, (8,))
    obs, action, y = torch.randn(5, 4), torch.tensor([0, 1, 1, 0, 1]), torch.randn(5)
    huber_td_backward(q_net, obs, action, y)  # grads start as None
    once = [p.grad.clone() for p in q_net.parameters()]
    huber_td_backward(q_net, obs, action, y)
    for p, g in zip(q_net.parameters(), once, strict=True):
        torch.testing.assert_close(p.grad, 2 * g)


def test_rejects_networks_that_are_not_one_linear_stack():
    with pytest.raises(ValueError, match="q_net"):
        huber_td_backward(q_network((4,), 2, (8,), dueling=True), torch.zeros(2, 4), torch.zeros(2, dtype=torch.long),
                          torch.zeros(2))


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6 * (1.0 + float(b.abs().max())))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_critics, hidden, batch", [(1, (64, 64), 256), (2, (32, 16), 37), (2, (400, 300), 64)])
def test_critic_mse_gradient_equals_autograd(n_critics, hidden, batch, weighted):
    """Plain, and with importance weights (prioritized replay): sum_k mean_i w_i (Q_k(s_i, a_i) - y_i)**2."""
    torch.manual_seed(n_critics + batch)
    critics = Critics(n_critics, 5, 3, hidden)
    reference = Critics(n_critics, 5, 3, hidden)
    reference.load_state_dict(critics.state_dict())
    obs, action, y = torch.randn(batch, 5), torch.randn(batch, 3), torch.randn(batch) * 3
    weights = torch.rand(batch) if weighted else None
    loss, q = critic_mse_backward(critics, obs, action, y, weights)
    q_ref = reference(obs, action)
    loss_ref = ((q_ref - y).square() * (1.0 if weights is None else weights)).mean(dim=1).sum()
    loss_ref.backward()
    _close(loss, loss_ref.detach())
    _close(q, q_ref.detach())
    for p, r in zip(critics.parameters(), reference.parameters(), strict=True):
        _close(p.grad, r.grad)


@pytest.mark.parametrize("act_dim, hidden", [(1, (64, 64)), (3, (32,))])
def test_dpg_actor_gradient_equals_autograd_and_leaves_the_critic_alone(act_dim, hidden):
    torch.manual_seed(act_dim)
    low, high = [-2.0] * act_dim, [1.0] * act_dim
    actor = Actor(4, act_dim, low, high, hidden)
    critic = Critic(4, act_dim, hidden)
    ref_actor = Actor(4, act_dim, low, high, hidden)
    ref_actor.load_state_dict(actor.state_dict())
    ref_critic = Critic(4, act_dim, hidden)
    ref_critic.load_state_dict(critic.state_dict())
    obs = torch.randn(50, 4)
    loss = dpg_actor_backward(actor, critic, obs)
    ref_loss = -ref_critic(obs, ref_actor(obs)).mean()
    ref_loss.backward()
    _close(loss, ref_loss.detach())
    for p, r in zip(actor.parameters(), ref_actor.parameters(), strict=True):
        _close(p.grad, r.grad)
    assert all(p.grad is None for p in critic.parameters())


def test_hand_written_critic_gradients_need_the_action_at_the_input():
    critics = Critics(1, 4, 1, (16, 16), action_layer=1)
    with pytest.raises(ValueError, match="action_layer"):
        critic_mse_backward(critics, torch.zeros(2, 4), torch.zeros(2, 1), torch.zeros(2))


def test_written_gradients_equal_accumulated_ones():
    torch.manual_seed(3)
    critics = Critics(2, 4, 2, (32, 16))
    actor = Actor(4, 2, [-1, -1], [1, 1], (8,))
    obs, action, y = torch.randn(20, 4), torch.randn(20, 2), torch.randn(20)
    for p in [*critics.parameters(), *actor.parameters()]:
        p.grad = torch.full_like(p, 7.0)  # stale values: overwritten, not added to
    critic_mse_backward(critics, obs, action, y, accumulate=False)
    dpg_actor_backward(actor, critics.critics[0], obs, accumulate=False)
    written = [p.grad.clone() for p in [*critics.parameters(), *actor.parameters()]]
    for p in [*critics.parameters(), *actor.parameters()]:
        p.grad = None
    critic_mse_backward(critics, obs, action, y)
    dpg_actor_backward(actor, critics.critics[0], obs)
    for w, p in zip(written, [*critics.parameters(), *actor.parameters()], strict=True):
        assert torch.equal(w, p.grad)
    with pytest.raises(ValueError, match="contiguous .grad"):
        for p in critics.parameters():
            p.grad = None
        critic_mse_backward(critics, obs, action, y, accumulate=False)
