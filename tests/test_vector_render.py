"""Rendering: ``make_vec(..., render_mode="rgb_array")`` draws the frames gymnasium draws for the same state, and
gymnasium's rendering wrappers (``RecordVideo``, ``HumanRendering``) work over fastrl's envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import fastrl
from fastrl.vector.native import NATIVE_IDS

N = 3
CONTINUOUS = ("Pendulum-v1", "MountainCarContinuous-v0")


@pytest.mark.parametrize("mode", list(AutoresetMode), ids=lambda m: m.name)
@pytest.mark.parametrize("env_id", NATIVE_IDS)
def test_native_frames_equal_gymnasiums(env_id, mode):
    """Both envs get the same actions; after every call fastrl is given gymnasium's states (its reset RNG is its
    own), so the frames must be equal pixel for pixel, through episode ends in every autoreset mode.
    Pendulum's frame also draws the last torque, which fastrl tracks itself (never copied from gymnasium)."""
    pytest.importorskip("pygame")
    ref = SyncVectorEnv([lambda: gym.make(env_id, render_mode="rgb_array", max_episode_steps=25)] * N,
                        autoreset_mode=mode)
    env = fastrl.make_vec(env_id, N, render_mode="rgb_array", autoreset_mode=mode, max_episode_steps=25)
    rng = np.random.default_rng(0)
    ref.action_space.seed(0)

    def sync() -> None:
        env.set_state(np.array([e.unwrapped.state for e in ref.envs], dtype=np.float64))

    try:
        ref.reset(seed=1)
        env.reset(seed=1)
        sync()
        for a, b in zip(ref.render(), env.render(), strict=True):
            assert a.dtype == b.dtype == np.uint8 and np.array_equal(a, b)
        ends = 0
        for t in range(60):
            if env_id in CONTINUOUS:
                actions = (rng.standard_normal((N, 1)) * 1.5).astype(np.float32)
            else:
                actions = ref.action_space.sample()
            _, _, term, trunc, _ = ref.step(actions)
            env.step(actions)
            ended = term | trunc
            ends += int(ended.sum())
            if mode == AutoresetMode.DISABLED and ended.any():
                ref.reset(options={"reset_mask": ended})
                env.reset(options={"reset_mask": ended})
            sync()
            for i, (a, b) in enumerate(zip(ref.render(), env.render(), strict=True)):
                assert np.array_equal(a, b), (t, i)
        assert ends > 0  # the run crossed episode ends
    finally:
        env.close()
        ref.close()


def test_render_metadata_and_without_a_mode():
    pytest.importorskip("pygame")
    env = fastrl.make_vec("CartPole-v1", N)
    ref = gym.make("CartPole-v1")
    assert env.metadata["render_fps"] == ref.metadata["render_fps"]
    assert "rgb_array" in env.metadata["render_modes"]
    with pytest.raises(gym.error.ResetNeeded):
        env.render()
    env.reset(seed=0)
    assert env.render() == (None,) * N and env.render_mode is None
    env.close()
    ref.close()
    with pytest.raises(ValueError, match="render_mode"):
        fastrl.make_vec("CartPole-v1", N, render_mode="human")
    with pytest.raises(ValueError, match="render_mode"):
        fastrl.make_vec("CartPole-v1", N, render_mode=3)


def test_render_needs_pygame(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pygame" else real(name, *a))
    with pytest.raises(gym.error.DependencyNotInstalled, match=r"fastrl\[video\]"):
        fastrl.make_vec("CartPole-v1", N, render_mode="rgb_array")


def test_record_video_wrapper_over_fastrl(tmp_path):
    """gymnasium's vector RecordVideo over fastrl records what it records over gymnasium's SyncVectorEnv: one mp4
    per episode, with as many frames per step of the episode."""
    pytest.importorskip("pygame")
    pytest.importorskip("moviepy")
    import imageio_ffmpeg
    from gymnasium.wrappers.vector import RecordVideo

    def record(envs, folder):
        env = RecordVideo(envs, str(folder), episode_trigger=lambda k: True)
        env.reset(seed=0)
        steps = 0
        while True:
            _, _, term, trunc, _ = env.step(np.zeros(1, dtype=np.int64))  # always left: a short episode
            steps += 1
            if term[0] or trunc[0]:
                break
        env.close()
        videos = sorted(folder.glob("*.mp4"))
        assert len(videos) == 1
        return steps, imageio_ffmpeg.count_frames_and_secs(str(videos[0]))[0]

    steps, frames = record(fastrl.make_vec("CartPole-v1", 1, render_mode="rgb_array"), tmp_path / "fastrl")
    ref_steps, ref_frames = record(SyncVectorEnv([lambda: gym.make("CartPole-v1", render_mode="rgb_array")]),
                                   tmp_path / "gymnasium")
    assert steps > 5 and frames - steps == ref_frames - ref_steps


def test_human_rendering_wrapper_over_fastrl(monkeypatch):
    pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    pytest.importorskip("cv2")  # the wrapper resizes frames with OpenCV
    from gymnasium.wrappers.vector import HumanRendering

    env = HumanRendering(fastrl.make_vec("Pendulum-v1", 2, render_mode="rgb_array"))
    try:
        env.reset(seed=0)
        for _ in range(3):
            env.step(np.zeros((2, 1), dtype=np.float32))
        assert env.render_mode == "human"
    finally:
        env.close()


@pytest.mark.atari
@pytest.mark.parametrize("mode", list(AutoresetMode), ids=lambda m: m.name)
def test_atari_frames_are_the_raw_screen(mode):
    """The frames are the emulator's RGB screen, as gymnasium's AtariEnv renders it for the same game: the same
    seed, no reset no-ops and no sticky actions make the two play the same game."""
    pytest.importorskip("ale_py")
    import ale_py

    gym.register_envs(ale_py)
    env = fastrl.make_vec("PongNoFrameskip-v4", 2, render_mode="rgb_array", noop_max=0, autoreset_mode=mode,
                          max_episode_steps=150)
    ref = gym.make("PongNoFrameskip-v4", render_mode="rgb_array", frameskip=4, repeat_action_probability=0.0)
    try:
        obs, _ = env.reset(seed=3)
        ref.reset(seed=3)
        assert env.metadata["render_fps"] == 15  # 60 Hz, 4 frames per step
        frames = env.render()
        assert len(frames) == 2 and frames[0].shape == (210, 160, 3) and frames[0].dtype == np.uint8
        assert np.array_equal(frames[0], ref.render())
        rng = np.random.default_rng(0)
        for t in range(200):
            actions = rng.integers(0, 6, 2)
            _, _, term, trunc, _ = env.step(actions)
            ended = term | trunc
            if t < 140:  # the game of env 0 as gymnasium plays it, before fastrl's step limit
                ref.step(int(actions[0]))
                assert np.array_equal(env.render()[0], ref.render()), t
            if mode == AutoresetMode.DISABLED and ended.any():
                env.reset(options={"reset_mask": ended})
    finally:
        env.close()
        ref.close()
    env = fastrl.make_vec("PongNoFrameskip-v4", 2)
    env.reset(seed=0)
    assert env.render() == (None, None)
    env.close()
