"""``fastrl bench vector``: env steps per second of fastrl's vector envs beside gymnasium and EnvPool.

Every row steps the same task with the same pre-drawn random actions, one runner after the other in this
process, and reports steps/s where steps = env steps summed over envs (one ``step`` call on 64 envs is 64
steps; no frame skip is involved for these tasks). The ratio column is fastrl's rate over the peer's.

Rows are produced by the functions in ``BENCHMARKS``; another module can append its own (for example Atari
rows) as ``fn(args) -> list[Row]`` without touching the table code.

Peers: gymnasium ``SyncVectorEnv`` (``gym.make_vec(..., vectorization_mode="sync")``), gymnasium's NumPy-batched
``CartPoleVectorEnv`` and EnvPool (``envpool.make_gymnasium(..., num_threads=1)`` unless stated). A peer that is
not installed is reported and skipped.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastrl._text import plain

__all__ = ["BENCHMARKS", "Row", "format_rows", "main", "measure"]


@dataclass
class Row:
    """One measured runner: ``rate`` env steps per second (steps summed over envs), or None if unavailable.

    ``ratio`` is fastrl's rate over this row's rate (for a fastrl row on more threads: its rate over fastrl's on
    one thread); ``target`` the ratio the project aims for, if any.
    """

    task: str
    num_envs: int
    runner: str
    threads: int
    rate: float | None
    ratio: float | None = None
    target: float | None = None


def measure(step: Callable[[np.ndarray], Any], actions: list[np.ndarray], num_envs: int, seconds: float) -> float:
    """Calls ``step`` with the actions in turn for about ``seconds``; returns env steps per second."""
    for a in actions[:4]:  # warm-up: first-call costs (allocations, lazy imports) are not throughput
        step(a)
    calls = 0
    k = len(actions)
    start = time.perf_counter()
    elapsed = 0.0
    batch = 16
    while elapsed < seconds:
        for i in range(batch):
            step(actions[(calls + i) % k])
        calls += batch
        elapsed = time.perf_counter() - start
        batch = min(batch * 2, 4096)
    return calls * num_envs / elapsed


def _discrete_actions(num_envs: int, n: int, count: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, n, size=num_envs) for _ in range(count)]


def _box_actions(num_envs: int, high: float, count: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.uniform(-high, high, size=(num_envs, 1)).astype(np.float32) for _ in range(count)]


def fastrl_stepper(env_id: str, num_envs: int, num_threads: int) -> Callable[[np.ndarray], Any]:
    from fastrl.vector.native import NativeVectorEnv

    env = NativeVectorEnv(env_id, num_envs, seed=0, num_threads=num_threads)
    env.reset()
    return env.step


def gym_sync_stepper(env_id: str, num_envs: int) -> Callable[[np.ndarray], Any]:
    import gymnasium as gym

    env = gym.make_vec(env_id, num_envs, vectorization_mode="sync")
    env.reset(seed=0)
    return env.step


def gym_cartpole_vector_stepper(num_envs: int) -> Callable[[np.ndarray], Any]:
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

    env = CartPoleVectorEnv(num_envs=num_envs)
    env.reset(seed=0)
    return env.step


def envpool_stepper(env_id: str, num_envs: int, num_threads: int) -> Callable[[np.ndarray], Any] | None:
    try:
        import envpool
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = envpool.make_gymnasium(env_id, num_envs=num_envs, num_threads=num_threads, seed=0)
    env.reset()
    return env.step


Runner = tuple[str, int, Callable[[], Callable[[np.ndarray], Any] | None], float | None]


def _group(task: str, num_envs: int, actions: list[np.ndarray], seconds: float, runners: list[Runner]) -> list[Row]:
    """Measures fastrl (the first runner) and its peers on the same actions; ratios are fastrl's rate over each."""
    rows = []
    for runner, threads, make, target in runners:
        step = make()
        rate = None if step is None else measure(step, actions, num_envs, seconds)
        rows.append(Row(task, num_envs, runner, threads, rate, target=target))
    base = rows[0].rate
    for row in rows[1:]:
        if row.rate and base:
            row.ratio = base / row.rate
    return rows


def bench_cartpole(args: argparse.Namespace) -> list[Row]:
    """CartPole-v1 at 1, 64 and 4096 envs (1 and 2 threads at 4096)."""
    s = args.seconds
    env_id = "CartPole-v1"
    rows: list[Row] = []
    rows += _group(env_id, 1, _discrete_actions(1, 2), s, [
        ("fastrl", 1, lambda: fastrl_stepper(env_id, 1, 1), None),
        ("gymnasium SyncVectorEnv", 1, lambda: gym_sync_stepper(env_id, 1), 15.0),
        ("gymnasium CartPoleVectorEnv", 1, lambda: gym_cartpole_vector_stepper(1), None),
        ("EnvPool", 1, lambda: envpool_stepper(env_id, 1, 1), None),
    ])
    rows += _group(env_id, 64, _discrete_actions(64, 2), s, [
        ("fastrl", 1, lambda: fastrl_stepper(env_id, 64, 1), None),
        ("gymnasium SyncVectorEnv", 1, lambda: gym_sync_stepper(env_id, 64), None),
        ("gymnasium CartPoleVectorEnv", 1, lambda: gym_cartpole_vector_stepper(64), 20.0),
        ("EnvPool", 1, lambda: envpool_stepper(env_id, 64, 1), 30.0),
    ])
    n = 4096
    acts = _discrete_actions(n, 2, count=16)
    group = _group(env_id, n, acts, s, [
        ("fastrl", 1, lambda: fastrl_stepper(env_id, n, 1), None),
        ("gymnasium CartPoleVectorEnv", 1, lambda: gym_cartpole_vector_stepper(n), 1.8),
    ])
    two = Row(env_id, n, "fastrl (vs fastrl 1 thread)", 2, measure(fastrl_stepper(env_id, n, 2), acts, n, s),
              target=1.7)
    if group[0].rate and two.rate:
        two.ratio = two.rate / group[0].rate
    return rows + group + [two]


def bench_pendulum(args: argparse.Namespace) -> list[Row]:
    """Pendulum-v1 at 64 envs."""
    env_id = "Pendulum-v1"
    return _group(env_id, 64, _box_actions(64, 2.0), args.seconds, [
        ("fastrl", 1, lambda: fastrl_stepper(env_id, 64, 1), None),
        ("gymnasium SyncVectorEnv", 1, lambda: gym_sync_stepper(env_id, 64), 50.0),
        ("EnvPool", 1, lambda: envpool_stepper(env_id, 64, 1), 20.0),
    ])


# Each function measures one group of runners and returns its rows; append more (e.g. Atari) here.
BENCHMARKS: list[Callable[[argparse.Namespace], list[Row]]] = [bench_cartpole, bench_pendulum]


def format_rows(rows: list[Row]) -> str:
    """The table printed by ``main``."""
    lines = [f"{'task':<14} {'envs':>5}  {'runner':<30} {'threads':>7} {'steps/s':>13} {'ratio':>8}  target"]
    for row in rows:
        rate = "not installed" if row.rate is None else f"{row.rate:,.0f}"
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        target = ""
        if row.target is not None:
            met = "" if row.ratio is None else (" met" if row.ratio >= row.target else " MISSED")
            target = f">= {row.target:g}x{met}"
        lines.append(
            f"{row.task:<14} {row.num_envs:>5}  {row.runner:<30} {row.threads:>7} {rate:>13} {ratio:>8}  {target}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Runs every function in ``BENCHMARKS`` and prints one table."""
    parser = argparse.ArgumentParser(prog="fastrl bench vector", description=plain(__doc__.splitlines()[0]))
    parser.add_argument("--quick", action="store_true", help="short runs (0.3 s per runner instead of 2 s)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per runner")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 0.3 if args.quick else 2.0
    print(f"fastrl bench vector: {os.cpu_count()} CPUs visible; steps/s = env steps summed over envs; "
          f"{args.seconds:g} s per runner; random actions")
    rows: list[Row] = []
    for bench in BENCHMARKS:
        rows += bench(args)
    print(format_rows(rows))
    print("ratio: fastrl's steps/s over the runner's (for 'fastrl (vs fastrl 1 thread)': 2 threads over 1)")


if __name__ == "__main__":
    main()
