"""Where the prompts fall on the frames in the two modes without motion: stills and morphs.

Stills (animation mode None, ``n_batch`` N ≥ 1, Deforum's image batch): the prompts are
taken in key order and each is rendered N times, so prompt k covers frame indices
``k·N … k·N+N−1`` (numbered from the job's first frame like any render); ``n_batch`` 0
keeps the prompt schedule as keyed, one still per frame of the range.

Morphs (animation mode Interpolation): each prompt sits at a position — its own key
frame when ``interpolate_key_frames`` is on, else ``k·(interpolate_x_frames + 1)`` in key
order (Deforum's fixed spacing) — and a frame between two positions ``a < f < b`` is the
morph from prompt a to prompt b with weight ``(f − a)/(b − a)``. Before the first position
the first prompt holds, after the last the last one.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass

from .prompts import FramePrompt, keyframes, prompts_for_frames


def stills_keyframes(
    prompts: Mapping[str, str], n_batch: int, max_frames: int, seed: int = 0
) -> dict[str, str]:
    """The prompts re-keyed for ``n_batch`` stills each: keys ``0, N, 2N, …`` in key order."""
    keys = keyframes(prompts, max_frames, seed)
    return {str(k * n_batch): text for k, (_, text) in enumerate(keys)}


def stills_count(prompts: Mapping[str, str], n_batch: int, max_frames: int, seed: int = 0) -> int:
    """How many stills Deforum makes: prompts × ``n_batch``."""
    return len(keyframes(prompts, max_frames, seed)) * n_batch


@dataclass(frozen=True)
class MorphStep:
    """One frame of a morph: from prompt ``start`` towards prompt ``end`` by ``weight``."""

    start: int  # index into the morph's prompts, in key order
    end: int
    weight: float  # 0 at ``start``'s position, towards 1 at ``end``'s


def morph_positions(key_frames: list[int], *, on_key_frames: bool, x_frames: int) -> list[int]:
    """The frame index of each prompt (``key_frames`` sorted, one per prompt)."""
    if on_key_frames:
        return list(key_frames)
    return [k * (x_frames + 1) for k in range(len(key_frames))]


def morph_frame_count(positions: list[int]) -> int:
    """Frames Deforum renders for a morph: up to and including the last prompt's position."""
    return max(positions[-1], 0) + 1


def morph_plan(positions: list[int], frames: int) -> list[MorphStep]:
    """The morph step of every frame index ``0 … frames−1`` for prompts at ``positions``."""
    plan = []
    last = len(positions) - 1
    for frame in range(frames):
        k = bisect.bisect_right(positions, frame) - 1  # the last prompt at or before the frame
        if k < 0:
            plan.append(MorphStep(0, 0, 0.0))
        elif k == last or positions[k] == frame:
            plan.append(MorphStep(k, k, 0.0))
        else:
            a, b = positions[k], positions[k + 1]
            plan.append(MorphStep(k, k + 1, (frame - a) / (b - a)))
    return plan


def morph_prompts(
    prompts: Mapping[str, str],
    max_frames: int,
    *,
    on_key_frames: bool,
    x_frames: int,
    seed: int = 0,
    positive: str = "",
    negative: str = "",
) -> tuple[list[int], list[FramePrompt]]:
    """(positions, the prompt at each position) with the global prompts and backticks applied."""
    keys = keyframes(prompts, max_frames, seed)
    positions = morph_positions(
        [k for k, _ in keys], on_key_frames=on_key_frames, x_frames=x_frames
    )
    where = [max(p, 0) for p in positions]  # a key before frame 0 reads its text at 0
    span = max(max_frames, where[-1] + 1)
    rekeyed = {str(p): text for p, (_, text) in zip(where, keys, strict=True)}
    per_frame = prompts_for_frames(rekeyed, span, seed=seed, positive=positive, negative=negative)
    return positions, [per_frame[p] for p in where]
