"""Saves that survive a kill: atomic writes, SIGKILL at random points of replay and agent saves, and a
training run killed and resumed through the command line ending where a straight run ends."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastrl
from fastrl.fileio import atomic_write

# ---- atomic_write ----------------------------------------------------------------------------------


def test_atomic_write_replaces_or_keeps_and_sweeps_stale_temporaries(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    (tmp_path / ".f.bin.abandoned.tmp").write_bytes(b"left by a killed save")
    (tmp_path / ".other.bin.x.tmp").write_bytes(b"another target's")
    with atomic_write(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.bin.x.tmp", "f.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


# ---- SIGKILL during saves ------------------------------------------------------------------------

_REPLAY_CHILD = """
import sys
import numpy as np
import fastrl

def fill(buf, steps):
    rng = np.random.default_rng(7)
    for t in range(steps):
        obs = rng.integers(0, 255, (1, 4, 32, 32), dtype=np.uint8)
        buf.add(obs, np.array([t % 3]), np.array([t / 7.0]), obs, np.array([t % 97 == 96]), np.array([False]))

def make():
    return fastrl.ReplayBuffer(20_000, (4, 32, 32), np.uint8, num_envs=1, n_step=2, frame_stack=4, seed=0)

if __name__ == "__main__":
    buf, done = make(), 0
    while True:
        # the same stream every time: after W adds the buffer is always the same
        done += 300
        buf = make()
        fill(buf, done)
        buf.save(sys.argv[1])
"""


def _spawn(tmp_path, code, *args):
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(code))
    # from tmp_path, so the child imports the installed fastrl, not the source tree
    return subprocess.Popen([sys.executable, str(script), *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def test_replay_save_killed_at_random_points_leaves_a_loadable_previous_file(tmp_path):
    sys.path.insert(0, str(tmp_path))
    try:
        (tmp_path / "child.py").write_text(textwrap.dedent(_REPLAY_CHILD))
        import child  # the child's own stream, to rebuild what each saved file must hold
    finally:
        sys.path.pop(0)
    target = tmp_path / "out" / "buf.bin"
    target.parent.mkdir()
    rng = np.random.default_rng(0)
    references: dict[int, dict] = {}
    kills = 0
    for _ in range(24):
        proc = _spawn(tmp_path, _REPLAY_CHILD, str(target))
        time.sleep(float(rng.uniform(0.4, 1.6)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL, err
        kills += 1
        if not target.exists():
            continue
        loaded = fastrl.ReplayBuffer.load(target)  # never half a file
        steps = loaded._write_count
        assert steps % 300 == 0
        if steps not in references:
            ref = child.make()
            child.fill(ref, steps)
            references[steps] = ref.state_dict()
        for key, value in references[steps].items():
            got = loaded.state_dict()[key]
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(got, value, err_msg=key)
            else:
                assert got == value, key
    assert kills == 24 and target.exists() and len(references) >= 2
    # killed saves may have left temporaries; the next save sweeps them
    child.make().save(target)
    assert [p.name for p in target.parent.iterdir()] == ["buf.bin"]


_AGENT_CHILD = """
import sys
from fastrl.agents import DQN

agent = DQN(env_id="CartPole-v1", seed=1, buffer_size=5000, hidden_sizes=(32,), learning_starts=100, train_freq=4,
            log_interval=10**6, total_steps=10**6)
while True:
    agent.train(100)
    agent.save(sys.argv[1])
"""


def test_agent_checkpoint_killed_at_random_points_stays_loadable(tmp_path):
    from fastrl.agents import DQN

    target = tmp_path / "out" / "last.pt"
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(5):
        proc = _spawn(tmp_path, _AGENT_CHILD, str(target))
        time.sleep(float(rng.uniform(3.0, 6.0)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        if target.exists():
            agent = DQN.load(target)
            assert agent.global_step % 100 == 0 and agent.buffer._write_count == agent.global_step
            seen.add(agent.global_step)
            agent.close()
    assert seen  # at least one save completed before a kill


def test_a_run_killed_mid_training_resumes_to_the_straight_run(tmp_path):
    common = ["--env", "CartPole-v1", "--learning-starts", "200", "--train-freq", "8", "--gradient-steps", "2",
              "--hidden-sizes", "32", "32", "--batch-size", "32", "--buffer-size", "5000", "--log-interval", "100",
              "--eval-episodes", "0", "--no-progress", "--no-tensorboard", "--seed", "4", "--total-steps", "6000",
              "--checkpoint-interval", "500", "--runs-dir", str(tmp_path)]
    cmd = [sys.executable, "-m", "fastrl.cli", "train", "dqn", *common]
    assert subprocess.run([*cmd, "--name", "straight"], cwd=tmp_path, capture_output=True).returncode == 0
    proc = subprocess.Popen([*cmd, "--name", "killed"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "killed" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # somewhere after the first checkpoint: mid-training, maybe mid-save
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.returncode == 0:
        pytest.skip("the run finished before it could be killed")
    resume = [sys.executable, "-m", "fastrl.cli", "train", "--resume", str(tmp_path / "killed"), "--no-progress",
              "--eval-episodes", "0", "--no-tensorboard"]
    out = subprocess.run(resume, cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    from fastrl.agents import DQN

    straight = DQN.load(tmp_path / "straight" / "checkpoints" / "last.pt")
    resumed = DQN.load(ckpt)
    assert straight.global_step == resumed.global_step == 6000
    for x, y in zip(straight.q_net.parameters(), resumed.q_net.parameters(), strict=True):
        assert np.array_equal(x.detach().numpy(), y.detach().numpy())
