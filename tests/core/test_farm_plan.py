"""Segments (split at camera cuts) and variants (seeds × prompt sets) for a render farm."""

from __future__ import annotations

import json

import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.farm_plan import (
    PromptSet,
    Segment,
    seed_list,
    segments,
    segments_text,
    variants,
    variants_json,
)


def test_a_shot_without_cuts_is_one_segment() -> None:
    assert segments(1, 24, []) == [Segment(1, 24)]


def test_cuts_split_the_shot_and_cuts_outside_it_are_ignored() -> None:
    pieces = segments(1, 24, [13, 20, 1, 30, 13])
    assert pieces == [Segment(1, 12), Segment(13, 19), Segment(20, 24)]
    assert segments_text(pieces) == "1-12,13-19,20-24"


def test_seed_list_reads_commas_and_spaces_and_keeps_order_once() -> None:
    assert seed_list("7, 3 3;9", 1, 0) == [7, 3, 9]


def test_seed_count_counts_up_from_the_scene_seed() -> None:
    assert seed_list("", 3, 40) == [40, 41, 42]


@pytest.mark.parametrize(
    ("text", "count", "base", "message"),
    [
        ("1, x", 1, 0, r"'x' in '1, x' is not a seed"),
        ("4294967296", 1, 0, "above 4294967295"),
        ("", 0, 5, "at least 1 seed"),
        ("", 2, -1, "random seed"),
    ],
)
def test_bad_seeds_name_the_field_and_the_fix(
    text: str, count: int, base: int, message: str
) -> None:
    with pytest.raises(DeforumInputError, match=message):
        seed_list(text, count, base, "Farm Seeds")


def test_variants_are_every_seed_with_every_prompt_set() -> None:
    sets = [PromptSet("Oil paint", "oil painting", "photo"), PromptSet("ink", "ink drawing")]
    found = variants([1, 2], sets, positive="detailed", negative="blurry")
    assert [v.name for v in found] == [
        "seed_1-Oil-paint",
        "seed_1-ink",
        "seed_2-Oil-paint",
        "seed_2-ink",
    ]
    assert found[0].set_arguments() == [
        "seed=1",
        "positive_prompts=oil painting detailed",
        "negative_prompts=blurry photo",
    ]
    assert json.loads(variants_json(found[:1]))[0]["name"] == "seed_1-Oil-paint"


def test_two_prompt_sets_of_one_folder_name_are_refused() -> None:
    with pytest.raises(DeforumInputError, match="'a-b' is used twice"):
        variants([1], [PromptSet("a b"), PromptSet("a/b")])
