"""Deforum schedule strings: Deforum's values for valid input, and clear errors otherwise."""

from __future__ import annotations

import json
import math
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.schedules import (
    INTERPOLATIONS,
    ScheduleError,
    check_schedule,
    evaluate_frame_key,
    evaluate_schedule,
    evaluate_schedule_array,
    evaluate_string_schedule,
    format_schedule,
    is_schedule_string,
)
from tests.helpers import ROOT

REFERENCE = ROOT / "tests" / "core" / "data"
STRING_SCHEDULES = {
    "sampler_schedule",
    "checkpoint_schedule",
    "mask_schedule",
    "noise_mask_schedule",
}
MOTION_KEYS = {"angle", "zoom", "translation_x", "translation_y", "translation_z"}
MOTION_KEYS |= {"rotation_3d_x", "rotation_3d_y", "rotation_3d_z", "transform_center_x"}
MOTION_KEYS |= {"transform_center_y", "perspective_flip_theta", "perspective_flip_phi"}
MOTION_KEYS |= {"perspective_flip_gamma", "perspective_flip_fv"}


def deforum_numeric_reference(text: str, max_frames: int) -> list[float]:
    """Deforum's own reading of a schedule whose values are plain numbers (an oracle).

    Split on every comma and colon, strip quotes and parentheses, keep keyframes inside
    the frame range, hold the ends and interpolate linearly in between.
    """
    keyframes: dict[int, float] = {}
    for part in text.split(","):
        key, value = part.split(":")[:2]
        clean = value.replace("'", "").replace('"', "").replace("(", "").replace(")", "")
        assert re.match(r"^(?=.)([+-]?([0-9]*)(\.([0-9]+))?)$", clean.strip()), clean
        keyframes[int(key.replace('"', "").strip())] = float(clean)
    inside = sorted(frame for frame in keyframes if 0 <= frame < max_frames)
    return list(np.interp(np.arange(max_frames), inside, [keyframes[frame] for frame in inside]))


def deforum_reference(text: str, max_frames: int, seed: int = 0) -> list[float]:
    """Deforum's parse_key_frames and get_inbetweens re-implemented (an oracle).

    Split on every comma and colon and take the text between the first two colons;
    keyframes outside 0 .. max_frames-1 are never visited; a number is set at its frame,
    an expression on every frame up to the next keyframe (numpy stands in for numexpr);
    then the ends take the first and last valid values and the NaN in between are filled
    linearly, as pandas' ``interpolate(limit_direction='both')``. Test strings only.
    """
    scope = {"max_f": max_frames - 1, "s": seed}
    keyframes: dict[int, str] = {}
    for part in text.split(","):
        param = part.split(":")
        keyframes[int(eval(param[0].strip().strip('"'), dict(scope)))] = param[1].strip()
    functions = {"sqrt": np.sqrt, "sin": np.sin, "abs": np.abs}
    series = np.full(max_frames, np.nan)
    value, is_number = "", False
    for frame in range(max_frames):
        if frame in keyframes:
            value = keyframes[frame]
            clean = re.sub("[\"'()]", "", value)
            is_number = bool(re.match(r"^(?=.)([+-]?([0-9]*)(\.([0-9]+))?)$", clean))
            if is_number:
                series[frame] = float(clean)
        if not is_number:
            t = np.float64(frame)
            with np.errstate(all="ignore"):
                series[frame] = eval(value, {**functions, **scope, "t": t})
    valid = np.flatnonzero(~np.isnan(series))
    if valid.size == 0:  # Deforum fails here (no first valid index): all NaN
        return list(series)
    return list(np.interp(np.arange(max_frames), valid, series[valid]))


# --- Deforum's behaviour for valid input ------------------------------------------------


def test_numeric_keyframes_interpolate_linearly_and_hold_at_the_ends() -> None:
    assert evaluate_schedule("0: (0), 4: (1)", 6) == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert evaluate_schedule("2: (3), 4: (5)", 6) == [3.0, 3.0, 3.0, 4.0, 5.0, 5.0]


def test_numeric_schedules_match_deforums_own_reading() -> None:
    text = "0: (0.65), 10: (0.4), 25: (-1.5), 26: (2)"
    assert evaluate_schedule(text, 40) == pytest.approx(deforum_numeric_reference(text, 40))


def test_default_zoom_expression_is_evaluated_every_frame() -> None:
    values = evaluate_schedule("0: (1.0025+0.002*sin(1.25*3.14*t/30))", 50)
    expected = [1.0025 + 0.002 * math.sin(1.25 * 3.14 * t / 30) for t in range(50)]
    assert values == pytest.approx(expected, rel=1e-15)


def test_expression_runs_until_the_next_keyframe_then_jumps() -> None:
    values = evaluate_schedule("0: (t*t), 4: (1)", 6)
    assert values == [0.0, 1.0, 4.0, 9.0, 1.0, 1.0]


def test_number_ramps_towards_an_expression_keyframe_value() -> None:
    values = evaluate_schedule("0: (0), 4: (t*10)", 6)
    assert values == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]


def test_i_is_the_frame_index_like_t_and_max_f_and_s_are_known() -> None:
    assert evaluate_schedule("0: (i)", 3) == [0.0, 1.0, 2.0]
    assert evaluate_schedule("0: (max_f + s)", 2, seed=40) == [41.0, 41.0]


def test_quoted_frame_keys_are_expressions_truncated_to_integers() -> None:
    values = evaluate_schedule('0: (0), "max_f/2": (1), "max_f-1": (5)', 10)
    # max_f = 9: keyframes at 4 (4.5 truncated) and 8.
    assert values == [0.0, 0.25, 0.5, 0.75, 1.0, 2.0, 3.0, 4.0, 5.0, 5.0]


def test_deforum_seed_schedule_from_the_settings_files() -> None:
    text = '0:(s), 1:(-1), "max_f-2":(-1), "max_f-1":(s)'
    assert evaluate_schedule(text, 6, seed=42) == [42.0, -1.0, -1.0, -1.0, 42.0, 42.0]


def test_quotes_and_parentheses_around_values_are_ignored() -> None:
    assert evaluate_schedule('0: ("55")', 2) == [55.0, 55.0]
    assert evaluate_schedule("0: ('0.5')", 1) == [0.5]


def test_bare_signed_numbers_and_line_breaks_work() -> None:
    text = "0:-58,\n57:2.67\n"
    values = evaluate_schedule(text, 60)
    assert values[0] == -58.0
    assert values[57] == values[59] == 2.67
    assert values[20] == pytest.approx(-58 + (2.67 + 58) * 20 / 57)
    assert values == pytest.approx(deforum_numeric_reference(text, 60))


def test_keyframes_may_come_in_any_order() -> None:
    assert evaluate_schedule("4: (1), 0: (0)", 5) == evaluate_schedule("0: (0), 4: (1)", 5)


def test_the_last_duplicate_keyframe_wins() -> None:
    assert evaluate_schedule("0: (1), 0: (2)", 2) == [2.0, 2.0]
    assert evaluate_schedule('0: (1), "max_f": (2), 1: (3)', 2) == [1.0, 3.0]


@pytest.mark.parametrize("name", ["deforum_default_settings.txt", "deforum_simple_settings.txt"])
def test_every_schedule_in_the_reference_settings_files_evaluates(name: str) -> None:
    settings = json.loads((REFERENCE / name).read_text(encoding="utf-8"))
    frames = int(settings.get("max_frames", 120))
    seed = int(settings.get("seed", 1))
    checked = 0
    for key, value in settings.items():
        if not isinstance(value, str) or not (key.endswith("_schedule") or key in MOTION_KEYS):
            continue
        if key in STRING_SCHEDULES:
            assert len(evaluate_string_schedule(value, frames, field=key)) == frames
        else:
            values = evaluate_schedule(value, frames, seed, field=key)
            assert len(values) == frames and all(math.isfinite(v) for v in values)
        checked += 1
    assert checked > 30


# --- string schedules -------------------------------------------------------------------


def test_string_schedules_hold_each_value_until_the_next_keyframe() -> None:
    text = '0: ("model1.ckpt"), 3: ("model2.safetensors")'
    assert evaluate_string_schedule(text, 5) == ["model1.ckpt"] * 3 + ["model2.safetensors"] * 2


def test_string_schedules_strip_quotes_and_keep_commas_inside_quotes() -> None:
    assert evaluate_string_schedule('0: ("Euler a")', 2) == ["Euler a", "Euler a"]
    assert evaluate_string_schedule("0: (2), 1: (1)", 3) == ["2", "1", "1"]
    assert evaluate_string_schedule('0: ("a, b"), 2: (c)', 3) == ["a, b", "a, b", "c"]
    assert evaluate_string_schedule('5: ("{video_mask}")', 7) == ["{video_mask}"] * 7


# --- improvements over Deforum ----------------------------------------------------------


@pytest.mark.parametrize("written", ["1e-3", "1E-3", "0.001", "( 0.001 )", ".001", "+1e-3"])
def test_numbers_interpolate_however_they_are_written(written: str) -> None:
    values = evaluate_schedule(f"0: (0), 2: ({written})", 3)
    assert values == pytest.approx([0.0, 0.0005, 0.001])


def test_a_number_with_a_trailing_dot_interpolates() -> None:
    assert evaluate_schedule("0: (1), 2: (5.)", 3) == [1.0, 3.0, 5.0]


def test_commas_inside_parentheses_are_function_arguments() -> None:
    assert evaluate_schedule("0: (min(1, t/2))", 4) == [0.0, 0.5, 1.0, 1.0]
    assert evaluate_schedule("0: (where(t < 2, 10, 20))", 3) == [10.0, 10.0, 20.0]
    assert evaluate_schedule("0: (clip(t, 1, 2))", 4) == [1.0, 1.0, 2.0, 2.0]


def test_keyframes_past_the_end_are_dropped_with_a_warning() -> None:
    warnings: list[str] = []
    values = evaluate_schedule("0: (0), 20: (1)", 11, field="zoom", warnings=warnings)
    assert values == [0.0] * 11  # no ramp towards frame 20: frame 0's value holds
    assert warnings == [
        "zoom: keyframe 20 is outside frames 0–10 (max_frames 11): dropped, as Deforum does"
    ]
    assert evaluate_schedule("0: (0), 8: (t/4)", 5) == [0.0] * 5
    # A keyframe at max_frames is already past the end; max_f is the last frame.
    assert evaluate_schedule('0: (0), 4: (4), "max_f+1": (9)', 5) == [0, 1, 2, 3, 4]


def test_keyframes_before_frame_zero_are_dropped_with_a_warning() -> None:
    warnings: list[str] = []
    assert evaluate_schedule("-2: (0), 2: (4)", 3, warnings=warnings) == [4.0, 4.0, 4.0]
    assert warnings == [
        "keyframe -2 is outside frames 0–2 (max_frames 3): dropped, as Deforum does"
    ]


def test_dropped_keyframes_are_all_named_with_their_computed_frames() -> None:
    warnings: list[str] = []
    text = '0: (1), 30: (2), "max_f+5": (3), -1: (4)'
    evaluate_schedule(text, 10, field="noise_schedule", warnings=warnings)
    assert warnings == [
        'noise_schedule: keyframes 30, "max_f+5" (frame 14), -1 are outside frames 0–9 '
        "(max_frames 10): dropped, as Deforum does"
    ]


def test_every_keyframe_outside_the_range_is_an_error_naming_the_field_and_the_fix() -> None:
    with pytest.raises(ScheduleError) as caught:
        evaluate_schedule("20: (0.5), 40: (0.7)", 10, field="strength_schedule")
    message = str(caught.value)
    assert message.startswith('strength_schedule: schedule "20: (0.5), 40: (0.7)" at position 0')
    assert "every keyframe is outside frames 0–9 (max_frames 10)" in message
    assert "put a keyframe inside, e.g. 0: (0.5)" in message
    with pytest.raises(ScheduleError, match="every keyframe is outside"):
        evaluate_string_schedule('12: ("Euler a")', 10)


def test_the_value_of_a_dropped_keyframe_is_never_read_as_in_deforum() -> None:
    warnings: list[str] = []
    assert evaluate_schedule("0: (1), 50: (oops)", 3, warnings=warnings) == [1.0] * 3
    assert len(warnings) == 1 and "keyframe 50" in warnings[0]
    with pytest.raises(ScheduleError, match="unknown name 'oops'") as caught:
        evaluate_schedule("0: (1), 50: (oops)", 60)
    assert caught.value.position == 13
    with pytest.raises(ScheduleError, match="unknown name 'oops'"):
        check_schedule("0: (1), 50: (oops)")  # no frame count: every value must read
    assert not is_schedule_string("0: (1), 50: (oops)")


def test_string_schedules_drop_keyframes_outside_the_range_too() -> None:
    warnings: list[str] = []
    text = '0: ("Euler a"), 5: ("DPM++ 2M")'
    assert (
        evaluate_string_schedule(text, 3, field="sampler_schedule", warnings=warnings)
        == ["Euler a"] * 3
    )
    assert warnings == [
        "sampler_schedule: keyframe 5 is outside frames 0–2 (max_frames 3): dropped, "
        "as Deforum does"
    ]


def test_warnings_are_dropped_silently_when_no_list_is_given() -> None:
    assert evaluate_schedule("0: 0: (0.5), 9: (1)", 3) == [0.0, 0.0, 0.0]
    assert evaluate_string_schedule("0: (a), 9: (b)", 2) == ["a", "a"]


# --- two colons and NaN frames, read as Deforum reads them ------------------------------


def test_a_keyframe_with_two_colons_reads_the_text_between_them_as_deforum_does() -> None:
    warnings: list[str] = []
    values = evaluate_schedule(
        "0: 0: (0.5), 4: (1)", 5, field="strength_schedule", warnings=warnings
    )
    assert values == [0.0, 0.25, 0.5, 0.75, 1.0]  # frame 0 is 0, not 0.5
    assert warnings == [
        'strength_schedule: keyframe "0: 0: (0.5)" has two colons; read as 0: (0), as Deforum does'
    ]
    assert evaluate_schedule("0: (0.5): 1: 7", 2) == [0.5, 0.5]  # the rest is ignored
    assert evaluate_schedule("0: (0.5): 1: 7", 2) == deforum_reference("0: (0.5): 1: 7", 2)
    warnings.clear()
    assert evaluate_string_schedule('0: ("Euler a"): x', 2, warnings=warnings) == ["Euler a"] * 2
    assert warnings == [
        'keyframe "0: (\\"Euler a\\"): x" has two colons; read as 0: ("Euler a"), as Deforum does'
    ]


def test_two_colons_that_deforum_cannot_read_point_at_the_missing_comma() -> None:
    with pytest.raises(ScheduleError, match="comma missing") as caught:
        evaluate_schedule("0:: (1)", 5)
    assert caught.value.position == 2


def test_nan_frames_are_filled_from_their_neighbours_with_a_warning() -> None:
    warnings: list[str] = []
    text = "0: ((t-5)**0.5)"
    values = evaluate_schedule(text, 9, field="noise_schedule", warnings=warnings)
    assert values == pytest.approx([0.0] * 6 + [1.0, math.sqrt(2), math.sqrt(3)])
    assert values == pytest.approx(deforum_reference(text, 9))
    assert warnings == [
        "noise_schedule: not a number on frames 0–4 (a negative number to a fractional "
        "power at frame 0 in '(t-5)**0.5'); filled from the neighbouring frames, as Deforum does"
    ]


def test_a_nan_gap_gets_the_straight_line_between_the_nearest_valid_frames() -> None:
    warnings: list[str] = []
    text = "0: (sqrt((t-3)*(t-6)) + t)"  # not a number on frames 4 and 5
    values = evaluate_schedule(text, 8, warnings=warnings)
    assert values[3:7] == [3.0, 4.0, 5.0, 6.0]
    assert values == pytest.approx(deforum_reference(text, 8))
    assert len(warnings) == 1 and "on frames 4–5 (square root of a negative number" in warnings[0]


def test_a_ramp_towards_a_nan_keyframe_runs_to_the_first_valid_frame_after_it() -> None:
    text = "0: (1), 5: ((t-7)**0.5)"
    values = evaluate_schedule(text, 10)
    assert values[:8] == pytest.approx([1 - f / 7 for f in range(8)])
    assert values == pytest.approx(deforum_reference(text, 10))


def test_nan_on_every_frame_is_an_error_with_the_reason() -> None:
    with pytest.raises(ScheduleError) as caught:
        evaluate_schedule("0: (sqrt(-1-t))", 4, field="angle")
    message = str(caught.value)
    assert "square root of a negative number at frame 0 in 'sqrt(-1-t)'" in message
    assert "not a number on any frame" in message and message.startswith("angle: ")
    assert caught.value.position == 4
    with pytest.raises(ScheduleError, match="not a number on any frame"):
        evaluate_schedule("0: (sqrt(-1))", 4)


@pytest.mark.parametrize(
    ("text", "frames"),
    [
        ("0: (0), 20: (1)", 11),
        ("0: 0: (0.5), 5: (1)", 10),
        ("0: (2), 3: (((t-4)*(t-6))**0.5), 9: (1)", 12),
        ("0: (0), 4: (t*t), 8: (2), 30: (9)", 10),
        ('-3: (7), 0: (1), 6: (t/2), "max_f+4": (3)', 9),
        ("0: (0.4), 2: ((t-8)**1.5), 6: (0.1)", 9),
        ("0: (1), 2: (sqrt(-1)), 4: (3)", 6),  # a constant NaN is filled too
        ('0:(s), 1:(-1), "max_f-2":(-1), "max_f-1":(s), 99: (5)', 6),
    ],
)
def test_values_match_deforums_parse_key_frames_and_get_inbetweens(text: str, frames: int) -> None:
    assert evaluate_schedule(text, frames, seed=7) == pytest.approx(
        deforum_reference(text, frames, seed=7), rel=1e-12
    )


def test_a_missing_frame_zero_keyframe_holds_the_first_value() -> None:
    assert evaluate_schedule("3: (2), 5: (4)", 6) == [2.0, 2.0, 2.0, 2.0, 3.0, 4.0]
    assert evaluate_schedule("2: (t*10)", 4) == [20.0, 20.0, 20.0, 30.0]


def test_a_bare_value_is_a_constant_and_a_trailing_comma_is_ignored() -> None:
    assert evaluate_schedule("0.5", 2) == [0.5, 0.5]
    assert evaluate_schedule("t", 3) == [0.0, 1.0, 2.0]
    assert evaluate_schedule("0: (1), 2: (3),", 3) == [1.0, 2.0, 3.0]


def test_step_interpolation_holds_each_number_until_the_next_keyframe() -> None:
    values = evaluate_schedule("0: (0), 2: (1), 4: (t)", 6, interpolation="step")
    assert values == [0.0, 0.0, 1.0, 1.0, 4.0, 5.0]


def test_cubic_interpolation_eases_in_and_out_between_two_keyframes() -> None:
    values = evaluate_schedule("0: (0), 10: (1)", 11, interpolation="cubic")
    smoothstep = [3 * (f / 10) ** 2 - 2 * (f / 10) ** 3 for f in range(11)]
    assert values == pytest.approx(smoothstep, abs=1e-12)


def test_cubic_interpolation_passes_through_keyframes_without_overshooting() -> None:
    text = "0: (0), 10: (1), 20: (1.1), 30: (0), 40: (t/100)"
    cubic = evaluate_schedule(text, 50, interpolation="cubic")
    linear = evaluate_schedule(text, 50)
    for frame in (0, 10, 20, 30):
        assert cubic[frame] == linear[frame]
    assert cubic[40:] == linear[40:]  # expression segments are not eased
    assert all(0.0 <= v <= 1.0 for v in cubic[:10])
    assert all(1.0 <= v <= 1.1 for v in cubic[10:20])  # monotone: no bump past 1.1
    assert all(cubic[f] >= cubic[f + 1] for f in range(20, 30))


def test_interpolation_modes_are_listed_and_unknown_ones_name_them() -> None:
    assert INTERPOLATIONS == ("linear", "cubic", "step")
    with pytest.raises(ScheduleError, match="linear, cubic, step"):
        evaluate_schedule("0: (1)", 2, interpolation="bezier")


# --- errors -------------------------------------------------------------------------------


def test_comma_decimal_names_the_fix() -> None:
    with pytest.raises(ScheduleError, match=r"decimal comma: write 0\.65") as caught:
        evaluate_schedule("0: (0,65)", 5, field="strength_schedule")
    assert caught.value.position == 5
    assert caught.value.field == "strength_schedule"
    assert caught.value.text == "0: (0,65)"
    assert str(caught.value).startswith('strength_schedule: schedule "0: (0,65)" at position 5')


def test_comma_decimal_without_parentheses_names_the_fix() -> None:
    with pytest.raises(ScheduleError, match=r"decimal comma: write 0\.65") as caught:
        evaluate_schedule("0: 0,65", 5)
    assert caught.value.position == 4


def test_unknown_name_lists_the_allowed_names_and_suggests_one() -> None:
    with pytest.raises(ScheduleError) as caught:
        evaluate_schedule("0: (0.5 + tt)", 5, field="noise_schedule")
    message = str(caught.value)
    assert caught.value.position == 10
    assert "unknown name 'tt'" in message and "did you mean 't'" in message
    for allowed in ("t", "max_f", "s", "pi", "sin", "clip", "where"):
        assert allowed in message


def test_unknown_function_is_named_with_a_suggestion() -> None:
    with pytest.raises(ScheduleError, match=r"unknown function 'sinn' \(did you mean 'sin'\?\)"):
        evaluate_schedule("0: (sinn(t))", 5)


def test_unclosed_parenthesis_says_where() -> None:
    with pytest.raises(ScheduleError, match="never closed") as caught:
        evaluate_schedule("0: (1), 10: (sin(t)", 20)
    assert caught.value.position == 12


def test_unmatched_closing_parenthesis_says_where() -> None:
    with pytest.raises(ScheduleError, match="no matching") as caught:
        evaluate_schedule("0: (1))", 2)
    assert caught.value.position == 6


def test_missing_comma_between_keyframes_is_pointed_at() -> None:
    with pytest.raises(ScheduleError, match="comma missing") as caught:
        evaluate_schedule("0: (1)\n10: (2)", 20)
    assert caught.value.position == 9


def test_keyframe_without_colon_and_empty_parts_are_refused() -> None:
    with pytest.raises(ScheduleError, match="no ':'") as caught:
        evaluate_schedule("0: (1), 5 (2)", 9)
    assert caught.value.position == 8
    with pytest.raises(ScheduleError, match="empty keyframe"):
        evaluate_schedule("0: (1),, 5: (2)", 9)
    with pytest.raises(ScheduleError, match="empty"):
        evaluate_schedule("  ", 9)
    with pytest.raises(ScheduleError, match="value after ':' is missing"):
        evaluate_schedule("0: ", 9)
    with pytest.raises(ScheduleError, match="frame number before ':' is missing"):
        evaluate_schedule(": (1)", 9)


def test_frame_keys_cannot_use_t() -> None:
    with pytest.raises(ScheduleError, match="unknown name 't'") as caught:
        evaluate_schedule('"t": (1)', 9)
    assert caught.value.position == 1


def test_division_by_zero_names_the_frame() -> None:
    with pytest.raises(
        ScheduleError, match="division by zero at frame 3 in '1/\\(t-3\\)'"
    ) as caught:
        evaluate_schedule("0: (0), 2: (2 + 1/(t-3))", 6)
    assert caught.value.frame == 3
    assert caught.value.position == 16


def test_domain_errors_and_overflow_name_the_frame() -> None:
    with pytest.raises(ScheduleError, match="square root of a negative number at frame 0"):
        evaluate_schedule("0: (sqrt(-1-t))", 3)  # NaN on every frame: nothing to fill from
    with pytest.raises(ScheduleError, match="logarithm of zero at frame 0"):
        evaluate_schedule("0: (log(t))", 3)
    with pytest.raises(ScheduleError, match=r"overflow.* at frame 710"):
        evaluate_schedule("0: (exp(t))", 1000)
    with pytest.raises(ScheduleError, match="division by zero in '1/0'"):
        evaluate_schedule("0: (1/0)", 3)


def test_a_masked_division_by_zero_inside_where_is_fine() -> None:
    assert evaluate_schedule("0: (where(t > 0, 1/t, 0))", 3) == [0.0, 1.0, 0.5]


def test_bad_frame_counts_are_refused() -> None:
    with pytest.raises(ScheduleError, match="max_frames must be from 1"):
        evaluate_schedule("0: (1)", 0)
    with pytest.raises(ScheduleError, match="whole number"):
        evaluate_schedule("0: (1)", 2.5)  # type: ignore[arg-type]


def test_schedule_errors_are_bad_input_value_errors_and_survive_pickling() -> None:
    with pytest.raises(ScheduleError) as caught:
        evaluate_schedule("0: (x)", 2, field="angle")
    error = caught.value
    assert isinstance(error, DeforumInputError) and isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.field, copy.text, copy.position, str(copy)) == (
        "angle",
        "0: (x)",
        4,
        str(error),
    )


def test_error_messages_are_one_line_even_for_multi_line_schedules() -> None:
    with pytest.raises(ScheduleError) as caught:
        evaluate_schedule("0: (1),\n5: (oops)", 9)
    assert "\n" not in str(caught.value)
    assert caught.value.position == 12


def test_long_schedules_are_quoted_around_the_error_only() -> None:
    text = ", ".join(f"{f}: (1)" for f in range(200)) + ", 999: (bad)"
    with pytest.raises(ScheduleError) as caught:
        evaluate_schedule(text, 1000)
    assert len(str(caught.value)) < 400
    assert "999: (bad)" in str(caught.value)


# --- helpers --------------------------------------------------------------------------------


def test_frame_keys_evaluate_on_their_own() -> None:
    assert evaluate_frame_key("30", 100) == 30
    assert evaluate_frame_key("max_f/2", 100) == 49
    assert evaluate_frame_key('"max_f-1"', 100) == 98
    with pytest.raises(ScheduleError, match="prompts") as caught:
        evaluate_frame_key("max_frames", 100, field="prompts")
    assert caught.value.text == "max_frames"


def test_schedule_strings_are_recognised() -> None:
    assert is_schedule_string("0: (0.65)")
    assert not is_schedule_string("0.65")
    assert not is_schedule_string("0: (0,65)")
    check_schedule("0: (1), 10: (sin(t))")
    with pytest.raises(ScheduleError, match="cfg_scale_schedule"):
        check_schedule("0: (", field="cfg_scale_schedule")


def test_array_and_list_results_agree() -> None:
    array = evaluate_schedule_array("0: (0), 9: (1)", 10)
    assert array.dtype == np.float64 and list(array) == evaluate_schedule("0: (0), 9: (1)", 10)


# --- writing schedules -----------------------------------------------------------------------


def test_a_constant_series_is_written_as_one_keyframe() -> None:
    assert format_schedule([0.65] * 10) == "0: (0.65)"


def test_collinear_runs_become_one_segment() -> None:
    assert format_schedule(np.linspace(0.0, 1.0, 1000)) == "0: (0), 999: (1)"
    assert format_schedule([0, 1, 2, 3, 3, 3]) == "0: (0), 3: (3)"
    assert format_schedule([0, 1, 0, 1]) == "0: (0), 1: (1), 2: (0), 3: (1)"


def test_written_numbers_are_plain_fixed_point_and_read_back_exactly() -> None:
    values = [1e-5, 2.5e-7, 1e20, 1.0, -0.0, 0.5, 1 / 3]
    text = format_schedule(values)
    assert "e" not in text.lower()
    assert evaluate_schedule(text, len(values)) == [float(v) for v in values]
    assert deforum_numeric_reference(text, len(values)) == [float(v) for v in values]


def test_small_values_next_to_huge_ones_keep_their_own_keyframes() -> None:
    values = [1e20, 1.0, 0.0, 0.5]
    assert evaluate_schedule(format_schedule(values), 4) == values


def test_non_finite_values_cannot_be_written() -> None:
    with pytest.raises(DeforumInputError, match="frame 1"):
        format_schedule([0.0, math.nan])
    with pytest.raises(DeforumInputError):
        format_schedule([])


# --- command line -----------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deforum_blender", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_schedule_command_prints_a_json_list() -> None:
    result = run_cli("schedule", "0: (0), 4: (1)", "--frames", "5")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [0.0, 0.25, 0.5, 0.75, 1.0]
    result = run_cli("schedule", "0: (s)", "--frames", "2", "--seed", "7")
    assert json.loads(result.stdout) == [7.0, 7.0]
    result = run_cli("schedule", "0: (0), 2: (1)", "--frames", "3", "--interpolation", "step")
    assert json.loads(result.stdout) == [0.0, 0.0, 1.0]
    result = run_cli("schedule", '0: ("Euler a")', "--frames", "2", "--strings")
    assert json.loads(result.stdout) == ["Euler a", "Euler a"]


def test_schedule_command_prints_how_deforum_read_the_text_on_stderr() -> None:
    result = run_cli("schedule", "0: (1), 9: (2)", "--frames", "3", "--field", "zoom")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [1.0, 1.0, 1.0]
    assert result.stderr == (
        "warning: zoom: keyframe 9 is outside frames 0–2 (max_frames 3): dropped, as Deforum does\n"
    )


def test_schedule_command_reports_bad_input_on_one_line_with_status_2() -> None:
    result = run_cli("schedule", "0: (0,65)", "--frames", "5", "--field", "strength_schedule")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "strength_schedule" in lines[0] and "decimal comma: write 0.65" in lines[0]


def test_bench_command_reports_schedule_figures() -> None:
    result = run_cli("bench", "schedules", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)["schedules"]
    assert figures["expression_10k_frames_ms"] > 0
    table = run_cli("bench", "schedules")
    assert "schedules.expression_10k_frames_ms" in table.stdout


def test_bench_command_refuses_unknown_benchmarks() -> None:
    result = run_cli("bench", "no-such-benchmark")
    assert result.returncode == 2
    assert "schedules" in result.stderr


def test_numpy_integer_frame_counts_are_accepted() -> None:
    assert evaluate_schedule("0: (1)", np.int64(2)) == [1.0, 1.0]  # type: ignore[arg-type]


def test_huge_frame_numbers_are_dropped_like_any_key_past_the_end() -> None:
    warnings: list[str] = []
    assert evaluate_schedule("0: (1), 9999999999: (2)", 5, warnings=warnings) == [1.0] * 5
    assert "keyframe 9999999999 is outside" in warnings[0]


def test_huge_prompt_frame_keys_are_pointed_at() -> None:
    with pytest.raises(ScheduleError, match="out of range") as caught:
        evaluate_frame_key("9999999999", 5)
    assert caught.value.position == 0
    with pytest.raises(ScheduleError, match="cannot contain ':'"):
        evaluate_frame_key("0:1", 5)


def test_errors_stay_on_one_line_when_the_expression_spans_lines() -> None:
    # Found by hypothesis: the failing sub-expression was quoted with its line break.
    with pytest.raises(ScheduleError) as caught:
        evaluate_schedule("2**3**7**\n1", 5)
    assert "\n" not in str(caught.value)
    assert "'2**3**7** 1'" in str(caught.value)
