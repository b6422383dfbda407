"""fastrl.PrioritizedReplayBuffer: frequencies follow p**alpha, the weight formula, max-priority
entry, stale indices, rejected priorities, and exact contents (reference)."""

from __future__ import annotations

import numpy as np
import pytest
from replay_reference import ReferenceReplay
from test_replay import run_stream

import fastrl


def filled(n=20, capacity=None, alpha=0.6, eps=1e-6, seed=0):
    buf = fastrl.PrioritizedReplayBuffer(capacity or n, (1,), np.float32, seed=seed, alpha=alpha, eps=eps)
    for t in range(n):
        o = np.array([[t]], np.float32)
        buf.add(o, np.array([t]), float(t), o, True, False)  # each transition is one episode
    return buf


def leaves(buf):
    state = buf.state_dict()
    return state["priorities"], state["slot_valid_pos"] >= 0


def test_frequencies_follow_priority_to_alpha():
    alpha, n = 0.7, 20
    buf = filled(n, alpha=alpha, seed=1)
    prios = np.linspace(0.1, 3.0, n)
    buf.update_priorities(np.arange(n), prios)
    counts = np.zeros(n)
    for _ in range(1500):
        counts += np.bincount(buf.sample(n).indices, minlength=n)
    p = (prios + 1e-6) ** alpha
    expected = counts.sum() * p / p.sum()
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 43.8  # 99.9% quantile of chi-square with 19 dof


def test_weights_formula_and_max_over_buffer():
    alpha, beta = 0.6, 0.5
    buf = filled(10, alpha=alpha)
    prios = np.arange(1, 11, dtype=np.float64)
    buf.update_priorities(np.arange(10), prios)
    b = buf.sample(10, beta=beta)
    p = (prios + 1e-6) ** alpha
    prob = p / p.sum()
    w = (10 * prob) ** -beta
    expected = (w / w.max())[b.indices]
    np.testing.assert_allclose(b.weights, expected, rtol=1e-6)
    assert b.weights.dtype == np.float32
    np.testing.assert_array_equal(buf.sample(10, beta=0.0).weights, np.ones(10, np.float32))


def test_new_entries_enter_at_max_priority():
    buf = filled(4, capacity=8, alpha=1.0, eps=0.5)
    buf.update_priorities(np.array([0, 1]), np.array([9.5, 2.0]))
    o = np.zeros((1, 1), np.float32)
    buf.add(o, np.array([0]), 0.0, o, True, False)
    pr, valid = leaves(buf)
    assert pr[4] == pytest.approx(10.0) and pr[0] == pytest.approx(10.0) and pr[1] == pytest.approx(2.5)
    assert pr[2] == pytest.approx(1.0)  # untouched: the initial max priority 1.0


def test_stale_indices_are_ignored():
    buf = filled(4, capacity=4)
    b = buf.sample(4)
    o = np.zeros((1, 1), np.float32)
    for _ in range(4):  # overwrite every slot
        buf.add(o, np.array([0]), 0.0, o, True, False)
    before = leaves(buf)[0].copy()
    buf.update_priorities(b.indices, np.full(4, 100.0))
    np.testing.assert_array_equal(leaves(buf)[0], before)
    buf.update_priorities(b.indices + 4, np.full(4, 100.0))  # the live ids
    assert np.all(leaves(buf)[0] > before)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_bad_priorities_rejected_without_partial_update(bad):
    buf = filled(4)
    before = leaves(buf)[0].copy()
    with pytest.raises(ValueError, match="priorities"):
        buf.update_priorities(np.arange(4), np.array([2.0, 2.0, bad, 2.0]))
    np.testing.assert_array_equal(leaves(buf)[0], before)
    buf.update_priorities(np.arange(4), np.full(4, 2.0))  # still usable


def test_bad_indices_and_shapes():
    buf = filled(4)
    with pytest.raises(ValueError, match="indices"):
        buf.update_priorities(np.array([0, 99]), np.ones(2))
    with pytest.raises(ValueError, match="indices"):
        buf.update_priorities(np.array([-1]), np.ones(1))
    with pytest.raises(ValueError, match="priorities"):
        buf.update_priorities(np.arange(3), np.ones(2))
    with pytest.raises(TypeError, match="indices"):
        buf.update_priorities(np.zeros(2, np.float32), np.ones(2))
    with pytest.raises(ValueError, match="beta"):
        buf.sample(2, beta=-0.1)
    with pytest.raises(ValueError, match="beta"):
        buf.sample(2, beta=float("nan"))
    assert len(buf.sample(4).indices) == 4


@pytest.mark.parametrize("frame_stack", [1, 4])
def test_prioritized_contents_match_reference(frame_stack):
    buf, ref = run_stream(capacity=23, num_envs=2, n_step=3, frame_stack=frame_stack, steps=120, seed=11,
                          p_term=0.05, p_trunc=0.05, p_break=0.05, p_mask=0.1, prioritized=True)
    assert isinstance(ref, ReferenceReplay)
    assert len(buf) == len(ref.sampleable())
    for _ in range(5):
        b = buf.sample(len(buf), beta=0.4)
        buf.update_priorities(b.indices, np.abs(b.reward) + 0.1)
        for j, i in enumerate(b.indices.tolist()):
            obs, action, reward, next_obs, discount = ref.expected(i)
            assert b.obs[j].tobytes() == obs.tobytes() and b.next_obs[j].tobytes() == next_obs.tobytes()
            assert b.reward[j] == reward and b.discount[j] == discount and b.action[j] == action


def test_alpha_eps_validation():
    for kwargs, name in [({"alpha": -1.0}, "alpha"), ({"alpha": float("nan")}, "alpha"), ({"eps": 0.0}, "eps"),
                         ({"eps": -1e-3}, "eps")]:
        with pytest.raises(ValueError, match=name):
            fastrl.PrioritizedReplayBuffer(10, (1,), **kwargs)
