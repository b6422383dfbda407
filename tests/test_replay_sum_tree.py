"""The prioritized replay's sum/min tree (fastrl._testing.SumTree, a test-only module) against a plain array: batched
updates (duplicates, the levels recomputed whole, the min kept where it stops changing) leave
exactly the tree a leaf-by-leaf build gives, and batched descents find what single ones find."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

_testing = pytest.importorskip(
    "fastrl._testing", reason="test hooks not built (build with -DFASTRL_TESTING=ON, see the README)")


def fresh(values: np.ndarray, present: np.ndarray) -> _testing.SumTree:
    t = _testing.SumTree(len(values))
    for i in np.flatnonzero(present):
        t.set(int(i), float(values[i]))
    return t


def reference_find(values: np.ndarray, mass: float) -> int:
    """First leaf whose inclusive prefix sum exceeds mass (exact for integer values); past the
    total, the last non-empty leaf."""
    return min(int(np.searchsorted(np.cumsum(values), mass, side="right")), int(np.flatnonzero(values)[-1]))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 100, 1000, 4099])
def test_batched_updates_match_leaf_by_leaf_build(n):
    rng = np.random.default_rng(n)
    t = _testing.SumTree(n)
    values = np.zeros(n)
    present = np.zeros(n, bool)
    for step in range(60):
        k = int(rng.integers(1, 100))
        leaves = rng.integers(0, n, k)
        new = rng.choice([0.5, 1.0, 2.0, 3.0, 1e-300, 7.25], k) if step % 3 else rng.random(k) + 1e-3
        t.set_many(leaves, new)
        for leaf, v in zip(leaves, new, strict=True):  # the last value of a repeated leaf wins
            values[leaf], present[leaf] = v, True
        if step % 5 == 0:
            gone = rng.integers(0, n, 3)
            for leaf in gone:
                t.clear(int(leaf))
                values[leaf], present[leaf] = 0.0, False
        ref = fresh(values, present)
        assert t.total == ref.total  # bit for bit: parents are always recomputed from children
        assert t.min == ref.min == (values[present].min() if present.any() else np.inf)
        assert [t.get(i) for i in range(n)] == values.tolist()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=300), st.integers(0, 2**32 - 1))
def test_find_many_matches_reference(ints, seed):
    values = np.array(ints, np.float64)
    if values.sum() == 0:
        values[len(values) // 2] = 1.0
    t = _testing.SumTree(len(values))
    t.set_many(np.arange(len(values)), values)
    present = values > 0
    for i in np.flatnonzero(~present):
        t.clear(int(i))
    total = t.total
    assert total == values.sum()
    rng = np.random.default_rng(seed)
    # integer masses hit every boundary exactly; random ones fall in between
    mass = np.concatenate([np.arange(int(total)), rng.random(40) * total, [total, 2 * total]])
    got = t.find_many(mass)
    assert got.tolist() == [t.find(float(x)) for x in mass]
    assert got.tolist() == [reference_find(values, float(x)) for x in mass]
    assert np.all(values[got] > 0)


def test_find_never_returns_an_empty_leaf_past_the_total():
    t = _testing.SumTree(10)
    t.set_many(np.array([2, 5]), np.array([0.1, 0.2]))
    for leaf in (0, 1, 3, 4, 6, 7, 8, 9):
        t.clear(leaf)
    past = np.array([t.total, np.nextafter(t.total, np.inf), 1e9])
    assert t.find_many(past).tolist() == [5, 5, 5]


def test_bad_leaves_raise():
    t = _testing.SumTree(4)
    with pytest.raises(ValueError, match="leaf"):
        t.set_many(np.array([4]), np.array([1.0]))
    with pytest.raises(ValueError, match="leaf"):
        t.set(-1, 1.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 1e3), min_size=1, max_size=200), st.integers(0, 2**32 - 1))
def test_find_many_with_rounding(floats, seed):
    """Inexact sums: batched and single descents agree, never return an empty leaf, and land
    where the prefix sums (up to rounding) say."""
    values = np.array(floats)
    values[values < 1e-3] = 0.0
    if not values.any():
        values[0] = 0.5
    t = _testing.SumTree(len(values))
    for i in np.flatnonzero(values):
        t.set(int(i), float(values[i]))
    total = t.total
    rng = np.random.default_rng(seed)
    mass = np.concatenate([rng.random(64) * total, np.nextafter(total, 0) - rng.random(4) * total * 1e-15])
    got = t.find_many(mass)
    assert got.tolist() == [t.find(float(x)) for x in mass]
    assert np.all(values[got] > 0)
    prefix = np.concatenate([[0.0], np.cumsum(values)])
    tol = 1e-9 * total
    assert np.all(prefix[got] <= mass + tol) and np.all(mass < prefix[got + 1] + tol)
