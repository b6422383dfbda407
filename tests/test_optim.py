"""Flat parameters and FlatAdam against torch.optim.Adam and clip_grad_norm_."""

import copy
import math

import pytest
import torch

from fastrl.nets import q_network
from fastrl.optim import FlatAdam, flatten_parameters


def _regression_step(net, x, target):
    return ((net(x) - target) ** 2).mean()


def _train_pair(max_norm, steps, fused_reference, weight_decay=0.0):
    """Trains a network with FlatAdam and a copy with torch.optim.Adam on the same batches."""
    torch.manual_seed(0)
    ours = q_network((4,), 3, (32, 32))
    ref = copy.deepcopy(ours)
    opt = FlatAdam(ours, lr=3e-3, betas=(0.8, 0.99), eps=1e-7, weight_decay=weight_decay)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=3e-3, betas=(0.8, 0.99), eps=1e-7, fused=fused_reference,
                               weight_decay=weight_decay)
    norms = []
    for _ in range(steps):
        x, target = torch.randn(16, 4), torch.randn(16, 3) * 10
        opt.zero_grad()
        _regression_step(ours, x, target).backward()
        norm = opt.clip_grad_norm_(max_norm)
        opt.step()
        ref_opt.zero_grad()
        _regression_step(ref, x, target).backward()
        ref_norm = torch.nn.utils.clip_grad_norm_(ref.parameters(), max_norm)
        ref_opt.step()
        norms.append((float(norm), float(ref_norm)))
    return ours, ref, norms


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_flat_adam_is_torch_fused_adam_bit_for_bit_without_clipping(weight_decay):
    ours, ref, norms = _train_pair(math.inf, 200, fused_reference=True, weight_decay=weight_decay)
    for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q)
    for norm, ref_norm in norms:  # inf: measured only
        assert norm == pytest.approx(ref_norm, rel=1e-5)


def test_flat_adam_matches_torch_adam_with_clipping():
    # The clip norm is taken over the flat buffer instead of as a norm of per-tensor norms, so it differs in
    # the last bits; Adam divides by sqrt(v), which magnifies such differences over hundreds of steps, so
    # the comparison runs 50 steps (clipping active on every one) with a tight tolerance.
    ours, ref, norms = _train_pair(1.0, 50, fused_reference=False)
    assert all(ref_norm > 1.0 for _, ref_norm in norms)
    for norm, ref_norm in norms:
        assert norm == pytest.approx(ref_norm, rel=1e-5)
    for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_parameters_and_grads_are_views_of_the_flat_buffers():
    torch.manual_seed(1)
    net = q_network((4,), 2, (8,))
    before = [p.detach().clone() for p in net.parameters()]
    opt = FlatAdam(net, lr=1e-2)
    assert opt.params.shape == (sum(p.numel() for p in before),)
    for p, b in zip(net.parameters(), before, strict=True):
        assert torch.equal(p, b)  # flattening keeps the values
    _regression_step(net, torch.randn(5, 4), torch.randn(5, 2)).backward()
    assert torch.equal(opt.grad, torch.cat([p.grad.reshape(-1) for p in net.parameters()]))
    opt.step()
    assert torch.equal(opt.params, torch.cat([p.detach().reshape(-1) for p in net.parameters()]))
    # load_state_dict writes in place, so the module and the flat buffer stay one
    other = q_network((4,), 2, (8,))
    net.load_state_dict(other.state_dict())
    assert torch.equal(opt.params, torch.cat([p.detach().reshape(-1) for p in other.parameters()]))


def test_replaced_grads_or_data_are_refused():
    net = q_network((4,), 2, (8,))
    opt = FlatAdam(net, lr=1e-2)
    net.zero_grad(set_to_none=True)
    _regression_step(net, torch.randn(5, 4), torch.randn(5, 2)).backward()
    with pytest.raises(RuntimeError, match="grad"):
        opt.step()
    net = q_network((4,), 2, (8,))
    opt = FlatAdam(net, lr=1e-2)
    layer = net.torso[0]
    layer.weight.data = layer.weight.data.clone()  # what module.to(other_device) does to every parameter
    with pytest.raises(RuntimeError, match="data was replaced"):
        opt.step()
    # a view broken after the first step is reported within 64 steps
    net = q_network((4,), 2, (8,))
    opt = FlatAdam(net, lr=1e-2)
    opt.step()
    net.zero_grad(set_to_none=True)
    with pytest.raises(RuntimeError, match="grad"):
        for _ in range(64):
            opt.step()


def test_state_dict_round_trip_continues_exactly():
    torch.manual_seed(2)
    net = q_network((4,), 2, (16,))
    opt = FlatAdam(net, lr=1e-2)
    batches = [(torch.randn(8, 4), torch.randn(8, 2)) for _ in range(10)]

    def run(n, module, optimizer):
        for x, t in batches[:n] if n > 0 else batches[n:]:
            optimizer.zero_grad()
            _regression_step(module, x, t).backward()
            optimizer.clip_grad_norm_(0.5)
            optimizer.step()

    run(4, net, opt)
    saved_net, saved_opt = copy.deepcopy(net.state_dict()), opt.state_dict()
    run(-6, net, opt)
    resumed = q_network((4,), 2, (16,))
    resumed_opt = FlatAdam(resumed, lr=1.0)
    resumed.load_state_dict(saved_net)
    resumed_opt.load_state_dict(saved_opt)
    assert resumed_opt.lr == 1e-2
    run(-6, resumed, resumed_opt)
    assert torch.equal(resumed_opt.params, opt.params)
    with pytest.raises(ValueError, match="exp_avg"):
        FlatAdam(q_network((4,), 2, (8,)), lr=1e-2).load_state_dict(saved_opt)


@pytest.mark.parametrize("bad", [dict(lr=0.0), dict(lr=1e-3, betas=(1.0, 0.9)), dict(lr=1e-3, eps=-1.0),
                                 dict(lr=1e-3, weight_decay=-1.0), dict(lr=1e-3, weight_decay=float("nan"))])
def test_bad_hyperparameters(bad):
    with pytest.raises(ValueError, match=next(iter(k for k in bad if k != "lr")) if len(bad) > 1 else "lr"):
        FlatAdam(q_network((4,), 2, (8,)), **bad)


def test_flatten_rejects_empty_and_mixed_modules():
    with pytest.raises(ValueError, match="no parameters"):
        flatten_parameters(torch.nn.ReLU())
    mixed = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2).double())
    with pytest.raises(ValueError, match="dtype"):
        flatten_parameters(mixed)


def test_loads_a_torch_adam_state_dict():
    # A torch.optim.Adam checkpoint of the same network continues exactly (no clipping: bit for bit vs fused).
    torch.manual_seed(3)
    net = q_network((4,), 2, (16, 16))
    ref_opt = torch.optim.Adam(net.parameters(), lr=2e-3, fused=True)
    assert FlatAdam(q_network((4,), 2, (16, 16)), lr=1.0).load_state_dict(ref_opt.state_dict()) is None
    batches = [(torch.randn(8, 4), torch.randn(8, 2)) for _ in range(8)]
    for x, t in batches[:4]:
        ref_opt.zero_grad()
        _regression_step(net, x, t).backward()
        ref_opt.step()
    ours = copy.deepcopy(net)
    opt = FlatAdam(ours, lr=1.0)
    opt.load_state_dict(ref_opt.state_dict())
    assert opt.lr == 2e-3 and int(opt.step_count) == 4
    for x, t in batches[4:]:
        for module, optimizer in ((net, ref_opt), (ours, opt)):
            optimizer.zero_grad()
            _regression_step(module, x, t).backward()
            optimizer.step()
    for p, q in zip(ours.parameters(), net.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="parameters"):
        FlatAdam(q_network((4,), 2, (16,)), lr=1.0).load_state_dict(ref_opt.state_dict())


def test_flat_rmsprop_is_torch_rmsprop_bit_for_bit():
    from fastrl.optim import FlatRMSprop

    torch.manual_seed(0)
    ours = q_network((4,), 3, (32, 32))
    ref = copy.deepcopy(ours)
    opt = FlatRMSprop(ours, lr=7e-4, alpha=0.99, eps=1e-5)
    ref_opt = torch.optim.RMSprop(ref.parameters(), lr=7e-4, alpha=0.99, eps=1e-5)
    for _ in range(100):
        x, target = torch.randn(16, 4), torch.randn(16, 3) * 10
        opt.zero_grad()
        _regression_step(ours, x, target).backward()
        opt.step()
        ref_opt.zero_grad()
        _regression_step(ref, x, target).backward()
        ref_opt.step()
    for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q)
    state = opt.state_dict()
    other = FlatRMSprop(q_network((4,), 3, (32, 32)), lr=1.0, eps_inside_sqrt=True)
    other.load_state_dict(state)
    assert other.lr == 7e-4 and not other.eps_inside_sqrt and torch.equal(other.square_avg, opt.square_avg)
    # the A3C paper's form: eps inside the square root
    inside = FlatRMSprop(q_network((4,), 3, (8,)), lr=1e-3, eps=0.1, eps_inside_sqrt=True)
    inside.grad.fill_(1.0)
    before = inside.params.clone()
    inside.step()
    expected = before - 1e-3 * 1.0 / torch.sqrt(torch.tensor(0.01) + 0.1)
    torch.testing.assert_close(inside.params, expected)
    with pytest.raises(ValueError, match="alpha"):
        FlatRMSprop(q_network((4,), 3, (8,)), lr=1e-3, alpha=1.0)
