"""pytest-benchmark runs of fastrl's native vector envs beside gymnasium and EnvPool (``pytest bench/``).

Each benchmark times one ``step`` call on the same task and batch size; compare the groups' means (steps
per call = num_envs). ``fastrl bench vector`` prints the same comparison as one table with ratios.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastrl.benchmarks.vector import envpool_stepper, fastrl_stepper, gym_cartpole_vector_stepper, gym_sync_stepper

CASES = [("CartPole-v1", 1), ("CartPole-v1", 64), ("CartPole-v1", 4096), ("Pendulum-v1", 64)]


def _actions(env_id: str, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    if env_id == "Pendulum-v1":
        return [rng.uniform(-2, 2, size=(n, 1)).astype(np.float32) for _ in range(16)]
    return [rng.integers(0, 2, size=n) for _ in range(16)]


def _run(benchmark, step, env_id: str, n: int) -> None:
    actions = _actions(env_id, n)
    state = {"i": 0}

    def one_step() -> None:
        step(actions[state["i"] & 15])
        state["i"] += 1

    benchmark(one_step)


@pytest.mark.parametrize(("env_id", "n"), CASES)
def test_fastrl(benchmark, env_id: str, n: int) -> None:
    benchmark.group = f"{env_id} x{n}"
    _run(benchmark, fastrl_stepper(env_id, n, 1), env_id, n)


@pytest.mark.parametrize(("env_id", "n"), [case for case in CASES if case[1] <= 64])
def test_gymnasium_sync(benchmark, env_id: str, n: int) -> None:
    benchmark.group = f"{env_id} x{n}"
    _run(benchmark, gym_sync_stepper(env_id, n), env_id, n)


@pytest.mark.parametrize("n", [1, 64, 4096])
def test_gymnasium_cartpole_vector(benchmark, n: int) -> None:
    benchmark.group = f"CartPole-v1 x{n}"
    _run(benchmark, gym_cartpole_vector_stepper(n), "CartPole-v1", n)


@pytest.mark.parametrize(("env_id", "n"), [case for case in CASES if case[1] <= 64])
def test_envpool(benchmark, env_id: str, n: int) -> None:
    step = envpool_stepper(env_id, n, 1)
    if step is None:
        pytest.skip("envpool is not installed")
    benchmark.group = f"{env_id} x{n}"
    _run(benchmark, step, env_id, n)
