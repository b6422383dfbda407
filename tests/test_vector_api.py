"""``fastrl.make_vec`` with native ids: dispatch, argument forwarding and checks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import fastrl
from fastrl.vector.native import NATIVE_IDS, NativeVectorEnv, is_native_id


def test_native_ids() -> None:
    assert set(NATIVE_IDS) == {
        "CartPole-v1", "CartPole-v0", "Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Acrobot-v1",
    }
    assert all(is_native_id(env_id) for env_id in NATIVE_IDS)
    assert not is_native_id("LunarLander-v3") and not is_native_id("ALE/Pong-v5") and not is_native_id("cartpole")


@pytest.mark.parametrize("env_id", NATIVE_IDS)
def test_make_vec_returns_native_vector_env(env_id: str) -> None:
    envs = fastrl.make_vec(env_id, 3, seed=4)
    assert isinstance(envs, NativeVectorEnv) and isinstance(envs, gym.vector.VectorEnv)
    assert envs.num_envs == 3
    obs, infos = envs.reset()
    assert obs.shape == (3, *envs.single_observation_space.shape) and infos == {}
    obs2, _ = fastrl.make_vec(env_id, 3).reset(seed=4)
    np.testing.assert_array_equal(obs, obs2)  # make_vec's seed is the first reset's seed
    obs, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())
    assert rewards.dtype == np.float64 and terminations.dtype == np.bool_ and truncations.dtype == np.bool_
    envs.close()


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("next_step", AutoresetMode.NEXT_STEP),
        ("same_step", AutoresetMode.SAME_STEP),
        ("disabled", AutoresetMode.DISABLED),
        (AutoresetMode.SAME_STEP, AutoresetMode.SAME_STEP),
    ],
)
def test_make_vec_autoreset_mode(name: str | AutoresetMode, mode: AutoresetMode) -> None:
    envs = fastrl.make_vec("CartPole-v1", 2, autoreset_mode=name)
    assert envs.metadata["autoreset_mode"] is mode


def test_make_vec_forwards_env_kwargs_and_threads() -> None:
    envs = fastrl.make_vec("Pendulum-v1", 2, num_threads=2, max_episode_steps=5, g=9.81)
    assert envs.num_threads == 2
    envs.reset(seed=0)
    for _ in range(4):
        assert not envs.step(np.zeros((2, 1), dtype=np.float32))[3].any()
    assert envs.step(np.zeros((2, 1), dtype=np.float32))[3].all()
    with pytest.raises(ValueError, match="unknown keyword"):
        fastrl.make_vec("CartPole-v1", 2, g=9.81)


def test_make_vec_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_envs"):
        fastrl.make_vec("CartPole-v1", 0)
    with pytest.raises(TypeError, match="num_envs"):
        fastrl.make_vec("CartPole-v1", 2.0)
    with pytest.raises(ValueError, match="num_threads"):
        fastrl.make_vec("CartPole-v1", 2, num_threads=0)
    with pytest.raises(ValueError, match="autoreset_mode"):
        fastrl.make_vec("CartPole-v1", 2, autoreset_mode="sometimes")
    with pytest.raises(TypeError, match="env_id"):
        fastrl.make_vec(3, 2)


def test_auto_threads_small_batches_inline() -> None:
    # Small batches run inline on the calling thread; big ones get up to one thread per core.
    assert fastrl.make_vec("CartPole-v1", 1).num_threads == 1
    assert fastrl.make_vec("CartPole-v1", 64).num_threads == 1
    assert fastrl.make_vec("CartPole-v1", 1 << 16).num_threads >= 1


@pytest.mark.parametrize("env_id", ["CartPole-v1", "FrozenLake-v1"])
def test_make_vec_is_a_context_manager_that_closes(env_id: str) -> None:
    with fastrl.make_vec(env_id, 2, seed=0) as envs:
        envs.reset()
        assert not envs.closed
    assert envs.closed
