"""What a render farm runs for one shot: its segments and its variants.

A **segment** is an independent piece of the shot: the frames between two camera cuts
(a cut starts a new piece, since nothing is warped across it). A **variant** is one
seed, or one seed with one prompt set, of the whole shot. The farm renders every
segment × variant as its own task into its own folder; frames inside a segment are never
split, since each frame starts from the one before.

The Flamenco job type (``deforum_blender/farm/deforum_blender.js``) reads both as text:
segments as ``"1-12,13-24"`` and variants as JSON (:func:`variants_json`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import DeforumInputError

#: Seeds a Blender IntProperty and Deforum's files hold (Deforum's seeds go up to 2**32 − 1).
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Segment:
    """Frames ``first``–``last`` (Blender frame numbers, inclusive) rendered as one task."""

    first: int
    last: int

    @property
    def frames(self) -> str:
        """As the headless script's ``--frames`` takes it: ``A-B``."""
        return f"{self.first}-{self.last}"


def segments(first: int, last: int, cuts: Iterable[int]) -> list[Segment]:
    """The range ``first``–``last`` split before every cut frame inside it."""
    starts = [first, *sorted({c for c in cuts if first < c <= last})]
    ends = [start - 1 for start in starts[1:]] + [last]
    return [Segment(a, b) for a, b in zip(starts, ends, strict=True)]


def segments_text(pieces: Sequence[Segment]) -> str:
    """``"1-12,13-24"``: what the job type's ``segments`` setting holds."""
    return ",".join(piece.frames for piece in pieces)


@dataclass(frozen=True)
class PromptSet:
    """A named prompt variant: text put before every prompt and after every negative one."""

    name: str
    positive: str = ""
    negative: str = ""


@dataclass(frozen=True)
class Variant:
    """One variant of the shot: its folder name and the ``--set`` changes that make it."""

    name: str
    settings: dict[str, str] = field(default_factory=dict)

    def set_arguments(self) -> list[str]:
        """``["seed=7", "positive_prompts=…"]``: each one follows a ``--set``."""
        return [f"{key}={value}" for key, value in self.settings.items()]


def parse_seeds(text: str, field_name: str = "seeds") -> list[int]:
    """``"1, 2, 3"`` (commas or spaces) as seeds; each a whole number in 0–4294967295."""
    seeds: list[int] = []
    for item in re.split(r"[\s,;]+", text.strip()):
        if not item:
            continue
        if not re.fullmatch(r"\d+", item):
            raise DeforumInputError(
                f"{field_name}: {item!r} in {text!r} is not a seed; write whole numbers "
                "0–4294967295 separated by commas, e.g. 1, 2, 3"
            )
        seed = int(item)
        if seed > MAX_SEED:
            raise DeforumInputError(f"{field_name}: {seed} is above 4294967295; use a smaller seed")
        if seed not in seeds:
            seeds.append(seed)
    return seeds


def seed_list(text: str, count: int, base: int, field_name: str = "seeds") -> list[int]:
    """The listed seeds; without a list, ``count`` seeds from ``base`` on (base, base+1, …)."""
    listed = parse_seeds(text, field_name)
    if listed:
        return listed
    if count < 1:
        raise DeforumInputError(f"seed count: {count}; render at least 1 seed")
    if base < 0:
        raise DeforumInputError(
            f"seed: {base} (a random seed) cannot be resumed on a farm; set a seed ≥ 0 or "
            "list the seeds"
        )
    if base + count - 1 > MAX_SEED:
        raise DeforumInputError(
            f"seed count: {count} seeds from {base} go past 4294967295; use fewer or a smaller seed"
        )
    return list(range(base, base + count))


def _folder_name(text: str) -> str:
    """``text`` as a safe folder-name part (letters, digits, ``-``, ``_``)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text.strip()).strip("-") or "set"


def _joined(first: str, second: str) -> str:
    return " ".join(part for part in (first.strip(), second.strip()) if part)


def variants(
    seeds: Sequence[int],
    prompt_sets: Sequence[PromptSet] = (),
    *,
    positive: str = "",
    negative: str = "",
) -> list[Variant]:
    """Every seed × prompt set (every seed alone when there is no prompt set).

    A prompt set's positive text goes before the scene's own ``positive_prompts``
    (``positive``), its negative text after ``negative_prompts`` (``negative``).
    """
    names = [_folder_name(s.name) for s in prompt_sets]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise DeforumInputError(
            f"prompt sets: the name {doubled[0]!r} is used twice; give each set its own name"
        )
    result: list[Variant] = []
    for seed in seeds:
        if not prompt_sets:
            result.append(Variant(f"seed_{seed}", {"seed": str(seed)}))
        for name, prompt_set in zip(names, prompt_sets, strict=True):
            settings = {
                "seed": str(seed),
                "positive_prompts": _joined(prompt_set.positive, positive),
                "negative_prompts": _joined(negative, prompt_set.negative),
            }
            result.append(Variant(f"seed_{seed}-{name}", settings))
    return result


def variants_json(items: Sequence[Variant]) -> str:
    """``[{"name": "seed_7", "set": ["seed=7"]}, …]``: the job type's ``variants`` setting."""
    return json.dumps([{"name": v.name, "set": v.set_arguments()} for v in items])
