"""Shapes, scaling and heads of the shared torch modules."""

import pytest
import torch

from fastrl.nets import (
    MLP,
    Actor,
    Critic,
    Critics,
    DuelingHead,
    NatureCNN,
    is_image_shape,
    linear_stack,
    linear_stack_backward,
    linear_stack_forward,
    q_network,
)


def test_mlp_shapes_and_flatten():
    torch.manual_seed(0)
    net = MLP(6, (32, 16), 3)
    assert net(torch.randn(5, 6)).shape == (5, 3)
    assert net(torch.randn(5, 2, 3)).shape == (5, 3)  # extra axes are flattened
    torso = MLP(4, (8,))
    assert torso.out_dim == 8
    assert (torso(torch.randn(7, 4)) >= 0).all()  # ends on a ReLU


@pytest.mark.parametrize("bad", [dict(in_dim=0, hidden_sizes=(4,)), dict(in_dim=3, hidden_sizes=(4, 0))])
def test_mlp_rejects_bad_sizes(bad):
    with pytest.raises(ValueError):
        MLP(**bad)


def test_nature_cnn_scales_uint8_on_its_device():
    torch.manual_seed(0)
    cnn = NatureCNN((4, 84, 84))
    frames = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    out_u8 = cnn(frames)
    out_f = cnn(frames.float() / 255.0)
    assert out_u8.shape == (2, 512)
    torch.testing.assert_close(out_u8, out_f, rtol=0, atol=0)


def test_nature_cnn_rejects_flat_shapes():
    with pytest.raises(ValueError, match="obs_shape"):
        NatureCNN((4, 84))


def test_dueling_head_identity():
    torch.manual_seed(0)
    head = DuelingHead(8, 3)
    feats = torch.randn(4, 8)
    q = head(feats)
    adv = head.advantage(feats)
    expected = head.value(feats) + adv - adv.mean(1, keepdim=True)
    torch.testing.assert_close(q, expected)
    # the mean over actions of Q is V
    torch.testing.assert_close(q.mean(1, keepdim=True), head.value(feats))


@pytest.mark.parametrize("dueling", [False, True])
def test_q_network_picks_torso(dueling):
    torch.manual_seed(0)
    mlp_q = q_network((4,), 2, (16, 16), dueling=dueling)
    assert mlp_q(torch.randn(3, 4)).shape == (3, 2)
    cnn_q = q_network((4, 84, 84), 6, dueling=dueling)
    assert cnn_q(torch.zeros(2, 4, 84, 84, dtype=torch.uint8)).shape == (2, 6)
    assert is_image_shape((4, 84, 84)) and not is_image_shape((4,)) and not is_image_shape((3, 4, 5))
    with pytest.raises(ValueError, match="n_actions"):
        q_network((4,), 0)


def test_actor_stays_in_box_and_critic_shape():
    torch.manual_seed(0)
    actor = Actor(3, 2, low=[-2.0, 0.0], high=[2.0, 1.0], hidden_sizes=(16,))
    a = actor(torch.randn(100, 3) * 100)
    assert a.shape == (100, 2)
    assert (a[:, 0] >= -2).all() and (a[:, 0] <= 2).all() and (a[:, 1] >= 0).all() and (a[:, 1] <= 1).all()
    critic = Critic(3, 2, hidden_sizes=(16,))
    assert critic(torch.randn(5, 3), torch.randn(5, 2)).shape == (5,)
    with pytest.raises(ValueError, match="high"):
        Actor(3, 1, low=[1.0], high=[1.0])


def _assert_close_to_rounding(a, b):
    # Sums of thousands of products: their rounding error scales with the largest magnitude, not each value.
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * (1.0 + float(b.detach().abs().max())))


def _eager_stack(x, layers, relu_last):
    for i, layer in enumerate(layers):
        x = torch.nn.functional.linear(x, layer.weight, layer.bias)
        if relu_last or i < len(layers) - 1:
            x = torch.relu(x)
    return x


@pytest.mark.parametrize("sizes,batch", [((256, 256), 64), ((32, 16), 5), ((512,), 300), ((300, 3), 2048)])
@pytest.mark.parametrize("relu_last", [False, True])
def test_linear_stack_matches_eager_autograd(sizes, batch, relu_last):
    # Large products run in oneDNN (other summation order than MKL): equal up to float rounding.
    torch.manual_seed(0)
    dims = [4, *sizes, 3]
    layers = [torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)]
    layers[-1].bias = None  # a layer without bias is allowed
    x = torch.randn(batch, 4, requires_grad=True)
    params = [x, *(p for layer in layers for p in layer.parameters())]
    out = linear_stack(x, layers, relu_last)
    ref = _eager_stack(x, layers, relu_last)
    _assert_close_to_rounding(out, ref)
    g = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad(out, params, g), torch.autograd.grad(ref, params, g), strict=True):
        _assert_close_to_rounding(a, b)
    with torch.no_grad():
        _assert_close_to_rounding(linear_stack(x, layers, relu_last), ref)


def test_linear_stack_frozen_layers_and_other_dtypes():
    torch.manual_seed(0)
    layers = [torch.nn.Linear(6, 64), torch.nn.Linear(64, 2)]
    for layer in layers:
        layer.requires_grad_(False)
    x = torch.randn(128, 6, requires_grad=True)  # gradient w.r.t. the input only (a critic's action input)
    (gx,) = torch.autograd.grad(linear_stack(x, layers, False).sum(), [x])
    (ref,) = torch.autograd.grad(_eager_stack(x, layers, False).sum(), [x])
    torch.testing.assert_close(gx, ref)
    double_layers = [torch.nn.Linear(6, 8).double()]
    xd = torch.randn(3, 6, dtype=torch.float64)
    assert torch.equal(linear_stack(xd, double_layers, True), _eager_stack(xd, double_layers, True))


def test_q_network_runs_as_one_stack():
    torch.manual_seed(0)
    q = q_network((4,), 2, (256, 256))
    obs = torch.randn(64, 4)
    expected = q.head(q.torso[3](q.torso[2](q.torso[1](q.torso[0](obs)))))
    _assert_close_to_rounding(q(obs), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hand_written_backward_equals_autograd(dtype):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(4, 256).to(dtype), torch.nn.Linear(256, 256).to(dtype), torch.nn.Linear(256, 3).to(dtype)]
    x = torch.randn(64, 4, dtype=dtype)
    g = torch.randn(64, 3, dtype=dtype)
    out, acts = linear_stack_forward(x, layers, relu_last=False)
    assert out.grad_fn is None
    linear_stack_backward(g, acts, layers, relu_last=False)
    ours = [p.grad.clone() for layer in layers for p in layer.parameters()]
    for layer in layers:
        layer.zero_grad(set_to_none=True)
    linear_stack(x, layers, relu_last=False).backward(g)
    for a, layer_grad in zip(ours, (p.grad for layer in layers for p in layer.parameters()), strict=True):
        if dtype == torch.float32:  # the same ops as linear_stack's own backward
            assert torch.equal(a, layer_grad)
        else:  # linear_stack is the plain autograd chain here
            _assert_close_to_rounding(a, layer_grad)


def test_critic_action_at_the_second_layer_and_ddpg_initialisation():
    torch.manual_seed(0)
    critic = Critic(3, 2, hidden_sizes=(40, 30), action_layer=1, final_init=3e-4)
    assert critic.obs_layer.in_features == 3 and critic.net.linears[0].in_features == 40 + 2
    assert critic.linear_layers is None
    obs, act = torch.randn(5, 3), torch.randn(5, 2)
    expected = critic.net(torch.cat([torch.relu(critic.obs_layer(obs)), act], 1)).squeeze(1)
    torch.testing.assert_close(critic(obs, act), expected)
    last = critic.net.linears[-1]
    assert last.weight.abs().max() <= 3e-4 and last.bias.abs().max() <= 3e-4
    bound = 1 / 3**0.5  # fan-in of the observation layer
    assert critic.obs_layer.weight.abs().max() <= bound and critic.obs_layer.weight.abs().max() > bound / 2
    actor = Actor(3, 2, [-1, -1], [1, 1], (40, 30), final_init=3e-3)
    assert actor.net.linears[-1].weight.abs().max() <= 3e-3
    assert actor(torch.zeros(1, 3)).abs().max() < 0.05  # near-zero initial actions
    with pytest.raises(ValueError, match="two hidden layers"):
        Critic(3, 2, hidden_sizes=(40,), action_layer=1)
    with pytest.raises(ValueError, match="action_layer"):
        Critic(3, 2, action_layer=2)


def test_critics_evaluate_together_and_take_the_minimum():
    torch.manual_seed(0)
    critics = Critics(2, 3, 1, (16,))
    obs, act = torch.randn(6, 3), torch.randn(6, 1)
    q = critics(obs, act)
    assert q.shape == (2, 6)
    torch.testing.assert_close(critics.min_value(obs, act), q.min(0).values)
    torch.testing.assert_close(critics.first(obs, act), q[0])
    with pytest.raises(ValueError, match="n"):
        Critics(0, 3, 1)


def test_numpy_linear_stack_follows_the_network():
    """The NumPy forward pass DQN acts with: torch's values up to float32 rounding, for one row and a batch,
    and still after the parameters change in place (an optimizer step, load_state_dict)."""
    import numpy as np

    from fastrl.nets import NumpyLinearStack, q_network
    from fastrl.optim import FlatAdam

    torch.manual_seed(0)
    q = q_network((4,), 3, (120, 84))
    opt = FlatAdam(q, lr=1e-2)  # flattens the parameters first, as the agents do
    forward = NumpyLinearStack(q.linear_layers)
    assert NumpyLinearStack.supports(q) and not NumpyLinearStack.supports(q_network((4, 84, 84), 3))
    x = np.random.default_rng(0).standard_normal((40, 4))  # float64: converted
    for _ in range(2):
        want = q(torch.from_numpy(x).float()).detach().numpy()
        np.testing.assert_allclose(forward(x), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(forward(x[:1]), want[:1], rtol=1e-5, atol=1e-6)
        assert forward(x[:1]).shape == (1, 3) and forward(x).dtype == np.float32
        q(torch.from_numpy(x).float()).sum().backward()
        opt.step()  # in place: the NumPy views see the new values
    q.load_state_dict(q_network((4,), 3, (120, 84)).state_dict())
    np.testing.assert_allclose(forward(x), q(torch.from_numpy(x).float()).detach().numpy(), rtol=1e-5, atol=1e-6)
