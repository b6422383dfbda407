"""Videos of a policy: ``agent.record_video`` and ``--video`` on the command line. The video of episode k is
``evaluate``'s k-th episode (same actions, same return), with one frame per step plus the reset frame; Atari
videos show the raw RGB screen while the policy sees its training preprocessing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from fastrl.agents import DQN, DQNConfig
from fastrl.agents.evaluation import evaluate_policy
from fastrl.cli import main

pytest.importorskip("moviepy", reason="recording needs the [video] extra")
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

TINY = ["--env", "CartPole-v1", "--learning-starts", "200", "--train-freq", "8", "--gradient-steps", "2",
        "--hidden-sizes", "32", "32", "--batch-size", "32", "--buffer-size", "5000", "--log-interval", "100",
        "--eval-episodes", "2", "--no-progress", "--no-tensorboard"]


def _evaluated_actions(agent, episodes, seed):
    """Actions of each of ``evaluate``'s episodes, captured from the policy it runs."""
    columns: list[np.ndarray] = []

    def act(obs):
        actions = agent.act(obs, deterministic=True)
        columns.append(actions)
        return actions

    returns = evaluate_policy(act, agent.config.env_id, episodes, seed=seed, env_kwargs=agent.config.env_kwargs)
    return returns, np.stack(columns)  # (steps of the longest episode, episodes)


def _video_frames(path):
    """(frames decoded, (width, height)) of an mp4."""
    from moviepy import VideoFileClip

    with VideoFileClip(str(path)) as clip:
        size = tuple(clip.size)
    return imageio_ffmpeg.count_frames_and_secs(str(path))[0], size


def _check(agent, tmp_path, episodes, seed, size):
    recordings = agent.record_video(tmp_path / "videos", episodes, seed=seed)
    returns, columns = _evaluated_actions(agent, episodes, seed)
    assert [r.path.name for r in recordings] == [f"episode-{k}.mp4" for k in range(episodes)]
    for k, rec in enumerate(recordings):
        steps = len(rec.actions)
        assert rec.frames == steps + 1
        assert _video_frames(rec.path) == (rec.frames, size)
        np.testing.assert_array_equal(rec.actions, columns[:steps, k])
        assert rec.episode_return == returns[k]
    assert not [p for p in (tmp_path / "videos").iterdir() if not p.name.endswith(".mp4")]  # no temporaries


def test_classic_control_video_is_evaluates_episode(tmp_path):
    pytest.importorskip("pygame")
    agent = DQN(DQNConfig(env_id="CartPole-v1", seed=3, hidden_sizes=(16,), buffer_size=1000))
    try:
        _check(agent, tmp_path, 2, seed=21, size=(600, 400))
    finally:
        agent.close()


@pytest.mark.atari
def test_atari_video_shows_the_screen_while_the_policy_sees_its_preprocessing(tmp_path):
    """A short game (a 120-step limit) of an untrained Pong agent: the video has the game's raw 160x210 RGB
    frames, one per step plus the reset frame; the actions and the return are ``evaluate``'s."""
    agent = DQN(DQNConfig(env_id="PongNoFrameskip-v4", seed=0, buffer_size=2000, learning_starts=100,
                          env_kwargs={"max_episode_steps": 120}))
    try:
        _check(agent, tmp_path, 1, seed=5, size=(160, 210))
    finally:
        agent.close()


def test_cli_video_on_train_and_eval(tmp_path, capsys):
    pytest.importorskip("pygame")
    assert main(["train", "dqn", *TINY, "--total-steps", "300", "--runs-dir", str(tmp_path), "--name", "r",
                 "--video"]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "r" / "videos").iterdir()) == [f"episode-{k}.mp4" for k in range(3)]
    assert "video: " in out and "frames" in out
    assert main(["eval", str(tmp_path / "r"), "--episodes", "2", "--video", str(tmp_path / "v")]) == 0
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["episode-0.mp4", "episode-1.mp4"]


@pytest.mark.parametrize("missing", ["moviepy", "pygame"])
def test_cli_video_without_the_extra_stops_before_anything(tmp_path, capsys, monkeypatch, missing):
    assert main(["train", "dqn", *TINY, "--total-steps", "300", "--runs-dir", str(tmp_path), "--name", "r"]) == 0
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r"), "--episodes", "1", "--video", str(tmp_path / "v")]) == 2
    err = capsys.readouterr()
    assert f"--video needs {missing}" in err.err and 'pip install "fastrl[video]"' in err.err
    assert "greedy return" not in err.out  # refused before evaluating
    assert not (tmp_path / "v").exists()
    assert main(["train", "dqn", *TINY, "--runs-dir", str(tmp_path), "--name", "r2", "--video"]) == 2
    assert "--video needs" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()
    assert main(["train", "--resume", str(tmp_path / "r"), "--video"]) == 2
