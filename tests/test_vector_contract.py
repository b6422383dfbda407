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


def _error(call):
    """(class, message) of the exception ``call()`` raises."""
    try:
        call()
    except Exception as err:  # noqa: BLE001 - compared below
        return type(err), str(err)
    raise AssertionError("no exception")


@pytest.mark.parametrize("pair", NATIVE_IDS, indirect=True)
def test_reset_mask_and_seed_list_errors_are_gymnasiums(pair):
    env, ref = pair
    env.reset(seed=0)
    ref.reset(seed=0)
    bad = [np.array([True]), [True] * N, np.ones(N, dtype=np.int64), np.zeros(N, dtype=bool),
           np.ones(N + 1, dtype=bool)]
    for mask in bad:
        got, want = _error(lambda m=mask: env.reset(options={"reset_mask": m})), \
            _error(lambda m=mask: ref.reset(options={"reset_mask": m}))
        assert issubclass(got[0], want[0]) and got[1] == want[1], (mask, got, want)
    got, want = _error(lambda: env.reset(seed=[1, 2])), _error(lambda: ref.reset(seed=[1, 2]))
    assert issubclass(got[0], want[0]) and got[1] == want[1]


@pytest.mark.parametrize("pair", NATIVE_IDS, indirect=True)
def test_task_constants_read_as_gymnasiums_and_are_fixed(pair):
    env, ref = pair
    constants = {name for name, value in vars(ref.envs[0].unwrapped).items()
                 if not name.startswith("_") and isinstance(value, (int, float, str)) and not isinstance(value, bool)
                 and not name.lower().startswith("screen")}
    constants |= {name for name, value in vars(type(ref.envs[0].unwrapped)).items()
                  if not name.startswith("_") and isinstance(value, (int, float, str)) and name != "SCREEN_DIM"}
    assert constants  # CartPole's gravity, Pendulum's max_torque, Acrobot's LINK_LENGTH_1, ...
    for name in sorted(constants):
        assert env.get_attr(name) == ref.get_attr(name), name
        assert env.call(name) == ref.call(name), name
        # the physics is compiled C++: changing a constant is refused instead of silently ignored
        with pytest.raises(AttributeError, match="fixed when the env is made"):
            env.set_attr(name, ref.get_attr(name))


def test_np_random_seed_before_the_first_reset():
    """gymnasium's envs report their seed before any reset; fastrl reports the seeds its first reset uses."""
    for env_id in ("CartPole-v1", "PongNoFrameskip-v4"):
        with fastrl.make_vec(env_id, 3, seed=5) as env:
            assert env.np_random_seed == (5, 6, 7)
            env.reset()
            assert env.np_random_seed == (5, 6, 7)
        with fastrl.make_vec(env_id, 3) as env:  # unseeded: a random base, kept by the first reset
            before = env.np_random_seed
            assert len(set(before)) == 3 and all(s >= 0 for s in before)
            env.reset()
            assert env.np_random_seed == before


@pytest.mark.parametrize("env_id", ["CartPole-v1", "PongNoFrameskip-v4"])
def test_calls_while_a_step_is_pending_are_gymnasiums_error(env_id):
    ref = gym.vector.AsyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
    ref.reset(seed=0)
    ref.step_async(np.zeros(2, dtype=np.int64))
    want_reset = _error(ref.reset)
    ref.step_wait()
    no_step = _error(ref.step_wait)
    ref.close()
    with fastrl.make_vec(env_id, 2, seed=0, num_threads=2) as env:
        env.reset()
        assert _error(env.step_wait) == (fastrl.vector._api.StepWaitError, no_step[1])
        env.step_async(np.zeros(2, dtype=np.int64))
        got = _error(env.reset)  # gymnasium's message names the method it runs (reset_async), fastrl's the call
        assert issubclass(got[0], want_reset[0]) and got[1] == want_reset[1].replace("reset_async", "reset")
        got = _error(lambda: env.step_async(np.zeros(2, dtype=np.int64)))
        assert issubclass(got[0], gym.error.AlreadyPendingCallError) and "`step_async`" in got[1]
        env.step_wait()
