"""Bit-for-bit parity of the native C++ tasks with gymnasium's own environments.

Each test runs ``n`` gymnasium envs (``gym.make``: TimeLimit included) beside one native vector env in the
disabled autoreset mode. Every episode starts from gymnasium's reset state (copied in with ``set_state``),
both sides get the same actions, and observations (bitwise), rewards (exact, float64), terminations and
truncations must agree at every step, over whole episodes including time limits.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from fastrl.vector.native import NativeVectorEnv

Policy = Callable[[np.random.Generator, np.ndarray], np.ndarray]


def _bits(x: np.ndarray) -> np.ndarray:
    """Raw bits, so -0.0 != 0.0 and every last-bit difference shows."""
    x = np.ascontiguousarray(x)
    return x.view(np.uint32 if x.dtype == np.float32 else np.uint64)


def _gym_state(env: gym.Env) -> np.ndarray:
    return np.asarray(env.unwrapped.state, dtype=np.float64)


def run_parity(env_id: str, policy: Policy, *, num_envs: int, steps: int, seed: int, **kwargs) -> dict[str, int]:
    """Steps gymnasium and native envs side by side; returns counts of episode ends seen."""
    gym_envs = [gym.make(env_id, disable_env_checker=True, **kwargs) for _ in range(num_envs)]
    native = NativeVectorEnv(env_id, num_envs, seed=seed, autoreset_mode=AutoresetMode.DISABLED, **kwargs)
    native.reset(seed=seed)
    rng = np.random.default_rng(seed)
    next_seed = seed

    def gym_reset(rows: np.ndarray) -> np.ndarray:
        nonlocal next_seed
        states = native.get_state()
        expected = {}
        for i in np.flatnonzero(rows):
            expected[i], _ = gym_envs[i].reset(seed=next_seed)
            next_seed += 1
            states[i] = _gym_state(gym_envs[i])
        obs = native.set_state(states)
        if env_id == "Acrobot-v1":
            # gymnasium's reset observation uses NumPy's float32 cos/sin of its float32 state, the observation
            # of a set (float64) state float64 cos/sin: test_acrobot_reset_obs checks the former.
            return obs
        for i, gym_obs in expected.items():
            np.testing.assert_array_equal(_bits(obs[i]), _bits(gym_obs), err_msg=f"reset obs of env {i}")
        return obs

    obs = gym_reset(np.ones(num_envs, dtype=bool))
    counts = {"terminated": 0, "truncated": 0}
    for t in range(steps):
        actions = policy(rng, obs)
        obs, rewards, terminations, truncations, _ = native.step(actions)
        assert obs.dtype == np.float32 and rewards.dtype == np.float64
        for i, env in enumerate(gym_envs):
            g_obs, g_reward, g_term, g_trunc, _ = env.step(actions[i] if actions.ndim == 2 else actions[i].item())
            where = f"{env_id} env {i} step {t}"
            np.testing.assert_array_equal(_bits(obs[i]), _bits(np.asarray(g_obs, dtype=np.float32)), err_msg=where)
            assert _bits(rewards[i : i + 1])[0] == _bits(np.array([g_reward], dtype=np.float64))[0], where
            assert (terminations[i], truncations[i]) == (g_term, g_trunc), where
        dones = terminations | truncations
        counts["terminated"] += int(terminations.sum())
        counts["truncated"] += int((truncations & ~terminations).sum())
        if dones.any():
            native.reset(options={"reset_mask": dones})
            obs = gym_reset(dones)
    return counts


def _random_discrete(n: int) -> Policy:
    return lambda rng, obs: rng.integers(0, n, size=len(obs))


def _mountain_car_pump(rng: np.random.Generator, obs: np.ndarray) -> np.ndarray:
    """Push with the velocity (reaches the goal), with some random actions mixed in."""
    actions = np.where(obs[:, 1] >= 0, 2, 0)
    noise = rng.random(len(obs)) < 0.2
    return np.where(noise, rng.integers(0, 3, size=len(obs)), actions).astype(np.int32)


def _acrobot_pump(rng: np.random.Generator, obs: np.ndarray) -> np.ndarray:
    """Torque with the second joint's velocity (swings up), with some random actions mixed in."""
    actions = np.where(obs[:, 5] >= 0, 2, 0)
    noise = rng.random(len(obs)) < 0.1
    return np.where(noise, rng.integers(0, 3, size=len(obs)), actions)


def _continuous(low: float, high: float, dtype: type) -> Policy:
    return lambda rng, obs: rng.uniform(low, high, size=(len(obs), 1)).astype(dtype)


def _mcc_pump(dtype: type) -> Policy:
    """Push with the velocity with forces beyond [-1, 1] (clipped in the step, raw in the reward)."""

    def policy(rng: np.random.Generator, obs: np.ndarray) -> np.ndarray:
        force = np.where(obs[:, 1] >= 0, 1.0, -1.0) * rng.uniform(0.5, 1.6, size=len(obs))
        return force.reshape(-1, 1).astype(dtype)

    return policy


def test_cartpole_v1_random() -> None:
    counts = run_parity("CartPole-v1", _random_discrete(2), num_envs=8, steps=1500, seed=1)
    assert counts["terminated"] > 300


def test_cartpole_time_limit_and_reward_kwarg() -> None:
    # A short time limit makes truncations frequent; sutton_barto_reward changes the rewards.
    counts = run_parity(
        "CartPole-v0", _random_discrete(2), num_envs=4, steps=600, seed=2, max_episode_steps=12,
        sutton_barto_reward=True,
    )
    assert counts["terminated"] > 10 and counts["truncated"] > 10


def test_cartpole_full_episodes_truncate_at_500() -> None:
    # Balancing by the pole's angle and angular velocity keeps CartPole-v1 up until its 500-step limit.
    def balance(rng: np.random.Generator, obs: np.ndarray) -> np.ndarray:
        return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)

    counts = run_parity("CartPole-v1", balance, num_envs=2, steps=1001, seed=3)
    assert counts["truncated"] >= 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pendulum(dtype: type) -> None:
    counts = run_parity("Pendulum-v1", _continuous(-3.0, 3.0, dtype), num_envs=6, steps=401, seed=4)
    assert counts["truncated"] == 12


def test_pendulum_gravity_kwarg() -> None:
    run_parity("Pendulum-v1", _continuous(-2.5, 2.5, np.float32), num_envs=3, steps=201, seed=5, g=9.81)


def test_mountain_car() -> None:
    counts = run_parity("MountainCar-v0", _mountain_car_pump, num_envs=6, steps=900, seed=6)
    assert counts["terminated"] > 10
    counts = run_parity("MountainCar-v0", _random_discrete(3), num_envs=4, steps=401, seed=7)
    assert counts["truncated"] == 8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mountain_car_continuous(dtype: type) -> None:
    counts = run_parity("MountainCarContinuous-v0", _mcc_pump(dtype), num_envs=6, steps=900, seed=8)
    assert counts["terminated"] > 10
    counts = run_parity(
        "MountainCarContinuous-v0", _continuous(-1.5, 1.5, dtype), num_envs=3, steps=300, seed=9,
        max_episode_steps=100,
    )
    assert counts["truncated"] >= 6


def test_acrobot() -> None:
    counts = run_parity("Acrobot-v1", _acrobot_pump, num_envs=4, steps=700, seed=10)
    assert counts["terminated"] > 8
    counts = run_parity("Acrobot-v1", _random_discrete(3), num_envs=2, steps=501, seed=11)
    assert counts["truncated"] >= 1


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_acrobot_reset_obs_use_float32_kernels(mode: AutoresetMode) -> None:
    """Reset observations (from reset() and autoresets) equal gymnasium's ``_get_ob()`` of the float32 reset
    state, which uses NumPy's float32 cos/sin (they differ from float32(cos(double)) for ~1 value in 1500)."""
    n = 2048
    native = NativeVectorEnv("Acrobot-v1", n, seed=12, autoreset_mode=mode, max_episode_steps=1)
    gym_env = gym.make("Acrobot-v1", disable_env_checker=True).unwrapped
    gym_env.reset(seed=0)

    def expected() -> np.ndarray:
        rows = []
        for state in native.get_state():
            gym_env.state = state.astype(np.float32)
            rows.append(gym_env._get_ob())
        return _bits(np.stack(rows))

    obs, _ = native.reset()
    np.testing.assert_array_equal(_bits(obs), expected())
    actions = np.zeros(n, dtype=np.int64)
    obs, *_ = native.step(actions)  # every episode ends (1-step time limit)
    if mode == AutoresetMode.NEXT_STEP:
        obs, *_ = native.step(actions)  # every env resets
    np.testing.assert_array_equal(_bits(obs), expected())


def test_exact_fast_paths_equal_libm() -> None:
    """The envs' shortcuts for x**2 (libm pow / powf) and fmod(x, 2 pi) agree with libm bit for bit."""
    import math

    _testing = pytest.importorskip(
        "fastrl._testing", reason="test hooks not built (build with -DFASTRL_TESTING=ON, see the README)")

    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.uniform(-10, 10, 60000), rng.standard_normal(20000) * 1e-3, np.exp(rng.uniform(-700, 700, 20000)),
        2.0 ** rng.integers(-300, 300, 500), [0.0, -0.0, 1e308, 5e-324],
    ])
    def py_square(v: float) -> float:
        try:
            return v**2
        except OverflowError:
            return math.inf

    expected = np.array([py_square(float(v)) for v in x])
    np.testing.assert_array_equal(_bits(_testing.pow_square(x)), _bits(expected))
    small = np.abs(x) < 1e100
    assert np.count_nonzero(expected[small] != x[small] * x[small]) > 20  # pow differs from x*x on some

    xf = np.concatenate([rng.uniform(-3, 3, 60000), np.exp(rng.uniform(-40, 40, 20000)), [0.0, 1.0, 2.0]])
    xf = xf.astype(np.float32)
    expected_f = np.array([v**2 for v in xf])  # NumPy float32 scalar power: libm powf
    np.testing.assert_array_equal(_bits(_testing.powf_square(xf)), _bits(expected_f))

    two_pi = 2 * math.pi
    xm = np.concatenate([
        rng.uniform(-100, 100, 60000), rng.uniform(-2e6, 2e6, 5000), two_pi * rng.integers(-1000, 1000, 2000),
        np.nextafter(two_pi * rng.integers(-1000, 1000, 2000), 0), [0.0, -0.0, two_pi, -two_pi],
    ])
    expected_m = np.array([math.fmod(v, two_pi) for v in xm])
    np.testing.assert_array_equal(_bits(_testing.fmod_two_pi(xm)), _bits(expected_m))


def test_exact_fast_paths_equal_libm_on_millions_of_inputs() -> None:
    """The same shortcuts against libm in C++ on 2M random inputs each. About a tenth of the pow/powf draws
    land between the acceptance threshold (0.45 ULP from the rounded square) and the tie, and fall back."""
    _testing = pytest.importorskip(
        "fastrl._testing", reason="test hooks not built (build with -DFASTRL_TESTING=ON, see the README)")

    assert _testing.check_exact_shortcuts(2_000_000, seed=3) == {"pow": 0, "powf": 0, "fmod": 0}


def _libm_sincos(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import math

    def call(f, v: float) -> float:
        try:
            return f(v)
        except ValueError:  # math.sin(inf) raises where libm returns NaN
            return math.nan

    return np.array([call(math.sin, v) for v in x.tolist()]), np.array([call(math.cos, v) for v in x.tolist()])


def test_exact_sincos_equals_libm() -> None:
    """CartPole's batched sin/cos (a proven fast path, libm elsewhere) equals math.sin/math.cos bit for bit."""
    _testing = pytest.importorskip(
        "fastrl._testing", reason="test hooks not built (build with -DFASTRL_TESTING=ON, see the README)")

    rng = np.random.default_rng(0)
    edges = [0.0, -0.0, 0.3, -0.3, np.nextafter(0.3, 1), 2.0**-20, np.nextafter(2.0**-20, 0), 2.0**-40, 5e-324,
             np.pi / 6, 1e300, np.inf, -np.inf, np.nan]
    x = np.concatenate([
        rng.uniform(-0.3, 0.3, 40001),  # the fast path's range (odd length: a lone last element)
        rng.uniform(-0.25, 0.25, 20000) * rng.uniform(0, 1, 20000) ** 3,  # crowded near 0, as CartPole's angles
        rng.uniform(-10, 10, 5000), np.exp(rng.uniform(-60, 0, 5000)), edges,
    ])
    sin, cos = _testing.sincos(x)
    expected_sin, expected_cos = _libm_sincos(x)
    finite = np.isfinite(x)
    np.testing.assert_array_equal(_bits(sin[finite]), _bits(expected_sin[finite]))
    np.testing.assert_array_equal(_bits(cos[finite]), _bits(expected_cos[finite]))
    assert np.isnan(sin[~finite]).all() and np.isnan(cos[~finite]).all()


def test_exact_sincos_fast_path_on_millions_and_near_ties() -> None:
    """The fast path agrees with libm on 4M random angles, proves most of them, and rejects every near-tie."""
    _testing = pytest.importorskip(
        "fastrl._testing", reason="test hooks not built (build with -DFASTRL_TESTING=ON, see the README)")

    report = _testing.check_sincos(np.zeros(0), uniform_count=4_000_000, low=-0.3, high=0.3, seed=5)
    assert report["mismatches"] == 0, report["first_mismatch"]
    # Measured: ~15% of the sines, ~4% of the cosines fall back to libm on this range.
    assert report["sin_fallbacks"] < 0.2 * report["total"] and report["cos_fallbacks"] < 0.06 * report["total"]

    if np.finfo(np.longdouble).nmant < 60:
        pytest.skip("needs an extended-precision long double to locate near-ties")
    # Angles whose sine or cosine lies within 0.02 ULP of a midpoint between two doubles, where a libm within
    # 0.55 ULP may round either way: the fast path must not claim any of them.
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.3, 0.3, 400_000)
    xl = x.astype(np.longdouble)
    for f in (np.sin, np.cos):
        exact = f(xl)
        nearest = exact.astype(np.float64)
        ulp = np.spacing(np.abs(nearest)).astype(np.longdouble)
        offset = np.abs((exact - nearest.astype(np.longdouble)) / ulp)  # in [0, 0.5]
        ties = x[offset > 0.48]
        assert len(ties) > 1000
        report = _testing.check_sincos(ties)
        assert report["mismatches"] == 0
        key = "sin_fallbacks" if f is np.sin else "cos_fallbacks"
        assert report[key] == len(ties)


@pytest.mark.parametrize("num_envs", [7, 67])
def test_cartpole_batch_tails(num_envs: int) -> None:
    # Batches stepped a vector of envs at a time, with a remainder stepped one by one,
    # and (67) a second block after the first 64 envs.
    counts = run_parity("CartPole-v1", _random_discrete(2), num_envs=num_envs, steps=120, seed=4)
    assert counts["terminated"] > 0


def test_cartpole_and_sincos_sse2_path(tmp_path) -> None:
    """The SSE2 path (two lanes) gives the same bits as the AVX2 one: rerun CartPole's parity tests with it forced."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, FASTRL_NO_AVX2="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
           "-k", "(cartpole or sincos) and not sse2"]
    # Run from an empty folder: `python -m` puts the working directory first on sys.path, and from the
    # project root that would import the source tree's fastrl instead of the one under test.
    result = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
