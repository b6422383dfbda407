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
    got = load_checkpoint(path, "dqn")
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
