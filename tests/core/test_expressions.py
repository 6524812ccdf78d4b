"""The safe expression evaluator: the arithmetic users write, and nothing else, cheaply."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from deforum_blender.core.expressions import (
    ALIASES,
    FUNCTIONS,
    ExpressionError,
    compile_expression,
)
from deforum_blender.core.schedules import ScheduleError, evaluate_schedule

FRAMES = np.arange(5, dtype=np.float64)
SCOPE = {"max_f": 9.0, "s": 3.0}


def value(text: str, t: float = 2.0) -> float:
    return compile_expression(text).evaluate_at(t, SCOPE)


# --- the arithmetic ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-2**2", -4.0),  # ** binds tighter than unary minus, as in Python and numexpr
        ("2**-1", 0.5),
        ("2**3**2", 512.0),  # right-associative
        ("7//2", 3.0),
        ("-7 % 3", 2.0),  # Python's sign convention
        ("1 + 2 * 3 - 4 / 2", 5.0),
        ("(1 + 2) * 3", 9.0),
        ("+t", 2.0),
        ("3 > 2", 1.0),
        ("3 < 2", 0.0),
        ("1 < t < 3", 1.0),  # chained comparison
        ("t == 2", 1.0),
        ("t != 2", 0.0),
        ("(t > 1) & (t < 3)", 1.0),
        ("(t > 5) | (t < 1)", 0.0),
        ("~(t > 5)", 1.0),
        ("where(t > 1, 10, 20)", 10.0),
        ("min(5, t, 4)", 2.0),
        ("max(1, t, -4)", 2.0),
        ("clip(t, 3, 4)", 3.0),
        ("round(2.5)", 2.0),  # half to even, like Python and numpy
        ("round(3.14159, 2)", 3.14),
        ("floor(-1.5) + ceil(1.2)", 0.0),
        ("abs(-t)", 2.0),
        ("atan2(1, 1)", math.pi / 4),
        ("arctan2(1, 1)", math.pi / 4),  # numexpr's spelling
        ("arcsin(1)", math.pi / 2),
        ("log10(1000) + log(e)", 4.0),
        ("sqrt(16) + exp(0)", 5.0),
        ("sin(pi/2) + cos(0) + tan(0)", 2.0),
        ("sinh(0) + cosh(0) + tanh(0)", 1.0),
        ("max_f + s + i", 14.0),
        ("2.5e1 + .5 + 5.", 30.5),
    ],
)
def test_the_arithmetic_users_write_gives_python_values(text: str, expected: float) -> None:
    assert value(text) == pytest.approx(expected, rel=1e-15)


def test_every_function_in_the_table_can_be_called() -> None:
    for name, function in {**FUNCTIONS, **{a: FUNCTIONS[n] for a, n in ALIASES.items()}}.items():
        args = ", ".join(["0.5"] * function.min_args)
        if name in ("acosh", "arccosh"):
            args = "1.5"
        assert math.isfinite(value(f"{name}({args})")), name


def test_expressions_evaluate_all_frames_at_once() -> None:
    expression = compile_expression("t*t + max_f")
    assert list(expression.evaluate(FRAMES, SCOPE)) == [9.0, 10.0, 13.0, 18.0, 25.0]
    assert expression.variables == {"t", "max_f"}
    assert expression.literal is None and expression.constant is None


def test_literal_numbers_are_told_apart_from_constant_formulas() -> None:
    assert compile_expression("( -5 )").literal == -5.0
    assert compile_expression("1/2").literal is None
    assert compile_expression("1/2").constant == 0.5


def test_long_flat_sums_are_evaluated_without_recursion() -> None:
    expression = compile_expression("+".join(["t"] * 4000))
    assert list(expression.evaluate(FRAMES, SCOPE)) == [4000.0 * f for f in range(5)]


# --- what is refused, and the words used --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words", "position"),
    [
        ("2t", "write 2*t to multiply", 0),
        ("2^3", "use ** for powers", 1),
        ("t = 1", "compare with '=='", 2),
        ("sin", "sin is a function: write sin(...)", 0),
        ("sin(1, 2)", "sin() takes 1 arguments, not 2", 0),
        ("min(1)", "min() takes 2 to 64 arguments, not 1", 0),
        ("round(t, 1.5)", "n must be a whole number", 9),
        ("(1)(2)", "write * between ')' and '('", 3),
        ("1 +", "ends too early", 3),
        ("", "empty expression", 0),
        ("tt", "unknown name 'tt' (did you mean 't'?)", 0),
        ("t π", "only ASCII", 2),
        ("1e999", "too large", 0),
        ("1/0", "division by zero in '1/0'", 0),
        ("sqrt(-1)", "square root of a negative number", 0),
        ("(-8)**(1/3)", "a negative number to a fractional power", 0),
        ("0**-1", "zero to a negative power", 0),
        ("10**400", "overflow", 0),
    ],
)
def test_refusals_say_what_and_where(text: str, words: str, position: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    assert words in str(caught.value)
    assert caught.value.position == position


def test_positions_are_offset_into_the_surrounding_text() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("1 + foo", offset=40)
    assert caught.value.position == 44


def test_evaluation_failures_name_the_first_bad_frame_and_the_part() -> None:
    expression = compile_expression("1 + 2/(t - 3) + sqrt(t)")
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(FRAMES, SCOPE)
    assert caught.value.frame == 3
    assert caught.value.position == 4
    assert "division by zero at frame 3 in '2/(t - 3)'" in str(caught.value)


# --- hostile input: refused quickly, nothing executed ---------------------------------------------


CANARY = "deforum_canary"

HOSTILE = [
    "0: (t.__class__)",
    "0: (__import__('os').system('touch {canary}'))",
    "0: (__import__)",
    "0: (open('{canary}', 'w'))",
    '0: (exec(\'open("{canary}", "w")\'))',
    "0: (eval('1'))",
    "0: (globals())",
    "0: ((lambda: 1)())",
    "0: (lambda: 1)",
    "0: ([x for x in range(3)])",
    "0: ((x for x in range(3)))",
    "0: ({x: 1 for x in range(3)})",
    "0: (t[0])",
    "0: (().__class__.__bases__[0].__subclasses__())",
    "0: (f'{{1}}')",
    "0: (9**9**9)",
    "0: (t**9**9**9)",
    "0: (10**10**10 * t)",
    "0: (" + "9" * 9000 + "**" + "9" * 900 + ")",
    "0: (1e999)",
    "0: (" + "2**" * 200 + "2)",
    "0: (" + "-" * 5000 + "t)",
    "0: (" + "(" * 100_000 + "t" + ")" * 100_000 + ")",
    "0: (" + "sin(" * 150 + "t" + ")" * 150 + ")",
    "0: (1), " * 150_000,  # just over a megabyte
    "0: (" + "t+" * 6000 + "t)",  # a value longer than 10 000 characters
    "0: (1" + " " * 500_000 + "x)",
    "0: " + "1" * 400_000 + " " * 400_000 + "x",
    "0" * 500_000 + ": (1)",
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("template", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_input_is_refused_quickly_with_nothing_executed(
    template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = template.replace("{canary}", CANARY)
    with pytest.raises(ScheduleError) as caught:
        evaluate_schedule(text, 100_000)
    assert not (tmp_path / CANARY).exists()
    assert list(tmp_path.iterdir()) == []
    message = str(caught.value)
    assert "\n" not in message and len(message) < 1000


@pytest.mark.timeout(10)
def test_a_megabyte_string_is_refused_by_its_length() -> None:
    with pytest.raises(ScheduleError, match="characters long; the limit is") as caught:
        evaluate_schedule("x" * (1 << 20), 10)
    assert caught.value.position is None


@pytest.mark.timeout(10)
def test_deep_parentheses_are_refused_where_the_nesting_gets_too_deep() -> None:
    text = "0: " + "(" * 100_000 + "1" + ")" * 100_000
    with pytest.raises(ScheduleError, match="nested more than 100 deep") as caught:
        evaluate_schedule(text, 10)
    assert caught.value.position == 3 + 100


def test_huge_powers_are_refused_before_any_frame_is_evaluated() -> None:
    with pytest.raises(ExpressionError, match="overflow") as caught:
        compile_expression("t**9**9**9")
    assert caught.value.frame is None
    assert caught.value.position == 3
