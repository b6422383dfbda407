"""gymnasium fallback of make_vec: gymnasium's own sync/async vector env with make_vec's API on top."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from fastrl.vector.gym import GymVectorEnv, make_gym_vec

MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]


class _CopyOptions(gym.vector.VectorWrapper):
    """gymnasium's SyncVectorEnv pops "reset_mask" out of the options dict it gets, so that a
    RecordEpisodeStatistics above it no longer sees the mask and restarts every env's statistics; handing
    it a copy gives the reference the statistics gymnasium intends (and fastrl gives)."""

    def reset(self, *, seed=None, options=None):
        return self.env.reset(seed=seed, options=None if options is None else dict(options))


def reference(env_id, num_envs, mode, **kwargs):
    sync = gym.make_vec(env_id, num_envs, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode}, **kwargs)
    return RecordEpisodeStatistics(_CopyOptions(sync))


def assert_infos_equal(info, ref):
    """Equal infos, except the wall time of the episode statistics."""
    assert set(info) == set(ref)
    for key, value in ref.items():
        if key == "episode":
            for k in ("r", "l"):
                np.testing.assert_array_equal(info[key][k], value[k])
                assert info[key][k].dtype == value[k].dtype
        elif isinstance(value, dict):
            assert_infos_equal(info[key], value)
        elif value.dtype == object:
            for a, b in zip(info[key], value, strict=True):
                assert (a is None and b is None) or np.array_equal(a, b)
        else:
            np.testing.assert_array_equal(info[key], value)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "env_id,kwargs", [("FrozenLake-v1", {"max_episode_steps": 12}), ("CliffWalking-v1", {"max_episode_steps": 25})]
)
def test_matches_gymnasium_sync_with_statistics(env_id, kwargs, mode):
    n, steps = 3, 200
    env = make_gym_vec(env_id, n, seed=42, autoreset_mode=mode, episode_statistics=True, **kwargs)
    ref = reference(env_id, n, mode, **kwargs)
    assert env.single_observation_space == ref.single_observation_space
    assert env.single_action_space == ref.single_action_space
    assert env.observation_space == ref.observation_space and env.action_space == ref.action_space
    assert env.metadata["autoreset_mode"] == mode
    obs, info = env.reset()  # the constructor's seed, env i gets 42 + i
    obs_ref, info_ref = ref.reset(seed=42)
    np.testing.assert_array_equal(obs, obs_ref)
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(steps):
        a = rng.integers(0, env.single_action_space.n, n)
        out, out_ref = env.step(a), ref.step(a)
        for x, y in zip(out[:4], out_ref[:4], strict=True):
            np.testing.assert_array_equal(x, y)
            assert x.dtype == y.dtype
        assert_infos_equal(out[4], out_ref[4])
        done = out[2] | out[3]
        ends += int(done.sum())
        if mode == AutoresetMode.DISABLED and done.any():
            obs, info = env.reset(options={"reset_mask": done})
            obs_ref, info_ref = ref.reset(options={"reset_mask": done})
            np.testing.assert_array_equal(obs, obs_ref)
    assert ends >= 3
    env.close()
    ref.close()


def test_async_matches_sync_and_step_async():
    n = 2
    kw = {"max_episode_steps": 10}
    sync = make_gym_vec("FrozenLake-v1", n, seed=3, **kw)
    asyn = make_gym_vec("FrozenLake-v1", n, seed=3, vectorization_mode="async", **kw)
    try:
        assert isinstance(asyn.env, gym.vector.AsyncVectorEnv) and isinstance(sync.env, gym.vector.SyncVectorEnv)
        np.testing.assert_array_equal(sync.reset()[0], asyn.reset()[0])
        rng = np.random.default_rng(1)
        for _ in range(30):
            a = rng.integers(0, 4, n)
            sync.step_async(a)
            asyn.step_async(a)
            out, out_a = sync.step_wait(), asyn.step_wait()
            for x, y in zip(out[:4], out_a[:4], strict=True):
                np.testing.assert_array_equal(x, y)
            assert ("episode" in out[4]) == ("episode" in out_a[4])
        with pytest.raises(ValueError, match="actions"):
            asyn.step_async(np.array([0, 4]))
        asyn.step(np.array([0, 1]))
        with pytest.raises(RuntimeError, match="step_async"):
            sync.step_wait()
    finally:
        sync.close()
        asyn.close()


def test_seeding():
    env = make_gym_vec("FrozenLake-v1", 2, seed=7, is_slippery=True)
    actions = np.random.default_rng(5).integers(0, 4, (40, 2))

    def run(seed=None):
        first = env.reset(seed=seed)[0]
        return [first] + [env.step(a)[0] for a in actions]

    a = run()
    b = run(seed=7)
    c = run(seed=[7, 8])
    other = make_gym_vec("FrozenLake-v1", 1, seed=8, is_slippery=True)
    other.reset()
    d = [other.step(x[1:])[0] for x in actions]
    for t in range(len(actions) + 1):
        np.testing.assert_array_equal(a[t], b[t])
        np.testing.assert_array_equal(a[t], c[t])
        if t:
            np.testing.assert_array_equal(a[t][1:], d[t - 1])
    env.close()
    other.close()


def test_unknown_ids_and_kwargs():
    with pytest.raises(ValueError, match="CartPol-v1"):
        make_gym_vec("CartPol-v1", 2)
    with pytest.raises(ValueError, match="NoSuchEnv-v0"):
        make_gym_vec("NoSuchEnv-v0", 2)
    with pytest.raises(TypeError, match="not_an_option"):
        make_gym_vec("FrozenLake-v1", 2, not_an_option=3)
    with pytest.raises(ValueError, match="vectorization_mode"):
        make_gym_vec("FrozenLake-v1", 2, vectorization_mode="threads")
    with pytest.raises(ValueError, match="autoreset_mode"):
        make_gym_vec("FrozenLake-v1", 2, autoreset_mode="sometimes")


def test_bad_actions_leave_env_usable():
    env = make_gym_vec("FrozenLake-v1", 2, seed=1)
    twin = make_gym_vec("FrozenLake-v1", 2, seed=1)
    env.reset()
    twin.reset()
    for bad in ([0, 4], [-1, 0], [0.0, 1.0], np.zeros(3, dtype=np.int64), np.zeros((2, 1), dtype=np.int64),
                np.array([True, False])):
        with pytest.raises(ValueError, match="actions"):
            env.step(bad)
        out, ref = env.step(np.array([1, 2])), twin.step(np.array([1, 2]))
        for x, y in zip(out[:4], ref[:4], strict=True):
            np.testing.assert_array_equal(x, y)
    with pytest.raises(RuntimeError, match="reset"):
        make_gym_vec("FrozenLake-v1", 1).step(np.array([0]))
    env.close()
    twin.close()


def test_disabled_requires_reset_of_ended_envs():
    env = make_gym_vec("FrozenLake-v1", 2, seed=0, autoreset_mode="disabled", max_episode_steps=3)
    env.reset()
    for _ in range(3):
        _, _, te, tr, _ = env.step(np.array([0, 0]))
    assert tr.all()
    with pytest.raises(RuntimeError, match="reset_mask"):
        env.step(np.array([0, 0]))
    env.reset(options={"reset_mask": np.array([True, True])})
    env.step(np.array([0, 0]))
    env.close()


def test_box_actions_pass_through():
    env = make_gym_vec("MountainCarContinuous-v0", 2, seed=0)
    env.reset()
    env.step(np.array([[5.0], [-5.0]], dtype=np.float32))  # the env clips, as in gymnasium
    with pytest.raises(ValueError, match="actions"):
        env.step(np.zeros((2, 2), dtype=np.float32))
    env.close()


@pytest.mark.atari
def test_make_vec_dispatches_to_fallback():
    pytest.importorskip("fastrl.vector.native")
    import fastrl

    env = fastrl.make_vec("FrozenLake-v1", 2, seed=0, autoreset_mode="same_step")
    assert isinstance(env, GymVectorEnv) and env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    env.close()
    with pytest.raises(ValueError, match="CartPol-v1"):
        fastrl.make_vec("CartPol-v1", 2)
    env = fastrl.make_vec("ALE/Pong-v5", 2, seed=0, num_threads=1)
    assert env.observation_space.shape == (2, 4, 84, 84)
    env.close()
