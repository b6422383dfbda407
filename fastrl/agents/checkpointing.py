"""Saving and loading agents: the part that is the same for every algorithm.

:class:`Checkpointing` gives an agent ``save``, ``load`` and ``from_state`` on top of what the agent itself
knows: ``KIND`` (its registry name, written into the file), ``CONFIG`` (its config class), ``state_dict()``,
``load_state_dict(state)`` (everything, for exact resume) and ``load_networks(state)`` (the networks alone,
for acting and evaluation). Files are written atomically by :mod:`fastrl.checkpoint`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from fastrl.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["Checkpointing"]


class Checkpointing:
    """Mixin: ``save`` / ``load`` / ``from_state`` for an agent (see the module docstring)."""

    KIND: ClassVar[str]
    CONFIG: ClassVar[type]

    def save(self, path: str | os.PathLike) -> Path:
        """Writes a checkpoint atomically (temporary file, then rename); returns its path."""
        return save_checkpoint(path, self.KIND, self.state_dict())  # type: ignore[attr-defined]

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None, inference_only: bool = False,
             **overrides: Any) -> Any:
        """Rebuilds an agent from :meth:`save`'s file, ready to continue training or to act.

        ``device`` moves it to another device; ``overrides`` change config fields (e.g. ``total_steps`` to
        extend a run). ``inference_only`` restores the networks and the step counter only (a small empty
        replay memory, fresh envs and optimizer): enough for ``act`` and ``evaluate``.

        Raises:
            OSError: ``path`` is missing, truncated or not a fastrl checkpoint.
            ValueError: it holds another algorithm's agent, or an override is not a valid config.
        """
        return cls.from_state(load_checkpoint(path, cls.KIND), device=device, inference_only=inference_only,
                              **overrides)

    @classmethod
    def from_state(cls, state: dict[str, Any], *, device: str | None = None, inference_only: bool = False,
                   **overrides: Any) -> Any:
        """:meth:`load` from a checkpoint's payload already read (see :func:`fastrl.agents.load_agent`)."""
        state = cls.upgrade_state(state)
        config = dict(state["config"])
        if device is not None:
            config["device"] = device
        config.update(overrides)
        if inference_only:
            config["buffer_size"] = config["batch_size"]
        agent = cls(cls.CONFIG.from_dict(config))  # type: ignore[call-arg, attr-defined]
        if inference_only:
            agent.load_networks(state)
            agent.global_step = int(state["counters"]["global_step"])
        else:
            agent.load_state_dict(state)
        return agent

    @classmethod
    def upgrade_state(cls, state: dict[str, Any]) -> dict[str, Any]:
        """A payload in an older layout of this agent's checkpoints, in today's (identity by default)."""
        return state
