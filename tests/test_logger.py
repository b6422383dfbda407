"""The metrics logger (CSV + TensorBoard) and atomic checkpoints."""

import os

import pytest
import torch

from fastrl.checkpoint import load_checkpoint, save_checkpoint
from fastrl.logger import Logger, read_metrics


def test_logger_writes_csv_and_tensorboard(tmp_path):
    with Logger(tmp_path) as log:
        log.log("charts/episodic_return", 10.0, 5)
        log.log_dict({"losses/td_loss": 0.5, "perf/sps": 1000.0}, 10)
    rows = read_metrics(tmp_path / "metrics.csv")
    assert [(s, t, v) for s, t, v, _ in rows] == [
        (5, "charts/episodic_return", 10.0), (10, "losses/td_loss", 0.5), (10, "perf/sps", 1000.0)]
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path))


def test_logger_resume_drops_rows_after_the_checkpoint(tmp_path):
    with Logger(tmp_path, tensorboard=False) as log:
        for step in (1, 2, 3, 4):
            log.log("charts/x", step, step)
    with Logger(tmp_path, tensorboard=False, resume_step=2) as log:
        log.log("charts/x", 30.0, 3)
    assert [(s, v) for s, _, v, _ in read_metrics(tmp_path / "metrics.csv")] == [(1, 1.0), (2, 2.0), (3, 30.0)]


def test_read_metrics_rejects_foreign_files(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(OSError, match="metrics"):
        read_metrics(path)


def test_checkpoint_roundtrip_and_errors(tmp_path):
    path = tmp_path / "sub" / "c.pt"
    save_checkpoint(path, "dqn", {"w": torch.arange(3), "n": 7})
    got = load_checkpoint(path, "dqn").payload
    assert got["n"] == 7 and torch.equal(got["w"], torch.arange(3))
    assert [p.name for p in path.parent.iterdir()] == ["c.pt"]  # no temporary file left behind
    with pytest.raises(ValueError, match="dqn"):
        load_checkpoint(path, "td3")
    with pytest.raises(OSError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt", "dqn")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError, match="truncated"):
        load_checkpoint(path, "dqn")
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(OSError):
        load_checkpoint(path, "dqn")


def test_checkpoint_with_a_streamed_replay_memory(tmp_path):
    import numpy as np

    import fastrl

    buf = fastrl.ReplayBuffer(100_000, (3,), np.float32, seed=0)
    for t in range(50):
        x = np.full((1, 3), t, np.float32)
        buf.add(x, np.zeros(1, np.int64), np.ones(1), x + 1, np.zeros(1, bool), np.zeros(1, bool))
    path = save_checkpoint(tmp_path / "c.pt", "dqn", {"n": 1}, replay=buf)
    assert path.stat().st_size < 20_000  # 50 transitions, not 100K slots
    ckpt = load_checkpoint(path, "dqn")
    assert ckpt.payload == {"n": 1} and ckpt.replay is not None
    other = fastrl.ReplayBuffer(100_000, (3,), np.float32, seed=5)
    ckpt.load_replay_into(other)
    np.testing.assert_array_equal(np.sort(other.sample(50).obs[:, 0]), np.sort(buf.sample(50).obs[:, 0]))
    with pytest.raises(ValueError, match="capacity"):
        ckpt.load_replay_into(fastrl.ReplayBuffer(10, (3,), np.float32))
    bare = save_checkpoint(tmp_path / "bare.pt", "dqn", {"n": 2})
    with pytest.raises(ValueError, match="without its replay memory"):
        load_checkpoint(bare, "dqn").load_replay_into(other)
    data = bytearray(path.read_bytes())
    data[ckpt.replay[0] + ckpt.replay[1] - 10] ^= 0xFF  # a flipped byte in the replay section
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted"):
        load_checkpoint(path, "dqn").load_replay_into(other)
    assert len(other) == 0  # emptied, not half-filled


class _Payload:
    """Pickles to a call of os.system: what a crafted checkpoint would carry."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


def test_loading_a_checkpoint_runs_no_code_from_it(tmp_path):
    target = tmp_path / "pwned"
    path = save_checkpoint(tmp_path / "evil.pt", "dqn", {"w": torch.zeros(2), "evil": _Payload(target)})
    with pytest.raises(OSError, match="runs code|not plain data"):
        load_checkpoint(path, "dqn")
    assert not target.exists()
    # the same in the first (single torch.save) format
    torch.save({"magic": "fastrl-checkpoint", "version": 1, "kind": "dqn", "payload": {"x": _Payload(target)}},
               tmp_path / "evil_v1.pt")
    with pytest.raises(OSError, match="not plain data"):
        load_checkpoint(tmp_path / "evil_v1.pt", "dqn")
    assert not target.exists()
    # plain data, numpy arrays included, loads
    import numpy as np

    ok = save_checkpoint(tmp_path / "ok.pt", "dqn", {"a": np.arange(3), "s": np.float64(2.5), "t": (1, "x")})
    got = load_checkpoint(ok, "dqn").payload
    assert np.array_equal(got["a"], np.arange(3)) and got["s"] == 2.5 and got["t"] == (1, "x")
