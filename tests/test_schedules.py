"""Schedules are pure functions of the step."""

import pytest

from fastrl.schedules import ConstantSchedule, LinearSchedule


def test_linear_schedule_values():
    s = LinearSchedule(1.0, 0.04, 8000)
    assert s(0) == 1.0
    assert s(4000) == pytest.approx(0.52)
    assert s(8000) == pytest.approx(0.04)
    assert s(10**9) == pytest.approx(0.04)
    assert s(-5) == 1.0
    assert LinearSchedule(0.4, 1.0, 0)(0) == 1.0  # zero duration: the end value at once


def test_constant_schedule():
    assert ConstantSchedule(0.3)(123) == 0.3


def test_exponential_schedule_values():
    import math

    from fastrl.schedules import ExponentialSchedule

    s = ExponentialSchedule(1.0, 0.01, 30_000)
    assert s(0) == 1.0
    assert s(30_000) == pytest.approx(0.01 + 0.99 / math.e)
    assert s(10**7) == pytest.approx(0.01)
    assert s(-3) == 1.0
    assert ExponentialSchedule(1.0, 0.2, 0)(0) == 0.2
