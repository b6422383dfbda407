"""fastrl.returns: hand-computed cases, slow Python references (bit-exact, same operation order and
dtype), identities between the kernels, lfilter, parallel == serial, layouts, torch, bad input."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from fastrl import returns as R
from fastrl.returns import ArgumentTypeError, discounted_returns, gae, lambda_returns, nstep_returns

DTYPES = (np.float32, np.float64)


# ------------------------------------------------------------------ slow references, one env at a time
# Written from the formulas with numpy scalars of the input dtype, so every operation rounds as in the
# kernels; flags enter as (1 - flag) multiplications, exactly as the formulas read.


def _cols(*arrays):
    """Yield the per-env columns of (T,) or (T, N) arrays."""
    if arrays[0].ndim == 1:
        yield arrays
        return
    for n in range(arrays[0].shape[1]):
        yield tuple(a[:, n] for a in arrays)


def _stack(columns, like):
    return np.stack(columns, axis=1) if like.ndim == 2 else columns[0]


def ref_discounted(r, term, trunc, nv, gamma):
    dt = r.dtype.type
    g, one = dt(gamma), dt(1)
    cols = []
    for rc, tc, uc, vc in _cols(r, term.astype(r.dtype), trunc.astype(r.dtype), nv):
        T = len(rc)
        out = np.empty(T, r.dtype)
        for t in reversed(range(T)):
            nxt = vc[t] if (uc[t] or t == T - 1) else out[t + 1]
            out[t] = rc[t] + g * (one - tc[t]) * nxt
        cols.append(out)
    return _stack(cols, r)


def ref_gae(r, v, nv, term, trunc, gamma, lam):
    dt = r.dtype.type
    g, lm, one = dt(gamma), dt(lam), dt(1)
    adv_cols, ret_cols = [], []
    for rc, vc, nc, tc, uc in _cols(r, v, nv, term.astype(r.dtype), trunc.astype(r.dtype)):
        T = len(rc)
        adv = np.empty(T, r.dtype)
        a_next = dt(0)
        for t in reversed(range(T)):
            delta = rc[t] + g * (one - tc[t]) * nc[t] - vc[t]
            a_next = delta + g * lm * (one - tc[t]) * (one - uc[t]) * a_next
            adv[t] = a_next
        adv_cols.append(adv)
        ret_cols.append(adv + vc)
    return _stack(adv_cols, r), _stack(ret_cols, r)


def ref_lambda(r, nv, term, trunc, gamma, lam):
    dt = r.dtype.type
    g, lm, one = dt(gamma), dt(lam), dt(1)
    cols = []
    for rc, vc, tc, uc in _cols(r, nv, term.astype(r.dtype), trunc.astype(r.dtype)):
        T = len(rc)
        out = np.empty(T, r.dtype)
        for t in reversed(range(T)):
            nxt = vc[t] if (uc[t] or t == T - 1) else (one - lm) * vc[t] + lm * out[t + 1]
            out[t] = rc[t] + g * (one - tc[t]) * nxt
        cols.append(out)
    return _stack(cols, r)


def ref_nstep(r, nv, term, trunc, gamma, n):
    dt = r.dtype.type
    g = dt(gamma)
    cols = []
    for rc, vc, tc, uc in _cols(r, nv, term, trunc):
        T = len(rc)
        out = np.empty(T, r.dtype)
        for t in range(T):
            acc, disc = dt(0), dt(1)
            for i in range(min(n, T - t)):
                s = t + i
                acc = acc + disc * rc[s]
                disc = disc * g
                if tc[s]:
                    break
                if uc[s] or i == n - 1 or s == T - 1:
                    acc = acc + disc * vc[s]
                    break
            out[t] = acc
        cols.append(out)
    return _stack(cols, r)


def rollout(shape, dtype, seed=0, p_term=0.08, p_trunc=0.05):
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(shape).astype(dtype)
    v = rng.standard_normal(shape).astype(dtype)
    nv = rng.standard_normal(shape).astype(dtype)
    term = rng.random(shape) < p_term
    trunc = rng.random(shape) < p_trunc  # sometimes together with term: term wins
    return r, v, nv, term, trunc


# ------------------------------------------------------------------ hand-computed cases


def test_discounted_hand_computed():
    r = np.array([1.0, 1.0, 1.0])
    nv = np.array([4.0, 0.0, 10.0])
    no = np.zeros(3, bool)
    np.testing.assert_array_equal(discounted_returns(r, no, no, nv, 0.5), [3.0, 4.0, 6.0])
    term1 = np.array([False, True, False])
    np.testing.assert_array_equal(discounted_returns(r, term1, no, nv, 0.5), [1.5, 1.0, 6.0])
    trunc0 = np.array([True, False, False])
    np.testing.assert_array_equal(discounted_returns(r, no, trunc0, nv, 0.5), [3.0, 4.0, 6.0])
    nv0 = np.array([8.0, 0.0, 10.0])
    np.testing.assert_array_equal(discounted_returns(r, no, trunc0, nv0, 0.5), [5.0, 4.0, 6.0])


def test_gae_hand_computed():
    r = np.array([1.0, 0.0, 2.0])
    v = np.array([0.5, 1.0, 1.0])
    nv = np.array([1.0, 2.0, 4.0])
    no = np.zeros(3, bool)
    # gamma 0.5, lam 0.5: deltas 1 + 0.5 - 0.5 = 1, 0 + 1 - 1 = 0, 2 + 2 - 1 = 3
    adv, ret = gae(r, v, nv, no, no, 0.5, 0.5)
    np.testing.assert_array_equal(adv, [1.1875, 0.75, 3.0])
    np.testing.assert_array_equal(ret, adv + v)
    term = np.array([False, True, False])  # delta_1 = 0 - 1 = -1, A_1 = -1
    adv, _ = gae(r, v, nv, term, no, 0.5, 0.5)
    np.testing.assert_array_equal(adv, [0.75, -1.0, 3.0])
    trunc = np.array([False, True, False])  # delta_1 = 0, A_1 = 0: the recursion stops
    adv, _ = gae(r, v, nv, no, trunc, 0.5, 0.5)
    np.testing.assert_array_equal(adv, [1.0, 0.0, 3.0])


def test_nstep_hand_computed():
    r = np.array([1.0, 2.0, 3.0, 4.0])
    nv = np.array([10.0, 20.0, 30.0, 40.0])
    no = np.zeros(4, bool)
    np.testing.assert_array_equal(nstep_returns(r, nv, no, no, 0.5, 2), [7.0, 11.0, 15.0, 24.0])
    term1 = np.array([False, True, False, False])
    np.testing.assert_array_equal(nstep_returns(r, nv, term1, no, 0.5, 2), [2.0, 2.0, 15.0, 24.0])
    np.testing.assert_array_equal(nstep_returns(r, nv, no, term1, 0.5, 2), [7.0, 12.0, 15.0, 24.0])
    np.testing.assert_array_equal(nstep_returns(r, nv, no, no, 0.5, 1), r + 0.5 * nv)


def test_lambda_hand_computed():
    r = np.array([1.0, 1.0, 1.0])
    nv = np.array([2.0, 4.0, 10.0])
    no = np.zeros(3, bool)
    # G_2 = 6, G_1 = 1 + 0.5 * (0.5 * 4 + 0.5 * 6) = 3.5, G_0 = 1 + 0.5 * (0.5 * 2 + 0.5 * 3.5) = 2.375
    np.testing.assert_array_equal(lambda_returns(r, nv, no, no, 0.5, 0.5), [2.375, 3.5, 6.0])


# ------------------------------------------------------------------ slow references, bit for bit


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(37,), (29, 6)])
def test_against_references_bit_exact(dtype, shape):
    r, v, nv, term, trunc = rollout(shape, dtype, seed=len(shape))
    gamma, lam = 0.97, 0.9
    out = discounted_returns(r, term, trunc, nv, gamma)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(out, ref_discounted(r, term, trunc, nv, gamma))
    adv, ret = gae(r, v, nv, term, trunc, gamma, lam)
    ref_adv, ref_ret = ref_gae(r, v, nv, term, trunc, gamma, lam)
    assert adv.dtype == ret.dtype == dtype and adv.shape == ret.shape == shape
    np.testing.assert_array_equal(adv, ref_adv)
    np.testing.assert_array_equal(ret, ref_ret)
    out = lambda_returns(r, nv, term, trunc, gamma, lam)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, ref_lambda(r, nv, term, trunc, gamma, lam))
    for n in (1, 3, 50):
        out = nstep_returns(r, nv, term, trunc, gamma, n)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, ref_nstep(r, nv, term, trunc, gamma, n))


@pytest.mark.parametrize("dtype", DTYPES)
def test_float32_accumulates_in_float32_close_to_float64(dtype):
    # the float32 results are the float64 results rounded along the way, not something else
    r, v, nv, term, trunc = rollout((200, 4), np.float64, seed=3, p_term=0.005, p_trunc=0.0)
    exact = gae(r, v, nv, term, trunc, 0.99, 0.95)[0]
    got = gae(*(a.astype(dtype) for a in (r, v, nv)), term, trunc, 0.99, 0.95)[0]
    np.testing.assert_allclose(got, exact, rtol=1e-4 if dtype == np.float32 else 1e-14, atol=1e-4)


def test_discounted_equals_lfilter_on_one_episode():
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(4)
    r = rng.standard_normal(300)
    term = np.zeros(300, bool)
    term[-1] = True
    got = discounted_returns(r, term, np.zeros(300, bool), np.full(300, np.nan), 0.99)
    expected = signal.lfilter([1.0], [1.0, -0.99], r[::-1])[::-1]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_discounted_equals_closed_form_sums():
    rng = np.random.default_rng(5)
    r = rng.standard_normal(120)
    nv = rng.standard_normal(120)
    term = np.zeros(120, bool)
    term[59] = True
    gamma = 0.95
    got = discounted_returns(r, term, np.zeros(120, bool), nv, gamma)
    expected = np.empty(120)
    for t in range(120):
        end = 60 if t < 60 else 120  # first episode ends by termination, the second by the rollout
        k = np.arange(end - t)
        expected[t] = np.sum(gamma**k * r[t:end]) + (gamma ** (end - t) * nv[119] if end == 120 else 0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ identities between the kernels


def test_gae_returns_equal_lambda_returns_when_values_chain():
    # with next_values[t] == values[t + 1] inside episodes, GAE's A + V is the lambda-return
    r, v, nv, term, trunc = rollout((80, 5), np.float64, seed=6)
    ends = term | trunc
    nv[:-1] = np.where(ends[:-1], nv[:-1], v[1:])
    _, ret = gae(r, v, nv, term, trunc, 0.9, 0.7)
    np.testing.assert_allclose(ret, lambda_returns(r, nv, term, trunc, 0.9, 0.7), rtol=1e-12, atol=1e-12)
    # lam = 1: both are the discounted return
    _, ret1 = gae(r, v, nv, term, trunc, 0.9, 1.0)
    disc = discounted_returns(r, term, trunc, nv, 0.9)
    np.testing.assert_allclose(ret1, disc, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(lambda_returns(r, nv, term, trunc, 0.9, 1.0), disc)


def test_lambda_zero_and_nstep_one_are_td_targets():
    r, _, nv, term, trunc = rollout((40, 3), np.float32, seed=7)
    td = np.where(term, r, r + np.float32(0.9) * nv)
    np.testing.assert_array_equal(lambda_returns(r, nv, term, trunc, 0.9, 0.0), td)
    np.testing.assert_array_equal(nstep_returns(r, nv, term, trunc, 0.9, 1), td)


def test_nstep_with_long_window_equals_discounted():
    r, _, nv, term, trunc = rollout((60, 4), np.float64, seed=8)
    np.testing.assert_allclose(
        nstep_returns(r, nv, term, trunc, 0.9, 1000), discounted_returns(r, term, trunc, nv, 0.9), rtol=1e-12
    )


def test_next_values_not_read_where_terminated():
    r, v, nv, term, trunc = rollout((30, 3), np.float32, seed=9)
    poisoned = np.where(term, np.float32(np.nan), nv)
    for f, args in [
        (discounted_returns, lambda x: (r, term, trunc, x, 0.9)),
        (lambda_returns, lambda x: (r, x, term, trunc, 0.9, 0.8)),
        (nstep_returns, lambda x: (r, x, term, trunc, 0.9, 4)),
        (lambda *a: gae(*a)[0], lambda x: (r, v, x, term, trunc, 0.9, 0.8)),
    ]:
        np.testing.assert_array_equal(f(*args(poisoned)), f(*args(nv)))


def test_gamma_and_lam_are_rounded_to_the_input_dtype():
    r, _, nv, term, trunc = rollout((20,), np.float32, seed=10)
    np.testing.assert_array_equal(
        discounted_returns(r, term, trunc, nv, 0.99), discounted_returns(r, term, trunc, nv, np.float32(0.99))
    )


# ------------------------------------------------------------------ flags, layouts, empty input


def test_flags_as_numbers():
    r, v, nv, term, trunc = rollout((25, 3), np.float64, seed=11)
    expected = gae(r, v, nv, term, trunc, 0.9, 0.9)
    for dtype in (np.uint8, np.int64, np.float32, np.float64):
        got = gae(r, v, nv, term.astype(dtype), trunc.astype(dtype), 0.9, 0.9)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    got = discounted_returns(r[:, 0].tolist(), term[:, 0].tolist(), trunc[:, 0].astype(int).tolist(), nv[:, 0], 0.9)
    np.testing.assert_array_equal(got, discounted_returns(r[:, 0], term[:, 0], trunc[:, 0], nv[:, 0], 0.9))


@pytest.mark.parametrize("dtype", DTYPES)
def test_any_memory_layout(dtype):
    r, v, nv, term, trunc = rollout((31, 9), dtype, seed=12)
    expected = gae(r, v, nv, term, trunc, 0.95, 0.9)
    big = np.zeros((62, 18), dtype)
    big[::2, ::2] = r
    layouts = [
        (np.asfortranarray(r), np.asfortranarray(v), nv, np.asfortranarray(term), trunc),
        (big[::2, ::2], v, nv, term, trunc),  # strided view
        (r[::-1][::-1], v[:, ::-1][:, ::-1], nv, term[::-1, ::-1][::-1, ::-1], trunc),  # negative strides
    ]
    for args in layouts:
        got = gae(*args, 0.95, 0.9)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    rev = r[::-1]  # a negative-stride view is a different rollout: compare with its copy
    np.testing.assert_array_equal(
        discounted_returns(rev, term, trunc, nv, 0.9), discounted_returns(rev.copy(), term, trunc, nv, 0.9)
    )
    # zero strides (broadcast, read-only) and read-only arrays
    zeros = np.broadcast_to(dtype(0), r.shape)
    np.testing.assert_array_equal(
        discounted_returns(r, term, trunc, zeros, 0.9), discounted_returns(r, term, trunc, np.zeros_like(r), 0.9)
    )
    ro = r.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(
        discounted_returns(ro, term, trunc, nv, 0.9), discounted_returns(r, term, trunc, nv, 0.9)
    )


def test_empty_rollouts():
    for shape in [(0,), (0, 4), (5, 0)]:
        z = np.zeros(shape, np.float32)
        f = np.zeros(shape, bool)
        assert discounted_returns(z, f, f, z, 0.9).shape == shape
        adv, ret = gae(z, z, z, f, f, 0.9, 0.9)
        assert adv.shape == ret.shape == shape and adv.dtype == np.float32
        assert nstep_returns(z, z, f, f, 0.9, 3).shape == shape
        assert lambda_returns(z, z, f, f, 0.9, 0.9).shape == shape


# ------------------------------------------------------------------ parallel == serial, threads, fork


@pytest.fixture
def force_parallel(monkeypatch):
    """Run the parallel drivers even on small inputs and one thread, in uneven chunks of 16 envs
    (while ``calls.parallel`` is true); ``calls`` records (kernel, chunk) of each launch."""

    class Calls(list):
        parallel = True

    calls = Calls()
    monkeypatch.setattr(R, "_chunk_envs", lambda T, N: 16 if N > 16 and calls.parallel else 0)
    launch = R._launch

    def spy(name, dtype, args):
        calls.append((name, R._chunk_envs(*args[0].shape)))
        launch(name, dtype, args)

    monkeypatch.setattr(R, "_launch", spy)
    return calls


@pytest.mark.parametrize("dtype", DTYPES)
def test_parallel_equals_serial(dtype, force_parallel):
    r, v, nv, term, trunc = rollout((40, 70), dtype, seed=13)

    def run_all():
        return (
            discounted_returns(r, term, trunc, nv, 0.97),
            *gae(r, v, nv, term, trunc, 0.97, 0.9),
            lambda_returns(r, nv, term, trunc, 0.97, 0.9),
            nstep_returns(r, nv, term, trunc, 0.97, 5),
        )

    force_parallel.parallel = False
    serial = run_all()
    force_parallel.parallel = True
    parallel = run_all()
    kernels = ["discounted", "gae", "lambda", "nstep"]
    assert force_parallel == [(k, 0) for k in kernels] + [(k, 16) for k in kernels]
    reference = (
        ref_discounted(r, term, trunc, nv, 0.97),
        *ref_gae(r, v, nv, term, trunc, 0.97, 0.9),
        ref_lambda(r, nv, term, trunc, 0.97, 0.9),
        ref_nstep(r, nv, term, trunc, 0.97, 5),
    )
    for p, s, ref in zip(parallel, serial, reference, strict=True):
        np.testing.assert_array_equal(p, s)
        np.testing.assert_array_equal(p, ref)


def test_chunking_rule():
    assert R._chunk_envs(2048, 64) == 0  # one SIMD loop wins at this size (measured)
    threads = R.numba.get_num_threads()
    chunk = R._chunk_envs(256, 4096)
    if threads < 2:
        assert chunk == 0
    else:
        assert chunk % 16 == 0 and chunk >= R._MIN_CHUNK_ENVS and -(-4096 // chunk) <= threads


def test_concurrent_calls_from_threads(force_parallel):
    # a second thread finding the pool busy runs serially; everyone gets the same bits
    r, v, nv, term, trunc = rollout((64, 48), np.float32, seed=14)
    expected = gae(r, v, nv, term, trunc, 0.99, 0.95)[0]
    results = []

    def work():
        for _ in range(20):
            results.append(gae(r, v, nv, term, trunc, 0.99, 0.95)[0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80
    for got in results:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_after_parallel_use_runs_serially(force_parallel):
    r, _, nv, term, trunc = rollout((32, 40), np.float64, seed=15)
    expected = discounted_returns(r, term, trunc, nv, 0.9)  # the parent uses the pool
    assert R._pool_state["used"]
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 1
        try:
            ok = not R._pool_state["usable"] and np.array_equal(discounted_returns(r, term, trunc, nv, 0.9), expected)
            code = 0 if ok else 2
        finally:
            os.write(write_fd, bytes([code]))
            os._exit(0)
    os.close(write_fd)
    status = os.read(read_fd, 1)
    os.close(read_fd)
    os.waitpid(pid, 0)
    assert status == b"\x00"


# ------------------------------------------------------------------ torch


def test_torch_tensors_in_tensors_out():
    torch = pytest.importorskip("torch")
    r, v, nv, term, trunc = rollout((30, 4), np.float32, seed=16)
    expected = gae(r, v, nv, term, trunc, 0.99, 0.95)
    tv = torch.from_numpy(v).requires_grad_(True)  # values straight from a critic
    adv, ret = gae(torch.from_numpy(r), tv, torch.from_numpy(nv), torch.from_numpy(term), torch.from_numpy(trunc),
                   0.99, 0.95)
    assert isinstance(adv, torch.Tensor) and adv.dtype == torch.float32 and not adv.requires_grad
    np.testing.assert_array_equal(adv.numpy(), expected[0])
    np.testing.assert_array_equal(ret.numpy(), expected[1])
    out = nstep_returns(torch.from_numpy(r[:, 0]).double(), nv[:, 0].astype(np.float64),
                        torch.from_numpy(term[:, 0]).float(), trunc[:, 0], torch.tensor(0.9, dtype=torch.float64), 3)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.shape == (30,)
    np.testing.assert_array_equal(
        out.numpy(), nstep_returns(r[:, 0].astype(np.float64), nv[:, 0].astype(np.float64), term[:, 0],
                                   trunc[:, 0], 0.9, 3)
    )
    with pytest.raises(ArgumentTypeError, match="rewards"):
        discounted_returns(torch.from_numpy(r).half(), term, trunc, nv, 0.9)


@pytest.mark.cuda
def test_cuda_tensors_round_trip():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    r, v, nv, term, trunc = rollout((30, 4), np.float32, seed=17)
    cuda = [torch.from_numpy(a).cuda() for a in (r, v, nv, term, trunc)]
    adv, _ = gae(*cuda, 0.99, 0.95)
    assert adv.device.type == "cuda"
    np.testing.assert_array_equal(adv.cpu().numpy(), gae(r, v, nv, term, trunc, 0.99, 0.95)[0])
    with pytest.raises(ValueError, match="device"):
        gae(cuda[0], torch.from_numpy(v), *cuda[2:], 0.99, 0.95)


def test_lazy_compilation_and_no_torch_import(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "import fastrl.returns as R\n"
        "print(sum(len(k.signatures) for k in (*R._BLOCKS.values(), *R._PARALLEL.values())))\n"
        "z = np.zeros((4, 2), np.float32)\n"
        "R.gae(z, z, z, z != 0, z != 0, 0.9, 0.9)\n"
        "print('torch' in sys.modules)\n"
    )
    # cwd outside the source tree, so the subprocess imports the installed package
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    assert out.stdout.split() == ["0", "False"]


# ------------------------------------------------------------------ bad input


def _good(shape=(6, 2)):
    r, v, nv, term, trunc = rollout(shape, np.float32, seed=18)
    return r, v, nv, term, trunc


def test_bad_shapes():
    r, v, nv, term, trunc = _good()
    with pytest.raises(ValueError, match="next_values"):
        discounted_returns(r, term, trunc, nv[:5], 0.9)
    with pytest.raises(ValueError, match="terminated"):
        gae(r, v, nv, term.T, trunc, 0.9, 0.9)
    with pytest.raises(ValueError, match="truncated"):
        nstep_returns(r, nv, term, trunc[:, 0], 0.9, 2)
    with pytest.raises(ValueError, match="rewards"):
        lambda_returns(r[..., None], nv, term, trunc, 0.9, 0.9)
    with pytest.raises(ValueError, match="rewards"):
        discounted_returns(np.float32(1.0), term, trunc, nv, 0.9)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf")])
def test_bad_gamma_and_lam_values(bad):
    r, v, nv, term, trunc = _good()
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns(r, term, trunc, nv, bad)
    with pytest.raises(ValueError, match="lam"):
        gae(r, v, nv, term, trunc, 0.9, bad)
    with pytest.raises(ValueError, match="lam"):
        lambda_returns(r, nv, term, trunc, 0.9, bad)


@pytest.mark.parametrize("bad", ["0.9", True, None, np.array([0.9, 0.9]), 1j])
def test_bad_gamma_types(bad):
    r, _, nv, term, trunc = _good()
    with pytest.raises(ArgumentTypeError, match="gamma"):
        nstep_returns(r, nv, term, trunc, bad, 2)


def test_bad_n():
    r, _, nv, term, trunc = _good()
    with pytest.raises(ValueError, match="n must be >= 1"):
        nstep_returns(r, nv, term, trunc, 0.9, 0)
    for bad in (1.5, True, "3"):
        with pytest.raises(ArgumentTypeError, match="n must be an int"):
            nstep_returns(r, nv, term, trunc, 0.9, bad)
    assert nstep_returns(r, nv, term, trunc, 0.9, np.int64(2)).shape == r.shape


def test_bad_dtypes():
    r, v, nv, term, trunc = _good()
    with pytest.raises(ArgumentTypeError, match="values has dtype float64 but rewards has dtype float32"):
        gae(r, v.astype(np.float64), nv, term, trunc, 0.9, 0.9)
    for bad in (r.astype(np.int64), r.astype(np.float16), r.astype(bool), np.array([["a"]] * 6 * 2).reshape(6, 2)):
        with pytest.raises(ArgumentTypeError, match="rewards"):
            discounted_returns(bad, term, trunc, nv, 0.9)
    with pytest.raises(ArgumentTypeError, match="next_values"):
        discounted_returns(r, term, trunc, None, 0.9)
    with pytest.raises(ArgumentTypeError, match="terminated"):
        discounted_returns(r, term.astype(complex), trunc, nv, 0.9)
    with pytest.raises(ValueError, match="truncated must hold only 0 and 1"):
        discounted_returns(r, term, trunc.astype(np.int8) * 2, nv, 0.9)
    with pytest.raises(ValueError, match="terminated must hold only 0 and 1"):
        discounted_returns(r, np.where(term, np.nan, 0.0), trunc, nv, 0.9)
    # an ArgumentTypeError is both a TypeError and a ValueError
    with pytest.raises(TypeError):
        discounted_returns(r.astype(np.int32), term, trunc, nv, 0.9)
    with pytest.raises(ValueError):
        discounted_returns(r.astype(np.int32), term, trunc, nv, 0.9)
