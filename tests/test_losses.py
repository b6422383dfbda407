"""The hand-written Huber TD gradient against autograd."""

import pytest
import torch
import torch.nn.functional as F

from fastrl.losses import huber_td_backward
from fastrl.nets import q_network


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
