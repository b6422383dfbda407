"""``fastrl bench returns``: the return kernels beside the ways people compute them today.

One rollout of ``T`` steps x ``N`` envs (time-major, float32 by default, random terminations and
truncations) is processed by each contender in the same process:

- GAE: ``fastrl.returns.gae``; the Stable-Baselines3 / CleanRL loop (a Python loop over time,
  numpy across envs); the same loop on torch tensors; pure Python loops.
- discounted returns: ``fastrl.returns.discounted_returns``; per-episode ``scipy.signal.lfilter``
  on each reversed episode segment with its bootstrap value appended (as the A3C reference code
  does); the numpy loop over time; torch; pure Python.
- n-step and lambda-returns: fastrl beside the numpy loop over time.
- large ``N``: fastrl's serial kernel beside its parallel one.
- compile cost: the first calls in a fresh process with an empty numba cache, then in a second
  fresh process that loads the cache.

Every contender's output is checked against fastrl's before it is timed. Times are the best of
several repeats of a mean over many calls; ``x`` is the contender's time over fastrl's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fastrl import returns as R
from fastrl._text import plain

# ------------------------------------------------------------------ the work


def make_rollout(T: int, N: int, dtype: Any = np.float32, seed: int = 0) -> dict[str, Any]:
    """A (T, N) rollout with episodes of a few hundred steps: ~1/300 terminations, ~1/1000 truncations."""
    rng = np.random.default_rng(seed)
    shape = (T, N)
    return {
        "rewards": rng.standard_normal(shape).astype(dtype),
        "values": rng.standard_normal(shape).astype(dtype),
        "next_values": rng.standard_normal(shape).astype(dtype),
        "terminated": rng.random(shape) < 1 / 300,
        "truncated": rng.random(shape) < 1 / 1000,
    }


# ------------------------------------------------------------------ peers, written as they are used today


def gae_loop(r, v, nv, not_term, not_trunc, gamma, lam, xp=np):
    """Stable-Baselines3 / CleanRL: a Python loop over t, numpy across envs; flags stored as floats. With
    ``xp=torch`` the same loop on torch tensors (what torch-only agents do)."""
    adv = xp.empty_like(r)
    last = xp.zeros_like(r[0])
    for t in reversed(range(r.shape[0])):
        delta = r[t] + gamma * nv[t] * not_term[t] - v[t]
        last = delta + gamma * lam * not_term[t] * not_trunc[t] * last
        adv[t] = last
    return adv, adv + v


def gae_python(r, v, nv, term, trunc, gamma, lam):
    """Pure Python over nested lists."""
    T, N = len(r), len(r[0])
    adv = [[0.0] * N for _ in range(T)]
    for n in range(N):
        last = 0.0
        for t in range(T - 1, -1, -1):
            nt = 0.0 if term[t][n] else 1.0
            delta = r[t][n] + gamma * nv[t][n] * nt - v[t][n]
            last = delta + gamma * lam * nt * (0.0 if trunc[t][n] else 1.0) * last
            adv[t][n] = last
    return adv


def discounted_loop(r, nv, not_term, not_trunc, gamma, xp=np):
    """A Python loop over t, numpy across envs (``xp=torch``: the same loop on torch tensors)."""
    out = xp.empty_like(r)
    T = r.shape[0]
    nxt = nv[T - 1]
    for t in reversed(range(T)):
        if t < T - 1:
            nxt = not_trunc[t] * out[t + 1] + (1 - not_trunc[t]) * nv[t]
        out[t] = r[t] + gamma * not_term[t] * nxt
    return out


def discounted_python(r, nv, term, trunc, gamma):
    """Pure Python over nested lists."""
    T, N = len(r), len(r[0])
    out = [[0.0] * N for _ in range(T)]
    for n in range(N):
        g = nv[T - 1][n]
        for t in range(T - 1, -1, -1):
            if trunc[t][n] or t == T - 1:
                g = nv[t][n]
            g = r[t][n] if term[t][n] else r[t][n] + gamma * g
            out[t][n] = g
    return out


def discounted_lfilter(r, nv, term, trunc, gamma, lfilter):
    """The A3C reference code: per env and per episode segment, ``lfilter`` over the reversed rewards
    with the bootstrap value appended (0 after a termination)."""
    T, N = r.shape
    out = np.empty_like(r)
    ends = term | trunc
    for n in range(N):
        start = 0
        stops = np.flatnonzero(ends[:, n]).tolist()
        if not stops or stops[-1] != T - 1:
            stops.append(T - 1)
        for stop in stops:
            bootstrap = 0.0 if term[stop, n] else nv[stop, n]
            seg = np.append(r[start : stop + 1, n], np.asarray(bootstrap, r.dtype))
            out[start : stop + 1, n] = lfilter([1], [1, -gamma], seg[::-1])[::-1][:-1]
            start = stop + 1
    return out


def lambda_numpy_loop(r, nv, not_term, not_trunc, gamma, lam):
    """A Python loop over t, numpy across envs."""
    out = np.empty_like(r)
    T = r.shape[0]
    nxt = nv[T - 1]
    for t in reversed(range(T)):
        if t < T - 1:
            mixed = (1 - lam) * nv[t] + lam * out[t + 1]
            nxt = not_trunc[t] * mixed + (1 - not_trunc[t]) * nv[t]
        out[t] = r[t] + gamma * not_term[t] * nxt
    return out


def nstep_numpy_loop(r, nv, term, trunc, gamma, n):
    """A Python loop over t and the window, numpy across envs."""
    T, N = r.shape
    out = np.empty_like(r)
    for t in range(T):
        acc = np.zeros(N, r.dtype)
        alive = np.ones(N, bool)
        disc = 1.0
        k = min(n, T - t)
        for i in range(k):
            s = t + i
            acc = acc + alive * (disc * r[s])
            boot = alive & ~term[s] & (trunc[s] | (i == k - 1))
            acc = acc + boot * (disc * gamma * nv[s])
            alive &= ~(term[s] | trunc[s])
            disc *= gamma
        out[t] = acc
    return out


# ------------------------------------------------------------------ timing and printing


def best_time(fn: Callable[[], Any], budget_s: float, repeats: int = 5) -> float:
    """Seconds per call: the best of ``repeats`` means, each over enough calls to fill its share of
    ``budget_s`` (at least one call)."""
    fn()  # warm up (and compile)
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    calls = max(1, int(budget_s / repeats / once))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


class Table:
    def __init__(self, title: str, elements: int) -> None:
        self.elements = elements
        self.base: float | None = None
        print(f"\n{title}")
        print(f"  {'contender':<52} {'time':>11} {'ns/elem':>9} {'vs fastrl':>10}")

    def row(self, name: str, seconds: float | None, note: str = "") -> None:
        if seconds is None:
            print(f"  {name:<52} {'skipped':>11}  {note}")
            return
        if self.base is None:
            self.base = seconds
        ratio = seconds / self.base
        ms = seconds * 1e3
        time_s = f"{ms:.3f} ms" if ms < 10 else f"{ms:.1f} ms"
        print(f"  {name:<52} {time_s:>11} {seconds * 1e9 / self.elements:>9.2f} {ratio:>9.1f}x  {note}")


def check(name: str, got: Any, expected: np.ndarray, rtol: float) -> None:
    got = np.asarray(got.numpy() if hasattr(got, "numpy") else got, dtype=np.float64)
    if not np.allclose(got, expected, rtol=rtol, atol=rtol):
        err = np.max(np.abs(got - expected))
        raise AssertionError(f"{name} disagrees with fastrl (max abs difference {err:.3g})")


# ------------------------------------------------------------------ compile cost in fresh processes

_COMPILE_PROBE = """
import time
t0 = time.perf_counter()
import numpy as np
from fastrl import returns as R
imported = time.perf_counter() - t0
x = np.zeros((8, 4), np.float32)
f = np.zeros((8, 4), bool)
calls = [
    ("gae", lambda: R.gae(x, x, x, f, f, 0.99, 0.95)),
    ("discounted_returns", lambda: R.discounted_returns(x, f, f, x, 0.99)),
    ("nstep_returns", lambda: R.nstep_returns(x, x, f, f, 0.99, 5)),
    ("lambda_returns", lambda: R.lambda_returns(x, x, f, f, 0.99, 0.95)),
]
print("import", imported)
for name, call in calls:
    t0 = time.perf_counter()
    call()
    print(name, time.perf_counter() - t0)
"""


def compile_times() -> list[dict[str, float]]:
    """Seconds to import and to make each kernel's first float32 call: a fresh process with an empty
    numba cache, then a second fresh process loading that cache."""
    results = []
    with tempfile.TemporaryDirectory(prefix="fastrl-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", _COMPILE_PROBE], env=env, check=True, capture_output=True, text=True
            ).stdout
            results.append({line.split()[0]: float(line.split()[1]) for line in out.splitlines() if line.strip()})
    return results


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fastrl bench returns", description=plain(__doc__.split("\n\n")[0]))
    parser.add_argument("--steps", "-T", type=int, default=2048, help="rollout length T (default 2048)")
    parser.add_argument("--envs", "-N", type=int, default=64, help="number of envs N (default 64)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--quick", action="store_true", help="short timing budget, no pure-Python and no compile rows")
    args = parser.parse_args(argv)

    import numba

    T, N, dtype = args.steps, args.envs, np.dtype(args.dtype)
    budget = 0.15 if args.quick else 0.6
    gamma, lam, n_steps = 0.99, 0.95, 5
    d = make_rollout(T, N, dtype)
    r, v, nv, term, trunc = d["rewards"], d["values"], d["next_values"], d["terminated"], d["truncated"]
    not_term = (~term).astype(dtype)
    not_trunc = (~trunc).astype(dtype)
    g, lm = dtype.type(gamma), dtype.type(lam)
    elements = T * N
    try:
        import torch
    except ImportError:
        torch = None
    try:
        from scipy.signal import lfilter
    except ImportError:
        lfilter = None

    print(f"fastrl bench returns: T={T} x N={N} {dtype.name}, gamma={gamma}, lam={lam}, "
          f"{int(term.sum())} terminations, {int(trunc.sum())} truncations")
    print(f"  numba {numba.__version__}: {numba.get_num_threads()} threads (NUMBA_NUM_THREADS), "
          f"{os.cpu_count()} CPUs; fastrl runs {'in parallel' if R._chunk_envs(T, N) else 'serially'} at this size"
          + (f"; torch {torch.__version__}: {torch.get_num_threads()} threads" if torch else ""))

    # GAE -------------------------------------------------------------------------------------------
    adv, ret = R.gae(r, v, nv, term, trunc, gamma, lam)
    expected_adv = adv.astype(np.float64)
    rtol = 1e-3 if dtype == np.float32 else 1e-9
    table = Table("GAE (advantages and returns)", elements)
    table.row("fastrl.returns.gae", best_time(lambda: R.gae(r, v, nv, term, trunc, gamma, lam), budget))
    check("numpy loop", gae_loop(r, v, nv, not_term, not_trunc, g, lm)[0], expected_adv, rtol)
    table.row("SB3/CleanRL loop (python over t, numpy over envs)",
              best_time(lambda: gae_loop(r, v, nv, not_term, not_trunc, g, lm), budget))
    if torch is not None:
        tr, tv, tnv, tnt, tntr = (torch.from_numpy(a) for a in (r, v, nv, not_term, not_trunc))
        check("torch loop", gae_loop(tr, tv, tnv, tnt, tntr, gamma, lam, torch)[0], expected_adv, rtol)
        table.row("same loop in torch", best_time(lambda: gae_loop(tr, tv, tnv, tnt, tntr, gamma, lam, torch), budget))
        table.row("fastrl.returns.gae on torch tensors",
                  best_time(lambda: R.gae(tr, tv, tnv, torch.from_numpy(term), torch.from_numpy(trunc), gamma, lam),
                            budget))
    if not args.quick:
        lists = [a.tolist() for a in (r, v, nv, term, trunc)]
        check("pure Python", gae_python(*lists, gamma, lam), expected_adv, rtol)
        table.row("pure Python", best_time(lambda: gae_python(*lists, gamma, lam), budget, repeats=2))

    # discounted returns ----------------------------------------------------------------------------
    expected = R.discounted_returns(r, term, trunc, nv, gamma).astype(np.float64)
    table = Table("Discounted returns", elements)
    table.row("fastrl.returns.discounted_returns",
              best_time(lambda: R.discounted_returns(r, term, trunc, nv, gamma), budget))
    if lfilter is not None:
        check("lfilter", discounted_lfilter(r, nv, term, trunc, gamma, lfilter), expected, rtol)
        table.row("scipy.signal.lfilter per episode (A3C reference)",
                  best_time(lambda: discounted_lfilter(r, nv, term, trunc, gamma, lfilter), budget))
    else:
        table.row("scipy.signal.lfilter per episode (A3C reference)", None, "scipy is not installed")
    check("numpy loop", discounted_loop(r, nv, not_term, not_trunc, g), expected, rtol)
    table.row("python loop over t, numpy over envs",
              best_time(lambda: discounted_loop(r, nv, not_term, not_trunc, g), budget))
    if torch is not None:
        check("torch loop", discounted_loop(tr, tnv, tnt, tntr, gamma, torch), expected, rtol)
        table.row("same loop in torch", best_time(lambda: discounted_loop(tr, tnv, tnt, tntr, gamma, torch), budget))
    if not args.quick:
        lists = [a.tolist() for a in (r, nv, term, trunc)]
        check("pure Python", discounted_python(*lists, gamma), expected, rtol)
        table.row("pure Python", best_time(lambda: discounted_python(*lists, gamma), budget, repeats=2))

    # n-step and lambda-returns ---------------------------------------------------------------------
    expected = R.nstep_returns(r, nv, term, trunc, gamma, n_steps).astype(np.float64)
    table = Table(f"{n_steps}-step returns", elements)
    table.row("fastrl.returns.nstep_returns", best_time(lambda: R.nstep_returns(r, nv, term, trunc, gamma, n_steps),
                                                        budget))
    check("numpy loop", nstep_numpy_loop(r, nv, term, trunc, g, n_steps), expected, rtol)
    table.row("python loop over t and i, numpy over envs",
              best_time(lambda: nstep_numpy_loop(r, nv, term, trunc, g, n_steps), budget))

    expected = R.lambda_returns(r, nv, term, trunc, gamma, lam).astype(np.float64)
    table = Table("Lambda-returns", elements)
    table.row("fastrl.returns.lambda_returns", best_time(lambda: R.lambda_returns(r, nv, term, trunc, gamma, lam),
                                                         budget))
    check("numpy loop", lambda_numpy_loop(r, nv, not_term, not_trunc, g, lm), expected, rtol)
    table.row("python loop over t, numpy over envs",
              best_time(lambda: lambda_numpy_loop(r, nv, not_term, not_trunc, g, lm), budget))

    # serial vs parallel at large N -----------------------------------------------------------------
    big_T, big_N = (128, 4096) if args.quick else (512, 4096)
    big = make_rollout(big_T, big_N, dtype, seed=1)
    bargs = tuple(big[k] for k in ("rewards", "values", "next_values", "terminated", "truncated"))
    table = Table(f"GAE at T={big_T} x N={big_N}: serial vs parallel kernel", big_T * big_N)
    chunk = R._chunk_envs(big_T, big_N)
    saved = R._chunk_envs
    try:
        R._chunk_envs = lambda T, N: 0
        serial = R.gae(*bargs, gamma, lam)[0]
        table.row("fastrl serial kernel", best_time(lambda: R.gae(*bargs, gamma, lam), budget))
        if chunk:
            R._chunk_envs = saved
            assert np.array_equal(R.gae(*bargs, gamma, lam)[0], serial), "parallel != serial"
            threads = -(-big_N // chunk)
            table.row(f"fastrl parallel kernel ({threads} chunks of {chunk} envs, {numba.threading_layer()})",
                      best_time(lambda: R.gae(*bargs, gamma, lam), budget), "bit-identical to serial")
        else:
            table.row("fastrl parallel kernel", None, "one numba thread: runs serially")
    finally:
        R._chunk_envs = saved

    # compile cost ----------------------------------------------------------------------------------
    if not args.quick:
        first, cached = compile_times()
        print("\nFirst calls in a fresh process (float32, all four kernels)")
        print(f"  {'':<22} {'empty cache':>12} {'cached':>10}")
        for key in first:
            print(f"  {key:<22} {first[key]:>10.3f} s {cached[key]:>8.3f} s")
        total = [sum(v for k, v in res.items() if k != "import") for res in (first, cached)]
        print(f"  {'all four kernels':<22} {total[0]:>10.3f} s {total[1]:>8.3f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
