"""Argument checks shared by every part of fastrl: one error per mistake, naming the argument.

A wrong type raises ``TypeError``, a value out of range ``ValueError``; both messages start with the argument's
name (``"capacity must be an int, got float"``, ``"gamma must be finite and in [0.0, 1.0], got 1.5"``). Python
and NumPy integers and reals are accepted alike; ``bool`` is never taken for a number.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["check_bool", "check_int", "check_real"]


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool; TypeError naming ``name`` for anything but a Python or NumPy bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None, *,
              type_error: type[TypeError] = TypeError) -> int:
    """``value`` as an int in ``[low, high]`` (either bound optional).

    Raises:
        TypeError (or ``type_error``): not an integer (a bool included).
        ValueError: outside the bounds.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise type_error(f"{name} must be an int, got {type(value).__name__}")
    if low is not None and high is not None and not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return int(value)


def check_real(name: str, value: Any, low: float = -math.inf, high: float = math.inf, *,
               low_open: bool = False) -> float:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` with ``low_open``).

    Raises:
        TypeError: not a real number (a bool included).
        ValueError: NaN, infinite, or outside the interval.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < low or v > high or (low_open and v == low):
        interval = f"{'(' if low_open else '['}{low}, {high}]"
        raise ValueError(f"{name} must be finite and in {interval}, got {value!r}")
    return v
