"""Deforum schedule strings: Deforum's values for valid input, and clear errors otherwise."""

from __future__ import annotations

import pytest

from deforum_blender.core.schedules import ScheduleError, evaluate_schedule


def test_numeric_keyframes_interpolate_linearly() -> None:
    assert evaluate_schedule("0: (0), 4: (1)", 6) == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_comma_decimal_names_the_fix() -> None:
    with pytest.raises(ScheduleError, match="decimal comma: write 0.65") as caught:
        evaluate_schedule("0: (0,65)", 5, field="strength_schedule")
    assert caught.value.position == 5
    assert caught.value.field == "strength_schedule"
