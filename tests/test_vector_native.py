"""NativeVectorEnv: gymnasium VectorEnv API, autoreset modes, episode statistics, threads, seeding, bad input."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import fastrl
from fastrl.vector.native import NATIVE_IDS, NativeVectorEnv

MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]


def _actions(env: VectorEnv, rng: np.random.Generator) -> np.ndarray:
    space = env.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, size=env.num_envs)
    return rng.uniform(-2.5, 2.5, size=(env.num_envs, 1)).astype(np.float32)


def _assert_results_equal(a: tuple, b: tuple) -> None:
    for x, y in zip(a[:4], b[:4], strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    assert a[4].keys() == b[4].keys()
    if "episode" in a[4]:
        for key in ("r", "l"):
            np.testing.assert_array_equal(a[4]["episode"][key], b[4]["episode"][key])
        np.testing.assert_array_equal(a[4]["_episode"], b[4]["_episode"])


# ---- spaces, dtypes, metadata ----


@pytest.mark.parametrize("env_id", NATIVE_IDS)
def test_spaces_and_dtypes_match_gymnasium_sync(env_id: str) -> None:
    ref = gym.make_vec(env_id, 3, vectorization_mode="sync")
    env = NativeVectorEnv(env_id, 3, seed=0)
    assert env.single_observation_space == ref.single_observation_space
    assert env.single_action_space == ref.single_action_space
    assert env.observation_space == ref.observation_space
    assert env.action_space == ref.action_space
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    ref_obs, _ = ref.reset(seed=0)
    obs, info = env.reset(seed=0)
    assert info == {}
    assert obs.dtype == ref_obs.dtype and obs.shape == ref_obs.shape
    assert env.observation_space.contains(obs)
    actions = ref.action_space.sample()
    ref_out = ref.step(actions)
    out = env.step(actions)
    for x, y in zip(out[:4], ref_out[:4], strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
    ref.close()
    env.close()


@pytest.mark.parametrize("mode", MODES)
def test_metadata_autoreset_mode(mode: AutoresetMode) -> None:
    env = NativeVectorEnv("CartPole-v1", 2, autoreset_mode=mode)
    assert env.metadata["autoreset_mode"] is mode


# ---- autoreset modes and infos, against gymnasium's SyncVectorEnv + RecordEpisodeStatistics ----


def _gym_reference(mode: AutoresetMode, num_envs: int, max_episode_steps: int, stats: bool = True) -> VectorEnv:
    env = SyncVectorEnv([lambda: gym.make("CartPole-v1", max_episode_steps=max_episode_steps)] * num_envs,
                        autoreset_mode=mode)
    return RecordEpisodeStatistics(env) if stats else env


def _structure(value: Any) -> Any:
    """Keys, dtypes and shapes of an infos dict (values themselves compared separately)."""
    if isinstance(value, dict):
        return {key: _structure(v) for key, v in value.items()}
    if isinstance(value, np.ndarray):
        return (value.dtype, value.shape)
    return type(value)


@pytest.mark.parametrize("stats", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_infos_match_gymnasium(mode: AutoresetMode, stats: bool) -> None:
    # A 3-step time limit ends every CartPole episode at the same step on both sides. Without episode
    # statistics the infos are SyncVectorEnv's; with them, those of RecordEpisodeStatistics over it.
    n, limit = 4, 3
    ref = _gym_reference(mode, n, limit, stats)
    env = NativeVectorEnv("CartPole-v1", n, seed=0, autoreset_mode=mode, max_episode_steps=limit,
                          episode_statistics=stats)
    ref.reset(seed=0)
    env.reset(seed=0)
    actions = np.array([0, 1, 1, 0])
    for t in range(2 * limit + 2):
        if mode == AutoresetMode.DISABLED and t > 0 and t % limit == 0:
            mask = np.ones(n, dtype=bool)
            ref.reset(options={"reset_mask": mask})
            env.reset(options={"reset_mask": mask})
        ref_obs, ref_rewards, ref_terms, ref_truncs, ref_infos = ref.step(actions)
        obs, rewards, terms, truncs, infos = env.step(actions)
        np.testing.assert_array_equal(rewards, ref_rewards)
        np.testing.assert_array_equal(terms, ref_terms)
        np.testing.assert_array_equal(truncs, ref_truncs)
        assert list(infos) == list(ref_infos), f"step {t}"
        assert _structure(infos) == _structure(ref_infos), f"step {t}"
        if "episode" in infos:
            for key in ("r", "l"):
                np.testing.assert_array_equal(infos["episode"][key], ref_infos["episode"][key])
            np.testing.assert_array_equal(infos["_episode"], ref_infos["_episode"])
            assert np.all(infos["episode"]["t"] >= 0)
        if "final_obs" in infos:
            np.testing.assert_array_equal(infos["_final_obs"], ref_infos["_final_obs"])
            np.testing.assert_array_equal(infos["_final_info"], ref_infos["_final_info"])
            assert infos["final_info"] == ref_infos["final_info"] == {}
            for i in range(n):
                assert (infos["final_obs"][i] is None) == (ref_infos["final_obs"][i] is None)
                if infos["final_obs"][i] is not None:
                    assert infos["final_obs"][i].dtype == np.float32 and infos["final_obs"][i].shape == (4,)
    ref.close()


def _run(env: NativeVectorEnv, steps: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    return [env.step(_actions(env, rng)) for _ in range(steps)]


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "MountainCarContinuous-v0"])
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_autoreset_equals_manual_reset(env_id: str, mode: AutoresetMode) -> None:
    """An autoreset does what ``reset()`` in the disabled mode does (the same draw from the env's RNG), at the
    step gymnasium's mode prescribes. One env per vector: envs are independent (see the threads test)."""
    ends = 0
    for seed in range(3):
        auto = NativeVectorEnv(env_id, 1, seed=seed, autoreset_mode=mode, max_episode_steps=30)
        manual = NativeVectorEnv(env_id, 1, seed=seed, autoreset_mode=AutoresetMode.DISABLED, max_episode_steps=30)
        np.testing.assert_array_equal(auto.reset()[0], manual.reset()[0])
        rng = np.random.default_rng(seed)
        pending = False
        for _ in range(100):
            actions = _actions(auto, rng)
            obs, rewards, terms, truncs, infos = auto.step(actions)
            if pending:  # next-step mode: this step only resets
                np.testing.assert_array_equal(obs, manual.reset()[0])
                assert rewards[0] == 0.0 and not terms[0] and not truncs[0] and infos == {}
                pending = False
                continue
            m_obs, m_rewards, m_terms, m_truncs, m_infos = manual.step(actions)
            np.testing.assert_array_equal(rewards, m_rewards)
            np.testing.assert_array_equal(terms, m_terms)
            np.testing.assert_array_equal(truncs, m_truncs)
            assert infos.keys() >= m_infos.keys()
            if terms[0] or truncs[0]:
                ends += 1
                if mode == AutoresetMode.SAME_STEP:
                    np.testing.assert_array_equal(infos["final_obs"][0], m_obs[0])
                    np.testing.assert_array_equal(obs, manual.reset()[0])
                else:
                    np.testing.assert_array_equal(obs, m_obs)
                    pending = True
            else:
                np.testing.assert_array_equal(obs, m_obs)
    assert ends >= 6


def test_next_step_autoreset_semantics() -> None:
    """The step after an episode end returns a reset observation, reward 0 and no termination/truncation."""
    env = NativeVectorEnv("CartPole-v1", 3, seed=1, max_episode_steps=4, episode_statistics=True)
    env.reset()
    actions = np.array([0, 1, 0])
    for _ in range(3):
        *_, infos = env.step(actions)
        assert infos == {}
    obs, rewards, terms, truncs, infos = env.step(actions)
    assert truncs.all() and infos["_episode"].all()
    np.testing.assert_array_equal(infos["episode"]["l"], [4, 4, 4])
    np.testing.assert_array_equal(infos["episode"]["r"], [4.0, 4.0, 4.0])
    obs, rewards, terms, truncs, infos = env.step(actions)
    np.testing.assert_array_equal(rewards, 0.0)
    assert not terms.any() and not truncs.any() and infos == {}
    assert np.all(np.abs(obs) < 0.05)  # CartPole's reset range
    # the new episode counts from the step after the reset step
    for _ in range(3):
        env.step(actions)
    *_, truncs, infos = env.step(actions)
    assert truncs.all()
    np.testing.assert_array_equal(infos["episode"]["l"], [4, 4, 4])


@pytest.mark.parametrize("n", [5, 2100])  # statistics gathered after the step, and (large batches) by the step itself
def test_episode_statistics_equal_record_episode_statistics(n: int) -> None:
    """r/l/_episode equal gymnasium's RecordEpisodeStatistics fed with the same step results."""

    class Replay(VectorEnv):
        def __init__(self, results: list[tuple], mode: AutoresetMode, num_envs: int) -> None:
            self.results = iter(results)
            self.num_envs = num_envs
            self.metadata = {"autoreset_mode": mode}

        def reset(self, *, seed: Any = None, options: Any = None) -> tuple:
            return np.zeros((self.num_envs, 3), dtype=np.float32), {}

        def step(self, actions: Any) -> tuple:
            obs, rewards, terms, truncs, _ = next(self.results)
            return obs, rewards, terms, truncs, {}

    for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        env = NativeVectorEnv("Pendulum-v1", n, seed=2, num_threads=2, autoreset_mode=mode, max_episode_steps=7,
                              episode_statistics=True)
        env.reset()
        results = _run(env, 40, seed=4)
        ref = RecordEpisodeStatistics(Replay(results, mode, n))
        ref.reset()
        for step_result in results:
            ref_infos = ref.step(None)[4]
            infos = step_result[4]
            assert ("episode" in infos) == ("episode" in ref_infos)
            if "episode" in infos:
                for key in ("r", "l"):
                    assert infos["episode"][key].dtype == ref_infos["episode"][key].dtype
                    np.testing.assert_array_equal(infos["episode"][key], ref_infos["episode"][key])
                np.testing.assert_array_equal(infos["_episode"], ref_infos["_episode"])


def test_disabled_mode_requires_reset_of_ended_envs() -> None:
    env = NativeVectorEnv("CartPole-v1", 2, seed=0, autoreset_mode="disabled", max_episode_steps=2)
    env.reset()
    env.step(np.array([0, 1]))
    *_, truncs, _ = env.step(np.array([0, 1]))
    assert truncs.all()
    with pytest.raises(ValueError, match="reset_mask"):
        env.step(np.array([0, 1]))
    obs, _ = env.reset(options={"reset_mask": np.array([True, False])})
    with pytest.raises(ValueError, match="env 1"):
        env.step(np.array([0, 1]))
    env.reset(options={"reset_mask": np.array([False, True])})
    env.step(np.array([0, 1]))


# ---- threads ----


@pytest.mark.parametrize(("env_id", "n"), [("CartPole-v1", 4099), ("Acrobot-v1", 301), ("Pendulum-v1", 2051)])
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_threads_give_identical_results(env_id: str, n: int, mode: AutoresetMode) -> None:
    one = NativeVectorEnv(env_id, n, seed=7, num_threads=1, autoreset_mode=mode, max_episode_steps=9)
    many = NativeVectorEnv(env_id, n, seed=7, num_threads=3, autoreset_mode=mode, max_episode_steps=9)
    assert one.num_threads == 1 and many.num_threads == 3
    np.testing.assert_array_equal(one.reset()[0], many.reset()[0])
    for a, b in zip(_run(one, 25, seed=1), _run(many, 25, seed=1), strict=True):
        _assert_results_equal(a, b)
        if "final_obs" in a[4]:
            for x, y in zip(a[4]["final_obs"], b[4]["final_obs"], strict=True):
                np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(one.get_state(), many.get_state())


# ---- step_async ----


@pytest.mark.parametrize("n", [3, 5000])
def test_step_async_equals_step(n: int) -> None:
    sync = NativeVectorEnv("CartPole-v1", n, seed=5, num_threads=2)
    overlap = NativeVectorEnv("CartPole-v1", n, seed=5, num_threads=2)
    sync.reset()
    overlap.reset()
    rng = np.random.default_rng(0)
    for _ in range(30):
        actions = rng.integers(0, 2, size=n)
        expected = sync.step(actions)
        overlap.step_async(actions)
        actions[:] = 1 - actions  # the caller may reuse its array at once: actions were copied
        _assert_results_equal(overlap.step_wait(), expected)


def test_step_async_misuse() -> None:
    env = NativeVectorEnv("CartPole-v1", 4, seed=0)
    env.reset()
    with pytest.raises(ValueError, match="step_wait"):
        env.step_wait()
    env.step_async(np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="pending"):
        env.step(np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="pending"):
        env.reset()
    env.step_wait()
    env.step_async(np.zeros(4, dtype=np.int64))
    env.close()  # finishes the pending step
    assert env.closed


# ---- seeding ----


def test_seeding() -> None:
    env = NativeVectorEnv("CartPole-v1", 4, seed=11)
    first, _ = env.reset()
    again, _ = env.reset(seed=11)
    np.testing.assert_array_equal(first, again)
    following, _ = env.reset()  # no seed: each env's generator goes on
    assert not np.array_equal(following, first)
    # env i is seeded with seed + i, whatever the batch size
    wide, _ = NativeVectorEnv("CartPole-v1", 6, seed=9).reset()
    np.testing.assert_array_equal(wide[2:6], first)
    listed, _ = env.reset(seed=[14, 13, 12, 11])
    np.testing.assert_array_equal(listed, first[::-1])
    # unseeded envs differ between instances
    a, _ = NativeVectorEnv("CartPole-v1", 4).reset()
    b, _ = NativeVectorEnv("CartPole-v1", 4).reset()
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("env_id", NATIVE_IDS)
def test_reset_distribution_and_options(env_id: str) -> None:
    env = NativeVectorEnv(env_id, 2000, seed=0)
    obs, _ = env.reset()
    state = env.get_state()
    if env_id.startswith("CartPole"):
        assert np.all(np.abs(state) < 0.05) and np.all(np.abs(state).max(axis=0) > 0.049)
        state = env.reset(options={"low": 0.1, "high": 0.2})[0]
        assert np.all((state >= 0.1) & (state <= 0.2))
    elif env_id == "Pendulum-v1":
        assert np.all(np.abs(state[:, 0]) <= np.pi) and np.all(np.abs(state[:, 1]) <= 1.0)
        env.reset(options={"x_init": 0.5, "y_init": 0.1})
        state = env.get_state()
        assert np.all(np.abs(state[:, 0]) <= 0.5) and np.all(np.abs(state[:, 1]) <= 0.1)
    elif env_id.startswith("MountainCar"):
        assert np.all((state[:, 0] >= -0.6) & (state[:, 0] < -0.4)) and np.all(state[:, 1] == 0)
    else:
        assert np.all(np.abs(state) <= 0.1)
        assert np.all(state.astype(np.float32) == state)  # gymnasium stores the reset state as float32
    assert env.observation_space.contains(obs)


# ---- clipping ----


def test_continuous_actions_are_clipped_where_gymnasium_clips() -> None:
    env = NativeVectorEnv("MountainCarContinuous-v0", 2, seed=0)
    env.reset()
    env.set_state(np.array([[-0.5, 0.0], [-0.5, 0.0]]))
    obs, rewards, *_ = env.step(np.array([[1.0], [3.0]], dtype=np.float32))
    np.testing.assert_array_equal(obs[0], obs[1])  # the force is clipped to 1
    np.testing.assert_allclose(rewards, [-0.1, -0.9])  # the reward uses the raw action
    env = NativeVectorEnv("Pendulum-v1", 2, seed=0)
    env.reset()
    env.set_state(np.array([[0.5, 0.0], [0.5, 0.0]]))
    obs, rewards, *_ = env.step(np.array([[2.0], [7.0]], dtype=np.float32))
    np.testing.assert_array_equal(obs[0], obs[1])  # torque clipped before the cost and the dynamics
    np.testing.assert_array_equal(rewards[0], rewards[1])


# ---- get_state / set_state ----


@pytest.mark.parametrize("env_id", NATIVE_IDS)
def test_state_round_trip(env_id: str) -> None:
    # set_state(get_state()) resumes the same trajectory (compared until an episode ends: an autoreset
    # draws from the env's RNG, which is not part of the physical state).
    env = NativeVectorEnv(env_id, 3, seed=0, max_episode_steps=1000)
    env.reset()
    _run(env, 3, seed=0)
    saved = env.get_state()
    assert saved.dtype == np.float64 and saved.shape == (3, env.state_dim)
    later = _run(env, 8, seed=1)
    env.set_state(saved)
    np.testing.assert_array_equal(env.get_state(), saved)
    again = _run(env, 8, seed=1)
    for a, b in zip(later, again, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        if (a[2] | a[3]).any():
            break


def test_set_state_validation() -> None:
    env = NativeVectorEnv("CartPole-v1", 3, seed=0)
    env.reset()
    before = env.get_state()
    with pytest.raises(ValueError, match="shape"):
        env.set_state(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="shape"):
        env.set_state(np.zeros(12))
    with pytest.raises(TypeError, match="float64"):
        env.set_state(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="finite"):
        env.set_state(np.full((3, 4), np.nan))
    np.testing.assert_array_equal(env.get_state(), before)
    obs = env.set_state(np.full((3, 4), 0.01))
    np.testing.assert_array_equal(obs, np.full((3, 4), 0.01, dtype=np.float32))


# ---- bad input ----


def test_bad_discrete_actions() -> None:
    env = NativeVectorEnv("CartPole-v1", 3, seed=0)
    obs, _ = env.reset()
    for bad, error in [
        (np.array([0, 1, 2]), ValueError),
        (np.array([0, -1, 1]), ValueError),
        (np.array([0, 1]), ValueError),
        (np.zeros((3, 1), dtype=np.int64), ValueError),
        (np.array([0.0, 1.0, 0.0]), TypeError),
        (np.array([True, False, True]), TypeError),
        ("left", TypeError),
    ]:
        with pytest.raises(error, match="actions"):
            env.step(bad)
    np.testing.assert_array_equal(env.get_state().astype(np.float32), obs)  # nothing moved
    for dtype in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64):
        env.step(np.array([0, 1, 1], dtype=dtype))
    env.step([1, 0, 1])  # a list of ints is fine
    env.step(np.array([0, 1, 0, 1, 0, 1])[::2])  # so is a strided view


def test_bad_continuous_actions() -> None:
    env = NativeVectorEnv("Pendulum-v1", 2, seed=0)
    env.reset()
    for bad, error in [
        (np.zeros(2, dtype=np.float32), ValueError),
        (np.zeros((2, 2), dtype=np.float32), ValueError),
        (np.zeros((2, 1), dtype=np.int64), TypeError),
        (np.zeros((2, 1), dtype=np.float16), TypeError),
        (np.array([[0.0], [np.nan]]), ValueError),
    ]:
        with pytest.raises(error, match="actions"):
            env.step(bad)
    env.step(np.zeros((2, 1), dtype=np.float64))
    env.step(np.zeros((2, 1), dtype=np.float32))


def test_step_before_reset_and_after_close() -> None:
    env = NativeVectorEnv("CartPole-v1", 2, seed=0)
    with pytest.raises(ValueError, match="reset"):
        env.step(np.zeros(2, dtype=np.int64))
    env.reset()
    env.close()
    with pytest.raises(ValueError, match="closed"):
        env.step(np.zeros(2, dtype=np.int64))


def test_step_entry_point_arguments() -> None:
    """The C++ step takes actions positionally or as actions=...; anything else is a TypeError."""
    from fastrl import _core

    env = NativeVectorEnv("CartPole-v1", 2, seed=0)
    env.reset()
    a = np.array([0, 1])
    assert len(env.step(actions=a)) == 5
    for args, kwargs in [((), {}), ((a, a), {}), ((), {"action": a}), ((a,), {"actions": a})]:
        with pytest.raises(TypeError, match="actions"):
            env.step(*args, **kwargs)
    with pytest.raises(TypeError, match="__init__"):
        _core.CartPoleVecEnv.__new__(_core.CartPoleVecEnv).step(a)
    with pytest.raises(TypeError):
        _core.CartPoleVecEnv.step(object(), a)  # the method descriptor checks self's type


@pytest.mark.parametrize("n", [3, 64, 5000])  # small batches share one allocation per step, large ones do not
def test_step_outputs_are_fresh_independent_arrays(n: int) -> None:
    env = NativeVectorEnv("CartPole-v1", n, seed=0, max_episode_steps=5, episode_statistics=True)
    env.reset()
    rng = np.random.default_rng(0)
    kept = []
    for _ in range(12):  # episode ends on some steps: infos arrays too
        result = env.step(rng.integers(0, 2, n))
        kept.append((result[0], result[4]))
        copies = [a.copy() for a in result[:4]]
        for a in result[:4]:
            assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
            a[...] = 0  # writing to one array leaves the others alone
            assert not any(np.shares_memory(a, b) for b in result[:4] if b is not a)
        del result, a
        obs, infos = kept[-1]
        obs[...] = copies[0]
        if infos:
            episode = infos["episode"]
            assert episode["r"].dtype == np.float64 and episode["l"].dtype == np.int64
            assert not np.shares_memory(episode["r"], episode["t"])
    # Arrays kept from earlier steps stay valid (and distinct) after everything else was released.
    import gc

    gc.collect()
    assert all(not np.shares_memory(a, b) for (a, _), (b, _) in zip(kept[:-1], kept[1:], strict=True))
    assert all(np.isfinite(obs).all() for obs, _ in kept)
    assert any(infos for _, infos in kept)
    for _, infos in kept:
        if infos:
            np.testing.assert_array_equal(infos["episode"]["l"][infos["_episode"]], 5)


def test_subclass_step_override_is_called() -> None:
    calls = []

    class Counting(NativeVectorEnv):
        def step(self, actions: np.ndarray) -> tuple:
            calls.append(1)
            return super().step(actions)

    env = Counting("CartPole-v1", 2, seed=0)
    env.reset()
    env.step(np.array([0, 1]))
    assert calls == [1]


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="native"):
        NativeVectorEnv("Pong-v5", 2)
    with pytest.raises(ValueError, match="unknown keyword"):
        NativeVectorEnv("CartPole-v1", 2, gravity=3.0)
    with pytest.raises(ValueError, match="unknown keyword"):
        NativeVectorEnv("Acrobot-v1", 2, g=3.0)
    with pytest.raises(TypeError, match="max_episode_steps"):
        NativeVectorEnv("CartPole-v1", 2, max_episode_steps=2.5)
    with pytest.raises(ValueError, match="max_episode_steps"):
        NativeVectorEnv("CartPole-v1", 2, max_episode_steps=0)
    with pytest.raises(TypeError, match="g must be"):
        NativeVectorEnv("Pendulum-v1", 2, g="strong")
    with pytest.raises(ValueError, match="num_envs"):
        NativeVectorEnv("CartPole-v1", 0)
    with pytest.raises(ValueError, match="render_mode"):
        NativeVectorEnv("CartPole-v1", 2, render_mode="human")


def test_bad_reset_arguments() -> None:
    env = NativeVectorEnv("CartPole-v1", 3, seed=0)
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed=[1, 2])
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed=-1)
    with pytest.raises(TypeError, match="reset_mask"):
        env.reset(options={"reset_mask": [True, False, True]})
    with pytest.raises(ValueError, match="reset_mask"):
        env.reset(options={"reset_mask": np.zeros(3, dtype=bool)})
    with pytest.raises(ValueError, match="low"):
        env.reset(options={"low": 0.2, "high": 0.1})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"x_init": 1.0})
    env.reset()


def test_stepping_while_another_thread_reads_spaces_and_attributes():
    # One thread steps (the GIL released in C++), another reads what a vector env exposes; the run equals a
    # run with no reader.
    import threading

    def run(with_reader):
        env = fastrl.make_vec("CartPole-v1", 64, seed=0, num_threads=2)
        env.reset(seed=0)
        stop, reads, errors = threading.Event(), [0], []

        def reader():
            try:
                while not stop.is_set():
                    assert env.single_observation_space.shape == (4,) and env.num_envs == 64
                    assert env.action_space.shape == (64,) and env.num_threads == 2
                    reads[0] += 1
            except BaseException as err:  # noqa: BLE001 (reported to the main thread)
                errors.append(err)

        th = threading.Thread(target=reader)
        if with_reader:
            th.start()
        rng = np.random.default_rng(1)
        out = []
        for _ in range(3000):
            obs, r, te, tr, _ = env.step(rng.integers(0, 2, 64))
            out.append(obs.sum())
        stop.set()
        if with_reader:
            th.join()
        env.close()
        assert not errors, errors
        return np.array(out), reads[0]

    alone, _ = run(False)
    shared, reads = run(True)
    np.testing.assert_array_equal(alone, shared)
    assert reads > 0


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "Pendulum-v1"])
def test_cleanrl_loop_with_record_episode_statistics(env_id: str) -> None:
    # CleanRL wraps its vector env in gymnasium's RecordEpisodeStatistics: over make_vec it must see infos with
    # no "episode" key of fastrl's own, and report what fastrl's built-in statistics report for the same run.
    n = 4
    wrapped = RecordEpisodeStatistics(fastrl.make_vec(env_id, n, seed=3, max_episode_steps=25))
    builtin = fastrl.make_vec(env_id, n, seed=3, max_episode_steps=25, episode_statistics=True)
    wrapped.reset(seed=3)
    builtin.reset(seed=3)
    space = wrapped.single_action_space
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(80):
        if isinstance(space, gym.spaces.Discrete):
            actions = rng.integers(space.n, size=n)
        else:
            actions = rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(np.float32)
        *_, infos = wrapped.step(actions)
        *_, ref = builtin.step(actions)
        assert ("episode" in infos) == ("episode" in ref)
        if "episode" in infos:
            ended += int(infos["_episode"].sum())
            np.testing.assert_array_equal(infos["_episode"], ref["_episode"])
            np.testing.assert_allclose(infos["episode"]["r"], ref["episode"]["r"], rtol=1e-12)
            np.testing.assert_array_equal(infos["episode"]["l"], ref["episode"]["l"])
    assert ended >= n * 2
    wrapped.close()
    builtin.close()


@pytest.mark.parametrize("env_id", NATIVE_IDS)
def test_default_infos_are_gymnasiums(env_id: str) -> None:
    # no extra keys by default: the infos of every native task equal SyncVectorEnv's key for key
    n = 2
    env = fastrl.make_vec(env_id, n, seed=0, max_episode_steps=3)
    ref = SyncVectorEnv([lambda: gym.make(env_id, max_episode_steps=3)] * n)
    env.reset(seed=0)
    ref.reset(seed=0)
    actions = np.stack([env.single_action_space.sample() for _ in range(n)])
    for _ in range(7):
        *_, infos = env.step(actions)
        *_, ref_infos = ref.step(actions)
        assert _structure(infos) == _structure(ref_infos)
    env.close()
    ref.close()
