"""Discounted returns, GAE, n-step and lambda-returns over ``(T, N)`` rollouts, compiled with numba.

Every function takes time-major arrays: ``(T,)`` for one env or ``(T, N)`` for ``N`` envs, row ``t``
holding step ``t`` of every env. Per step ``t`` of an env:

- ``r_t = rewards[t]``: the reward of the transition ``s_t -> s_{t+1}``;
- ``v_t = values[t]``: the value estimate of ``s_t``;
- ``v_tp1 = next_values[t]``: the value estimate of the TRUE next state ``s_{t+1}``: the final
  observation where the episode ended at ``t``, never the observation produced by a reset;
- ``term_t = terminated[t]``: the MDP ended at ``t``; nothing is bootstrapped from ``s_{t+1}``;
- ``trunc_t = truncated[t]``: the episode was cut at ``t`` (time limit); the recursion stops but
  bootstraps from ``v_tp1``. The last row ``t = T - 1`` bootstraps from ``next_values[T - 1]`` too.

Dtypes: ``rewards``, ``values`` and ``next_values`` are all float32 or all float64 and the results come
back in that dtype, computed in that dtype (``gamma`` and ``lam`` are rounded to it first). Mixing
float32 and float64 raises :class:`ArgumentTypeError` rather than casting silently. The flags may be
bool or any integer or float dtype holding only 0 and 1. Where ``term_t`` is set, ``next_values[t]``
is not read, so it may hold anything (even NaN).

Layout: any strides are accepted; inputs that are not C-contiguous (Fortran order, slices, negative or
zero strides) are copied once into C order, on purpose, because the kernels run a reverse loop over
``t`` with an inner loop over the contiguous env axis, which LLVM turns into SIMD code. For large
``N`` the envs are split into chunks that run on numba's thread pool; each env's recursion is
independent, so the parallel results are bit-identical to the serial ones.

Torch: CPU tensors are accepted anywhere an array is, and the results come back as tensors (same
dtype, no gradient: these are targets). Tensors on another device (CUDA) are copied to the CPU and
the results copied back to that device: one host-device round trip per call.

Bad input raises ``ValueError`` (shapes, ndim, ``gamma``/``lam`` outside ``[0, 1]`` or NaN, ``n < 1``,
flags other than 0/1) or :class:`ArgumentTypeError` (a ``TypeError`` that is also a ``ValueError``:
wrong dtypes or argument types), each naming the argument.

The kernels are compiled on first use, once per dtype (``cache=True``: later processes load them
from numba's cache); importing this module compiles nothing.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import njit, prange, types

from fastrl._checks import check_int

__all__ = ["ArgumentTypeError", "discounted_returns", "gae", "lambda_returns", "nstep_returns"]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type or dtype.

    A ``TypeError``, and also a ``ValueError`` so that code catching ``ValueError`` for every bad
    input of these functions catches it too (as numpy's ``AxisError`` is both).
    """


# ---------------------------------------------------------------------------------------------------
# Kernels. Each `_*_block` handles the envs [lo, hi) of C-contiguous (T, N) arrays: a reverse (or
# forward, for n-step) loop over t, and inside it a loop over the env axis, contiguous in memory and
# free of loop-carried dependencies (the recursion runs through `carry`, one slot per env), so LLVM
# vectorizes it. Flags are bool arrays. Every element is loaded unconditionally before the
# `a if flag else b` choices: numba lowers those as branches, and LLVM turns them into branch-free
# selects (and the loop into SIMD code) only when no load hides inside a branch. All arithmetic stays
# in the input dtype: the scalars arrive already cast, and no float literal appears in the math.
# ---------------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _discounted_block(r, nv, term, trunc, gamma, out, lo, hi):  # pragma: no cover - compiled
    T = r.shape[0]
    w = hi - lo
    carry = np.empty(w, dtype=r.dtype)  # G_{t+1} of each env
    t = T - 1
    rt, nvt, te, ot = r[t, lo:hi], nv[t, lo:hi], term[t, lo:hi], out[t, lo:hi]
    for j in range(w):
        x, xnv = rt[j], nvt[j]
        g = x if te[j] else x + gamma * xnv
        carry[j] = g
        ot[j] = g
    for t in range(T - 2, -1, -1):
        rt, nvt, te, tr, ot = r[t, lo:hi], nv[t, lo:hi], term[t, lo:hi], trunc[t, lo:hi], out[t, lo:hi]
        for j in range(w):
            x, xnv, c = rt[j], nvt[j], carry[j]
            nxt = xnv if tr[j] else c
            g = x if te[j] else x + gamma * nxt
            carry[j] = g
            ot[j] = g


@njit(cache=True, nogil=True)
def _gae_block(r, v, nv, term, trunc, gamma, gamma_lam, adv, ret, lo, hi):  # pragma: no cover - compiled
    T = r.shape[0]
    w = hi - lo
    carry = np.zeros(w, dtype=r.dtype)  # A_{t+1} of each env; A_T = 0
    for t in range(T - 1, -1, -1):
        rt, vt, nvt = r[t, lo:hi], v[t, lo:hi], nv[t, lo:hi]
        te, tr, at, gt = term[t, lo:hi], trunc[t, lo:hi], adv[t, lo:hi], ret[t, lo:hi]
        for j in range(w):
            x, xv, xnv, c = rt[j], vt[j], nvt[j], carry[j]
            delta = x - xv if te[j] else x + gamma * xnv - xv
            a = delta if (te[j] or tr[j]) else delta + gamma_lam * c
            carry[j] = a
            at[j] = a
            gt[j] = a + vt[j]


@njit(cache=True, nogil=True)
def _lambda_block(r, nv, term, trunc, gamma, lam, one_minus_lam, out, lo, hi):  # pragma: no cover - compiled
    T = r.shape[0]
    w = hi - lo
    carry = np.empty(w, dtype=r.dtype)  # G_{t+1} of each env
    t = T - 1
    rt, nvt, te, ot = r[t, lo:hi], nv[t, lo:hi], term[t, lo:hi], out[t, lo:hi]
    for j in range(w):
        x, xnv = rt[j], nvt[j]
        g = x if te[j] else x + gamma * xnv
        carry[j] = g
        ot[j] = g
    for t in range(T - 2, -1, -1):
        rt, nvt, te, tr, ot = r[t, lo:hi], nv[t, lo:hi], term[t, lo:hi], trunc[t, lo:hi], out[t, lo:hi]
        for j in range(w):
            x, xnv, c = rt[j], nvt[j], carry[j]
            nxt = xnv if tr[j] else one_minus_lam * xnv + lam * c
            g = x if te[j] else x + gamma * nxt
            carry[j] = g
            ot[j] = g


@njit(cache=True, nogil=True)
def _nstep_block(r, nv, term, trunc, gamma, n, out, lo, hi):  # pragma: no cover - compiled
    T = r.shape[0]
    w = hi - lo
    acc = np.empty(w, dtype=r.dtype)
    alive = np.empty(w, dtype=np.bool_)  # the window of env j has not reached an episode end yet
    one = r.dtype.type(1)
    for t in range(T):
        k = min(n, T - t)
        for j in range(w):
            acc[j] = 0
            alive[j] = True
        disc = one  # gamma^i, by repeated multiplication
        for i in range(k):
            s = t + i
            rt, nvt, te, tr = r[s, lo:hi], nv[s, lo:hi], term[s, lo:hi], trunc[s, lo:hi]
            disc_next = disc * gamma
            stop_here = i == k - 1
            for j in range(w):
                if alive[j]:
                    a = acc[j] + disc * rt[j]
                    if te[j]:
                        alive[j] = False
                    elif tr[j] or stop_here:
                        a = a + disc_next * nvt[j]
                        alive[j] = False
                    acc[j] = a
            disc = disc_next
        ot = out[t, lo:hi]
        for j in range(w):
            ot[j] = acc[j]


# The parallel drivers split the env axis into chunks of `chunk` envs (a multiple of 16, so that two
# threads never write the same cache line of a row) and run one block per chunk on numba's pool.


@njit(cache=True, nogil=True, parallel=True)
def _discounted_par(r, nv, term, trunc, gamma, out, chunk):  # pragma: no cover - compiled
    N = r.shape[1]
    for c in prange((N + chunk - 1) // chunk):
        _discounted_block(r, nv, term, trunc, gamma, out, c * chunk, min(N, (c + 1) * chunk))


@njit(cache=True, nogil=True, parallel=True)
def _gae_par(r, v, nv, term, trunc, gamma, gamma_lam, adv, ret, chunk):  # pragma: no cover - compiled
    N = r.shape[1]
    for c in prange((N + chunk - 1) // chunk):
        _gae_block(r, v, nv, term, trunc, gamma, gamma_lam, adv, ret, c * chunk, min(N, (c + 1) * chunk))


@njit(cache=True, nogil=True, parallel=True)
def _lambda_par(r, nv, term, trunc, gamma, lam, one_minus_lam, out, chunk):  # pragma: no cover - compiled
    N = r.shape[1]
    for c in prange((N + chunk - 1) // chunk):
        _lambda_block(r, nv, term, trunc, gamma, lam, one_minus_lam, out, c * chunk, min(N, (c + 1) * chunk))


@njit(cache=True, nogil=True, parallel=True)
def _nstep_par(r, nv, term, trunc, gamma, n, out, chunk):  # pragma: no cover - compiled
    N = r.shape[1]
    for c in prange((N + chunk - 1) // chunk):
        _nstep_block(r, nv, term, trunc, gamma, n, out, c * chunk, min(N, (c + 1) * chunk))


# ---------------------------------------------------------------------------------------------------
# Compilation: one explicit signature per (kernel, dtype), compiled on first use. Inputs are typed as
# read-only arrays, which writable arrays convert to, so writable and read-only inputs share one
# compiled version; compilation is disabled in between so the dispatcher never adds a second one.
# ---------------------------------------------------------------------------------------------------

# argument kinds, in each kernel's order: "in" float array, "flag" bool array, "out" float array,
# "s" float scalar, "i" integer
_KERNEL_ARGS = {
    "discounted": ("in", "in", "flag", "flag", "s", "out"),
    "gae": ("in", "in", "in", "flag", "flag", "s", "s", "out", "out"),
    "lambda": ("in", "in", "flag", "flag", "s", "s", "s", "out"),
    "nstep": ("in", "in", "flag", "flag", "s", "i", "out"),
}
_BLOCKS = {"discounted": _discounted_block, "gae": _gae_block, "lambda": _lambda_block, "nstep": _nstep_block}
_PARALLEL = {"discounted": _discounted_par, "gae": _gae_par, "lambda": _lambda_par, "nstep": _nstep_par}

_compile_lock = threading.Lock()
_compiled: set[tuple[str, str, bool]] = set()


def _signature(name: str, dtype: np.dtype, parallel: bool) -> tuple:
    scalar = numba.from_dtype(dtype)
    kinds = {
        "in": types.Array(scalar, 2, "C", readonly=True),
        "flag": types.Array(types.boolean, 2, "C", readonly=True),
        "out": types.Array(scalar, 2, "C"),
        "s": scalar,
        "i": types.intp,
    }
    return (*(kinds[k] for k in _KERNEL_ARGS[name]), types.intp, *(() if parallel else (types.intp,)))


def _kernel(name: str, dtype: np.dtype, parallel: bool) -> Callable[..., None]:
    key = (name, dtype.name, parallel)
    if key not in _compiled:
        with _compile_lock:
            if key not in _compiled:
                if parallel:  # the driver calls the block: compile (or load) that first
                    _kernel(name, dtype, False)
                dispatcher = _PARALLEL[name] if parallel else _BLOCKS[name]
                dispatcher.disable_compile(False)
                try:
                    dispatcher.compile(_signature(name, dtype, parallel))
                finally:
                    dispatcher.disable_compile(True)
                _compiled.add(key)
    return _PARALLEL[name] if parallel else _BLOCKS[name]


# ---------------------------------------------------------------------------------------------------
# Serial or parallel. Measured on a 2-core machine: splitting pays from about 128 envs per thread and
# 2^18 elements; below that the pool's launch cost and the narrower rows lose to one SIMD loop.
# ---------------------------------------------------------------------------------------------------

_MIN_CHUNK_ENVS = 128
_PARALLEL_MIN_ELEMENTS = 1 << 18

# Numba's workqueue layer is not safe to enter from two threads at once, and GNU OpenMP is not safe
# to use again in a child forked after its first parallel region. A caller that finds the pool busy
# (another Python thread is in a parallel kernel) therefore runs the serial kernel, and a forked child
# of a process that used the pool stays serial; both give the same bits.
_pool_lock = threading.Lock()
_pool_state = {"used": False, "usable": True}


def _after_fork_in_child() -> None:
    global _pool_lock
    _pool_lock = threading.Lock()  # a lock held at fork time would stay held in the child
    if _pool_state["used"]:
        _pool_state["usable"] = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _chunk_envs(T: int, N: int) -> int:
    """Envs per parallel chunk, or 0 to run serially."""
    if T * N < _PARALLEL_MIN_ELEMENTS or N < 2 * _MIN_CHUNK_ENVS:
        return 0  # decided without asking numba, whose first question starts its thread pool
    # a forked child of a process with a started pool can deadlock in it (measured with GNU OpenMP
    # even before any parallel region ran): from here on, children stay serial
    _pool_state["used"] = True
    threads = numba.get_num_threads()
    if threads < 2:
        return 0
    chunks = min(threads, N // _MIN_CHUNK_ENVS)
    if chunks < 2:
        return 0
    return ((N + chunks - 1) // chunks + 15) // 16 * 16


def _launch(name: str, dtype: np.dtype, args: tuple) -> None:
    T, N = args[0].shape
    chunk = _chunk_envs(T, N)
    if chunk and chunk < N and _pool_state["usable"] and _pool_lock.acquire(blocking=False):
        try:
            kernel = _kernel(name, dtype, True)
            _pool_state["used"] = True
            kernel(*args, chunk)
        finally:
            _pool_lock.release()
        return
    _kernel(name, dtype, False)(*args, 0, N)


# ---------------------------------------------------------------------------------------------------
# Argument checks and conversions (numpy arrays, anything np.asarray takes, torch tensors).
# ---------------------------------------------------------------------------------------------------

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _is_tensor(x: Any) -> bool:
    # never imports torch: a tensor can only exist if torch is already loaded
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


class _Converter:
    """Turns the array arguments of one call into C-contiguous (T, N) numpy arrays, remembering
    whether tensors came in (and on which device) so that the results go back the same way."""

    def __init__(self) -> None:
        self.device: Any = None
        self.device_of: str = ""
        self.shape: tuple[int, ...] | None = None
        self.shape_of: str = ""
        self.dtype: np.dtype | None = None
        self.dtype_of: str = ""

    def _to_numpy(self, name: str, x: Any, flag: bool) -> np.ndarray:
        if _is_tensor(x):
            import torch

            if self.device is None:
                self.device, self.device_of = x.device, name
            elif x.device != self.device:
                raise ValueError(
                    f"{name} is on {x.device} but {self.device_of} is on {self.device}; pass tensors on one device"
                )
            x = x.detach()
            if x.device.type != "cpu":
                x = x.cpu()
            if x.is_complex() or (not flag and x.dtype not in (torch.float32, torch.float64)):
                raise ArgumentTypeError(f"{name} must be a float32 or float64 tensor, got {x.dtype}")
            if x.dtype == torch.bfloat16:  # numpy has no bfloat16; 0/1 flags are exact in float32
                x = x.float()
            return x.numpy()
        if isinstance(x, (str, bytes)) or x is None:
            raise ArgumentTypeError(f"{name} must be an array, got {type(x).__name__}")
        try:
            return np.asarray(x)
        except (TypeError, ValueError) as err:
            raise ArgumentTypeError(f"{name} must be an array: {err}") from None

    def _check_shape(self, name: str, a: np.ndarray) -> None:
        if a.ndim not in (1, 2):
            raise ValueError(f"{name} must have shape (T,) or (T, N) (time first), got shape {a.shape}")
        if self.shape is None:
            self.shape, self.shape_of = a.shape, name
        elif a.shape != self.shape:
            raise ValueError(f"{name} has shape {a.shape} but {self.shape_of} has shape {self.shape}")

    def values(self, name: str, x: Any) -> np.ndarray:
        """A float32/float64 array, same dtype as the other value arrays."""
        a = self._to_numpy(name, x, flag=False)
        if a.dtype not in _FLOAT_DTYPES:
            raise ArgumentTypeError(f"{name} must have dtype float32 or float64, got {a.dtype}")
        if self.dtype is None:
            self.dtype, self.dtype_of = a.dtype, name
        elif a.dtype != self.dtype:
            raise ArgumentTypeError(
                f"{name} has dtype {a.dtype} but {self.dtype_of} has dtype {self.dtype}; pass rewards, values and "
                f"next_values in one float dtype (fastrl does not cast them silently)"
            )
        self._check_shape(name, a)
        return self._layout(a)

    def flags(self, name: str, x: Any) -> np.ndarray:
        """A bool array from bools or 0/1 numbers."""
        a = self._to_numpy(name, x, flag=True)
        self._check_shape(name, a)
        if a.dtype != np.bool_:
            if a.dtype.kind not in "iuf":
                raise ArgumentTypeError(f"{name} must hold bools or 0/1 numbers, got dtype {a.dtype}")
            is_one = a == 1
            if not (is_one | (a == 0)).all():
                bad = a[~(is_one | (a == 0))].flat[0]
                raise ValueError(f"{name} must hold only 0 and 1 (or bools), found {bad!r}")
            a = is_one
        return self._layout(a)

    @staticmethod
    def _layout(a: np.ndarray) -> np.ndarray:
        # a deliberate copy for non-C-contiguous or misaligned input: the kernels need the env axis
        # contiguous (see the module docstring); C-contiguous input is used in place
        a = np.require(a, requirements=("C", "A"))
        return a.reshape(a.shape[0], 1) if a.ndim == 1 else a

    def empty(self) -> np.ndarray:
        assert self.shape is not None and self.dtype is not None
        T = self.shape[0]
        return np.empty((T, self.shape[1] if len(self.shape) == 2 else 1), dtype=self.dtype)

    def result(self, out: np.ndarray) -> Any:
        """``out`` (T, N) back in the caller's shape, as a tensor if tensors came in."""
        assert self.shape is not None
        out = out.reshape(self.shape)
        if self.device is None:
            return out
        import torch

        tensor = torch.from_numpy(out)
        return tensor if self.device.type == "cpu" else tensor.to(self.device)


def _unit_interval(name: str, x: Any, dtype: np.dtype) -> Any:
    """``gamma`` / ``lam``: a real number in [0, 1], rounded to ``dtype``."""
    if _is_tensor(x) or isinstance(x, np.ndarray):
        if x.ndim != 0:
            raise ArgumentTypeError(f"{name} must be a number, got an array of shape {tuple(x.shape)}")
        x = x.item()
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number in [0, 1], got {type(x).__name__}")
    value = float(x)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return dtype.type(value)


# ---------------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------------

ArrayLike = Any  # numpy array, anything np.asarray accepts, or a torch tensor


def discounted_returns(
    rewards: ArrayLike, terminated: ArrayLike, truncated: ArrayLike, next_values: ArrayLike, gamma: float
) -> ArrayLike:
    """Discounted returns, bootstrapped at truncations and at the end of the rollout.

    ``G_t = r_t + gamma * (1 - term_t) * (v_tp1 if trunc_t or t == T - 1 else G_tp1)``

    with ``r_t = rewards[t]``, ``v_tp1 = next_values[t]`` (value of the true next state),
    ``term_t = terminated[t]``, ``trunc_t = truncated[t]``. With ``next_values = 0`` and every episode
    ending inside the rollout this is the plain Monte-Carlo return of each episode.

    Args:
        rewards: ``(T,)`` or ``(T, N)``, float32 or float64.
        terminated: same shape, bool or 0/1: the MDP ended at ``t``.
        truncated: same shape, bool or 0/1: the episode was cut at ``t``; bootstrap from ``v_tp1``.
        next_values: same shape and dtype as ``rewards``; read only where bootstrapped.
        gamma: discount in ``[0, 1]``.

    Returns:
        ``G``: same shape and dtype as ``rewards`` (a tensor if tensors were passed).
    """
    conv = _Converter()
    r = conv.values("rewards", rewards)
    nv = conv.values("next_values", next_values)
    term = conv.flags("terminated", terminated)
    trunc = conv.flags("truncated", truncated)
    g = _unit_interval("gamma", gamma, r.dtype)
    out = conv.empty()
    if out.size:
        _launch("discounted", r.dtype, (r, nv, term, trunc, g, out))
    return conv.result(out)


def gae(
    rewards: ArrayLike,
    values: ArrayLike,
    next_values: ArrayLike,
    terminated: ArrayLike,
    truncated: ArrayLike,
    gamma: float,
    lam: float,
) -> tuple[ArrayLike, ArrayLike]:
    """Generalized advantage estimation (Schulman et al., 2016) and the matching value targets.

    ``delta_t = r_t + gamma * (1 - term_t) * v_tp1 - v_t``

    ``A_t = delta_t + gamma * lam * (1 - term_t) * (1 - trunc_t) * A_tp1``, with ``A_T = 0``

    ``returns_t = A_t + v_t``

    with ``r_t = rewards[t]``, ``v_t = values[t]``, ``v_tp1 = next_values[t]`` (value of the true next
    state: the final observation at an episode end, never a reset observation), ``term_t =
    terminated[t]``, ``trunc_t = truncated[t]``. Computed as ``gamma_lam = gamma * lam`` (in the input
    dtype), then the recursion.

    Args:
        rewards, values, next_values: ``(T,)`` or ``(T, N)``, all float32 or all float64.
        terminated, truncated: same shape, bool or 0/1.
        gamma: discount in ``[0, 1]``.
        lam: GAE lambda in ``[0, 1]``.

    Returns:
        ``(advantages, returns)``: each the shape and dtype of ``rewards`` (tensors if tensors were passed).
    """
    conv = _Converter()
    r = conv.values("rewards", rewards)
    v = conv.values("values", values)
    nv = conv.values("next_values", next_values)
    term = conv.flags("terminated", terminated)
    trunc = conv.flags("truncated", truncated)
    g = _unit_interval("gamma", gamma, r.dtype)
    lm = _unit_interval("lam", lam, r.dtype)
    adv, ret = conv.empty(), conv.empty()
    if adv.size:
        _launch("gae", r.dtype, (r, v, nv, term, trunc, g, g * lm, adv, ret))
    return conv.result(adv), conv.result(ret)


def nstep_returns(
    rewards: ArrayLike,
    next_values: ArrayLike,
    terminated: ArrayLike,
    truncated: ArrayLike,
    gamma: float,
    n: int,
) -> ArrayLike:
    """n-step bootstrapped returns (targets of n-step Q-learning and n-step DQN).

    ``target_t = sum_{i<k} gamma^i r_{t+i} + gamma^k * (1 - term_{t+k-1}) * v_tp1[t+k-1]``

    where ``k <= n`` is the number of steps until the first episode end (``term`` or ``trunc``) at or
    after ``t``, or until the rollout's end, whichever comes first: ``k`` is the smallest
    ``k' in [1, n]`` with ``term_{t+k'-1} or trunc_{t+k'-1}``, else ``min(n, T - t)``. There is no
    bootstrap term when the episode terminated at ``t + k - 1``. The sum runs forward
    (``acc += gamma^i * r_{t+i}``, ``gamma^i`` by repeated multiplication), then the bootstrap is added.

    Args:
        rewards: ``(T,)`` or ``(T, N)``, float32 or float64.
        next_values: same shape and dtype: ``next_values[t]`` is the value of the true ``s_{t+1}``
            (for Q-learning, ``max_a Q(s_{t+1}, a)``).
        terminated, truncated: same shape, bool or 0/1.
        gamma: discount in ``[0, 1]``.
        n: the largest number of steps summed, ``>= 1`` (``n = 1`` gives one-step TD targets).

    Returns:
        ``targets``: the shape and dtype of ``rewards`` (a tensor if tensors were passed).
    """
    conv = _Converter()
    r = conv.values("rewards", rewards)
    nv = conv.values("next_values", next_values)
    term = conv.flags("terminated", terminated)
    trunc = conv.flags("truncated", truncated)
    g = _unit_interval("gamma", gamma, r.dtype)
    steps = check_int("n", n, 1, type_error=ArgumentTypeError)
    out = conv.empty()
    if out.size:
        _launch("nstep", r.dtype, (r, nv, term, trunc, g, steps, out))
    return conv.result(out)


def lambda_returns(
    rewards: ArrayLike,
    next_values: ArrayLike,
    terminated: ArrayLike,
    truncated: ArrayLike,
    gamma: float,
    lam: float,
) -> ArrayLike:
    """TD(lambda) returns: an exponentially weighted mix of n-step returns.

    ``G_t = r_t + gamma * (1 - term_t) * (v_tp1 if trunc_t or t == T - 1
    else (1 - lam) * v_tp1 + lam * G_tp1)``

    with ``r_t = rewards[t]``, ``v_tp1 = next_values[t]``, ``term_t = terminated[t]``,
    ``trunc_t = truncated[t]``. ``lam = 1`` gives :func:`discounted_returns`; ``lam = 0`` gives one-step
    TD targets ``r_t + gamma * (1 - term_t) * v_tp1``.

    Args:
        rewards: ``(T,)`` or ``(T, N)``, float32 or float64.
        next_values: same shape and dtype as ``rewards``.
        terminated, truncated: same shape, bool or 0/1.
        gamma: discount in ``[0, 1]``.
        lam: lambda in ``[0, 1]``.

    Returns:
        ``G``: the shape and dtype of ``rewards`` (a tensor if tensors were passed).
    """
    conv = _Converter()
    r = conv.values("rewards", rewards)
    nv = conv.values("next_values", next_values)
    term = conv.flags("terminated", terminated)
    trunc = conv.flags("truncated", truncated)
    g = _unit_interval("gamma", gamma, r.dtype)
    lm = _unit_interval("lam", lam, r.dtype)
    out = conv.empty()
    if out.size:
        _launch("lambda", r.dtype, (r, nv, term, trunc, g, lm, r.dtype.type(1) - lm, out))
    return conv.result(out)
