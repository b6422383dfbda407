"""Evaluation every agent shares: returns of a policy over fresh episodes on envs of their own, and videos of
such episodes."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fastrl.vector import make_vec
from fastrl.vector.atari import is_atari_id

__all__ = ["evaluate_policy", "evaluation_env_kwargs", "missing_video_dependencies", "record_episodes", "Recording"]


def evaluation_env_kwargs(env_id: str, env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """``make_vec`` keywords for evaluation: the training ones, except that an Atari game is played whole
    (no episode end at a lost life) and scored with raw rewards (no clipping)."""
    kwargs = dict(env_kwargs or {})
    if is_atari_id(env_id):
        kwargs.update(episodic_life=False, reward_clipping=False)
    return kwargs


def evaluate_policy(
    act: Callable[[np.ndarray], np.ndarray],
    env_id: str,
    episodes: int,
    *,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
    max_envs: int = 16,
    reset: Callable[[np.ndarray], None] | None = None,
) -> np.ndarray:
    """Returns ``(episodes,)`` float64 of ``act`` over ``episodes`` fresh episodes of ``env_id``.

    Up to ``max_envs`` episodes run at once, one per env, on envs separate from any training ones; batch k
    resets with ``seed + (episodes before it)``, so the result is a function of ``seed``.

    Args:
        act: maps observations ``(B, *obs_shape)`` to actions ``(B, ...)`` (e.g. a greedy policy).
        env_id: gymnasium id for ``fastrl.make_vec``.
        episodes: number of episodes (> 0).
        seed: seed of the evaluation envs.
        env_kwargs: the training envs' keywords (see :func:`evaluation_env_kwargs`).
        max_envs: envs stepped together.
        reset: for a policy with memory: called with a bool mask ``(B,)`` of the envs whose episode starts
            before ``act`` sees their first observation (all of them when a batch of ``B`` envs starts).
    """
    if not isinstance(episodes, (int, np.integer)) or isinstance(episodes, bool) or episodes <= 0:
        raise ValueError(f"episodes must be a positive int, got {episodes!r}")
    if not isinstance(max_envs, (int, np.integer)) or max_envs <= 0:
        raise ValueError(f"max_envs must be a positive int, got {max_envs!r}")
    kwargs = evaluation_env_kwargs(env_id, env_kwargs)
    returns: list[float] = []
    while len(returns) < episodes:
        m = min(max_envs, episodes - len(returns))
        envs = make_vec(env_id, m, seed=seed, autoreset_mode="disabled", **kwargs)
        try:
            obs, _ = envs.reset(seed=seed + len(returns))
            if reset is not None:
                reset(np.ones(m, dtype=bool))
            total = np.zeros(m)
            finished = np.zeros(m, dtype=bool)
            result = np.zeros(m)
            while not finished.all():
                obs, rewards, terminated, truncated, _ = envs.step(act(obs))
                total += np.where(finished, 0.0, rewards)
                ended = np.logical_or(terminated, truncated)
                newly = ended & ~finished
                result[newly] = total[newly]
                finished |= newly
                if ended.any() and not finished.all():
                    # finished envs keep stepping from fresh episodes whose returns are ignored
                    obs, _ = envs.reset(options={"reset_mask": ended})
                    if reset is not None:
                        reset(ended.copy())
            returns.extend(result.tolist())
        finally:
            envs.close()
    return np.asarray(returns[:episodes], dtype=np.float64)


def missing_video_dependencies(env_id: str) -> list[str]:
    """The packages recording ``env_id`` needs and this Python lacks: moviepy (writes the mp4), and pygame for
    tasks that gymnasium draws (every id but Atari's, whose frames are the emulator's screen). Both come with
    ``pip install "fastrl[video]"``."""
    needed = ["moviepy"] if is_atari_id(env_id) else ["moviepy", "pygame"]
    return [name for name in needed if importlib.util.find_spec(name) is None]


@dataclass
class Recording:
    """One recorded episode: the video file, its frame count (the reset frame and one per step), the
    episode's return and the actions taken."""

    path: Path
    frames: int
    episode_return: float
    actions: np.ndarray


def record_episodes(
    act: Callable[[np.ndarray], np.ndarray],
    env_id: str,
    episodes: int,
    video_dir: str | os.PathLike,
    *,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
    reset: Callable[[np.ndarray], None] | None = None,
    name_prefix: str = "episode",
) -> list[Recording]:
    """Plays ``episodes`` episodes of ``act`` and writes each as ``<video_dir>/<name_prefix>-<k>.mp4``.

    Episode k is the one :func:`evaluate_policy` plays as its k-th with the same ``seed`` (an env reset with
    ``seed + k``, the same keywords, the same policy), so its actions and return are that episode's. The
    policy sees the observations it was trained on; the video shows ``render()`` of the same env: gymnasium's
    drawing for classic control, the raw RGB screen for Atari (one frame per agent step, at 60 / frameskip
    frames per second). Frames are streamed to the encoder, so a long episode does not accumulate in memory;
    each file appears complete or not at all.

    Raises:
        gymnasium.error.DependencyNotInstalled: moviepy (or pygame) is missing; nothing is played or written.
    """
    import gymnasium as gym

    missing = missing_video_dependencies(env_id)
    if missing:
        raise gym.error.DependencyNotInstalled(
            f"recording a video needs {' and '.join(missing)}: pip install 'fastrl[video]'")
    if not isinstance(episodes, (int, np.integer)) or isinstance(episodes, bool) or episodes <= 0:
        raise ValueError(f"episodes must be a positive int, got {episodes!r}")
    from moviepy.video.io.ffmpeg_writer import FFMPEG_VideoWriter

    from fastrl.fileio import atomic_write

    kwargs = evaluation_env_kwargs(env_id, env_kwargs)
    recordings = []
    for k in range(episodes):
        path = Path(video_dir) / f"{name_prefix}-{k}.mp4"
        envs = make_vec(env_id, 1, autoreset_mode="disabled", render_mode="rgb_array", **kwargs)
        try:
            obs, _ = envs.reset(seed=seed + k)
            if reset is not None:
                reset(np.ones(1, dtype=bool))
            frame = envs.render()[0]
            with atomic_write(path) as tmp:
                writer = FFMPEG_VideoWriter(str(tmp), (frame.shape[1], frame.shape[0]), envs.metadata["render_fps"],
                                            ffmpeg_params=["-f", "mp4"])
                try:
                    writer.write_frame(frame)
                    frames, total, actions = 1, 0.0, []
                    done = False
                    while not done:
                        action = act(obs)
                        actions.append(np.asarray(action)[0])
                        obs, reward, terminated, truncated, _ = envs.step(action)
                        writer.write_frame(envs.render()[0])
                        frames += 1
                        total += float(reward[0])
                        done = bool(terminated[0] or truncated[0])
                finally:
                    writer.close()
        finally:
            envs.close()
        recordings.append(Recording(path, frames, total, np.asarray(actions)))
    return recordings
