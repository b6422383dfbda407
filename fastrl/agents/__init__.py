"""Thin PyTorch agents: one algorithm per file, each readable top to bottom.

- :class:`DQN` / :class:`DQNConfig` (``fastrl.agents.dqn``): DQN with Double, dueling, n-step and
  prioritized-replay options.
- :class:`DDPG` / :class:`DDPGConfig` (``fastrl.agents.ddpg``) and :class:`TD3` / :class:`TD3Config`
  (``fastrl.agents.td3``): deterministic actor-critic agents for Box action spaces.
- :class:`A2C` / :class:`A2CConfig` (``fastrl.agents.a2c``): synchronous advantage actor-critic on a batch of
  envs (Discrete actions).
- :class:`A3C` / :class:`A3CConfig` (``fastrl.agents.a3c``) and :class:`NSQ` / :class:`NSQConfig`
  (``fastrl.agents.nsq``): asynchronous advantage actor-critic and n-step Q-learning on Hogwild worker
  processes (:mod:`fastrl.agents.hogwild`).
- :class:`ApeXDQN` / :class:`ApeXDQNConfig` (``fastrl.agents.apex``) and :class:`ApeXDDPG` /
  :class:`ApeXDDPGConfig` (``fastrl.agents.apex_ddpg``): Ape-X on Ray, many actors feeding prioritized
  replay shards and one learner (:mod:`fastrl.distributed`).

The pieces they share are small modules the agents call: :mod:`fastrl.agents.config` (presets, defaults,
validation), :mod:`fastrl.agents.runner` (the envs, episode seeds and the action log for exact resume),
:mod:`fastrl.agents.loop` (progress bar, logging, callbacks), :mod:`fastrl.agents.evaluation`.

``REGISTRY`` maps an algorithm's command-line name to its agent and config classes; the command line knows
agents only through it (:func:`agent_classes`, :func:`load_agent`).
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any, NamedTuple

from fastrl.agents.a2c import A2C, A2CConfig
from fastrl.agents.a3c import A3C, A3CConfig
from fastrl.agents.apex import ApeXDQN, ApeXDQNConfig
from fastrl.agents.apex_ddpg import ApeXDDPG, ApeXDDPGConfig
from fastrl.agents.ddpg import DDPG, DDPGConfig
from fastrl.agents.dqn import DQN, DQNConfig
from fastrl.agents.hogwild import WorkerError
from fastrl.agents.nsq import NSQ, NSQConfig
from fastrl.agents.td3 import TD3, TD3Config

__all__ = ["DQN", "DQNConfig", "DDPG", "DDPGConfig", "TD3", "TD3Config", "A2C", "A2CConfig", "A3C", "A3CConfig",
           "NSQ", "NSQConfig", "ApeXDQN", "ApeXDQNConfig", "ApeXDDPG", "ApeXDDPGConfig", "WorkerError", "REGISTRY",
           "AgentEntry", "agent_classes", "load_agent"]


class AgentEntry(NamedTuple):
    """Where an algorithm lives and what it is, for the registry."""

    module: str
    agent: str
    config: str
    summary: str


#: Algorithm name -> its module, agent class, config class and a one-line summary. Agents keep one interface:
#: ``Agent(config)``, ``train(steps, logger=, progress=, callback=, callback_interval=)``, ``act``,
#: ``evaluate``, ``save``, ``Agent.load(path, device=, inference_only=, **overrides)``, ``from_checkpoint``,
#: ``close``, ``global_step``, ``config`` (with ``env_id``, ``seed``, ``total_steps``, ``env_kwargs``).
REGISTRY: dict[str, AgentEntry] = {
    "dqn": AgentEntry("fastrl.agents.dqn", "DQN", "DQNConfig",
                      "DQN with Double, dueling, n-step and prioritized-replay options (Discrete actions)"),
    "ddpg": AgentEntry("fastrl.agents.ddpg", "DDPG", "DDPGConfig",
                       "DDPG: deterministic actor-critic with Gaussian or OU exploration (Box actions)"),
    "a2c": AgentEntry("fastrl.agents.a2c", "A2C", "A2CConfig",
                      "A2C: synchronous advantage actor-critic on a batch of envs (Discrete actions)"),
    "a3c": AgentEntry("fastrl.agents.a3c", "A3C", "A3CConfig",
                      "A3C: asynchronous advantage actor-critic on Hogwild worker processes (Discrete actions)"),
    "nsq": AgentEntry("fastrl.agents.nsq", "NSQ", "NSQConfig",
                      "asynchronous n-step Q-learning on Hogwild worker processes (Discrete actions)"),
    "apex-dqn": AgentEntry("fastrl.agents.apex", "ApeXDQN", "ApeXDQNConfig",
                           "Ape-X DQN on Ray: actors feed prioritized replay shards, one learner (Discrete actions)"),
    "apex-ddpg": AgentEntry("fastrl.agents.apex_ddpg", "ApeXDDPG", "ApeXDDPGConfig",
                            "Ape-X DDPG on Ray: actors with their own noise feed prioritized replay shards (Box)"),
    "td3": AgentEntry("fastrl.agents.td3", "TD3", "TD3Config",
                      "TD3: DDPG with clipped double Q, target smoothing and delayed actor updates (Box actions)"),
}


def agent_classes(name: str) -> tuple[type, type]:
    """``(agent class, config class)`` of algorithm ``name``.

    Raises:
        ValueError: ``name`` is not in ``REGISTRY``.
    """
    entry = REGISTRY.get(name) if isinstance(name, str) else None
    if entry is None:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(sorted(REGISTRY))}")
    module = import_module(entry.module)
    return getattr(module, entry.agent), getattr(module, entry.config)


def load_agent(path: str | os.PathLike, **kwargs: Any) -> Any:
    """Loads the agent saved at ``path``, whatever its algorithm (read from the file); ``kwargs`` go to the
    agent's ``from_checkpoint`` (``device``, ``inference_only``, config overrides).

    Raises:
        OSError: ``path`` is missing, truncated or not a fastrl checkpoint.
        ValueError: the checkpoint's algorithm is unknown.
    """
    from fastrl.checkpoint import read_checkpoint

    ckpt = read_checkpoint(path)
    agent_cls, _ = agent_classes(ckpt.kind)
    return agent_cls.from_checkpoint(ckpt, **kwargs)
