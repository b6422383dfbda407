"""Flat parameters and an Adam that steps them in one kernel call.

A small network (a 256x256 MLP) has six parameter tensors, and every gradient step walks them several times:
zeroing the grads, the global grad norm, the clipping scale, Adam. On a CPU those walks cost more in per-op
overhead than in arithmetic. :func:`flatten_parameters` moves every parameter of a module into one contiguous
buffer, the parameters becoming views into it (``state_dict``, ``load_state_dict`` and in-place updates keep
working); :class:`FlatAdam` also makes every ``.grad`` a view into one flat gradient buffer, so clipping is
one norm and one scale, and Adam is one fused kernel call on one tensor.

``FlatAdam`` computes what ``torch.optim.Adam`` (L2 weight decay optional, no amsgrad) and
``torch.nn.utils.clip_grad_norm_`` compute, up to float rounding: the global norm is taken over the flat
buffer instead of as the norm of the per-tensor norms.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = ["flatten_parameters", "flat_parameters_and_gradient", "clip_flat_", "FlatAdam", "FlatRMSprop"]


def flatten_parameters(module: nn.Module) -> torch.Tensor:
    """Moves the parameters of ``module`` into one contiguous 1-D buffer and returns it.

    Afterwards each parameter's data is a view of the buffer (in ``module.parameters()`` order), so writing
    the buffer writes the parameters and vice versa. All parameters must share a dtype and device; move the
    module to its device before flattening (``module.to`` would replace the views with copies).

    Raises:
        ValueError: ``module`` has no parameters, or they differ in dtype or device.
    """
    params = list(module.parameters())
    if not params:
        raise ValueError("module has no parameters to flatten")
    if len({(p.dtype, p.device) for p in params}) != 1:
        raise ValueError("module's parameters must share one dtype and device to be flattened")
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    for p, view in zip(params, _views(flat, params), strict=True):
        p.data = view
    return flat


def flat_parameters_and_gradient(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattens ``module``'s parameters (:func:`flatten_parameters`) and gives them one flat gradient buffer,
    each ``.grad`` a view of it (backward adds into the views); returns ``(params, grad)``."""
    params = list(module.parameters())
    flat = flatten_parameters(module)
    grad = torch.zeros_like(flat)
    for p, g in zip(params, _views(grad, params), strict=True):
        p.grad = g
    return flat, grad


def clip_flat_(grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Scales the flat gradient ``grad`` in place so its L2 norm is at most ``max_norm``; returns the norm
    before scaling (a 0-d tensor). As ``torch.nn.utils.clip_grad_norm_``: the scale is
    ``min(max_norm / (norm + 1e-6), 1)``; ``max_norm=inf`` only measures."""
    total = torch.linalg.vector_norm(grad)
    if not math.isinf(max_norm):
        # max_norm / x computed as reciprocal(x) * max_norm, as torch's scalar / tensor does
        grad.mul_(total.add(1e-6).reciprocal_().mul_(max_norm).clamp_(max=1.0))
    return total


def _views(flat: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """Consecutive views of ``flat`` shaped like ``params``."""
    views, offset = [], 0
    for p in params:
        views.append(flat[offset:offset + p.numel()].view_as(p))
        offset += p.numel()
    return views


class FlatAdam:
    """Adam (Kingma and Ba, 2015) with global grad-norm clipping over a module's flattened parameters.

    For the flat parameters ``theta``, gradient ``g``, step ``t`` (counted from 1) and learning rate ``lr``::

        g = g + weight_decay * theta          (L2 weight decay, as torch.optim.Adam; 0 by default)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        theta -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Use it as a torch optimizer: ``zero_grad()``, ``loss.backward()``, ``clip_grad_norm_(max_norm)``,
    ``step()``. The parameters' ``.grad`` are views into ``grad`` and must stay so: ``zero_grad`` zeroes the
    buffer in place (backward then adds into the views), and ``step`` raises (on its first call and every
    64th after it) if a ``.grad`` was replaced (e.g. by ``module.zero_grad()``, which sets grads to None) or a
    parameter no longer lives in the flat buffer (e.g. after ``module.to(other_device)``).

    Args:
        module: the network; its parameters are flattened (see :func:`flatten_parameters`).
        lr: learning rate; may be changed between steps through the ``lr`` attribute.
        betas: ``(beta1, beta2)``.
        eps: added to the denominator.
        weight_decay: L2 penalty coefficient added to the gradient (torch.optim.Adam's ``weight_decay``, not
            AdamW's decoupled decay).
    """

    def __init__(self, module: nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"betas must be in [0, 1), got {betas!r}")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps!r}")
        if not (weight_decay >= 0 and math.isfinite(weight_decay)):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
        self.weight_decay = float(weight_decay)
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self._params = [p for p in module.parameters() if p.requires_grad]
        if len(self._params) != len(list(module.parameters())):
            raise ValueError("every parameter of module must require grad")
        self.params, self.grad = flat_parameters_and_gradient(module)
        self._data_ptrs = [p.data_ptr() for p in self._params]
        self._grad_views = [p.grad for p in self._params]
        self.exp_avg = torch.zeros_like(self.params)
        self.exp_avg_sq = torch.zeros_like(self.params)
        # The fused kernel counts steps in a float32 tensor on the parameters' device (as torch.optim.Adam).
        self.step_count = torch.zeros((), dtype=torch.float32, device=self.params.device)
        self._checks = 0

    def zero_grad(self) -> None:
        """Zeroes the flat gradient in place (the parameters' ``.grad`` views stay)."""
        self.grad.zero_()

    # No torch.no_grad() in the two methods below: the flat buffers never require grad, so no graph can be
    # recorded, and the context manager would cost more than the few ops it wraps.

    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Scales the gradient so its global L2 norm is at most ``max_norm``; returns the norm before scaling
        (a 0-d tensor, not synced to the host). As ``torch.nn.utils.clip_grad_norm_``: the scale is
        ``min(max_norm / (norm + 1e-6), 1)``; ``max_norm=inf`` only measures."""
        return clip_flat_(self.grad, max_norm)

    def step(self, grad: torch.Tensor | None = None) -> None:
        """One Adam step on the flat parameters from the flat gradient, or from ``grad`` (a flat gradient of
        the same size: a Hogwild worker applies its local network's gradient to the shared parameters)."""
        grad = self._gradient(grad)
        # torch's fused Adam kernel (the one torch.optim.Adam(fused=True) runs), on one tensor: one pass. It
        # reads the step count, which the caller increments first (as torch.optim.Adam does).
        self.step_count += 1
        torch._fused_adam_([self.params], [grad], [self.exp_avg], [self.exp_avg_sq], [], [self.step_count],
                           lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=self.weight_decay,
                           eps=self.eps, amsgrad=False, maximize=False)

    def _gradient(self, grad: torch.Tensor | None) -> torch.Tensor:
        """The flat gradient a step applies (own buffer, or ``grad``), after the periodic view check."""
        # The views are checked on the first step and every 64th after it: the check costs as much as a
        # quarter of a small network's Adam step, and a broken view is still reported within 64 steps.
        if self._checks % 64 == 0:
            self._check_views()
            if grad is not None and (grad.shape != self.params.shape or grad.dtype != self.params.dtype):
                raise ValueError(f"grad must be a flat {self.params.dtype} tensor of shape "
                                 f"{tuple(self.params.shape)}, got {grad.dtype} {tuple(grad.shape)}")
        self._checks += 1
        return self.grad if grad is None else grad

    def share_memory_(self) -> FlatAdam:
        """Moves the parameters, the optimizer statistics and the step count into shared memory, so
        processes forked afterwards update one model and one set of statistics (Hogwild: no locks). The
        gradient buffer stays private. Returns ``self``."""
        for name in self._shared_names():
            getattr(self, name).share_memory_()
        self._data_ptrs = [p.data_ptr() for p in self._params]
        return self

    def _shared_names(self) -> tuple[str, ...]:
        return ("params", "exp_avg", "exp_avg_sq", "step_count")

    def _check_views(self) -> None:
        for p, g, ptr in zip(self._params, self._grad_views, self._data_ptrs, strict=True):
            if p.grad is not g:
                raise RuntimeError("a parameter's .grad was replaced (e.g. by zero_grad(set_to_none=True)): "
                                   "FlatAdam needs the grads to stay views of its flat buffer; use "
                                   "FlatAdam.zero_grad()")
            if p.data_ptr() != ptr:
                raise RuntimeError("a parameter's data was replaced (e.g. by module.to(device) after "
                                   "flattening): FlatAdam would update a buffer the module no longer uses")

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters, step count and the moment estimates (CPU copies), for checkpoints."""
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay,
                "step": int(self.step_count.item()),
                "exp_avg": self.exp_avg.detach().cpu().clone(),
                "exp_avg_sq": self.exp_avg_sq.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output (the parameters themselves are the module's to restore).

        Also accepts the ``state_dict`` of a ``torch.optim.Adam`` over the same module's parameters (in
        ``module.parameters()`` order; checkpoints written before the parameters were flattened).

        Raises:
            ValueError: the moment estimates do not match the flat parameter count.
        """
        if "param_groups" in state:
            state = self._from_torch_adam(state)
        for name in ("exp_avg", "exp_avg_sq"):
            if tuple(state[name].shape) != tuple(self.params.shape):
                raise ValueError(f"state {name} has shape {tuple(state[name].shape)}, expected "
                                 f"{tuple(self.params.shape)}: saved for another network")
        self.lr = float(state["lr"])
        self.betas = (float(state["betas"][0]), float(state["betas"][1]))
        self.eps = float(state["eps"])
        self.weight_decay = float(state.get("weight_decay", 0.0))  # absent in files of fastrl 0.1's first DQN
        self.step_count.fill_(float(state["step"]))
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])

    def _from_torch_adam(self, state: dict[str, Any]) -> dict[str, Any]:
        """``torch.optim.Adam.state_dict()`` (one group, no amsgrad) in :meth:`state_dict`'s format."""
        groups = state["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self._params):
            raise ValueError(f"state holds a torch Adam over {sum(len(g['params']) for g in groups)} "
                             f"parameters, expected one group of {len(self._params)}")
        group, per_param = groups[0], state["state"]
        flat: dict[str, Any] = {"lr": group["lr"], "betas": group["betas"], "eps": group["eps"],
                                "weight_decay": group.get("weight_decay", 0.0), "step": 0}
        if not per_param:  # no step taken yet
            flat["exp_avg"] = torch.zeros(self.params.shape)
            flat["exp_avg_sq"] = torch.zeros(self.params.shape)
            return flat
        ids = group["params"]
        flat["step"] = int(per_param[ids[0]]["step"])
        for name in ("exp_avg", "exp_avg_sq"):
            flat[name] = torch.cat([per_param[i][name].detach().cpu().reshape(-1) for i in ids])
        return flat


class FlatRMSprop(FlatAdam):
    """RMSprop (Tieleman and Hinton, 2012) over a module's flattened parameters, with FlatAdam's flat
    gradient, ``zero_grad``, ``clip_grad_norm_`` and checks. For flat parameters ``theta`` and gradient ``g``::

        v = alpha * v + (1 - alpha) * g**2
        theta -= lr * g / (sqrt(v) + eps)          (torch.optim.RMSprop, SB3's A2C; the default)
        theta -= lr * g / sqrt(v + eps)            (eps_inside_sqrt=True: the A3C paper's and PFRL's form)

    With the default form it computes what ``torch.optim.RMSprop`` (no momentum, not centered, no weight
    decay) computes, bit for bit: the same element-wise operations on one tensor instead of one per parameter.
    """

    def __init__(self, module: nn.Module, lr: float, alpha: float = 0.99, eps: float = 1e-8,
                 eps_inside_sqrt: bool = False) -> None:
        if not 0 <= alpha < 1:
            raise ValueError(f"alpha must be in [0, 1), got {alpha!r}")
        super().__init__(module, lr=lr, eps=eps)
        self.alpha = float(alpha)
        self.eps_inside_sqrt = bool(eps_inside_sqrt)
        self.square_avg = self.exp_avg_sq  # the flat running mean of squared gradients
        del self.exp_avg

    def _shared_names(self) -> tuple[str, ...]:
        return ("params", "square_avg", "step_count")

    def step(self, grad: torch.Tensor | None = None) -> None:
        """One RMSprop step on the flat parameters from the flat gradient, or from ``grad`` (see
        :meth:`FlatAdam.step`)."""
        g = self._gradient(grad)
        self.square_avg.mul_(self.alpha).addcmul_(g, g, value=1 - self.alpha)
        if self.eps_inside_sqrt:
            avg = self.square_avg.add(self.eps).sqrt_()
        else:
            avg = self.square_avg.sqrt().add_(self.eps)
        self.params.addcdiv_(g, avg, value=-self.lr)
        self.step_count += 1

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters, step count and the running mean of squared gradients (a CPU copy)."""
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps, "eps_inside_sqrt": self.eps_inside_sqrt,
                "step": int(self.step_count.item()), "square_avg": self.square_avg.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output (ValueError if it was saved for another network)."""
        if tuple(state["square_avg"].shape) != tuple(self.params.shape):
            raise ValueError(f"state square_avg has shape {tuple(state['square_avg'].shape)}, expected "
                             f"{tuple(self.params.shape)}: saved for another network")
        self.lr, self.alpha, self.eps = float(state["lr"]), float(state["alpha"]), float(state["eps"])
        self.eps_inside_sqrt = bool(state["eps_inside_sqrt"])
        self.step_count.fill_(float(state["step"]))
        self.square_avg.copy_(state["square_avg"])
