"""fastrl.ReplayBuffer API edges: bad input for every argument (the buffer stays usable), out=,
as_torch / pinned memory, capacity MemoryError, concurrent threads."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import fastrl


def small(num_envs=2, **kw):
    return fastrl.ReplayBuffer(16, (3,), np.float32, action_shape=(2,), action_dtype=np.int32, num_envs=num_envs,
                               seed=0, **kw)


def good_args(n=2):
    o = np.zeros((n, 3), np.float32)
    return dict(obs=o, action=np.zeros((n, 2), np.int32), reward=np.ones(n), next_obs=o + 1,
                terminated=np.zeros(n, bool), truncated=np.zeros(n, bool))


BAD_ADDS = [
    ("obs", np.zeros((2, 3), np.float64), TypeError),
    ("obs", np.zeros((2, 4), np.float32), ValueError),
    ("obs", np.zeros((3,), np.float32), ValueError),
    ("obs", [[0.0, 0.0, 0.0]] * 2, TypeError),
    ("next_obs", np.zeros((2, 3), np.float32).astype(">f4"), TypeError),
    ("next_obs", np.zeros((1, 3), np.float32), ValueError),
    ("action", np.zeros((2, 2), np.int64), TypeError),
    ("action", np.zeros((2,), np.int32), ValueError),
    ("reward", np.ones(3), ValueError),
    ("reward", np.array(["a", "b"]), TypeError),
    ("reward", 1.0, ValueError),
    ("terminated", np.zeros(2, np.float32), TypeError),
    ("terminated", np.array([0, 2]), ValueError),
    ("truncated", np.zeros(3, bool), ValueError),
    ("mask", np.array([1, 5]), ValueError),
    ("mask", np.zeros(1, bool), ValueError),
]


@pytest.mark.parametrize(("name", "value", "error"), BAD_ADDS)
def test_bad_add_arguments(name, value, error):
    buf = small()
    buf.add(**good_args())
    before = buf.state_dict()
    with pytest.raises(error, match=name):
        buf.add(**{**good_args(), name: value})
    after = buf.state_dict()
    assert after["write_count"] == before["write_count"]
    np.testing.assert_array_equal(after["heads"], before["heads"])
    buf.add(**good_args())  # still usable
    assert len(buf) == 4


def test_non_contiguous_inputs_are_accepted():
    buf = small()
    args = good_args()
    wide = np.zeros((2, 6), np.float32)
    args["obs"] = wide[:, ::2]
    buf.add(**args)
    assert len(buf) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"capacity": 0}, ValueError, "capacity"),
        ({"capacity": 2.5}, TypeError, "capacity"),
        ({"capacity": 2**31}, ValueError, "capacity"),
        ({"obs_shape": (0,)}, ValueError, "obs_shape"),
        ({"obs_shape": "ab"}, ValueError, "obs_shape"),
        ({"obs_dtype": object}, TypeError, "obs_dtype"),
        ({"action_dtype": "U3"}, TypeError, "action_dtype"),
        ({"num_envs": 0}, ValueError, "num_envs"),
        ({"n_step": 0}, ValueError, "n_step"),
        ({"gamma": 1.5}, ValueError, "gamma"),
        ({"gamma": -0.1}, ValueError, "gamma"),
        ({"gamma": float("nan")}, ValueError, "gamma"),
        ({"frame_stack": 0}, ValueError, "frame_stack"),
        ({"frame_stack": 4}, ValueError, "frame_stack"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, name):
    args = {"capacity": 10, "obs_shape": (3,)} | kwargs
    with pytest.raises(error, match=name):
        fastrl.ReplayBuffer(**args)


def test_capacity_too_big_is_memory_error():
    with pytest.raises(MemoryError, match="capacity"):
        fastrl.ReplayBuffer(2**31 - 1, (1000, 1000), np.uint8)


def test_bad_batch_size():
    buf = small()
    with pytest.raises(ValueError, match="batch_size"):
        buf.sample(1)  # empty
    buf.add(**good_args())
    for bad in (0, -3, 3):
        with pytest.raises(ValueError, match="batch_size"):
            buf.sample(bad)
    for bad in (10**20, -(2**70)):
        with pytest.raises(ValueError, match="batch_size"):
            buf.sample(bad)
    for bad in (1.5, None, "2", np.array([1, 2]), np.zeros((2, 2))):
        with pytest.raises(TypeError, match="batch_size"):
            buf.sample(bad)
    assert buf.sample(np.array(2)).obs.shape == (2, 3)
    assert buf.sample(2).obs.shape == (2, 3)


def test_sample_out():
    buf = small()
    for _ in range(5):
        buf.add(**good_args())
    out = fastrl.Batch(np.empty((4, 3), np.float32), np.empty((4, 2), np.int32), np.empty(4, np.float32),
                       np.empty((4, 3), np.float32), np.empty(4, np.float32), np.empty(4, np.int64),
                       np.empty(4, np.float32))
    b = buf.sample(4, out=out)
    assert all(x is y for x, y in zip(b, out, strict=True))
    np.testing.assert_array_equal(out.next_obs, out.obs + 1)
    bad = out._replace(obs=np.empty((4, 3), np.float64))
    with pytest.raises(TypeError, match="out.obs"):
        buf.sample(4, out=bad)
    with pytest.raises(ValueError, match="out.reward"):
        buf.sample(4, out=out._replace(reward=np.empty(5, np.float32)))
    with pytest.raises(ValueError, match="out.action"):
        buf.sample(4, out=out._replace(action=np.empty((2, 4), np.int32).T))
    with pytest.raises(TypeError, match="out"):
        buf.sample(4, out=object())


def test_as_torch():
    torch = pytest.importorskip("torch")
    buf = small()
    for _ in range(5):
        buf.add(**good_args())
    b = buf.sample(4, as_torch=True, pin_memory=False)
    assert isinstance(b.obs, torch.Tensor) and b.obs.dtype == torch.float32 and b.action.dtype == torch.int32
    assert torch.equal(b.next_obs, b.obs + 1)
    moved = b.to("cpu")
    assert torch.equal(moved.obs, b.obs)
    with pytest.raises(TypeError, match="as_torch"):
        buf.sample(4).to("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="pin_memory"):
            buf.sample(4, as_torch=True, pin_memory=True)


@pytest.mark.cuda
def test_as_torch_pinned_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    buf = small()
    for _ in range(5):
        buf.add(**good_args())
    b = buf.sample(4, as_torch=True)
    assert all(x.is_pinned() for x in b)
    g = b.to("cuda")
    assert g.obs.is_cuda and torch.equal(g.obs.cpu(), b.obs)


def test_import_does_not_pull_torch(tmp_path):
    import subprocess
    import sys

    code = "import sys, fastrl.replay; print('torch' in sys.modules)"
    # cwd outside the source tree: `python -c` puts the cwd first on sys.path
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("prioritized", [False, True])
def test_one_writer_many_readers(prioritized):
    cls = fastrl.PrioritizedReplayBuffer if prioritized else fastrl.ReplayBuffer
    n, dim = 4, 512  # large enough rows that add/sample release the GIL
    buf = cls(300, (dim,), np.float32, num_envs=n, n_step=3, seed=0)
    errors, sampled = [], []
    stop, first_sample = threading.Event(), threading.Event()

    def add_all(target, pause):
        for t in range(400):
            # obs encodes (t, env): every row of a transition is derivable from its first value
            o = (np.arange(n, dtype=np.float32)[:, None] + 10 * t) * np.ones((1, dim), np.float32)
            target.add(o, np.full(n, t), np.ones(n), o + 10, np.arange(n) == t % 7, np.zeros(n, bool))
            if pause and t % 50 == 0:
                time.sleep(0.001)  # let the readers in
            if pause and t == 100:
                first_sample.wait(timeout=30)  # on a busy machine: make sure reads overlap the writes

    def writer():
        try:
            add_all(buf, True)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
        finally:
            stop.set()

    def reader():
        try:
            while not stop.is_set():
                if len(buf) < 16:
                    continue
                b = buf.sample(16)
                sampled.append(len(b.indices))
                first_sample.set()
                t = b.action
                env = b.obs[:, 0] - 10 * t
                assert np.all((env >= 0) & (env < n))
                assert np.all(b.obs == b.obs[:, :1])
                steps = np.round((b.next_obs[:, 0] - b.obs[:, 0]) / 10)
                assert np.all((steps >= 1) & (steps <= 3))
                assert np.all(b.next_obs == b.next_obs[:, :1])
                if prioritized:
                    buf.update_priorities(b.indices, np.abs(b.reward))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]
    assert sum(sampled) > 0
    # the contents equal those of the same adds made by one thread alone
    serial = cls(300, (dim,), np.float32, num_envs=n, n_step=3, seed=0)
    add_all(serial, False)
    a, b = buf.state_dict(), serial.state_dict()
    for key in a:
        if key not in ("rng_state", "priorities", "max_priority", "config"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_sample_call_shapes():
    """sample is a C++ method with a fast path for plain calls; every call shape gives the same
    batch as the plain one from the same RNG state, and anything unusual still gets a clear error."""
    import inspect

    def batches(cls, calls):
        out = []
        for call in calls:
            buf = cls(16, (3,), np.float32, (2,), np.int32, num_envs=2, seed=3)
            for _ in range(5):
                buf.add(**good_args())
            out.append(call(buf))
        return out

    uniform = batches(fastrl.ReplayBuffer, [lambda b: b.sample(4), lambda b: b.sample(batch_size=4),
                                            lambda b: b.sample(np.int64(4)), lambda b: b.sample(4, out=None),
                                            lambda b: b.sample(4, as_torch=False)])
    prio = batches(fastrl.PrioritizedReplayBuffer,
                   [lambda b: b.sample(4), lambda b: b.sample(4, 0.4), lambda b: b.sample(4, beta=0.4),
                    lambda b: b.sample(batch_size=4, beta=0.4), lambda b: b.sample(4, np.float64(0.4)),
                    lambda b: b.sample(4, beta=np.float32(0.4))])
    for group in (uniform, prio):
        for b in group[1:]:
            for x, y in zip(group[0], b, strict=True):
                np.testing.assert_array_equal(x, y)
    buf = small()
    for _ in range(3):
        buf.add(**good_args())
    with pytest.raises(TypeError):
        buf.sample(4, 0.4)  # no beta for a uniform buffer
    with pytest.raises(TypeError):
        buf.sample(4, beta=0.4)
    with pytest.raises(TypeError):
        buf.sample()
    with pytest.raises(TypeError, match="batch_size"):
        buf.sample(True)
    pbuf = fastrl.PrioritizedReplayBuffer(16, (1,), seed=0)
    pbuf.add(np.zeros((1, 1), np.float32), np.array([0]), 0.0, np.zeros((1, 1), np.float32), True, False)
    assert pbuf.sample(1, 1).weights.tolist() == [1.0]  # an int beta goes through the slow path
    with pytest.raises(ValueError, match="beta"):
        pbuf.sample(1, beta=-1.0)
    with pytest.raises(TypeError, match="beta"):
        pbuf.sample(1, beta="0.4")
    assert list(inspect.signature(fastrl.PrioritizedReplayBuffer.sample).parameters)[:3] == ["self", "batch_size",
                                                                                            "beta"]
    assert "uniformly" in fastrl.ReplayBuffer.sample.__doc__


def test_update_priorities_call_shapes():
    buf = fastrl.PrioritizedReplayBuffer(8, (1,), seed=0, alpha=1.0, eps=0.5)
    for t in range(4):
        o = np.full((1, 1), t, np.float32)
        buf.add(o, np.array([t]), 0.0, o, True, False)
    buf.update_priorities(np.array([0]), np.array([1.5]))
    buf.update_priorities(indices=np.array([1]), priorities=np.array([2.5]))
    buf.update_priorities(np.array([2]), priorities=[3.5])
    assert buf.state_dict()["priorities"][:4].tolist() == [2.0, 3.0, 4.0, 1.0]
    # other integer / real dtypes and strided arrays are converted, not rejected
    buf.update_priorities(np.array([3, 0], np.uint32), np.array([4.5, 0.5], np.float32))
    buf.update_priorities(np.array([9, 1, 9, 2])[1::2], np.array([5.5, 0.0, 6.5, 0.0])[::2])
    assert buf.state_dict()["priorities"][:4].tolist() == [1.0, 6.0, 7.0, 5.0]
    for args, kwargs in [((np.arange(2),), {}), ((), {"indices": np.arange(2)}),
                         ((np.arange(2), np.ones(2)), {"priorities": np.ones(2)}),
                         ((np.arange(2),), {"prio": np.ones(2)})]:
        with pytest.raises(TypeError, match="update_priorities"):
            buf.update_priorities(*args, **kwargs)


def test_uninitialized_buffer_raises():
    buf = fastrl.ReplayBuffer.__new__(fastrl.ReplayBuffer)
    with pytest.raises(TypeError, match="initialized"):
        buf.sample(1)
    pbuf = fastrl.PrioritizedReplayBuffer.__new__(fastrl.PrioritizedReplayBuffer)
    with pytest.raises(TypeError, match="initialized"):
        pbuf.update_priorities(np.arange(1), np.ones(1))


@pytest.mark.parametrize("batch_size", [4, 600])  # one block shared by the arrays, and separate arrays
def test_sampled_arrays_are_fresh_and_independent(batch_size):
    """Every sample hands out new arrays: writing into one batch changes neither the buffer, nor another
    batch, nor another field of the same batch; arrays are C-contiguous and writeable."""
    buf = fastrl.ReplayBuffer(1000, (3,), np.float32, (2,), np.int32, num_envs=2, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(400):
        a = good_args()
        a["obs"] = rng.random((2, 3), dtype=np.float32)
        a["next_obs"] = rng.random((2, 3), dtype=np.float32)
        buf.add(**a)
    first, second = buf.sample(batch_size), buf.sample(batch_size)
    kept = [x.copy() for x in second]
    for i, x in enumerate(first):
        assert x.flags.c_contiguous and x.flags.writeable
        assert not any(np.shares_memory(x, y) for y in second)
        assert not any(np.shares_memory(x, y) for y in first[i + 1:])
        x[...] = 7
    for x, k in zip(second, kept, strict=True):
        np.testing.assert_array_equal(x, k)
    third = buf.sample(batch_size)  # the buffer's own copies were not written either
    assert not (third.obs == 7).any() and not (third.next_obs == 7).any() and not (third.reward == 7).any()
