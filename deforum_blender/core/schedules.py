"""Deforum keyframe schedules (``0: (0.65), 30: (0.5+0.1*sin(t/10))``) as per-frame values.

Valid Deforum schedules give Deforum's values (see ``deforum-conventions.md``):

* a keyframe is ``frame: (value)``; the frame is an integer or an expression in ``max_f``
  (= max_frames - 1) and ``s`` (the seed), quoted or not, truncated to an integer;
* quotes and the parentheses around values are ignored (``0: ("55")``, ``0:-58``), line
  breaks and any keyframe order are fine, and the last duplicate frame wins;
* a number is interpolated linearly from its keyframe to the next keyframe's value; an
  expression is evaluated at every frame from its keyframe up to the next keyframe with
  ``t`` (also ``i``) = the frame index; before the first keyframe and after the last,
  the nearest keyframe's value holds.

Where Deforum reads a text against its plain meaning, we read it Deforum's way and say
so in a warning: keyframes outside frames 0 .. max_frames-1 are dropped (no ramp towards
a keyframe past the end); ``0: 0: (0.5)`` reads the text between the first two colons
(``0``); frames where an expression is NaN are filled from their neighbours (pandas'
linear ``interpolate(limit_direction='both')``).

Where Deforum is broken we do better: numbers interpolate however they are written
(``1e-3``, ``5.``, ``( 1 )``); commas inside parentheses are allowed
(``min(1, t/10)``); a missing frame-0 keyframe holds the first value; a bare value
(``0.5``) is a constant; a trailing comma is ignored; an infinite value is an error
naming the frame. Errors are :class:`ScheduleError` with the field, the text, the
0-based character position and a fix.

Interpolation between numeric keyframes is ``linear`` (Deforum's), ``step`` (hold until
the next keyframe) or ``cubic``: a monotone cubic Hermite curve whose slopes at inner
keyframes are Fritsch–Carlson/PCHIP weighted harmonic means (zero at a local peak or
dip) and zero at the first and last keyframe of a run of numbers, so it eases in and
out and never overshoots the keyframe values.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import DeforumInputError
from .expressions import (
    MAX_NESTING,
    VARIABLES,
    Expression,
    ExpressionError,
    FloatArray,
    compile_expression,
)

INTERPOLATIONS = ("linear", "cubic", "step")
MAX_TEXT_LENGTH = 1_000_000  # an exported 30 000-frame noisy curve fits; a megabyte does not
MAX_FRAMES = 1_000_000
MAX_FRAME_NUMBER = 10**9
MAX_WORK = 200_000_000  # operations x frames evaluated per schedule: about a second at most

_KEY_VARIABLES = ("max_f", "s")
# Applied to stripped text; no two adjacent quantifiers can share characters (no backtracking
# blow-up on long inputs).
_PLAIN_NUMBER = re.compile(r"\(?\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*\)?")
_PLAIN_INTEGER = re.compile(r"[+-]?\d{1,10}")
_DELIMITERS = re.compile(r"[(),:\"']")
_QUOTES = str.maketrans({'"': " ", "'": " "})


class ScheduleError(DeforumInputError):
    """A schedule that cannot be read or evaluated.

    ``field`` is the setting's name when known, ``text`` the whole schedule, ``position``
    the 0-based character index in ``text`` (None when no single place is to blame) and
    ``problem`` what is wrong, with the fix where one is obvious.
    """

    def __init__(
        self,
        problem: str,
        *,
        text: str,
        position: int | None = None,
        field: str | None = None,
        frame: int | None = None,
    ) -> None:
        self.problem = problem
        self.text = text
        self.position = position
        self.field = field
        self.frame = frame
        super().__init__(self._message())

    def _message(self) -> str:
        prefix = f"{self.field}: " if self.field else ""
        where = "" if self.position is None else f" at position {self.position}"
        return f"{prefix}schedule {_quote(self.text, self.position)}{where}: {self.problem}"

    def with_field(self, field: str | None) -> ScheduleError:
        """The same error, naming ``field`` (unchanged when ``field`` is None)."""
        if field is None or field == self.field:
            return self
        return ScheduleError(
            self.problem, text=self.text, position=self.position, field=field, frame=self.frame
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_error,
            (self.problem, self.text, self.position, self.field, self.frame),
        )


def _rebuild_error(
    problem: str, text: str, position: int | None, field: str | None, frame: int | None
) -> ScheduleError:
    return ScheduleError(problem, text=text, position=position, field=field, frame=frame)


def _quote(text: str, position: int | None, width: int = 80) -> str:
    """The text in double quotes on one line, cut to a window around ``position``."""
    if len(text) > width:
        centre = position if position is not None else 0
        start = max(0, min(centre - width // 2, len(text) - width))
        cut = text[start : start + width]
        text = ("…" if start else "") + cut + ("…" if start + width < len(text) else "")
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class _Keyframe:
    key: Expression  # the frame number, an expression in max_f and s
    key_text: str  # the frame as written
    key_position: int
    value: str  # the value as written (string schedules use it)
    value_position: int
    number: float | None  # set when the value is a plain number: it interpolates
    formula: Expression | None  # set otherwise: evaluated per frame
    # Why the value cannot be read, raised only if the keyframe is inside the frame range
    # (Deforum never reads the value of a keyframe it drops).
    problem: tuple[str, int | None] | None = None


@dataclass(frozen=True)
class _Item:
    start: int  # the item's text is text[start:end]
    end: int
    colon: int | None  # first top-level ':' (absolute), if any
    second: int | None  # second top-level ':', if any (Deforum reads up to it)


def _error(
    problem: str, text: str, position: int | None, frame: int | None = None
) -> ScheduleError:
    return ScheduleError(problem, text=text, position=position, frame=frame)


def _split(text: str) -> list[_Item]:
    """Split at top-level commas (outside quotes and parentheses), checking the brackets."""
    if len(text) > MAX_TEXT_LENGTH:
        raise _error(
            f"the schedule is {len(text)} characters long; the limit is {MAX_TEXT_LENGTH}",
            text,
            None,
        )
    items: list[_Item] = []
    opened: list[int] = []  # positions of the '(' still open
    quote: str | None = None
    quote_start = 0
    item_start = 0
    colon: int | None = None
    second: int | None = None
    for match in _DELIMITERS.finditer(text):
        char, position = match.group(), match.start()
        if quote is not None:
            if char == quote:
                quote = None
            continue
        if char in "\"'":
            quote, quote_start = char, position
        elif char == "(":
            opened.append(position)
            if len(opened) > MAX_NESTING:
                raise _error(f"parentheses nested more than {MAX_NESTING} deep", text, position)
        elif char == ")":
            if not opened:
                raise _error("this ')' has no matching '(': remove it or add '('", text, position)
            opened.pop()
        elif opened:
            continue  # ',' and ':' inside parentheses belong to the value
        elif char == ",":
            items.append(_Item(item_start, position, colon, second))
            item_start, colon, second = position + 1, None, None
        elif colon is None:
            colon = position
        elif second is None:
            second = position
    if quote is not None:
        raise _error(f"this {quote} is never closed: add a closing {quote}", text, quote_start)
    if opened:
        raise _error("this '(' is never closed: add ')'", text, opened[-1])
    items.append(_Item(item_start, len(text), colon, second))
    return items


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _compile(
    text: str, start: int, end: int, variables: tuple[str, ...], allow_nan: bool = False
) -> Expression:
    """Compile ``text[start:end]`` with quotes blanked out (so positions stay true)."""
    try:
        return compile_expression(text[start:end].translate(_QUOTES), variables, start, allow_nan)
    except ExpressionError as error:
        raise _error(error.problem, text, error.position) from None


def _decimal_comma(text: str, items: list[_Item], index: int) -> ScheduleError | None:
    """``0: 0,65`` splits into ``0: 0`` and ``65``: recognise it and say so."""
    item = items[index]
    digits = text[item.start : item.end].strip()
    if index == 0 or not digits.isdigit():
        return None
    before = items[index - 1]
    value_start = before.start if before.colon is None else before.colon + 1
    value_end = before.end if before.second is None else before.second
    whole = text[value_start:value_end].translate(_QUOTES).strip().strip("()").strip()
    if not re.fullmatch(r"[+-]?\d+", whole):
        return None
    return _error(f"decimal comma: write {whole}.{digits}", text, before.end)


def _one_line(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@functools.lru_cache(maxsize=512)
def _parse(text: str, strings: bool) -> tuple[tuple[_Keyframe, ...], tuple[str, ...]]:
    """The keyframes in written order and the warnings about how they were read.

    Frame keys stay expressions until max_frames is known.
    """
    items = _split(text)
    if not text.strip():
        raise _error("the schedule is empty: write e.g. 0: (1)", text, None)
    keyframes: list[_Keyframe] = []
    notes: list[str] = []
    bare = len(items) == 1 and items[0].colon is None
    for index, item in enumerate(items):
        start, end = _strip_span(text, item.start, item.end)
        if start == end:
            if index == len(items) - 1 and index > 0:
                continue  # a trailing comma
            raise _error("empty keyframe between commas: remove the extra ','", text, item.start)
        if bare:
            key, key_start, key_end = compile_expression("0", _KEY_VARIABLES, 0), start, start
            value_start, value_end = start, end
        elif item.colon is None:
            hint = _decimal_comma(text, items, index)
            if hint is not None:
                raise hint
            raise _error("a keyframe needs 'frame: (value)'; no ':' found", text, start)
        else:
            key_start, key_end = _strip_span(text, start, item.colon)
            if key_start == key_end:
                raise _error("the frame number before ':' is missing", text, item.colon)
            if _PLAIN_INTEGER.fullmatch(text, key_start, key_end):
                key = compile_expression(str(int(text[key_start:key_end])), _KEY_VARIABLES, 0)
            else:
                key = _compile(text, key_start, key_end, _KEY_VARIABLES)
            value_end_limit = end if item.second is None else item.second
            value_start, value_end = _strip_span(text, item.colon + 1, value_end_limit)
        key_text = text[key_start:key_end] if not bare else "0"
        keyframe = _value(text, key, key_text, key_start, value_start, value_end, strings)
        if item.second is not None:
            if value_start == value_end or keyframe.problem is not None:
                raise _error(
                    "a second ':' in one keyframe: is a comma missing between keyframes?",
                    text,
                    item.second,
                )
            read = _one_line(text[value_start:value_end], 40)
            read = read if read.startswith("(") and read.endswith(")") else f"({read})"
            notes.append(
                f"keyframe {_quote(_one_line(text[start:end]), None)} has two colons; "
                f"read as {_one_line(key_text, 30)}: {read}, as Deforum does"
            )
        keyframes.append(keyframe)
    return tuple(keyframes), tuple(notes)


def _value(
    text: str,
    key: Expression,
    key_text: str,
    key_start: int,
    start: int,
    end: int,
    strings: bool,
) -> _Keyframe:
    """One keyframe; a value that cannot be read is kept as its problem, raised if used."""
    raw = text[start:end]
    number: float | None = None
    formula: Expression | None = None
    problem: tuple[str, int | None] | None = None
    if start == end:
        problem = ("the value after ':' is missing", start)
    elif strings:
        raw = _string_value(raw)
    elif _PLAIN_NUMBER.fullmatch(raw):
        number = float(raw.strip().strip("()"))
        if not math.isfinite(number):
            number, problem = None, (f"the number {raw.strip()[:20]} is too large", start)
    else:
        try:
            formula = _compile(text, start, end, VARIABLES, allow_nan=True)
        except ScheduleError as error:
            problem = (error.problem, error.position)
        else:
            number = formula.literal
            formula = None if number is not None else formula
    return _Keyframe(key, key_text, key_start, raw, start, number, formula, problem)


def _string_value(raw: str) -> str:
    """``("Euler a")`` -> ``Euler a``: one pair of parentheses, then one pair of quotes."""
    value = raw.strip()
    if value.startswith("(") and value.endswith(")"):
        value = value[1:-1].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value


def _raise_problem(text: str, keyframes: Sequence[_Keyframe]) -> None:
    """Raise the first unreadable value among ``keyframes`` (in written order), if any."""
    for keyframe in sorted(keyframes, key=lambda k: k.value_position):
        if keyframe.problem is not None:
            problem, position = keyframe.problem
            raise _error(problem, text, position)


def _check_text(text: object) -> None:
    if not isinstance(text, str):
        raise _error(f"expected text, got {type(text).__name__}", str(text)[:200], None)


def _check_arguments(text: str, max_frames: int) -> int:
    """``max_frames`` as an int (numpy integers are fine), checked."""
    _check_text(text)
    if isinstance(max_frames, bool) or not hasattr(max_frames, "__index__"):
        raise _error(f"max_frames must be a whole number, not {max_frames!r}", text, None)
    max_frames = operator.index(max_frames)
    if not 1 <= max_frames <= MAX_FRAMES:
        raise _error(f"max_frames must be from 1 to {MAX_FRAMES}, not {max_frames}", text, None)
    return max_frames


def _frames(
    text: str, keyframes: tuple[_Keyframe, ...], max_frames: int, seed: int
) -> tuple[list[int], list[_Keyframe]]:
    """Keyframes sorted by frame, the last one written winning for a duplicate frame."""
    variables = {"max_f": float(max_frames - 1), "s": float(seed)}
    by_frame: dict[int, _Keyframe] = {}
    for keyframe in keyframes:
        key = keyframe.key
        if key.constant is not None:
            frame_value = key.constant
        else:
            try:
                frame_value = key.evaluate_at(0.0, variables)
            except ExpressionError as error:
                raise _error(error.problem.split(" at frame")[0], text, error.position) from None
        by_frame[int(frame_value)] = keyframe  # int() truncates, as Deforum does
    frames = sorted(by_frame)
    return frames, [by_frame[frame] for frame in frames]


def _kept(
    text: str, keyframes: tuple[_Keyframe, ...], max_frames: int, seed: int, notes: list[str]
) -> tuple[list[int], list[_Keyframe]]:
    """The keyframes inside frames 0 .. max_frames-1; Deforum drops the others, and so do we."""
    frames, ordered = _frames(text, keyframes, max_frames, seed)
    inside = [i for i, frame in enumerate(frames) if 0 <= frame < max_frames]
    outside = [i for i, frame in enumerate(frames) if not 0 <= frame < max_frames]
    span = f"frames 0–{max_frames - 1} (max_frames {max_frames})"
    if not inside:
        value = _one_line(ordered[0].value, 30)
        value = value if value.startswith("(") else f"({value})"
        raise _error(
            f"every keyframe is outside {span}, and Deforum drops those: put a keyframe "
            f"inside, e.g. 0: {value}",
            text,
            min(k.key_position for k in ordered),
        )
    if outside:
        named = sorted(outside, key=lambda i: ordered[i].key_position)
        names = [_key_name(ordered[i], frames[i]) for i in named[:6]]
        if len(named) > 6:
            names.append(f"{len(named) - 6} more")
        one = len(named) == 1
        notes.append(
            f"keyframe{'' if one else 's'} {', '.join(names)} {'is' if one else 'are'} "
            f"outside {span}: dropped, as Deforum does"
        )
    kept_frames = [frames[i] for i in inside]
    kept = [ordered[i] for i in inside]
    _raise_problem(text, kept)
    return kept_frames, kept


def _key_name(keyframe: _Keyframe, frame: int) -> str:
    """A dropped key for a warning: as written, with its frame when that was computed."""
    written = _one_line(keyframe.key_text, 30)
    if _PLAIN_INTEGER.fullmatch(keyframe.key_text) or abs(frame) > MAX_FRAME_NUMBER:
        return written
    return f"{written} (frame {frame})"


def _frame_ranges(frames: Sequence[int]) -> str:
    """``[0, 1, 2, 3, 7]`` -> ``frames 0–3, 7`` (sorted input)."""
    runs: list[list[int]] = []
    for frame in frames:
        if runs and frame == runs[-1][1] + 1:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    parts = [str(a) if a == b else f"{a}–{b}" for a, b in runs[:8]]
    if len(runs) > 8:
        parts.append("…")
    one = len(frames) == 1
    return f"frame{'' if one else 's'} {', '.join(parts)}"


class _Evaluator:
    """Per-frame values of one parsed schedule for one (max_frames, seed)."""

    def __init__(self, text: str, max_frames: int, seed: int) -> None:
        self.text = text
        self.count = max_frames
        self.variables = {"max_f": float(max_frames - 1), "s": float(seed)}
        self.work = 0

    def formula(self, expression: Expression, frames: FloatArray) -> FloatArray:
        """The expression's values on ``frames``; NaN is returned, infinity refused."""
        self.work += expression.size * len(frames)
        if self.work > MAX_WORK:
            raise _error(
                f"too much work: {expression.size} operations over {len(frames)} frames; "
                "simplify the expression or use fewer frames",
                self.text,
                expression.offset,
            )
        try:
            return expression.evaluate(frames, self.variables, allow_nan=True)
        except ExpressionError as error:
            raise _error(error.problem, self.text, error.position, error.frame) from None


def _evaluate(
    text: str, max_frames: int, seed: int, interpolation: str, notes: list[str]
) -> FloatArray:
    keyframes, parse_notes = _parse(text, False)
    notes.extend(parse_notes)
    frames, ordered = _kept(text, keyframes, max_frames, seed, notes)
    evaluator = _Evaluator(text, max_frames, seed)
    ends = [*frames[1:], max_frames]
    out = np.full(max_frames, np.nan, dtype=np.float64)
    with np.errstate(all="ignore"):  # overflow is caught below, with the frame named
        spans = []
        for start, end, keyframe in zip(frames, ends, ordered, strict=True):
            if keyframe.formula is not None:
                values = evaluator.formula(keyframe.formula, np.arange(start, end, dtype=float))
                out[start:end] = values
                spans.append((start, end, keyframe.formula))
        if spans:
            _fill_nan(out, frames, ordered, spans, evaluator, notes)
        knots = [
            float(out[frame]) if keyframe.number is None else keyframe.number
            for frame, keyframe in zip(frames, ordered, strict=True)
        ]
        _fill_numbers(out, frames, ordered, knots, interpolation)
    if not np.isfinite(out).all():  # e.g. a ramp between two huge numbers overflowed
        bad = int(np.argmin(np.isfinite(out)))
        raise _error(f"the value at frame {bad} is not a finite number", text, None, bad)
    return out


def _fill_nan(
    out: FloatArray,
    frames: list[int],
    ordered: list[_Keyframe],
    spans: list[tuple[int, int, Expression]],
    evaluator: _Evaluator,
    notes: list[str],
) -> None:
    """Fill the frames where an expression is NaN as Deforum does, and say which.

    Deforum's series holds each number at its keyframe and each expression's values;
    pandas' ``interpolate(limit_direction='both')`` then draws straight lines across the
    gaps and holds the nearest value at the ends.
    """
    index = np.arange(len(out))
    missing = np.isnan(out)
    for frame, keyframe in zip(frames, ordered, strict=True):
        if keyframe.number is not None:
            missing[frame] = False  # a numeric keyframe's own frame is written below
    in_spans = np.zeros(len(out), dtype=bool)
    for start, end, _ in spans:
        in_spans[start:end] = True
    missing &= in_spans
    if not missing.any():
        return
    first = int(np.argmax(missing))
    culprit = next(formula for start, end, formula in spans if start <= first < end)
    reason = culprit.diagnose(float(first), evaluator.variables)
    known = out.copy()
    for frame, keyframe in zip(frames, ordered, strict=True):
        if keyframe.number is not None:
            known[frame] = keyframe.number
    valid = ~np.isnan(known)
    if not valid.any():
        raise _error(
            f"{reason.problem}; the value is not a number on any frame, so there is "
            "nothing to fill it from: change the expression",
            evaluator.text,
            reason.position,
            first,
        )
    out[missing] = np.interp(index[missing], index[valid], known[valid])
    notes.append(
        f"not a number on {_frame_ranges(index[missing].tolist())} ({reason.problem}); "
        "filled from the neighbouring frames, as Deforum does"
    )


def _fill_numbers(
    out: FloatArray,
    frames: list[int],
    ordered: list[_Keyframe],
    knots: list[float],
    interpolation: str,
) -> None:
    """Write the segments that start at numeric keyframes (and the frames before the first)."""
    max_frames = len(out)
    out[: frames[0]] = knots[0]

    def slope(index: int) -> float:
        """Cubic tangent at keyframe ``index``: PCHIP inside a run of numbers, else flat."""
        if index == 0 or index + 1 >= len(frames) or ordered[index - 1].number is None:
            return 0.0
        if ordered[index].number is None:
            return 0.0
        h0, h1 = frames[index] - frames[index - 1], frames[index + 1] - frames[index]
        d0 = (knots[index] - knots[index - 1]) / h0
        d1 = (knots[index + 1] - knots[index]) / h1
        if not (math.isfinite(d0) and math.isfinite(d1)) or d0 * d1 <= 0:
            return 0.0
        w1, w2 = 2 * h1 + h0, h1 + 2 * h0
        return (w1 + w2) / (w1 / d0 + w2 / d1)

    for index, (frame, keyframe) in enumerate(zip(frames, ordered, strict=True)):
        if keyframe.formula is not None:
            continue
        last = index + 1 == len(frames)
        end = max_frames if last else frames[index + 1]
        value = knots[index]
        if last or interpolation == "step":
            out[frame:end] = value
            continue
        target, width = knots[index + 1], end - frame
        s = (np.arange(frame, end, dtype=np.float64) - frame) / width
        if interpolation == "linear":
            out[frame:end] = value + (target - value) * s
        else:  # cubic Hermite
            s2, s3 = s * s, s * s * s
            out[frame:end] = (
                (2 * s3 - 3 * s2 + 1) * value
                + (s3 - 2 * s2 + s) * width * slope(index)
                + (3 * s2 - 2 * s3) * target
                + (s3 - s2) * width * slope(index + 1)
            )


def _report(notes: list[str], field: str | None, warnings: list[str] | None) -> None:
    """Append ``notes`` to ``warnings`` (when given), each line starting with the field."""
    if warnings is not None:
        prefix = f"{field}: " if field else ""
        warnings.extend(prefix + note for note in notes)


def evaluate_schedule_array(
    text: str,
    max_frames: int,
    seed: int = 0,
    *,
    field: str | None = None,
    interpolation: str = "linear",
    warnings: list[str] | None = None,
) -> FloatArray:
    """Like :func:`evaluate_schedule`, returning a float64 numpy array."""
    notes: list[str] = []
    try:
        max_frames = _check_arguments(text, max_frames)
        if interpolation not in INTERPOLATIONS:
            raise _error(
                f"unknown interpolation {interpolation!r}; use one of {', '.join(INTERPOLATIONS)}",
                text,
                None,
            )
        return _evaluate(text, max_frames, int(seed), interpolation, notes)
    except ScheduleError as error:
        raise error.with_field(field) from None
    finally:
        _report(notes, field, warnings)


def evaluate_schedule(
    text: str,
    max_frames: int,
    seed: int = 0,
    *,
    field: str | None = None,
    interpolation: str = "linear",
    warnings: list[str] | None = None,
) -> list[float]:
    """Per-frame values of a Deforum schedule for frames 0 .. max_frames-1.

    ``seed`` is the ``s`` in expressions; ``field`` names the setting in messages;
    ``interpolation`` is one of :data:`INTERPOLATIONS`. Where Deforum reads the text
    differently from its plain meaning (two colons, keyframes outside the range, NaN
    frames) we read it Deforum's way and append one line per case to ``warnings`` (when
    given). Raises :class:`ScheduleError`.
    """
    array = evaluate_schedule_array(
        text, max_frames, seed, field=field, interpolation=interpolation, warnings=warnings
    )
    return [float(value) for value in array.tolist()]


def evaluate_string_schedule(
    text: str,
    max_frames: int,
    *,
    field: str | None = None,
    seed: int = 0,
    warnings: list[str] | None = None,
) -> list[str]:
    """Per-frame values of a text schedule (sampler, checkpoint, clip skip).

    Each value holds from its keyframe until the next (the first holds before it, the
    last after it); one pair of parentheses and one pair of quotes around it are removed.
    Keyframes outside the range are dropped with a warning, as in :func:`evaluate_schedule`.
    """
    notes: list[str] = []
    try:
        max_frames = _check_arguments(text, max_frames)
        keyframes, parse_notes = _parse(text, True)
        notes.extend(parse_notes)
        frames, ordered = _kept(text, keyframes, max_frames, seed, notes)
        out: list[str] = []
        index = 0
        for frame in range(max_frames):
            while index + 1 < len(frames) and frames[index + 1] <= frame:
                index += 1
            out.append(ordered[index].value)
        return out
    except ScheduleError as error:
        raise error.with_field(field) from None
    finally:
        _report(notes, field, warnings)


def evaluate_frame_key(
    key: str, max_frames: int, seed: int = 0, *, field: str | None = None
) -> int:
    """A frame key such as ``"30"``, ``"max_f/2"`` or ``'"max_f-1"'`` as a frame number."""
    try:
        max_frames = _check_arguments(key, max_frames)
        keyframe_text = f"{key}: 0"
        keyframes, notes = _parse(keyframe_text, False)
        if notes:  # a ':' in the key made the text read as two colons
            raise _error("a frame key cannot contain ':'", key, key.find(":"))
        frames, ordered = _frames(keyframe_text, keyframes, max_frames, seed)
        if abs(frames[0]) > MAX_FRAME_NUMBER:
            raise _error(
                f"frame {frames[0]} is out of range (at most {MAX_FRAME_NUMBER})",
                keyframe_text,
                ordered[0].key_position,
            )
        return frames[0]
    except ScheduleError as error:
        raise ScheduleError(
            error.problem,
            text=key,
            position=None if error.position is None else min(error.position, len(key)),
            field=field,
        ) from None


def check_schedule(text: str, *, field: str | None = None, strings: bool = False) -> None:
    """Raise :class:`ScheduleError` if ``text`` cannot be read (frame count not needed)."""
    try:
        _check_text(text)
        keyframes, _ = _parse(text, strings)
        _raise_problem(text, keyframes)
    except ScheduleError as error:
        raise error.with_field(field) from None


def is_schedule_string(text: str) -> bool:
    """True when ``text`` is a readable schedule with at least one ``frame: value``."""
    if not isinstance(text, str):
        return False
    try:
        keyframes, _ = _parse(text, False)
        _raise_problem(text, keyframes)
    except ScheduleError:
        return False
    return any(item.colon is not None for item in _split(text))


def _number_text(value: float) -> str:
    """Plain fixed-point, shortest digits that read back to the same float (Deforum-safe)."""
    text = repr(value)  # shortest round-trip digits, fast
    if "e" in text:  # Deforum reads 1e-05 as an expression (it would not interpolate)
        text = np.format_float_positional(value, unique=True, trim="-")
    text = text.removesuffix(".0")
    return "0" if text == "-0" else text


def format_schedule(values: Sequence[float] | FloatArray) -> str:
    """A schedule string that reproduces ``values`` under linear interpolation.

    Only numeric keyframes inside the frame range, written in plain fixed-point, so
    Deforum reads it the same; collinear runs become one segment.
    """
    series = np.asarray(values, dtype=np.float64).reshape(-1)
    if series.size == 0:
        raise DeforumInputError("format_schedule: no values to write")
    if not np.isfinite(series).all():
        bad = int(np.argmin(np.isfinite(series)))
        raise DeforumInputError(f"format_schedule: the value at frame {bad} is not finite")
    keys = _collinear_keys(series)
    if not _reproduces(keys, series):  # not expected: be exact then
        keys = list(range(len(series)))
    return ", ".join(f"{frame}: ({_number_text(float(series[frame]))})" for frame in keys)


def _reproduces(keys: list[int], series: FloatArray) -> bool:
    """Whether linear interpolation between ``series[keys]`` gives ``series`` (to 1e-10).

    Computed as ``_evaluate`` does; relative to the point and the keys around it.
    """
    frames = np.arange(len(series))
    index = np.searchsorted(keys, frames, side="right") - 1
    key = np.asarray(keys)
    following = np.minimum(index + 1, len(keys) - 1)
    value, target = series[key[index]], series[key[following]]
    width = np.where(following > index, key[following] - key[index], 1)
    with np.errstate(all="ignore"):
        s = (frames - key[index]).astype(np.float64) / width
        line = np.where(following > index, value + (target - value) * s, value)
    size = np.maximum(np.abs(series), np.maximum(np.abs(value), np.abs(target)))
    return bool((np.abs(line - series) <= 1e-10 * size).all())


def _collinear_keys(series: FloatArray) -> list[int]:
    """Keyframes such that the line between neighbours passes within a hair of every value.

    Greedy with a cone of feasible slopes from the current anchor (linear time); the
    tolerance is 1e-12 of the larger of the value and the anchor's value.
    """
    values = series.tolist()
    keys = [0]
    anchor = 0
    low, high = -math.inf, math.inf
    for frame in range(1, len(values)):
        distance = frame - anchor
        slope = (values[frame] - values[anchor]) / distance
        if not low <= slope <= high:
            # The line to this frame would miss an earlier one: the previous frame is a key.
            anchor = frame - 1
            keys.append(anchor)
            distance = 1
            low, high = -math.inf, math.inf
        tolerance = 1e-12 * max(abs(values[frame]), abs(values[anchor]))
        low = max(low, (values[frame] - tolerance - values[anchor]) / distance)
        high = min(high, (values[frame] + tolerance - values[anchor]) / distance)
    if keys[-1] != len(values) - 1 and values[-1] != values[keys[-1]]:
        keys.append(len(values) - 1)  # a flat end needs no key: the last value holds
    return keys
