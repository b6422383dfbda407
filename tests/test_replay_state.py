"""save/load and state_dict: exact round trips (sampling afterwards equals sampling without the
round trip), config checks, truncated / corrupted / foreign files."""

from __future__ import annotations

import numpy as np
import pytest
from replay_reference import StreamSimulator

import fastrl


def build(cls=fastrl.ReplayBuffer, seed=3, steps=60, capacity=37, **kw):
    shape = (4, 3, 3)
    buf = cls(capacity, shape, np.uint8, num_envs=2, n_step=3, gamma=0.9, frame_stack=4, seed=seed, **kw)
    sim = StreamSimulator(np.random.default_rng(seed), 2, shape, 4)
    for _ in range(steps):
        buf.add(*sim.step())
    return buf, sim


def continue_and_sample(buf, sim, prioritized):
    out = []
    for _ in range(30):
        buf.add(*sim.step())
        b = buf.sample(8, beta=0.5) if prioritized else buf.sample(8)
        if prioritized:
            buf.update_priorities(b.indices, b.reward.astype(np.float64) ** 2)
        out.append(b)
    return out


def assert_same(xs, ys):
    for x, y in zip(xs, ys, strict=True):
        for a, b in zip(x, y, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", [fastrl.ReplayBuffer, fastrl.PrioritizedReplayBuffer])
def test_state_dict_round_trip_continues_exactly(cls):
    prioritized = cls is fastrl.PrioritizedReplayBuffer
    a, sim_a = build(cls)
    _, sim_b = build(cls)  # the same stream again, fed to the restored copy
    c = cls(37, (4, 3, 3), np.uint8, num_envs=2, n_step=3, gamma=0.9, frame_stack=4, seed=999)
    c.load_state_dict(a.state_dict())
    assert len(c) == len(a)
    assert_same(continue_and_sample(a, sim_a, prioritized), continue_and_sample(c, sim_b, prioritized))


@pytest.mark.parametrize("cls", [fastrl.ReplayBuffer, fastrl.PrioritizedReplayBuffer])
def test_save_load_round_trip(tmp_path, cls):
    prioritized = cls is fastrl.PrioritizedReplayBuffer
    a, sim_a = build(cls)
    _, sim_b = build(cls)
    path = tmp_path / "buf.bin"
    a.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["buf.bin"]  # no temp file left behind
    c = fastrl.ReplayBuffer.load(path)
    assert type(c) is cls and c.capacity == 37 and len(c) == len(a)
    assert_same(continue_and_sample(a, sim_a, prioritized), continue_and_sample(c, sim_b, prioritized))


def test_config_mismatch(tmp_path):
    a, _ = build()
    other = fastrl.ReplayBuffer(37, (4, 3, 3), np.uint8, num_envs=2, n_step=2, gamma=0.9, frame_stack=4)
    with pytest.raises(ValueError, match="n_step"):
        other.load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="state"):
        other.load_state_dict({"nope": 1})


def test_corrupted_state_dict_is_rejected_and_buffer_kept():
    a, _ = build()
    state = a.state_dict()
    state["slot_boot"] = np.full_like(state["slot_boot"], 10**6)
    with pytest.raises(ValueError, match="state"):
        a.load_state_dict(state)
    state = a.state_dict()
    state["frames"] = state["frames"][:-1]
    with pytest.raises(ValueError, match="state"):
        a.load_state_dict(state)
    state = a.state_dict()
    state["slot_env"] = state["slot_env"].astype(np.int64)
    with pytest.raises(ValueError, match="slot_env"):
        a.load_state_dict(state)
    assert a.sample(4).obs.shape == (4, 4, 3, 3)  # unchanged and usable


def test_truncated_foreign_and_corrupted_files(tmp_path):
    a, _ = build()
    path = tmp_path / "buf.bin"
    a.save(path)
    data = path.read_bytes()
    for name, content, match in [
        ("short", data[: len(data) // 2], "truncated"),
        ("header", data[:40], "truncated"),
        ("empty", b"", "not a fastrl replay file"),
        ("foreign", b"PK\x03\x04" + data[4:], "not a fastrl replay file"),
        ("flipped", data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:], "corrupted"),
    ]:
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(ValueError, match=match):
            fastrl.ReplayBuffer.load(p)
    with pytest.raises(OSError):
        fastrl.ReplayBuffer.load(tmp_path / "missing.bin")


@pytest.mark.parametrize("cls", [fastrl.ReplayBuffer, fastrl.PrioritizedReplayBuffer])
def test_large_buffer_contents_and_round_trip(cls):
    """A ring big enough for the huge-page-backed allocations (several MB): contents stay exact
    through wrap-around and a state_dict round trip."""
    envs, cap = 100, 90_000
    buf = cls(cap, (4,), np.float32, num_envs=envs, seed=1)
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((envs, 4)).astype(np.float32)
    for t in range(1000):  # 100K transitions: wraps around
        nxt = rng.standard_normal((envs, 4)).astype(np.float32)
        term = rng.random(envs) < 0.01
        buf.add(obs, np.full(envs, t), np.full(envs, t, np.float32), nxt, term, np.zeros(envs, bool))
        obs = np.where(term[:, None], rng.standard_normal((envs, 4)).astype(np.float32), nxt)
    b = buf.sample(4096)
    np.testing.assert_array_equal(b.action, b.indices // envs)  # action t was added at step t
    np.testing.assert_array_equal(b.reward, (b.indices // envs).astype(np.float32))
    assert b.indices.min() >= 100_000 - cap
    clone = cls(cap, (4,), np.float32, num_envs=envs, seed=2)
    clone.load_state_dict(buf.state_dict())
    assert_same([buf.sample(64) for _ in range(3)], [clone.sample(64) for _ in range(3)])


def test_speculative_prefetch_never_changes_samples():
    """A ring above the size where uniform sample() prefetches for its next calls: samples are
    exact, equal those of a restored copy (which starts without a guess), and stay exact when
    adds, other batch sizes and redraws make the guesses wrong."""
    envs, cap = 100, 270_000  # 270K rows of 64 bytes: over the 16 MiB threshold
    buf = fastrl.ReplayBuffer(cap, (4,), np.float32, num_envs=envs, n_step=2, gamma=0.5, seed=4)
    rng = np.random.default_rng(1)
    obs = rng.integers(0, 10**6, (envs, 4)).astype(np.float32)  # integers: obs + 1 + 1 == obs + 2 exactly

    def add(t):
        nonlocal obs
        nxt = obs + 1
        term = rng.random(envs) < 0.02
        buf.add(obs, np.full(envs, t), np.ones(envs, np.float32), nxt, term, np.zeros(envs, bool))
        obs = np.where(term[:, None], rng.integers(0, 10**6, (envs, 4)).astype(np.float32), nxt)

    for t in range(cap // envs):
        add(t)
    clone = fastrl.ReplayBuffer(cap, (4,), np.float32, num_envs=envs, n_step=2, gamma=0.5, seed=5)
    for _ in range(5):  # prime the guesses of buf only
        buf.sample(32)
    clone.load_state_dict(buf.state_dict())
    for step in range(60):
        size = 32 if step % 10 else 17
        a, b = buf.sample(size), clone.sample(size)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a.action, a.indices // envs)
        # one step ahead at most (n_step 2, an episode end may stop it after one): next_obs - obs is 1 or 2
        assert np.all((a.next_obs - a.obs == 1) | (a.next_obs - a.obs == 2))
    for t in range(cap // envs, cap // envs + 5):  # adds between samples (overwriting guessed rows)
        add(t)
        b = buf.sample(32)
        np.testing.assert_array_equal(b.action, b.indices // envs)
        assert b.indices.min() >= (t + 1) * envs - cap


# ---- streamed files: they cost what the buffer holds --------------------------------------------


def _atari_like(capacity, steps, cls=fastrl.ReplayBuffer, seed=0, **kw):
    shape = (4, 24, 24)
    buf = cls(capacity, shape, np.uint8, num_envs=2, n_step=3, gamma=0.99, frame_stack=4, seed=seed, **kw)
    sim = StreamSimulator(np.random.default_rng(seed), 2, shape, 4)
    for _ in range(steps):
        buf.add(*sim.step())
    return buf, sim


@pytest.mark.parametrize("cls", [fastrl.ReplayBuffer, fastrl.PrioritizedReplayBuffer])
def test_file_size_follows_what_is_held_not_the_capacity(tmp_path, cls):
    prioritized = cls is fastrl.PrioritizedReplayBuffer
    small, sim_a = _atari_like(200_000, 300, cls)
    _, sim_b = _atari_like(200_000, 300, cls)
    path = tmp_path / "held.bin"
    small.save(path)
    frame = 24 * 24
    # 600 transitions of one 576-byte frame each, plus metadata and the full observations kept at episode
    # ends and segment starts: under a megabyte, where the capacity's frames alone would take 115 MB
    assert path.stat().st_size < 1_000_000
    held = small._write_count  # slots written (a masked env step writes none)
    assert held * (frame + 8) < small.nbytes_held <= held * (frame + 8 + 64 + 8)
    restored = fastrl.ReplayBuffer.load(path)
    assert len(restored) == len(small) and restored.capacity == 200_000
    assert_same(continue_and_sample(small, sim_a, prioritized), continue_and_sample(restored, sim_b, prioritized))


def test_empty_buffer_round_trip(tmp_path):
    buf = fastrl.ReplayBuffer(10, (3,), np.float32, seed=0)
    buf.save(tmp_path / "empty.bin")
    restored = fastrl.ReplayBuffer.load(tmp_path / "empty.bin")
    assert len(restored) == 0 and restored.capacity == 10


def test_corrupted_stream_leaves_no_half_buffer(tmp_path):
    buf, _ = _atari_like(500, 200)
    path = tmp_path / "b.bin"
    buf.save(path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x55  # inside the frames: caught by the checksum after streaming
    (tmp_path / "bad.bin").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="CRC-32"):
        fastrl.ReplayBuffer.load(tmp_path / "bad.bin")
    (tmp_path / "cut.bin").write_bytes(bytes(data[:-5000]))
    with pytest.raises(ValueError, match="truncated"):
        fastrl.ReplayBuffer.load(tmp_path / "cut.bin")
    (tmp_path / "long.bin").write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ValueError, match="after the replay memory"):
        fastrl.ReplayBuffer.load(tmp_path / "long.bin")


def test_files_of_format_version_1_still_load():
    # Written by fastrl 0.1 (whole arrays of the capacity): 50 steps of 2 envs into 60 prioritized slots.
    from pathlib import Path

    old = fastrl.ReplayBuffer.load(Path(__file__).parent / "data" / "replay_v1_prioritized.bin")
    assert type(old) is fastrl.PrioritizedReplayBuffer and old.capacity == 60 and old._write_count == 100
    b = old.sample(16, beta=0.5)
    assert b.obs.shape == (16, 4, 6, 6) and b.obs.dtype == np.uint8


def test_a_save_that_fails_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    # A file-size limit makes write() fail with EFBIG, as a full disk fails with ENOSPC.
    import subprocess
    import sys
    import textwrap

    buf, _ = _atari_like(5000, 400)
    path = tmp_path / "buf.bin"
    fastrl.ReplayBuffer(10, (3,), np.float32).save(path)  # the previous file
    before = path.read_bytes()
    code = textwrap.dedent(f"""
        import resource, signal, sys
        import numpy as np
        sys.path.insert(0, {str(Path_tests())!r})
        import fastrl
        from test_replay_state import _atari_like
        buf, _ = _atari_like(5000, 400)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        try:
            buf.save({str(path)!r})
        except OSError as err:
            print("OSError", err.errno)
    """)
    # from tmp_path, so the child imports the installed fastrl, not the source tree in the working directory
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "OSError 27" in out.stdout, out.stderr  # EFBIG
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["buf.bin"]


def Path_tests():
    from pathlib import Path

    return Path(__file__).parent


def test_saving_costs_little_memory_beyond_what_is_held(tmp_path):
    # In a child process (peak RSS is per process): a buffer of 100K slots of (4, 84, 84) uint8 frames holding
    # 1.2K transitions. The save must not copy the buffer: its peak memory grows by little (chunks of a few MB).
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import resource, os
        import numpy as np
        import fastrl
        buf = fastrl.ReplayBuffer(100_000, (4, 84, 84), np.uint8, num_envs=1, frame_stack=4, seed=0)
        rng = np.random.default_rng(0)
        obs = rng.integers(0, 255, (1, 4, 84, 84), dtype=np.uint8)
        for t in range(1200):
            nxt = np.concatenate([obs[:, 1:], rng.integers(0, 255, (1, 1, 84, 84), dtype=np.uint8)], axis=1)
            buf.add(obs, np.zeros(1, np.int64), np.zeros(1), nxt, np.zeros(1, bool), np.zeros(1, bool))
            obs = nxt
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        buf.save({str(tmp_path / "big.bin")!r})
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) // 1024, os.path.getsize({str(tmp_path / "big.bin")!r}) // 2**20)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    extra_mb, file_mb = (int(x) for x in out.stdout.split())
    assert file_mb < 12   # 1.2K frames of 7 KB: 8.5 MB, not the 706 MB of 100K slots
    assert extra_mb < 40  # a few chunk buffers, not a copy of the ring


def test_nbytes_is_the_one_figure_the_agents_plan_with():
    from fastrl.memory import replay_memory_bytes

    buf = fastrl.PrioritizedReplayBuffer(1000, (4, 10, 10), np.uint8, num_envs=3, frame_stack=4, seed=0)
    assert buf.nbytes == replay_memory_bytes(1000, (4, 10, 10), np.uint8, (), np.int64, 3, 4, True)
    assert 1000 * 100 < buf.nbytes < 1000 * (100 + 200) + 3 * 400
    assert buf.nbytes_held == 0


@pytest.mark.parametrize("prioritized", [False, True])
def test_buffers_pickle_and_sample_on_as_the_original(prioritized):
    """A buffer passes between processes by pickle (Ray actors, multiprocessing): the copy holds the same
    contents, open n-step windows, frame segments, priorities and RNG state, so both sample alike."""
    import copy
    import pickle

    cls = fastrl.PrioritizedReplayBuffer if prioritized else fastrl.ReplayBuffer
    buf = cls(64, (2, 3), np.uint8, num_envs=2, n_step=3, gamma=0.9, frame_stack=2, seed=7)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (42, 3), dtype=np.uint8)
    for t in range(40):  # frame-shifted stacks, an episode end every 9 steps, windows left open at the end
        obs = np.stack([frames[t:t + 2]] * 2)
        nxt = np.stack([frames[t + 1:t + 3]] * 2)
        buf.add(obs, np.array([t, -t]), np.ones(2), nxt, np.array([t % 9 == 8, False]), np.zeros(2, bool))
    if prioritized:
        buf.update_priorities(buf.sample(8).indices, np.linspace(0.1, 3.0, 8))
    for make_copy in (lambda b: pickle.loads(pickle.dumps(b)), copy.deepcopy):
        clone = make_copy(buf)
        assert type(clone) is cls and len(clone) == len(buf)
        for a, b in zip(buf.state_dict().items(), clone.state_dict().items(), strict=True):
            assert a[0] == b[0]
            if isinstance(a[1], np.ndarray):
                np.testing.assert_array_equal(a[1], b[1], err_msg=a[0])
            else:
                assert a[1] == b[1], a[0]
        x, y = buf.sample(16), clone.sample(16)
        for f in x._fields:
            np.testing.assert_array_equal(getattr(x, f), getattr(y, f), err_msg=f)


def test_add_with_priorities_sets_each_transitions_priority():
    buf = fastrl.PrioritizedReplayBuffer(50, (2,), num_envs=3, n_step=1, alpha=0.5, eps=0.01, seed=0)
    obs = np.zeros((3, 2), np.float32)
    indices = buf.add_with_priorities(obs, np.array([0, 1, 2]), np.ones(3), obs + 1, np.zeros(3, bool),
                                      np.zeros(3, bool), [0.0, 1.0, 8.0])
    np.testing.assert_array_equal(indices, [0, 1, 2])
    leaves = buf.state_dict()["priorities"][:3]
    np.testing.assert_allclose(leaves, (np.array([0.0, 1.0, 8.0]) + 0.01) ** 0.5)
    # sampled in proportion to the given priorities: the third about 2.8x as often as the second
    counts = np.bincount(np.concatenate([buf.sample(3).action for _ in range(4000)]), minlength=3)
    assert counts[2] / counts[1] == pytest.approx((8.01 / 1.01) ** 0.5, rel=0.1)
    assert buf.add_with_priorities(obs, np.array([0, 1, 2]), np.ones(3), obs, np.zeros(3, bool),
                                   np.zeros(3, bool), np.ones(3)).tolist() == [3, 4, 5]
    with pytest.raises(ValueError, match="priorities"):
        buf.add_with_priorities(obs, np.array([0, 1, 2]), np.ones(3), obs, np.zeros(3, bool), np.zeros(3, bool),
                                [1.0, -1.0, 2.0])
    with pytest.raises(ValueError, match="priorities"):
        buf.add_with_priorities(obs, np.array([0, 1, 2]), np.ones(3), obs, np.zeros(3, bool), np.zeros(3, bool),
                                [1.0, 2.0])
    assert len(buf) == 6  # refused calls added nothing
    nstep = fastrl.PrioritizedReplayBuffer(50, (2,), num_envs=3, n_step=3)
    with pytest.raises(ValueError, match="n_step=1"):
        nstep.add_with_priorities(obs, np.array([0, 1, 2]), np.ones(3), obs, np.zeros(3, bool), np.zeros(3, bool),
                                  np.ones(3))
