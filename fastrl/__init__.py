"""fastrl: fast deep-reinforcement-learning parts.

- ``fastrl.ReplayBuffer`` / ``fastrl.PrioritizedReplayBuffer``: a C++ replay memory (uniform or
  prioritized, n-step, frame-stack aware).
- ``fastrl.make_vec``: a C++ vectorized environment stepper behind gymnasium's ``VectorEnv`` API.
- ``fastrl.returns``: numba kernels for discounted returns, GAE, n-step and lambda-returns.
- ``fastrl.agents``: thin PyTorch agents built from those parts.

Every part can be used alone. Names are imported lazily, so ``import fastrl`` stays fast and
pulls in neither torch nor numba until a part that needs them is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY_NAMES = {
    "ReplayBuffer": "fastrl.replay",
    "PrioritizedReplayBuffer": "fastrl.replay",
    "Batch": "fastrl.replay",
    "make_vec": "fastrl.vector",
}
_LAZY_MODULES = ("returns", "agents", "nets", "vector", "replay")

__all__ = [*_LAZY_NAMES, *_LAZY_MODULES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        value = getattr(import_module(_LAZY_NAMES[name]), name)
    elif name in _LAZY_MODULES:
        value = import_module(f"fastrl.{name}")
    else:
        raise AttributeError(f"module 'fastrl' has no attribute {name!r}")
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
