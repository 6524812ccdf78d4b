"""Frame-keyed prompts as Deforum users write them, resolved to one prompt per frame.

A prompt set is a mapping ``key -> text``. Keys are frame indices counted from the job's
first frame (``"0"``, ``"30"``) or expressions in ``max_f`` (= frames − 1) and ``s`` (the
seed), such as ``"max_f/2"``; they are truncated to integers as Deforum does. Each text
may carry a negative part after ``--neg``; backtick expressions (`` `t/10` ``) are
evaluated per frame, as in Deforum, so weights can change over time.

Deforum's rules, kept: a prompt holds from its keyframe until the next one; before the
first keyframe the first prompt holds; with equal keys the last one written wins; the
global ``positive_prompts`` are put before and ``negative_prompts`` after every prompt,
joined with a space. Improvements: a text with several ``--neg`` markers is not an error
(every part after the first marker is negative); keyframes past the end still shape a blend.

Blend (optional): between two neighbouring keyframes ``a < f < b`` a frame carries both
prompts with weights ``(b−f)/(b−a)`` and ``(f−a)/(b−a)`` — Deforum's Interpolation-mode
weighting, offered in every mode. The engine mixes the two prompt embeddings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import DeforumInputError

NEGATIVE_MARKER = "--neg"
_BACKTICK = re.compile(r"`([^`]*)`")


@dataclass(frozen=True)
class WeightedPrompt:
    """One side of a blend: a keyframe's prompt and its weight on this frame."""

    positive: str
    negative: str
    weight: float


@dataclass(frozen=True)
class FramePrompt:
    """The prompt of one frame; ``blend`` holds both neighbours when blending between keys."""

    positive: str
    negative: str
    blend: tuple[WeightedPrompt, WeightedPrompt] | None = None


def _evaluate_expression(expression: str, max_frames: int, seed: int, field: str) -> list[float]:
    """Per-frame values of one expression in t, max_f and s (backtick prompt weights)."""
    from .schedules import evaluate_schedule

    return evaluate_schedule(f"0: ({expression})", max(max_frames, 1), seed, field=field)


def _frame_of_key(key: str, max_frames: int, seed: int) -> int:
    """A prompt key as a frame index, read by the schedule grammar's frame-key reader.

    With :func:`_evaluate_expression`, the only coupling to the schedule grammar.
    """
    from .schedules import evaluate_frame_key

    return evaluate_frame_key(key, max(max_frames, 1), seed, field=f"prompts[{key!r}]")


def split_negative(text: str) -> tuple[str, str]:
    """Split ``"a cat --neg blurry"`` into ``("a cat", "blurry")``, both stripped.

    Every part after the first ``--neg`` is negative (Deforum fails on a second marker).
    """
    positive, *negatives = text.split(NEGATIVE_MARKER)
    negative = " ".join(part.strip() for part in negatives if part.strip())
    return positive.strip(), negative


def _join(*parts: str) -> str:
    return " ".join(part.strip() for part in parts if part and part.strip())


def keyframe_index(key: str, max_frames: int, seed: int = 0) -> int:
    """The frame index a prompt key names: an integer, or an expression in max_f and s."""
    text = str(key).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if not text.strip("\"' "):
        raise DeforumInputError('prompts: an empty key; use a frame number such as "0"')
    try:
        return _frame_of_key(text, max_frames, seed)
    except DeforumInputError as error:
        raise DeforumInputError(
            f"prompts: key {key!r} is neither a frame number nor an expression in max_f "
            f"and s ({error})"
        ) from error


def keyframes(prompts: Mapping[str, str], max_frames: int, seed: int = 0) -> list[tuple[int, str]]:
    """The keyframes sorted by frame; with equal frames the one written last wins."""
    if not prompts:
        raise DeforumInputError('prompts: none given; add one, e.g. {"0": "a forest"}')
    resolved: dict[int, str] = {}
    for key, text in prompts.items():
        if not isinstance(text, str):
            raise DeforumInputError(
                f"prompts[{key!r}]: {text!r} is not text; write the prompt in quotes"
            )
        resolved[keyframe_index(key, max_frames, seed)] = text
    return sorted(resolved.items())


def _expand_backticks(
    text: str, frame: int, max_frames: int, seed: int, cache: dict[str, list[float]]
) -> str:
    """Replace each `` `expression` `` by its value at ``frame`` (Deforum's prompt weights)."""

    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression not in cache:
            cache[expression] = _evaluate_expression(expression, max_frames, seed, "prompts")
        number = cache[expression][frame]
        return f"{number:.4f}".rstrip("0").rstrip(".") or "0"

    return _BACKTICK.sub(value, text)


def prompts_for_frames(
    prompts: Mapping[str, str],
    max_frames: int,
    *,
    seed: int = 0,
    positive: str = "",
    negative: str = "",
    blend: bool = False,
) -> list[FramePrompt]:
    """One FramePrompt per frame index ``0 … max_frames−1``.

    ``positive``/``negative`` are Deforum's global ``positive_prompts``/``negative_prompts``.
    """
    keys = keyframes(prompts, max_frames, seed)
    global_negative = negative.replace(NEGATIVE_MARKER, " ")  # Deforum drops a stray marker
    cache: dict[str, list[float]] = {}

    def wrapped(text: str, frame: int) -> tuple[str, str]:
        own_positive, own_negative = split_negative(
            _expand_backticks(text, frame, max_frames, seed, cache)
        )
        return _join(positive, own_positive), _join(own_negative, global_negative)

    result: list[FramePrompt] = []
    position = 0  # index of the last keyframe at or before the frame, once one exists
    for frame in range(max_frames):
        while position + 1 < len(keys) and keys[position + 1][0] <= frame:
            position += 1
        key_frame, text = keys[position]
        current = wrapped(text, frame)
        mix: tuple[WeightedPrompt, WeightedPrompt] | None = None
        if blend and key_frame < frame and position + 1 < len(keys):
            next_frame, next_text = keys[position + 1]
            weight = (frame - key_frame) / (next_frame - key_frame)
            following = wrapped(next_text, frame)
            mix = (
                WeightedPrompt(current[0], current[1], 1.0 - weight),
                WeightedPrompt(following[0], following[1], weight),
            )
        result.append(FramePrompt(current[0], current[1], mix))
    return result
