"""fastrl.ReplayBuffer against the pure-Python reference (tests/replay_reference.py): every sampled
transition is bit-identical to what was added, and the sampleable set is exactly the reference's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replay_reference import ReferenceReplay, StreamSimulator

import fastrl


def check_against_reference(buf, ref: ReferenceReplay, full: bool) -> None:
    expected = {i: ref.expected(i) for i in range(len(ref.steps))}
    sampleable = {i for i, e in expected.items() if e is not None}
    assert len(buf) == len(sampleable)
    if not sampleable:
        with pytest.raises(ValueError, match="batch_size"):
            buf.sample(1)
        return
    batches = [buf.sample(len(sampleable)) for _ in range(10 if full else 1)]
    if full:  # uniform with replacement: 10 rounds of <= 40 draws see each item with high probability
        assert set(np.concatenate([b.indices for b in batches]).tolist()) == sampleable
    batch = batches[0]
    for j, i in enumerate(batch.indices.tolist()):
        assert i in sampleable, f"transition {i} should not be sampleable"
        obs, action, reward, next_obs, discount = expected[i]
        assert batch.obs[j].tobytes() == obs.tobytes()
        assert batch.action[j] == action
        assert batch.next_obs[j].tobytes() == next_obs.tobytes()
        assert batch.reward[j] == reward
        assert batch.discount[j] == discount
    assert np.all(batch.weights == 1.0)


def all_rows(buf, rounds=20):
    """{index: (reward, discount, next_obs[0])} over repeated samples of len(buf)."""
    rows = {}
    for _ in range(rounds):
        b = buf.sample(len(buf))
        for j, i in enumerate(b.indices.tolist()):
            rows[i] = (float(b.reward[j]), float(b.discount[j]), float(b.next_obs[j].flat[0]))
    return rows


def run_stream(capacity, num_envs, n_step, frame_stack, steps, seed, p_term, p_trunc, p_break, p_mask,
               prioritized=False):
    rng = np.random.default_rng(seed)
    obs_shape = (frame_stack, 2, 3) if frame_stack > 1 else (2, 3)
    cls = fastrl.PrioritizedReplayBuffer if prioritized else fastrl.ReplayBuffer
    buf = cls(capacity, obs_shape, np.uint8, num_envs=num_envs, n_step=n_step, gamma=0.9,
              frame_stack=frame_stack, seed=seed)
    ref = ReferenceReplay(capacity, n_step, 0.9)
    sim = StreamSimulator(rng, num_envs, obs_shape, frame_stack, p_term=p_term, p_trunc=p_trunc,
                          p_break=p_break, p_mask=p_mask)
    for t in range(steps):
        obs, action, reward, next_obs, term, trunc, mask = sim.step()
        use_mask = p_mask > 0
        buf.add(obs, action, reward, next_obs, term, trunc, mask if use_mask else None)
        for i in range(num_envs):
            if not use_mask or mask[i]:
                ref.add(i, obs[i], action[i], reward[i], next_obs[i], term[i], trunc[i])
        if not prioritized:
            check_against_reference(buf, ref, full=(t == steps - 1))
    return buf, ref


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    capacity=st.integers(1, 40),
    num_envs=st.integers(1, 3),
    n_step=st.sampled_from([1, 3]),
    frame_stack=st.sampled_from([1, 4]),
    steps=st.integers(1, 50),
    seed=st.integers(0, 2**32 - 1),
    p_term=st.sampled_from([0.0, 0.05, 0.3]),
    p_trunc=st.sampled_from([0.0, 0.05, 0.3]),
    p_break=st.sampled_from([0.0, 0.1]),
    p_mask=st.sampled_from([0.0, 0.2]),
)
def test_matches_reference(capacity, num_envs, n_step, frame_stack, steps, seed, p_term, p_trunc, p_break, p_mask):
    run_stream(capacity, num_envs, n_step, frame_stack, steps, seed, p_term, p_trunc, p_break, p_mask)


@pytest.mark.parametrize("frame_stack", [1, 4])
@pytest.mark.parametrize("n_step", [1, 3])
def test_long_wraparound(n_step, frame_stack):
    # many wraps of a small ring with several envs: overwrites hit open windows, stored next links,
    # side entries and frame segments (re-rooted) again and again
    run_stream(capacity=17, num_envs=3, n_step=n_step, frame_stack=frame_stack, steps=300, seed=7,
               p_term=0.05, p_trunc=0.05, p_break=0.05, p_mask=0.1)


def test_n_step_by_hand():
    buf = fastrl.ReplayBuffer(10, (1,), np.float32, n_step=3, gamma=0.5, seed=0)
    o = [np.array([[float(t)]], np.float32) for t in range(6)]
    # rewards 1, 2, 4, 8; terminated at the 4th step
    for t, (r, term) in enumerate([(1, False), (2, False), (4, False), (8, True)]):
        buf.add(o[t], np.array([t]), np.array([r], np.float32), o[t + 1], np.array([term]), np.array([False]))
    assert len(buf) == 4
    rows = all_rows(buf)
    assert rows[0] == (1 + 0.5 * 2 + 0.25 * 4, 0.125, 3.0)
    assert rows[1] == (2 + 0.5 * 4 + 0.25 * 8, 0.0, 4.0)
    assert rows[2] == (4 + 0.5 * 8, 0.0, 4.0)
    assert rows[3] == (8, 0.0, 4.0)


def test_truncation_keeps_discount_and_final_obs():
    buf = fastrl.ReplayBuffer(10, (1,), np.float32, n_step=2, gamma=0.5, seed=0)
    final = np.array([[42.0]], np.float32)
    buf.add(np.zeros((1, 1), np.float32), np.array([0]), 1.0, np.ones((1, 1), np.float32), False, False)
    buf.add(np.ones((1, 1), np.float32), np.array([1]), 1.0, final, False, True)
    # the reset obs differs from the final one: nothing may bootstrap from it
    buf.add(np.full((1, 1), 7.0, np.float32), np.array([2]), 1.0, np.full((1, 1), 8.0, np.float32), False, False)
    rows = all_rows(buf)
    assert rows[0] == (1.5, 0.25, 42.0)
    assert rows[1] == (1.0, 0.5, 42.0)
    assert 2 not in rows  # its 2-step window is still open


def test_frame_stack_stores_about_one_frame_per_transition():
    # an Atari-like stream: long episodes, 4-frame stacks; sampled stacks are exact (reference) and
    # the side stores hold only what episode starts and ends need
    k, shape = 4, (4, 8, 8)
    rng = np.random.default_rng(3)
    buf = fastrl.ReplayBuffer(200, shape, np.uint8, frame_stack=k, num_envs=2, seed=1)
    sim = StreamSimulator(rng, 2, shape, k, p_term=0.01, p_trunc=0.0, p_break=0.0, p_mask=0.0, values=255)
    for _ in range(400):
        obs, action, reward, next_obs, term, trunc, _ = sim.step()
        buf.add(obs, action, reward, next_obs, term, trunc)
    s = buf.state_dict()
    frame_bytes = 8 * 8
    extra = s["side_data"].nbytes + s["start_data"].nbytes
    assert s["frames"].nbytes == 200 * frame_bytes
    assert extra <= 0.25 * s["frames"].nbytes


def test_sb3_style_truncation_is_exact():
    # SB3's optimize_memory_usage returns the next episode's first obs at a truncation; we return the
    # true final observation
    buf = fastrl.ReplayBuffer(4, (2,), np.float32, seed=0)
    final, reset = np.array([[9.0, 9.0]], np.float32), np.array([[0.0, 1.0]], np.float32)
    buf.add(np.array([[1.0, 1.0]], np.float32), np.array([0]), 0.0, final, False, True)
    buf.add(reset, np.array([0]), 0.0, reset + 1, False, False)
    buf.add(reset + 1, np.array([0]), 0.0, reset + 2, False, False)
    rows = all_rows(buf)
    assert rows[0] == (0.0, float(np.float32(0.99)), 9.0)


def test_single_env_scalars_and_unbatched_arrays():
    buf = fastrl.ReplayBuffer(8, (3,), np.float32, seed=0)
    o = np.arange(3, dtype=np.float32)
    buf.add(o, np.int64(2), 1, o + 1, np.bool_(False), 0)
    buf.add(o[None] + 1, np.array([3]), np.float64(2.5), o[None] + 2, np.array([True]), np.array([0]))
    b = buf.sample(2)
    assert b.obs.shape == (2, 3) and b.action.shape == (2,) and b.reward.dtype == np.float32
    assert set(b.indices.tolist()) <= {0, 1}


def test_many_envs_batched_add():
    n = 64
    buf = fastrl.ReplayBuffer(1000, (4,), np.float32, num_envs=n, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(20):
        o = rng.normal(size=(n, 4)).astype(np.float32)
        buf.add(o, rng.integers(0, 2, n), np.ones(n, np.float32), o + 1, np.zeros(n, bool), np.zeros(n, bool))
    assert len(buf) == 1000
    b = buf.sample(256)
    np.testing.assert_array_equal(b.next_obs, b.obs + 1)


def test_sample_flat_in_capacity_is_uniform():
    buf = fastrl.ReplayBuffer(50, (1,), np.float32, seed=5)
    for t in range(50):
        o = np.array([[t]], np.float32)
        buf.add(o, np.array([0]), 0.0, o, True, False)
    counts = np.bincount(buf.sample(50).indices, minlength=50)
    total = np.zeros(50)
    for _ in range(200):
        total += np.bincount(buf.sample(50).indices, minlength=50)
    # chi-square against uniform, 49 dof: 99.9% quantile is 85.4
    expected = total.sum() / 50
    assert ((total - expected) ** 2 / expected).sum() < 85.4
    assert counts.sum() == 50


def test_same_seed_same_samples():
    def make():
        b = fastrl.ReplayBuffer(100, (2,), np.float32, seed=123)
        for t in range(100):
            o = np.full((1, 2), t, np.float32)
            b.add(o, np.array([t]), float(t), o + 1, t % 7 == 0, False)
        return b

    a, b = make(), make()
    for _ in range(5):
        np.testing.assert_array_equal(a.sample(16).indices, b.sample(16).indices)


@pytest.mark.parametrize(("capacity", "n_step", "steps"), [(40, 4, 37), (14, 4, 11), (12, 3, 11), (30, 1, 12)])
def test_uniform_over_sampleable_slots_with_open_windows(capacity, n_step, steps):
    """Open n-step windows and unwritten slots are never sampled and the rest are equally likely,
    whether most written slots are sampleable (drawn among slots with redraws) or not (drawn from
    the list of sampleable ones)."""
    num_envs = 3
    buf = fastrl.ReplayBuffer(capacity, (1,), np.float32, num_envs=num_envs, n_step=n_step, gamma=0.5, seed=9)
    for t in range(steps):
        o = np.full((num_envs, 1), t, np.float32)
        buf.add(o, np.zeros(num_envs, np.int64), np.ones(num_envs), o + 1, np.zeros(num_envs, bool),
                np.zeros(num_envs, bool))
    written = min(steps * num_envs, capacity)
    live = set(range(steps * num_envs - written, steps * num_envs))
    open_ids = set(range((steps - (n_step - 1)) * num_envs, steps * num_envs)) if n_step > 1 else set()
    sampleable = sorted(live - open_ids)
    assert len(buf) == len(sampleable)
    total = np.zeros(steps * num_envs)
    for _ in range(300):
        total += np.bincount(buf.sample(len(sampleable)).indices, minlength=steps * num_envs)
    assert set(np.flatnonzero(total).tolist()) == set(sampleable)
    observed = total[sampleable]
    expected = observed.sum() / len(sampleable)
    dof = len(sampleable) - 1
    # chi-square against uniform; bound: the 99.9% quantile (Wilson-Hilferty approximation)
    bound = dof * (1 - 2 / (9 * dof) + 3.09 * (2 / (9 * dof)) ** 0.5) ** 3
    assert ((observed - expected) ** 2 / expected).sum() < bound
