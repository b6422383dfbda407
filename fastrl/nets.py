"""Torch modules shared by every fastrl agent.

- :class:`MLP`: fully connected layers with ReLU between them, for vector observations; it runs through
  :func:`linear_stack`, which on CPU computes the whole stack as one autograd node with the large matrix
  products in oneDNN.
- :class:`NatureCNN`: the convolutional torso of Mnih et al. (2015) for stacked 84x84 frames; it takes
  ``uint8`` frames (so they cross to the device as 1 byte per pixel) and scales them to ``[0, 1]`` there.
- :class:`DuelingHead`: ``Q(s, a) = V(s) + A(s, a) - mean_a A(s, a)`` (Wang et al., 2016).
- :class:`QNetwork`: a torso (MLP or Nature CNN) and a plain or dueling head, built by :func:`q_network`.
- :func:`torso` (an MLP or the Nature CNN, by observation shape) and :class:`LSTMCore` (an LSTM cell whose
  per-env state resets at episode starts, unrolled over a rollout), for the recurrent options of the
  asynchronous agents.
- :class:`Actor` / :class:`Critic` / :class:`Critics`: deterministic policy ``mu(s)`` squashed into the
  action box, and ``Q(s, a)`` with the action at the first or second layer (one critic or several together),
  for the continuous-control agents; :func:`fan_in_init_` is DDPG's initialisation.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MLP", "NatureCNN", "DuelingHead", "QNetwork", "q_network", "Actor", "Critic", "Critics",
           "fan_in_init_", "is_image_shape", "torso", "LSTMCore", "LSTMState", "linear_stack", "linear_stack_forward",
           "linear_stack_backward"]


def is_image_shape(obs_shape: Sequence[int]) -> bool:
    """True for stacked-frame observations ``(C, H, W)`` that :class:`NatureCNN` handles (H, W >= 36)."""
    return len(obs_shape) == 3 and obs_shape[1] >= 36 and obs_shape[2] >= 36


# --------------------------------------------------------------------------------------------------
# Linear stacks on CPU
# --------------------------------------------------------------------------------------------------
#
# The networks of vector-observation agents are small (256x256 at batch 64), so a CPU gradient step is a few
# matrix products plus a long tail of per-op costs. Two things pay: (1) on x86 CPUs with AVX-512, the products
# of 2**20 multiply-adds and more go through oneDNN, which picks its kernels by instruction set whatever the
# vendor; on an AMD EPYC (Zen 5) it ran the 64x256x256 products of a DQN step 1.5-2.2x faster than the MKL
# sgemm that F.linear calls (MKL does not use AVX-512 on AMD CPUs). oneDNN costs ~10 us more per call, so
# small products stay with F.linear. (2) Forward and backward of the whole stack are one autograd node, so
# autograd records and replays one node instead of three per layer.

#: Products of at least this many multiply-adds (rows * in * out) use oneDNN when it is available.
ONEDNN_MIN_MACS = 1 << 20


def _find_onednn_linear():
    """torch's oneDNN linear op (``mkldnn::_linear_pointwise``, which torch.compile's CPU backend also
    emits), or None where this torch build lacks it or it fails."""
    if platform.machine().lower() not in ("x86_64", "amd64"):  # measured on x86 only
        return None
    # oneDNN's advantage is its AVX-512 kernels; on an AVX2-only AMD EPYC, MKL's sgemm was as fast or faster
    # at every size the agents use (256x64x64: 37 vs 51 us; 256x400x300: 853 vs 911 us), so keep MKL there.
    if not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return None
    try:
        if not torch.backends.mkldnn.is_available():
            return None
        op = torch.ops.mkldnn._linear_pointwise
        x, w = torch.ones(2, 3), torch.ones(4, 3)
        if not torch.equal(op(x, w, None, "none", [], ""), torch.full((2, 4), 3.0)):
            return None
        return op
    except (AttributeError, RuntimeError):
        return None


_onednn_linear = _find_onednn_linear()


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, relu: bool) -> torch.Tensor:
    """``x @ weight.T + bias`` (then ReLU): ``x`` ``(B, K)``, ``weight`` ``(N, K)``, ``bias`` ``(N,)`` or None.

    No autograd: called under no_grad or inside :class:`_LinearStackFn`. ``x`` and ``weight`` may be
    transposed views (the backward pass uses that)."""
    rows, k = x.shape
    n = weight.shape[0]
    if (_onednn_linear is not None and rows * k * n >= ONEDNN_MIN_MACS and n >= 16 and x.device.type == "cpu"
            and x.dtype == torch.float32):
        return _onednn_linear(x, weight, bias, "relu" if relu else "none", [], "")
    y = F.linear(x, weight, bias)
    return y.relu_() if relu else y


def _stack_forward(x: torch.Tensor, params: Sequence[torch.Tensor | None], relu_last: bool) -> list[torch.Tensor]:
    """Activations ``[x, h_1, ..., output]`` of the stack with ``params = (w0, b0, w1, b1, ...)``; no autograd."""
    n_layers = len(params) // 2
    acts = [x]
    for i in range(n_layers):
        acts.append(_linear(acts[-1], params[2 * i], params[2 * i + 1], relu_last or i < n_layers - 1))
    return acts


def _stack_backward(
    grad: torch.Tensor, acts: Sequence[torch.Tensor], params: Sequence[torch.Tensor | None], relu_last: bool,
    needs_params: Sequence[bool], needs_input: bool, out: Sequence[torch.Tensor | None] | None = None,
) -> tuple[torch.Tensor | None, list[torch.Tensor | None]]:
    """Gradients w.r.t. the input and ``params`` from ``grad`` = dL/d(output), given the forward activations;
    ``needs_params[j]`` says whether ``params[j]`` needs one. ``out[j]``, where given, receives the gradient of
    ``params[j]`` (written by the product itself, no extra copy) and is returned in its place. No autograd."""
    n_layers = len(params) // 2
    grads: list[torch.Tensor | None] = [None] * len(params)
    out = out if out is not None else [None] * len(params)
    g = grad
    for i in reversed(range(n_layers)):
        if relu_last or i < n_layers - 1:
            g = torch.ops.aten.threshold_backward(g, acts[i + 1], 0)  # what ReLU's own backward runs
        w, h_in = params[2 * i], acts[i]
        if needs_params[2 * i]:
            # dW = g^T h_in, (out, in). MKL is slow on a product with few output columns, so a thin input
            # layer gets (h_in^T g)^T: same numbers, as a transposed view.
            dst = out[2 * i]
            if _linear_uses_mkl(h_in, w):
                if w.shape[1] < w.shape[0]:
                    grads[2 * i] = torch.mm(h_in.t(), g).t()
                    if dst is not None:  # a copy (a product into dst's transposed view rounds differently)
                        grads[2 * i] = dst.copy_(grads[2 * i])
                else:
                    grads[2 * i] = torch.mm(g.t(), h_in) if dst is None else torch.mm(g.t(), h_in, out=dst)
            else:
                grads[2 * i] = _linear(g.t(), h_in.t(), None, False)
                if dst is not None:
                    grads[2 * i] = dst.copy_(grads[2 * i])
        if needs_params[2 * i + 1] and params[2 * i + 1] is not None:
            dst = out[2 * i + 1]
            grads[2 * i + 1] = g.sum(0) if dst is None else torch.sum(g, 0, out=dst)
        if i > 0 or needs_input:
            g = _linear(g, w.t(), None, False)  # dL/dh_in = g W
    return (g if needs_input else None), grads


class _LinearStackFn(torch.autograd.Function):
    """Forward and backward of ``Linear -> ReLU -> ... -> Linear (-> ReLU)`` as one autograd node.

    Gradients are the same as autograd's through ``F.linear``/``relu`` up to float rounding (the products
    run in another library and sum in another order). First-order only: no double backward.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, relu_last: bool, *params: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        acts = _stack_forward(x, params, relu_last)
        ctx.relu_last = relu_last
        ctx.save_for_backward(*acts, *params)
        return acts[-1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        saved = ctx.saved_tensors
        n_layers = (len(saved) - 1) // 3
        acts, params = saved[:n_layers + 1], saved[n_layers + 1:]
        needs = ctx.needs_input_grad  # (x, relu_last, w0, b0, w1, b1, ...)
        grad_x, grads = _stack_backward(grad, acts, params, ctx.relu_last, needs[2:], needs[0])
        return (grad_x, None, *grads)


def _linear_uses_mkl(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return _onednn_linear is None or x.shape[0] * weight.shape[0] * weight.shape[1] < ONEDNN_MIN_MACS


def _stack_params(layers: Sequence[nn.Linear]) -> list[torch.Tensor | None]:
    params: list[torch.Tensor | None] = []
    for layer in layers:
        # the parameter dict directly: nn.Module.__getattr__ costs more than the rest of this loop
        p = layer._parameters
        params += [p["weight"], p["bias"]]
    return params


def linear_stack(x: torch.Tensor, layers: Sequence[nn.Linear], relu_last: bool) -> torch.Tensor:
    """``layers[-1](relu(... relu(layers[0](x))))``, with a ReLU after the last layer too if ``relu_last``.

    ``x`` ``(B, in_features)``; output ``(B, layers[-1].out_features)``. On CPU with float32 input this runs
    as one autograd node with oneDNN for the large products (see ``ONEDNN_MIN_MACS``); elsewhere (CUDA,
    other dtypes, inside ``torch.compile``) it is the plain ``F.linear``/``relu`` chain.
    """
    params = _stack_params(layers)
    fast = x.device.type == "cpu" and x.dtype == torch.float32 and not torch.compiler.is_compiling()
    if not fast:
        last = len(layers) - 1
        for i, layer in enumerate(layers):
            x = F.linear(x, layer.weight, layer.bias)
            if relu_last or i < last:
                x = F.relu(x)
        return x
    if torch.is_grad_enabled() and (x.requires_grad or any(p is not None and p.requires_grad for p in params)):
        return _LinearStackFn.apply(x, relu_last, *params)
    return _stack_forward(x, params, relu_last)[-1]


def linear_stack_forward(
    x: torch.Tensor, layers: Sequence[nn.Linear], relu_last: bool
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """:func:`linear_stack` without autograd, for hand-written gradients: returns the output and the
    activations that :func:`linear_stack_backward` needs."""
    if torch.is_grad_enabled():  # entered only when needed: a hand-written step runs under no_grad already
        with torch.no_grad():
            return linear_stack_forward(x, layers, relu_last)
    acts = _stack_forward(x, _stack_params(layers), relu_last)
    return acts[-1], acts


def linear_stack_backward(
    grad: torch.Tensor, acts: Sequence[torch.Tensor], layers: Sequence[nn.Linear], relu_last: bool, *,
    param_grads: bool = True, input_grad: bool = False, accumulate: bool = True,
) -> torch.Tensor | None:
    """Adds dL/d(parameter) to each layer's ``.grad`` (creating it where None), as ``L.backward()`` would,
    from ``grad`` = dL/d(output) ``(B, out_features)`` and :func:`linear_stack_forward`'s activations.

    ``accumulate=False`` writes the gradients over the existing ``.grad`` tensors instead (the products write
    straight into them: no zeroing first, no extra add); every parameter must then have a contiguous ``.grad``.
    ``param_grads=False`` leaves the parameters' ``.grad`` alone; ``input_grad=True`` returns dL/d(input)
    ``(B, in_features)`` (e.g. a critic's gradient with respect to the action, for the policy gradient).

    The arithmetic is that of :func:`linear_stack`'s own backward on CPU with float32, op for op, so there the
    gradients equal autograd's through :func:`linear_stack` bit for bit (elsewhere, up to rounding); what is
    saved is autograd's bookkeeping (graph nodes, the engine).
    """
    if torch.is_grad_enabled():
        with torch.no_grad():
            return linear_stack_backward(grad, acts, layers, relu_last, param_grads=param_grads,
                                         input_grad=input_grad, accumulate=accumulate)
    params = _stack_params(layers)
    needs = [param_grads and p is not None and p.requires_grad for p in params]
    out = None
    if param_grads and not accumulate:
        out = [p.grad if need else None for p, need in zip(params, needs, strict=True)]  # type: ignore[union-attr]
        if any(o is None or not o.is_contiguous() for o, need in zip(out, needs, strict=True) if need):
            raise ValueError("accumulate=False needs every parameter to have a contiguous .grad to write into")
    grad_x, grads = _stack_backward(grad, acts, params, relu_last, needs, input_grad, out)
    if out is None:
        for p, g in zip(params, grads, strict=True):
            if g is None or p is None:
                continue
            if p.grad is None:
                p.grad = g.contiguous()
            else:
                p.grad.add_(g)
    return grad_x


class NumpyLinearStack:
    """:func:`linear_stack`'s forward pass (no ReLU after the last layer) in NumPy, for acting on a few
    observations at a time: a handful of small products cost a few microseconds in NumPy, where torch's
    per-operation overhead costs tens. It holds NumPy views of the CPU float32 parameters, so it follows their
    in-place updates (optimizer steps, ``load_state_dict``) without copying. The values equal torch's up to
    float32 rounding (a different BLAS): fine for acting (an argmax, or a deterministic policy's action), not
    for gradients or bit-exact comparisons.
    """

    #: batches up to this many rows are worth computing in NumPy; larger ones go to torch
    MAX_ROWS = 64

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        self._params = []
        for layer in layers:
            w, b = layer.weight, layer.bias
            if w.device.type != "cpu" or w.dtype != torch.float32 or b is None:
                raise ValueError("NumpyLinearStack needs CPU float32 linear layers with biases")
            self._params.append((w.detach().numpy().T, b.detach().numpy()))

    @staticmethod
    def supports(net: nn.Module) -> bool:
        """Whether ``net`` is a linear stack (``net.linear_layers``) this class can run."""
        layers = getattr(net, "linear_layers", None)
        return layers is not None and all(
            lin.weight.device.type == "cpu" and lin.weight.dtype == torch.float32 and lin.bias is not None
            for lin in layers)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``(B, in_features)`` (any float dtype; converted to float32) -> ``(B, out_features)`` float32."""
        x = np.asarray(x, dtype=np.float32)
        last = len(self._params) - 1
        if len(x) == 1:  # one observation: vector products, a third cheaper than (1, n) matrix ones
            h = x[0]
            for i, (w_t, b) in enumerate(self._params):
                h = h.dot(w_t) + b
                if i < last:
                    h = np.maximum(h, 0.0)
            return h[None]
        for i, (w_t, b) in enumerate(self._params):
            x = x @ w_t
            x += b
            if i < last:
                np.maximum(x, 0.0, out=x)
        return x


class MLP(nn.Sequential):
    """Linear layers ``in_dim -> hidden_sizes... -> out_dim`` with ReLU after every hidden layer.

    Input ``(B, in_dim)`` float32, output ``(B, out_dim)``; ``out_dim=None`` ends on the last hidden layer
    (with its ReLU), which is how a torso is built. Observations with more than one axis are flattened.
    """

    def __init__(self, in_dim: int, hidden_sizes: Sequence[int], out_dim: int | None = None) -> None:
        if in_dim <= 0:
            raise ValueError(f"in_dim must be positive, got {in_dim}")
        if any(int(h) <= 0 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive, got {list(hidden_sizes)}")
        layers: list[nn.Module] = []
        last = in_dim
        for h in hidden_sizes:
            layers += [nn.Linear(last, int(h)), nn.ReLU()]
            last = int(h)
        if out_dim is not None:
            layers.append(nn.Linear(last, out_dim))
            last = out_dim
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_dim = last
        self.ends_with_relu = out_dim is None
        self.linears: list[nn.Linear] = [m for m in layers if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:
            x = x.flatten(1)
        return linear_stack(x, self.linears, relu_last=self.ends_with_relu)


class NatureCNN(nn.Module):
    """Conv(32, 8x8, s4) - Conv(64, 4x4, s2) - Conv(64, 3x3, s1) - Linear(512), ReLU after each.

    Input ``(B, C, H, W)``, usually ``uint8`` stacked frames ``(B, 4, 84, 84)``; integer input is converted
    to float32 and divided by ``scale`` (255) on the input's device, so a replay batch moves to the GPU as
    bytes (4x less traffic than float32). Float input is used as is. Output ``(B, 512)``.
    """

    def __init__(self, obs_shape: Sequence[int], features: int = 512, scale: float = 255.0) -> None:
        super().__init__()
        if len(obs_shape) != 3:
            raise ValueError(f"obs_shape must be (C, H, W), got {tuple(obs_shape)}")
        c, h, w = (int(s) for s in obs_shape)
        self.convs = nn.Sequential(
            nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.convs(torch.zeros(1, c, h, w)).shape[1]
        self.fc = nn.Sequential(nn.Linear(n_flat, features), nn.ReLU())
        self.scale = float(scale)
        self.out_dim = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_floating_point(x):
            # Scaling here, after the transfer, keeps host->device copies at 1 byte per pixel.
            x = x.float().div_(self.scale)
        return self.fc(self.convs(x))


class DuelingHead(nn.Module):
    """``Q(s, a) = V(s) + A(s, a) - mean_a A(s, a)`` from features ``(B, in_dim)``; output ``(B, n_actions)``.

    Subtracting the mean advantage makes V and A identifiable (Wang et al., 2016, eq. 9).
    """

    def __init__(self, in_dim: int, n_actions: int, hidden: int | None = None) -> None:
        super().__init__()
        if hidden:
            self.value = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
            self.advantage = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_actions))
        else:
            self.value = nn.Linear(in_dim, 1)
            self.advantage = nn.Linear(in_dim, n_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        adv = self.advantage(features)
        return self.value(features) + adv - adv.mean(dim=1, keepdim=True)


class QNetwork(nn.Module):
    """``q(obs) -> (B, n_actions)`` float32 action values: a torso followed by a linear or dueling head.

    ``linear_layers`` lists the layers when the network is one linear stack (MLP torso, linear head), for
    :func:`linear_stack_forward` / :func:`linear_stack_backward`; it is None otherwise.
    """

    def __init__(self, torso: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.torso = torso
        self.head = head
        # An MLP torso with a linear head is one linear stack (no ReLU after the last layer): one autograd
        # node for the whole network, and usable with linear_stack_forward/backward. None otherwise.
        self.linear_layers: list[nn.Linear] | None = None
        if isinstance(torso, MLP) and torso.ends_with_relu and isinstance(head, nn.Linear):
            self.linear_layers = [*torso.linears, head]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.linear_layers is not None:
            return linear_stack(obs.flatten(1) if obs.dim() > 2 else obs, self.linear_layers, relu_last=False)
        return self.head(self.torso(obs))


def q_network(
    obs_shape: Sequence[int], n_actions: int, hidden_sizes: Sequence[int] = (256, 256), dueling: bool = False
) -> QNetwork:
    """Builds the Q-network for ``obs_shape``: the Nature CNN for ``(C, H, W)`` frames, an MLP otherwise.

    With ``dueling`` the head is :class:`DuelingHead` (for the MLP, the last hidden layer feeds both
    streams; for the CNN, each stream has its own 512-unit layer as in Wang et al.).
    """
    if n_actions <= 0:
        raise ValueError(f"n_actions must be positive, got {n_actions}")
    torso: nn.Module
    if is_image_shape(obs_shape):
        if dueling:
            # The dueling paper splits right after the convolutions: each stream gets its own hidden layer.
            torso = _ConvTorso(NatureCNN(obs_shape))
            return QNetwork(torso, DuelingHead(torso.out_dim, n_actions, hidden=512))
        torso = NatureCNN(obs_shape)
        return QNetwork(torso, nn.Linear(torso.out_dim, n_actions))
    in_dim = 1
    for s in obs_shape:
        in_dim *= int(s)
    if not hidden_sizes:
        raise ValueError("hidden_sizes must name at least one layer")
    torso = MLP(in_dim, hidden_sizes)
    head = DuelingHead(torso.out_dim, n_actions) if dueling else nn.Linear(torso.out_dim, n_actions)
    return QNetwork(torso, head)


class _ConvTorso(nn.Module):
    """The convolutional part of a :class:`NatureCNN` (with its uint8 scaling), without the 512-unit layer."""

    def __init__(self, cnn: NatureCNN) -> None:
        super().__init__()
        self.convs = cnn.convs
        self.scale = cnn.scale
        self.out_dim = cnn.fc[0].in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_floating_point(x):
            x = x.float().div_(self.scale)
        return self.convs(x)


def torso(obs_shape: Sequence[int], hidden_sizes: Sequence[int]) -> nn.Module:
    """The feature extractor for ``obs_shape``: the Nature CNN for ``(C, H, W)`` frames, else an MLP over the
    flattened observation with ``hidden_sizes`` (ReLU after the last layer). Its ``out_dim`` is the feature
    size."""
    if is_image_shape(obs_shape):
        return NatureCNN(obs_shape)
    if not hidden_sizes:
        raise ValueError("hidden_sizes must name at least one layer")
    in_dim = 1
    for s in obs_shape:
        in_dim *= int(s)
    return MLP(in_dim, hidden_sizes)


LSTMState = tuple[torch.Tensor, torch.Tensor]


class LSTMCore(nn.Module):
    """An LSTM cell over features ``(B, in_dim)``, with one state ``(h, c)`` per env, each ``(B, size)``.

    A state is zeroed where an episode starts, so memory never crosses an episode boundary. :meth:`unroll`
    runs a rollout ``(T, N, in_dim)`` from the state it started in and returns every step's output and
    state (backpropagation through time stops at the rollout's start: the start state is detached).
    """

    def __init__(self, in_dim: int, size: int) -> None:
        super().__init__()
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        self.cell = nn.LSTMCell(in_dim, size)
        self.out_dim = size

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> LSTMState:
        """Zero states for ``batch`` envs."""
        zeros = torch.zeros(batch, self.out_dim, device=device)
        return zeros, zeros.clone()

    def forward(self, x: torch.Tensor, state: LSTMState, starts: torch.Tensor | None = None) -> LSTMState:
        """One step: the new state ``(h, c)`` (``h`` is the output); ``starts`` ``(B,)`` bool marks the envs
        whose episode starts at ``x`` (their state is zeroed first)."""
        h, c = state
        if starts is not None:
            keep = (~starts).to(h.dtype).unsqueeze(1)
            h, c = h * keep, c * keep
        return self.cell(x, (h, c))

    def unroll(self, x: torch.Tensor, state: LSTMState, starts: torch.Tensor) -> LSTMState:
        """Steps ``t = 0..T-1`` over ``x`` ``(T, N, in_dim)`` from ``state`` (detached), zeroing the state of
        env ``i`` before step ``t`` where ``starts[t, i]``; returns every step's ``(h, c)``, each
        ``(T, N, size)``."""
        h, c = state[0].detach(), state[1].detach()
        hs, cs = [], []
        for t in range(x.shape[0]):
            h, c = self.forward(x[t], (h, c), starts[t])
            hs.append(h)
            cs.append(c)
        return torch.stack(hs), torch.stack(cs)


def fan_in_init_(layers: Sequence[nn.Linear], final_bound: float | None) -> None:
    """DDPG's initialisation (Lillicrap et al., 2016): weights and biases of every layer but the last drawn
    from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (the distribution of torch's default for ``nn.Linear``, drawn
    explicitly), the last layer's from U(-final_bound, final_bound), so initial outputs are near zero.
    ``final_bound=None`` leaves the last layer as it is."""
    with torch.no_grad():
        for layer in layers[:-1]:
            bound = 1.0 / layer.in_features ** 0.5
            layer.weight.uniform_(-bound, bound)
            layer.bias.uniform_(-bound, bound)
        if final_bound is not None:
            layers[-1].weight.uniform_(-final_bound, final_bound)
            layers[-1].bias.uniform_(-final_bound, final_bound)


class Actor(nn.Module):
    """Deterministic policy ``mu(s) = bias + scale * tanh(f(s))`` in the action box ``[low, high]``
    (``bias = (high + low) / 2``, ``scale = (high - low) / 2``), with ``f`` an MLP.

    Input ``(B, obs_dim)`` float32; output ``(B, act_dim)`` float32 inside ``[low, high]``. ``final_init``
    (e.g. 3e-3) gives DDPG's initialisation (see :func:`fan_in_init_`); None keeps torch's default.
    """

    def __init__(
        self, obs_dim: int, act_dim: int, low: Sequence[float], high: Sequence[float],
        hidden_sizes: Sequence[int] = (256, 256), final_init: float | None = None,
    ) -> None:
        super().__init__()
        self.net = MLP(obs_dim, hidden_sizes, act_dim)
        low_t = torch.as_tensor(low, dtype=torch.float32).reshape(act_dim)
        high_t = torch.as_tensor(high, dtype=torch.float32).reshape(act_dim)
        if not bool((high_t > low_t).all()) or not bool(torch.isfinite(high_t - low_t).all()):
            raise ValueError("high must exceed low, both finite, in every action dimension")
        self.register_buffer("action_scale", (high_t - low_t) / 2)
        self.register_buffer("action_bias", (high_t + low_t) / 2)
        if final_init is not None:
            fan_in_init_(self.net.linears, final_init)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        # the stack directly, not through self.net(...): a module call costs more than a small layer
        z = linear_stack(obs.flatten(1) if obs.dim() > 2 else obs, self.net.linears, relu_last=False)
        return torch.addcmul(self.action_bias, torch.tanh(z), self.action_scale)


class Critic(nn.Module):
    """``Q(s, a)``: inputs ``(B, obs_dim)`` and ``(B, act_dim)``, output ``(B,)``.

    ``action_layer=0``: the MLP reads the concatenation ``[s, a]`` (SB3, TD3). ``action_layer=1``: the first
    layer reads ``s`` alone and the action joins its output at the second layer (DDPG, Lillicrap et al.), which
    needs at least two hidden layers. ``final_init`` as for :class:`Actor`.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int] = (256, 256),
                 action_layer: int = 0, final_init: float | None = None) -> None:
        super().__init__()
        hidden = [int(h) for h in hidden_sizes]
        if action_layer not in (0, 1):
            raise ValueError(f"action_layer must be 0 or 1, got {action_layer!r}")
        if action_layer == 1 and len(hidden) < 2:
            raise ValueError(f"action_layer=1 needs at least two hidden layers, got hidden_sizes={hidden}")
        self.action_layer = action_layer
        # With the action at the input the critic is one linear stack over [s, a] (``linear_layers``), usable
        # with linear_stack_forward/backward; None otherwise.
        self.linear_layers: list[nn.Linear] | None = None
        if action_layer == 0:
            self.obs_layer = None
            self.net = MLP(obs_dim + act_dim, hidden, 1)
            layers = self.linear_layers = self.net.linears
        else:
            self.obs_layer = nn.Linear(obs_dim, hidden[0])
            self.net = MLP(hidden[0] + act_dim, hidden[1:], 1)
            layers = [self.obs_layer, *self.net.linears]
        if final_init is not None:
            fan_in_init_(layers, final_init)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        obs, action = obs.flatten(1), action.flatten(1)
        if self.linear_layers is not None:
            return linear_stack(torch.cat([obs, action], dim=1), self.linear_layers, relu_last=False).squeeze(1)
        h = F.relu(self.obs_layer(obs))
        return self.net(torch.cat([h, action], dim=1)).squeeze(1)


class Critics(nn.Module):
    """``n`` independent critics of the same shape, evaluated together: ``(obs, action) -> (n, B)``.

    DDPG has one, TD3 two (clipped double Q). All parameters belong to this module, so one flat buffer and
    one optimizer serve them all.
    """

    def __init__(self, n: int, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int] = (256, 256),
                 action_layer: int = 0, final_init: float | None = None) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.critics = nn.ModuleList(Critic(obs_dim, act_dim, hidden_sizes, action_layer, final_init)
                                     for _ in range(n))

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return torch.stack([critic(obs, action) for critic in self.critics])

    def min_value(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``min_k Q_k(s, a)`` ``(B,)`` (TD3's clipped double Q; the critic itself when there is one)."""
        critics = list(self.critics)
        q = critics[0].forward(obs, action)
        for critic in critics[1:]:
            q = torch.minimum(q, critic.forward(obs, action))
        return q

    def first(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``Q_1(s, a)`` ``(B,)``: the first critic alone (the one the actor follows)."""
        return self.critics[0].forward(obs, action)
