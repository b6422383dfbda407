"""Type stubs of fastrl's private compiled module. Use the public wrappers in fastrl.replay and
fastrl.vector instead of these names."""

from __future__ import annotations

__version__: str

# ---- replay memory (csrc/bindings/bind_replay.cpp) ----

# ---- vectorized environments (csrc/bindings/bind_envs.cpp) ----
