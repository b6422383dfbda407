"""The part of an agent's interface that is the same for every algorithm: a mixin, one level deep.

:class:`AgentBase` gives an agent ``save``, ``load``, ``from_checkpoint``, ``evaluate``, ``close``,
``recent_returns`` and ``num_episodes`` on top of what the agent itself knows: ``KIND`` (its registry name,
written into checkpoints), ``CONFIG`` (its config class), ``config`` (with ``save_replay``), ``runner``
(its :class:`fastrl.agents.runner.EnvRunner`), ``buffer``, ``act(obs, deterministic)``,
``state_dict(include_replay)``, ``load_state_dict(state)`` (everything, for exact resume; the replay memory
only if the state holds it) and ``load_networks(state)`` (the networks alone, for acting and evaluation).
:func:`resolve_config` and :func:`torch_device` serve the agents' constructors. Files are written atomically
by :mod:`fastrl.checkpoint`.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from fastrl.agents.evaluation import Recording, evaluate_policy, record_episodes
from fastrl.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from fastrl.memory import check_fits, replay_memory_bytes

__all__ = ["AgentBase", "resolve_config", "torch_device", "check_run_fits"]


def resolve_config(config_cls: type, config: Any, overrides: dict[str, Any]) -> Any:
    """The config an agent is built with: ``config``, else ``config_cls(**overrides)``; overrides given with
    a config replace its fields."""
    if config is None:
        return config_cls(**overrides)
    if overrides:
        return config_cls(**{**config.to_dict(), **overrides})
    return config


def torch_device(device: str, torch_threads: int | None) -> torch.device:
    """Sets torch's CPU thread count (when ``torch_threads`` is set and not 0) and returns ``device``.

    Raises:
        ValueError: ``device`` names CUDA and none is available.
    """
    if torch_threads:
        torch.set_num_threads(torch_threads)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for CUDA, which is not available here")
    return dev


def check_run_fits(config: Any, runner: Any, nets: list[torch.nn.Module], *, action_shape: tuple[int, ...],
                   action_dtype: Any, frame_stack: int) -> None:
    """Refuses, before anything large is allocated, a run whose replay memory (at capacity: it is allocated
    whole) and networks (with gradients and Adam's moments) exceed the memory available now.

    Raises:
        fastrl.memory.RunTooLargeError: one line with the figures and the setting to lower (``buffer_size``).
    """
    replay = replay_memory_bytes(config.buffer_size, runner.obs_shape, runner.obs_dtype, action_shape, action_dtype,
                                 config.num_envs, frame_stack, bool(getattr(config, "prioritized", False)))
    net_bytes = sum(p.numel() * p.element_size() for net in nets for p in net.parameters())
    check_fits({f"the replay memory of {config.buffer_size} transitions": replay,
                "networks, gradients and Adam's moments": 3 * net_bytes}, "--buffer-size (buffer_size)")


class AgentBase:
    """Mixin: checkpoints, evaluation and episode statistics for an agent (see the module docstring)."""

    KIND: ClassVar[str]
    CONFIG: ClassVar[type]

    def evaluate(self, episodes: int = 10, *, seed: int | None = None, max_envs: int = 16) -> np.ndarray:
        """Returns ``(episodes,)`` float64 of the deterministic policy over fresh episodes, on envs separate
        from the training ones (seeded ``seed``, default ``config.seed + 10_000``); Atari games are played
        whole and scored unclipped."""
        cfg = self.config  # type: ignore[attr-defined]
        return evaluate_policy(lambda obs: self.act(obs, deterministic=True), cfg.env_id,  # type: ignore[attr-defined]
                               episodes, seed=cfg.seed + 10_000 if seed is None else seed,
                               env_kwargs=cfg.env_kwargs, max_envs=max_envs, reset=self._evaluation_reset())

    def record_video(self, video_dir: str | os.PathLike, episodes: int = 1, *,
                     seed: int | None = None) -> list[Recording]:
        """Records ``episodes`` episodes of the deterministic policy as mp4 files in ``video_dir``
        (``episode-<k>.mp4``) and returns what was recorded. Episode k is :meth:`evaluate`'s k-th with the same
        ``seed`` (default ``config.seed + 10_000``): same actions, same return. The policy sees its training
        observations; the video shows the env's frames (the raw RGB screen for Atari). Needs
        ``pip install "fastrl[video]"``; see :func:`fastrl.agents.evaluation.record_episodes`."""
        cfg = self.config  # type: ignore[attr-defined]
        return record_episodes(lambda obs: self.act(obs, deterministic=True), cfg.env_id,  # type: ignore[attr-defined]
                               episodes, video_dir, seed=cfg.seed + 10_000 if seed is None else seed,
                               env_kwargs=cfg.env_kwargs, reset=self._evaluation_reset())

    def _evaluation_reset(self) -> Any:
        """The ``reset`` hook of :func:`evaluate_policy` for this agent's policy (None: it has no memory)."""
        return None

    @property
    def recent_returns(self) -> deque[float]:
        """Returns of the last finished episodes (whole games for Atari)."""
        return self.runner.recent_returns  # type: ignore[attr-defined]

    @property
    def num_episodes(self) -> int:
        """Episodes (whole games for Atari) finished so far."""
        return self.runner.num_episodes  # type: ignore[attr-defined]

    def close(self) -> None:
        """Closes the envs."""
        self.runner.close()  # type: ignore[attr-defined]

    def save(self, path: str | os.PathLike) -> Path:
        """Writes a checkpoint atomically (temporary file, then rename); returns its path. The replay memory
        is streamed into it when ``config.save_replay`` is true (the default): the file and the memory the
        save costs grow with what the memory holds, not with its capacity."""
        replay = getattr(self, "buffer", None) if self.config.save_replay else None  # type: ignore[attr-defined]
        return save_checkpoint(path, self.KIND, self.state_dict(include_replay=False),  # type: ignore[attr-defined]
                               replay=replay)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None, inference_only: bool = False,
             **overrides: Any) -> Any:
        """Rebuilds an agent from :meth:`save`'s file, ready to continue training or to act.

        ``device`` moves it to another device; ``overrides`` change config fields (e.g. ``total_steps`` to
        extend a run). ``inference_only`` restores the networks and the step counter only (a small empty
        replay memory, fresh envs and optimizer): enough for ``act`` and ``evaluate``, and quick for a
        checkpoint with a large replay memory.

        Raises:
            OSError: ``path`` is missing, truncated or not a fastrl checkpoint.
            ValueError: it holds another algorithm's agent, or an override is not a valid config.
        """
        return cls.from_checkpoint(load_checkpoint(path, cls.KIND), device=device, inference_only=inference_only,
                                   **overrides)

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint, *, device: str | None = None, inference_only: bool = False,
                        **overrides: Any) -> Any:
        """:meth:`load` from a checkpoint already read (see :func:`fastrl.agents.load_agent`)."""
        state = cls.upgrade_state(ckpt.payload)
        config = dict(state["config"])
        if device is not None:
            config["device"] = device
        config.update(overrides)
        if inference_only and "buffer_size" in config:  # a replay memory is not needed to act
            config["buffer_size"] = config["batch_size"]
        agent = cls(cls.CONFIG.from_dict(config))  # type: ignore[call-arg, attr-defined]
        if inference_only:
            agent.load_networks(state)
            agent.global_step = int(state["counters"]["global_step"])
            return agent
        agent.load_state_dict(state)
        if "buffer" not in state and getattr(agent, "buffer", None) is not None:
            if ckpt.replay is not None:
                ckpt.load_replay_into(agent.buffer)
            else:
                warnings.warn(f"checkpoint {str(ckpt.path)!r} was saved without its replay memory (save_replay="
                              "False): the resumed run refills it from new steps, so it does not continue bit for "
                              "bit", RuntimeWarning, stacklevel=3)
        return agent

    @classmethod
    def upgrade_state(cls, state: dict[str, Any]) -> dict[str, Any]:
        """A payload in an older layout of this agent's checkpoints, in today's (identity by default)."""
        return state
