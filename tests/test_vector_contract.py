"""gymnasium's VectorEnv contract on fastrl's vector envs, with gymnasium's SyncVectorEnv over the same task
as the oracle: the same calls on both, the results compared (per-env seeds, attributes)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import fastrl
from fastrl.vector.native import NATIVE_IDS

N = 3


@pytest.fixture
def pair(request):
    """fastrl's vector env and gymnasium's SyncVectorEnv over ``request.param``, closed afterwards."""
    env, ref = fastrl.make_vec(request.param, N, seed=0), SyncVectorEnv([lambda: gym.make(request.param)] * N)
    yield env, ref
    env.close()
    ref.close()


@pytest.mark.parametrize("pair", NATIVE_IDS, indirect=True)
def test_np_random_seed_follows_the_resets(pair):
    env, ref = pair
    calls = [dict(seed=5), dict(), dict(seed=[7, 8, 9]),
             dict(seed=11, options={"reset_mask": np.array([True, False, True])}), dict(seed=None)]
    for kwargs in calls:
        env.reset(**kwargs)
        ref.reset(**kwargs)
        assert env.np_random_seed == ref.np_random_seed, kwargs
        assert env.get_attr("np_random_seed") == ref.get_attr("np_random_seed")
        assert all(isinstance(s, int) for s in env.np_random_seed)


@pytest.mark.parametrize("pair", NATIVE_IDS, indirect=True)
def test_get_set_attr_and_call_as_sync_vector_env(pair):
    env, ref = pair
    env.reset(seed=0)
    ref.reset(seed=0)
    assert [s.id for s in env.get_attr("spec")] == [s.id for s in ref.get_attr("spec")]
    assert env.get_attr("render_mode") == ref.get_attr("render_mode")
    assert env.get_attr("observation_space") == ref.get_attr("observation_space")
    assert env.get_attr("action_space") == ref.get_attr("action_space")
    for values in ([1, 2, 3], (4, 5, 6), "same"):
        env.set_attr("my_tag", values)
        ref.set_attr("my_tag", values)
        assert env.get_attr("my_tag") == ref.get_attr("my_tag")
        assert env.call("my_tag") == ref.call("my_tag")  # not callable: read
    for bad in ([1, 2], (1, 2, 3, 4)):
        for e in (env, ref):
            with pytest.raises(ValueError, match="length equal to the number of environments"):
                e.set_attr("my_tag", bad)
    for e in (env, ref):
        with pytest.raises(AttributeError):
            e.get_attr("no_such_attribute")
    # the C++ task's own settings are fixed at construction: a clear error, not a silent no-op
    with pytest.raises(AttributeError, match="max_episode_steps"):
        env.set_attr("max_episode_steps", 10)
    assert env.get_attr("max_episode_steps") == (env.max_episode_steps,) * N
    # under gymnasium's vector wrappers: np_random_seed is forwarded, the rest reached through .env as usual
    wrapped = RecordEpisodeStatistics(env)
    assert wrapped.np_random_seed == env.np_random_seed == ref.np_random_seed
    assert wrapped.env.get_attr("my_tag") == env.get_attr("my_tag")


def test_atari_and_fallback_envs_have_the_same_attribute_api():
    with fastrl.make_vec("PongNoFrameskip-v4", 2, seed=3) as env:
        env.reset()
        assert env.np_random_seed == (3, 4)
        assert env.get_attr("frameskip") == (4, 4)
        env.set_attr("my_tag", ["a", "b"])
        assert env.get_attr("my_tag") == ("a", "b")
        env.reset(seed=[9, 10])
        assert env.np_random_seed == (9, 10)
    with fastrl.make_vec("FrozenLake-v1", 2, seed=1) as env:
        env.reset(seed=4)
        assert env.np_random_seed == (4, 5)
        env.set_attr("my_tag", 7)
        assert env.get_attr("my_tag") == (7, 7)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1", "PongNoFrameskip-v4", "FrozenLake-v1"])
def test_error_classes_are_gymnasiums(env_id):
    # gymnasium's AsyncVectorEnv is the oracle for the asynchronous calls and for use after close()
    ref = gym.vector.AsyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
    ref.reset(seed=0)
    with pytest.raises(gym.error.NoAsyncCallError):
        ref.step_wait()
    ref.close()
    with pytest.raises(gym.error.ClosedEnvironmentError):
        ref.reset()
    env = fastrl.make_vec(env_id, 2, seed=0)
    env.reset()
    with pytest.raises(gym.error.NoAsyncCallError):
        env.step_wait()
    with pytest.raises(TypeError, match="scalar"):  # one action for the batch, as gymnasium refuses it
        env.step(0.0 if isinstance(env.single_action_space, gym.spaces.Box) else 0)
    env.close()
    for call in (env.reset, lambda: env.step(np.stack([env.single_action_space.sample()] * 2))):
        with pytest.raises(gym.error.ClosedEnvironmentError, match="closed"):
            call()
    # the classes are also the builtin ones earlier fastrl versions raised
    assert issubclass(fastrl.vector._api.StepWaitError, (RuntimeError, ValueError))
    assert issubclass(fastrl.vector._api.EnvClosedError, ValueError)
