"""Argument checks shared by every vector env kind."""

from __future__ import annotations

import numbers
from typing import Any

from gymnasium.vector import AutoresetMode

from fastrl._checks import check_bool, check_int

__all__ = ["check_bool", "check_int", "check_num_envs", "check_num_threads", "check_render_mode", "check_seed",
           "parse_autoreset_mode"]

# "next_step" / "same_step" / "disabled" (the enum's names, lower case); the enum's values ("NextStep", ...)
# are accepted too, in any case.
_AUTORESET_NAMES = {mode.name.lower(): mode for mode in AutoresetMode}
_AUTORESET_NAMES.update({mode.value.lower(): mode for mode in AutoresetMode})


def parse_autoreset_mode(autoreset_mode: str | AutoresetMode) -> AutoresetMode:
    """``"next_step"`` / ``"same_step"`` / ``"disabled"`` (any case) or an ``AutoresetMode`` -> ``AutoresetMode``."""
    if isinstance(autoreset_mode, AutoresetMode):
        return autoreset_mode
    if isinstance(autoreset_mode, str) and autoreset_mode.lower() in _AUTORESET_NAMES:
        return _AUTORESET_NAMES[autoreset_mode.lower()]
    raise ValueError(
        f"autoreset_mode must be one of {sorted(_AUTORESET_NAMES)} or a gymnasium.vector.AutoresetMode, "
        f"got {autoreset_mode!r}"
    )


def check_num_envs(num_envs: Any) -> int:
    """A positive Python or numpy integer."""
    return check_int("num_envs", num_envs, 1)


def check_num_threads(num_threads: Any) -> int | None:
    """``None`` (choose automatically) or a positive integer."""
    return None if num_threads is None else check_int("num_threads", num_threads, 1)


def check_seed(seed: Any, num_envs: int, name: str = "seed") -> list[int] | None:
    """``None``, an int (env i gets ``seed + i``) or a sequence of ``num_envs`` ints -> per-env seeds."""
    if seed is None:
        return None
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"{name} must be non-negative, got {seed}")
        return [int(seed) + i for i in range(num_envs)]
    try:
        seeds = list(seed)
    except TypeError:
        raise TypeError(f"{name} must be an int, a sequence of ints or None, got {type(seed).__name__}") from None
    if len(seeds) != num_envs:
        raise ValueError(f"If seeds are passed as a list the length must match num_envs={num_envs} but got "
                         f"length={len(seeds)}.")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0:
            raise ValueError(f"{name} entries must be non-negative ints, got {s!r}")
    return [int(s) for s in seeds]


def check_render_mode(render_mode: Any, supported: tuple[str, ...] = ("rgb_array",)) -> str | None:
    """``None`` or one of ``supported``; ValueError naming ``render_mode`` otherwise."""
    if render_mode is None or (isinstance(render_mode, str) and render_mode in supported):
        return render_mode
    raise ValueError(f"render_mode must be None or one of {list(supported)}, got {render_mode!r} (for a window, "
                     "wrap the env in gymnasium.wrappers.vector.HumanRendering over render_mode='rgb_array')")
