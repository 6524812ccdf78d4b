"""The words of a render's progress, shared by Blender's panels and the CLI."""

from __future__ import annotations

import pytest

from deforum_blender.core.progress_text import (
    bar_text,
    cancelled_text,
    done_text,
    format_duration,
    frame_line,
    started_text,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (6.6, "0:07"), (725, "12:05"), (3723, "1:02:03"), (-3, "0:00")],
)
def test_durations_read_as_a_clock(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_the_bar_names_the_frame_being_rendered_and_the_pace_once_known() -> None:
    assert bar_text(0, 10, 0, 0, None, None) == "Frame 1/10"
    assert bar_text(3, 10, 2, 20, 2.1, 15) == "Frame 4/10 · step 2/20 · 2.10 s/frame · ETA 0:15"
    assert bar_text(10, 10, 0, 0, 1.0, 0) == "Frame 10/10 · 1.00 s/frame · ETA 0:00"


def test_the_line_per_frame_names_the_frame_the_count_and_the_eta() -> None:
    assert frame_line(7, 3, 10, 2.104, 75) == "frame 7 (3/10)  2.10 s/frame  ETA 1:15"


def test_start_and_outcomes() -> None:
    assert started_text(10) == "Rendering 10 frames"
    assert started_text(10, resumed_from=4) == "Rendering 10 frames, resuming at frame 4"
    assert done_text(10, 21.4) == "Done: 10 frames in 0:21"
    assert cancelled_text(3, 10) == "Cancelled after 3 of 10 frames"
