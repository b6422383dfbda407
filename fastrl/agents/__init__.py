"""Thin PyTorch agents: one algorithm per file, each readable top to bottom.

- :class:`DQN` / :class:`DQNConfig` (``fastrl.agents.dqn``): DQN with Double, dueling, n-step and
  prioritized-replay options.
"""

from fastrl.agents.dqn import DQN, DQNConfig

__all__ = ["DQN", "DQNConfig"]
