"""Memory a run needs, against what the machine has: a run that cannot fit is refused before it starts.

:func:`replay_memory_bytes` is the figure the C++ replay memory itself checks before allocating (the same
function), :func:`available_bytes` what the machine can give now, and :func:`check_fits` the one-line refusal
that names the setting to change.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["replay_memory_bytes", "available_bytes", "check_fits", "RunTooLargeError"]


class RunTooLargeError(MemoryError):
    """A run that would not fit in the machine's memory, refused before it allocated anything large."""


def replay_memory_bytes(capacity: int, obs_shape: tuple[int, ...], obs_dtype: Any, action_shape: tuple[int, ...] = (),
                        action_dtype: Any = np.int64, num_envs: int = 1, frame_stack: int = 1,
                        prioritized: bool = False) -> int:
    """Bytes a :class:`fastrl.ReplayBuffer` with these arguments allocates (at capacity: the ring is
    allocated whole when the buffer is made). Raises ValueError for non-positive sizes."""
    from fastrl import _core

    obs_bytes = int(np.dtype(obs_dtype).itemsize * int(np.prod(obs_shape, dtype=np.int64)))
    action_bytes = int(np.dtype(action_dtype).itemsize * int(np.prod(action_shape, dtype=np.int64)))
    n = _core._replay_upfront_bytes(int(capacity), obs_bytes, action_bytes, int(num_envs), int(frame_stack),
                                    bool(prioritized))
    return n if n else 2**64


def available_bytes() -> int:
    """Memory the machine can give a new allocation now: ``MemAvailable`` of ``/proc/meminfo`` on Linux,
    else the physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fits(parts: dict[str, int], flag: str) -> None:
    """Raises :class:`RunTooLargeError` when the parts of a run (name -> bytes) exceed :func:`available_bytes`,
    with one line that names the total, the largest part and ``flag``, the setting to change."""
    need, have = sum(parts.values()), available_bytes()
    if need <= have:
        return
    name, largest = max(parts.items(), key=lambda kv: kv[1])
    raise RunTooLargeError(f"this run needs about {_gb(need)} of memory ({name}: {_gb(largest)}) and the machine has "
                           f"{_gb(have)} available: lower {flag} or free memory")


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"
