"""pytest-benchmark suite for the replay memory: fastrl beside SB3 and cpprb on the same work.

Run with ``pytest bench/test_replay_bench.py`` (``--benchmark-group-by=group`` puts each case's
libraries side by side). ``fastrl bench replay`` prints the same comparisons as ratios. Peers that
are not installed are skipped.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastrl
from fastrl.benchmarks.replay import CPPRB_CARTPOLE_FIELDS, cartpole_stream, cpprb_atari_buffer, sb3_buffer
from fastrl.benchmarks.replay import atari_episode as atari_episode_data

CAPACITY = 100_000
STEPS = 1_000  # adds per benchmark round


def _stream(num_envs: int, steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    return cartpole_stream(num_envs, steps, episode_len=200, seed=seed)


@pytest.fixture(scope="module")
def one_env():
    d = _stream(1, STEPS)
    return {k: list(v) for k, v in d.items()}


def _fill_fastrl(buf, d):
    add = buf.add
    for t in range(len(d["obs"])):
        add(d["obs"][t], d["action"][t], d["reward"][t], d["next_obs"][t], d["terminated"][t], d["truncated"][t])


def _cpprb():
    return pytest.importorskip("cpprb"), CPPRB_CARTPOLE_FIELDS


def _sb3(capacity=CAPACITY):
    buffers = pytest.importorskip("stable_baselines3.common.buffers")
    return sb3_buffer(buffers.ReplayBuffer, pytest.importorskip("gymnasium"), capacity)


@pytest.mark.benchmark(group="add x1 (CartPole)")
def test_add_one_fastrl(benchmark, one_env):
    buf = fastrl.ReplayBuffer(CAPACITY, (4,), seed=0)
    benchmark(_fill_fastrl, buf, one_env)


@pytest.mark.benchmark(group="add x1 (CartPole)")
def test_add_one_sb3(benchmark, one_env):
    sb = _sb3()
    acts = [a.reshape(1, 1) for a in one_env["action"]]

    def fill():
        for t in range(STEPS):
            sb.add(one_env["obs"][t], one_env["next_obs"][t], acts[t], one_env["reward"][t],
                   one_env["terminated"][t], [{}])

    benchmark(fill)


@pytest.mark.benchmark(group="add x1 (CartPole)")
def test_add_one_cpprb(benchmark, one_env):
    cpprb, env_dict = _cpprb()
    rb = cpprb.ReplayBuffer(CAPACITY, env_dict)

    def fill():
        for t in range(STEPS):
            rb.add(obs=one_env["obs"][t], act=one_env["action"][t], rew=one_env["reward"][t],
                   next_obs=one_env["next_obs"][t], done=one_env["terminated"][t])

    benchmark(fill)


@pytest.fixture(scope="module")
def many_envs():
    return {k: list(v) for k, v in _stream(64, 100, seed=1).items()}


@pytest.mark.benchmark(group="add x64 envs (CartPole)")
def test_add_64_fastrl(benchmark, many_envs):
    buf = fastrl.ReplayBuffer(CAPACITY, (4,), num_envs=64, seed=0)
    benchmark(_fill_fastrl, buf, many_envs)


@pytest.mark.benchmark(group="add x64 envs (CartPole)")
def test_add_64_cpprb(benchmark, many_envs):
    cpprb, env_dict = _cpprb()
    rb = cpprb.ReplayBuffer(CAPACITY, env_dict)
    acts = [a.reshape(64, 1) for a in many_envs["action"]]

    def fill():
        for t in range(100):
            rb.add(obs=many_envs["obs"][t], act=acts[t], rew=many_envs["reward"][t],
                   next_obs=many_envs["next_obs"][t], done=many_envs["terminated"][t])

    benchmark(fill)


@pytest.fixture(scope="module")
def full_stream():
    return _stream(1, CAPACITY, seed=2)


@pytest.mark.benchmark(group="sample(32) (CartPole)")
def test_sample_fastrl(benchmark, full_stream):
    buf = fastrl.ReplayBuffer(CAPACITY, (4,), num_envs=1000, seed=0)
    d = {k: v.reshape(CAPACITY // 1000, 1000, *v.shape[2:]) for k, v in full_stream.items()}
    _fill_fastrl(buf, d)
    benchmark(buf.sample, 32)


@pytest.mark.benchmark(group="sample(32) (CartPole)")
def test_sample_sb3(benchmark, full_stream):
    sb = _sb3()
    n = 1000
    d = {k: v.reshape(CAPACITY // n, n, *v.shape[2:]) for k, v in full_stream.items()}
    sb.observations[:] = d["obs"].reshape(CAPACITY, 1, 4)
    sb.next_observations[:] = d["next_obs"].reshape(CAPACITY, 1, 4)
    sb.full = True
    benchmark(sb.sample, 32)


@pytest.mark.benchmark(group="sample(32) (CartPole)")
def test_sample_cpprb(benchmark, full_stream):
    cpprb, env_dict = _cpprb()
    rb = cpprb.ReplayBuffer(CAPACITY, env_dict)
    rb.add(obs=full_stream["obs"][:, 0], act=full_stream["action"], rew=full_stream["reward"],
           next_obs=full_stream["next_obs"][:, 0], done=full_stream["terminated"])
    benchmark(rb.sample, 32)


@pytest.mark.benchmark(group="PER sample(32)+update (CartPole)")
def test_per_fastrl(benchmark, full_stream):
    buf = fastrl.PrioritizedReplayBuffer(CAPACITY, (4,), num_envs=1000, seed=0)
    d = {k: v.reshape(CAPACITY // 1000, 1000, *v.shape[2:]) for k, v in full_stream.items()}
    _fill_fastrl(buf, d)
    prio = np.linspace(0.1, 2.0, 32)

    def round_():
        buf.update_priorities(buf.sample(32, 0.4).indices, prio)

    benchmark(round_)


@pytest.mark.benchmark(group="PER sample(32)+update (CartPole)")
def test_per_cpprb(benchmark, full_stream):
    cpprb, env_dict = _cpprb()
    rb = cpprb.PrioritizedReplayBuffer(CAPACITY, env_dict, alpha=0.6)
    rb.add(obs=full_stream["obs"][:, 0], act=full_stream["action"], rew=full_stream["reward"],
           next_obs=full_stream["next_obs"][:, 0], done=full_stream["terminated"])
    prio = np.linspace(0.1, 2.0, 32)

    def round_():
        rb.update_priorities(rb.sample(32, beta=0.4)["indexes"], prio)

    benchmark(round_)


ATARI_CAPACITY = 20_000


@pytest.fixture(scope="module")
def atari_episode():
    return atari_episode_data(500, seed=3)


@pytest.mark.benchmark(group="Atari add (84x84, stack 4)")
def test_atari_add_fastrl(benchmark, atari_episode):
    buf = fastrl.ReplayBuffer(ATARI_CAPACITY, (4, 84, 84), np.uint8, frame_stack=4, seed=0)
    e = atari_episode
    args = [(e["obs"][i], e["action"][i], e["reward"][i], e["next_obs"][i], bool(e["terminated"][i]), False)
            for i in range(len(e["obs"]))]

    def fill():
        for a in args:
            buf.add(*a)

    benchmark(fill)


def _cpprb_atari(episode):
    """cpprb's frame-compressed Atari buffer and a function adding ``episode`` to it once (cpprb stacks
    frames on the last axis, so the frames are transposed up front, outside the timed part)."""
    rb = cpprb_atari_buffer(pytest.importorskip("cpprb"), ATARI_CAPACITY)
    e = episode
    obs = [np.ascontiguousarray(o.transpose(1, 2, 0)) for o in e["obs"]]
    nobs = [np.ascontiguousarray(o.transpose(1, 2, 0)) for o in e["next_obs"]]

    def fill():
        for i in range(len(obs)):
            rb.add(obs=obs[i], act=e["action"][i], rew=e["reward"][i], next_obs=nobs[i], done=e["terminated"][i])
        rb.on_episode_end()

    return rb, fill


@pytest.mark.benchmark(group="Atari add (84x84, stack 4)")
def test_atari_add_cpprb(benchmark, atari_episode):
    _, fill = _cpprb_atari(atari_episode)
    benchmark(fill)


@pytest.mark.benchmark(group="Atari sample(32) (84x84, stack 4)")
def test_atari_sample_fastrl(benchmark, atari_episode):
    buf = fastrl.ReplayBuffer(ATARI_CAPACITY, (4, 84, 84), np.uint8, frame_stack=4, seed=0)
    e = atari_episode
    for _ in range(ATARI_CAPACITY // len(e["obs"])):
        for i in range(len(e["obs"])):
            buf.add(e["obs"][i], e["action"][i], e["reward"][i], e["next_obs"][i], bool(e["terminated"][i]), False)
    benchmark(buf.sample, 32)


@pytest.mark.benchmark(group="Atari sample(32) (84x84, stack 4)")
def test_atari_sample_cpprb(benchmark, atari_episode):
    rb, fill = _cpprb_atari(atari_episode)
    for _ in range(ATARI_CAPACITY // len(atari_episode["obs"])):
        fill()
    benchmark(rb.sample, 32)
