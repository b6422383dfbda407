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
