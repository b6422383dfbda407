"""Schedules of a hyperparameter over training steps (exploration epsilon, prioritized-replay beta, ...).

A schedule is a pure function of the step, so it needs no saved state: a resumed run that knows its step
counter gets the same values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["LinearSchedule", "ExponentialSchedule", "ConstantSchedule"]


@dataclass(frozen=True)
class LinearSchedule:
    """``value(t) = start + (end - start) * min(t / duration, 1)``; ``end`` from ``t >= duration`` on.

    ``duration <= 0`` means ``end`` from the first step. ``t`` is counted in env steps by the agents.
    """

    start: float
    end: float
    duration: float

    def __call__(self, t: int | float) -> float:
        if self.duration <= 0:
            return float(self.end)
        frac = min(max(float(t), 0.0) / self.duration, 1.0)
        return float(self.start + (self.end - self.start) * frac)


@dataclass(frozen=True)
class ExponentialSchedule:
    """``value(t) = end + (start - end) * exp(-t / scale)``: from ``start`` towards ``end``, the gap shrinking
    by a factor e every ``scale`` steps (``scale <= 0``: ``end`` from the first step)."""

    start: float
    end: float
    scale: float

    def __call__(self, t: int | float) -> float:
        if self.scale <= 0:
            return float(self.end)
        return float(self.end + (self.start - self.end) * math.exp(-max(float(t), 0.0) / self.scale))


@dataclass(frozen=True)
class ConstantSchedule:
    """``value(t) = value`` for every ``t``."""

    value: float

    def __call__(self, t: int | float) -> float:
        return float(self.value)
