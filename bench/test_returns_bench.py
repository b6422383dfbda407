"""pytest-benchmark suite for fastrl.returns beside its peers on one (2048, 64) float32 rollout.

Run with ``pytest bench/test_returns_bench.py``; compare groups with ``--benchmark-group-by=group``.
The peers are the ones ``fastrl bench returns`` prints side by side.
"""

import numpy as np
import pytest

from fastrl import returns as R
from fastrl.benchmarks.returns import (
    discounted_lfilter,
    discounted_loop,
    gae_loop,
    make_rollout,
)

GAMMA, LAM = 0.99, 0.95


@pytest.fixture(scope="module")
def rollout():
    d = make_rollout(2048, 64, np.float32)
    d["not_term"] = (~d["terminated"]).astype(np.float32)
    d["not_trunc"] = (~d["truncated"]).astype(np.float32)
    return d


def _gae_args(d):
    return d["rewards"], d["values"], d["next_values"], d["terminated"], d["truncated"]


@pytest.mark.benchmark(group="gae")
def test_gae_fastrl(benchmark, rollout):
    adv, _ = benchmark(R.gae, *_gae_args(rollout), GAMMA, LAM)
    ref, _ = gae_loop(rollout["rewards"], rollout["values"], rollout["next_values"], rollout["not_term"],
                      rollout["not_trunc"], np.float32(GAMMA), np.float32(LAM))
    np.testing.assert_allclose(adv, ref, rtol=1e-3, atol=1e-3)


@pytest.mark.benchmark(group="gae")
def test_gae_sb3_numpy_loop(benchmark, rollout):
    d = rollout
    benchmark(gae_loop, d["rewards"], d["values"], d["next_values"], d["not_term"], d["not_trunc"],
              np.float32(GAMMA), np.float32(LAM))


@pytest.mark.benchmark(group="gae")
def test_gae_torch_loop(benchmark, rollout):
    torch = pytest.importorskip("torch")
    d = rollout
    args = [torch.from_numpy(d[k]) for k in ("rewards", "values", "next_values", "not_term", "not_trunc")]
    benchmark(gae_loop, *args, GAMMA, LAM, torch)


@pytest.mark.benchmark(group="discounted")
def test_discounted_fastrl(benchmark, rollout):
    d = rollout
    benchmark(R.discounted_returns, d["rewards"], d["terminated"], d["truncated"], d["next_values"], GAMMA)


@pytest.mark.benchmark(group="discounted")
def test_discounted_lfilter_per_episode(benchmark, rollout):
    signal = pytest.importorskip("scipy.signal")
    d = rollout
    out = benchmark(discounted_lfilter, d["rewards"], d["next_values"], d["terminated"], d["truncated"], GAMMA,
                    signal.lfilter)
    expected = R.discounted_returns(d["rewards"], d["terminated"], d["truncated"], d["next_values"], GAMMA)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3)


@pytest.mark.benchmark(group="discounted")
def test_discounted_numpy_loop(benchmark, rollout):
    d = rollout
    benchmark(discounted_loop, d["rewards"], d["next_values"], d["not_term"], d["not_trunc"],
              np.float32(GAMMA))


@pytest.mark.benchmark(group="nstep")
def test_nstep_fastrl(benchmark, rollout):
    d = rollout
    benchmark(R.nstep_returns, d["rewards"], d["next_values"], d["terminated"], d["truncated"], GAMMA, 5)


@pytest.mark.benchmark(group="lambda")
def test_lambda_fastrl(benchmark, rollout):
    d = rollout
    benchmark(R.lambda_returns, d["rewards"], d["next_values"], d["terminated"], d["truncated"], GAMMA, LAM)
