"""Properties of schedules for any input: no crash but ScheduleError, and exact round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deforum_blender.core.schedules import (
    INTERPOLATIONS,
    ScheduleError,
    evaluate_schedule,
    evaluate_string_schedule,
    format_schedule,
    is_schedule_string,
)
from tests.core.test_schedules import deforum_numeric_reference, deforum_reference

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Pieces of schedules, valid and broken, so random texts reach deep into the grammar.
PIECES = [
    *"0123456789",
    *"0123456789",
    ":",
    ": ",
    ", ",
    ",",
    "(",
    ")",
    ".",
    "e",
    "-",
    "+",
    "*",
    "/",
    "//",
    "%",
    "**",
    "<",
    ">=",
    "==",
    "&",
    "|",
    "~",
    '"',
    "'",
    " ",
    "\n",
    "t",
    "i",
    "s",
    "max_f",
    "pi",
    "sin(",
    "sqrt(",
    "log(",
    "exp(",
    "min(",
    "where(",
    "clip(",
    "round(",
    "atan2(",
    "x",
    "__class__",
    "lambda",
    "[",
    "]",
    "1e308",
    "9**9**9",
]
schedule_like = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
any_text = st.one_of(st.text(max_size=60), schedule_like)


@PROPERTY_SETTINGS
@given(
    text=any_text,
    max_frames=st.integers(1, 40),
    seed=st.integers(-(2**32), 2**32),
    interpolation=st.sampled_from(INTERPOLATIONS),
)
@pytest.mark.timeout(120)
def test_any_text_evaluates_to_finite_values_or_raises_schedule_error(
    text: str, max_frames: int, seed: int, interpolation: str
) -> None:
    try:
        values = evaluate_schedule(text, max_frames, seed, interpolation=interpolation)
    except ScheduleError as error:
        assert error.text == text
        assert error.position is None or 0 <= error.position <= len(text)
        assert "\n" not in str(error)
    else:
        assert len(values) == max_frames
        assert all(isinstance(v, float) and math.isfinite(v) for v in values)


@PROPERTY_SETTINGS
@given(text=any_text, max_frames=st.integers(1, 40))
@pytest.mark.timeout(120)
def test_any_text_reads_as_a_string_schedule_or_raises_schedule_error(
    text: str, max_frames: int
) -> None:
    try:
        values = evaluate_string_schedule(text, max_frames)
    except ScheduleError:
        pass
    else:
        assert len(values) == max_frames
    assert isinstance(is_schedule_string(text), bool)


@st.composite
def keyframed_numbers(draw: st.DrawFn) -> tuple[str, int]:
    """A schedule of numeric keyframes, written the ways Deforum users write them."""
    max_frames = draw(st.integers(1, 60))
    frames = draw(st.lists(st.integers(-10, 80), min_size=1, max_size=8))
    parts = []
    for frame in frames:
        number = draw(st.floats(-1e6, 1e6, allow_nan=False))
        written = draw(st.sampled_from(["{}", "({})", '("{}")', " ( {} ) "]))
        parts.append(f"{frame}: " + written.format(repr(number)))
    return ", ".join(parts), max_frames


@PROPERTY_SETTINGS
@given(keyframed_numbers())
def test_numeric_keyframes_give_deforums_values_inside_the_range(
    case: tuple[str, int],
) -> None:
    text, max_frames = case
    keys = [int(part.split(":")[0]) for part in text.split(", ")]
    outside = sorted({key for key in keys if not 0 <= key < max_frames})
    if len(outside) == len(set(keys)):
        with pytest.raises(ScheduleError, match="every keyframe is outside"):
            evaluate_schedule(text, max_frames)
        return
    warnings: list[str] = []
    values = evaluate_schedule(text, max_frames, warnings=warnings)
    # Deforum drops keyframes outside the range, and so do we, saying which.
    assert len(warnings) == (1 if outside else 0)
    # Named in the order written (the last duplicate counts), at most six of them.
    last_position = {key: index for index, key in enumerate(keys)}
    for key in sorted(outside, key=last_position.__getitem__)[:6]:
        assert f" {key}" in warnings[0]
    if "e" not in text.lower():
        reference = deforum_numeric_reference(text, max_frames)
        assert values == pytest.approx(reference, rel=1e-12, abs=1e-9)
    # Every keyframe inside the range keeps its own value (the last duplicate wins).
    for part in reversed(text.split(", ")):
        key = int(part.split(":")[0])
        if 0 <= key < max_frames:
            last = [p for p in text.split(", ") if int(p.split(":")[0]) == key][-1]
            number = float(last.split(":")[1].replace('"', "").strip(" ()"))
            assert values[key] == number


# Values Deforum reads as expressions, some of them NaN on some frames.
EXPRESSIONS = ["t/4", "(t-{k})**0.5", "sqrt(({k}-t)*(t-{j}))", "2*sin(t/{j})", "-{k}+t*t"]


@st.composite
def deforum_schedules(draw: st.DrawFn) -> tuple[str, int]:
    """Numbers and expressions, some keys outside the range, always a keyframe at 0."""
    max_frames = draw(st.integers(1, 30))
    parts = []
    for frame in [0, *draw(st.lists(st.integers(-5, 40), max_size=6))]:
        if draw(st.booleans()):
            value = str(draw(st.integers(-50, 50)) / 4)
        else:
            template = draw(st.sampled_from(EXPRESSIONS))
            value = template.format(k=draw(st.integers(0, 30)), j=draw(st.integers(1, 30)))
        colons = draw(st.sampled_from(["{}: ({})", "{}:{}", "{}: 0: ({})"]))
        parts.append(colons.format(frame, value))
    return ", ".join(parts), max_frames


@PROPERTY_SETTINGS
@given(deforum_schedules())
def test_schedules_give_deforums_values_with_nan_frames_and_dropped_keys(
    case: tuple[str, int],
) -> None:
    text, max_frames = case
    reference = np.asarray(deforum_reference(text, max_frames, seed=3))
    try:
        values = evaluate_schedule(text, max_frames, seed=3)
    except ScheduleError as error:
        # Only where Deforum itself has nothing to fill from.
        assert "not a number on any frame" in str(error)
        assert np.isnan(reference).all()
    else:
        np.testing.assert_allclose(values, reference, rtol=1e-12, atol=1e-12)


series = st.one_of(
    st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=80),
    # Piecewise-linear series with runs to merge, plus float32 noise like F-curves give.
    st.lists(
        st.tuples(st.floats(-100, 100), st.floats(-5, 5), st.integers(1, 20)),
        min_size=1,
        max_size=6,
    ).map(
        lambda runs: [
            start + slope * step for start, slope, length in runs for step in range(length)
        ]
    ),
    st.lists(st.floats(-10, 10, width=32), min_size=1, max_size=80),
)


@PROPERTY_SETTINGS
@given(values=series)
def test_written_schedules_read_back_to_the_same_series(values: list[float]) -> None:
    text = format_schedule(values)
    assert "e" not in text.lower()
    scale = max(abs(v) for v in values)
    again = evaluate_schedule(text, len(values))
    np.testing.assert_allclose(again, values, rtol=1e-9, atol=1e-9 * scale)
    # Deforum's own reading (plain numbers, linear, keyframes inside the range) agrees.
    deforum = deforum_numeric_reference(text, len(values))
    np.testing.assert_allclose(deforum, values, rtol=1e-9, atol=1e-9 * scale)
    # Writing is minimal for constant series and stable when repeated.
    if len(set(values)) == 1:
        assert text.count(":") == 1
    assert format_schedule(again) == text or evaluate_schedule(
        format_schedule(again), len(values)
    ) == pytest.approx(again, rel=1e-9, abs=1e-9 * scale)
