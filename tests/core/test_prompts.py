"""Frame-keyed prompts: Deforum's holding rules, --neg, global parts, blends, backticks."""

from __future__ import annotations

import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.prompts import (
    FramePrompt,
    keyframes,
    prompts_for_frames,
    split_negative,
)


def positives(prompts: list[FramePrompt]) -> list[str]:
    return [p.positive for p in prompts]


def test_a_prompt_holds_from_its_keyframe_until_the_next() -> None:
    frames = prompts_for_frames({"0": "a cat", "3": "a dog"}, 5)
    assert positives(frames) == ["a cat", "a cat", "a cat", "a dog", "a dog"]
    assert all(p.blend is None for p in frames)


def test_the_first_prompt_holds_before_the_first_keyframe() -> None:
    assert positives(prompts_for_frames({"2": "a cat", "4": "a dog"}, 5)) == [
        "a cat",
        "a cat",
        "a cat",
        "a cat",
        "a dog",
    ]


def test_keys_may_be_expressions_in_max_f_truncated_like_deforum() -> None:
    # 10 frames: max_f = 9, so max_f/2 = 4.5 -> frame 4 and "max_f-1" -> frame 8.
    found = keyframes({"0": "a", "max_f/2": "b", '"max_f-1"': "c"}, 10)
    assert found == [(0, "a"), (4, "b"), (8, "c")]


def test_keys_in_any_order_are_sorted_and_the_last_duplicate_wins() -> None:
    assert keyframes({"5": "late", "0": "first", "max_f-max_f": "again"}, 10) == [
        (0, "again"),
        (5, "late"),
    ]


def test_neg_splits_a_prompt_into_positive_and_negative() -> None:
    assert split_negative(" a cat, 4k --neg blurry, text ") == ("a cat, 4k", "blurry, text")
    assert split_negative("a cat") == ("a cat", "")


def test_a_second_neg_marker_is_not_an_error_and_stays_negative() -> None:
    assert split_negative("a cat --neg blurry --neg text") == ("a cat", "blurry text")


def test_global_positive_and_negative_parts_wrap_every_prompt_as_deforum_joins_them() -> None:
    # Deforum: f"{positive_prompts} {prompt} --neg {prompt_negative} {negative_prompts}".
    frames = prompts_for_frames(
        {"0": "a cat --neg blurry", "1": "a dog"},
        2,
        positive="masterpiece,",
        negative="nsfw --neg",
    )
    assert frames[0] == FramePrompt("masterpiece, a cat", "blurry nsfw")
    assert frames[1] == FramePrompt("masterpiece, a dog", "nsfw")


def test_blend_weights_move_linearly_between_neighbouring_keyframes() -> None:
    frames = prompts_for_frames({"0": "a cat --neg dark", "4": "a dog"}, 6, blend=True)
    assert frames[0].blend is None  # on a keyframe: that prompt alone
    for frame in (1, 2, 3):
        blend = frames[frame].blend
        assert blend is not None
        current, following = blend
        # Deforum's interpolate_prompts: next_weight = (f - a) / (b - a).
        assert following.weight == pytest.approx(frame / 4)
        assert current.weight == pytest.approx(1 - frame / 4)
        assert (current.positive, current.negative) == ("a cat", "dark")
        assert (following.positive, following.negative) == ("a dog", "")
        assert frames[frame].positive == "a cat"
    assert frames[4].blend is None and frames[5].blend is None  # after the last keyframe


def test_a_keyframe_past_the_end_still_shapes_the_blend() -> None:
    frames = prompts_for_frames({"0": "a cat", "10": "a dog"}, 3, blend=True)
    blend = frames[2].blend
    assert blend is not None
    assert blend[1].weight == pytest.approx(0.2)


def test_backtick_expressions_are_evaluated_on_each_frame() -> None:
    frames = prompts_for_frames({"0": "(a cat:`t/4`)"}, 3)
    assert positives(frames) == ["(a cat:0)", "(a cat:0.25)", "(a cat:0.5)"]


def test_a_key_that_is_not_a_frame_names_the_key() -> None:
    with pytest.raises(DeforumInputError, match=r"prompts: key 'half' is neither a frame"):
        keyframes({"half": "a cat"}, 10)


def test_no_prompts_at_all_is_refused_with_an_example() -> None:
    with pytest.raises(DeforumInputError, match=r'add one, e.g. \{"0": "a forest"\}'):
        prompts_for_frames({}, 10)


def test_a_prompt_that_is_not_text_is_refused() -> None:
    with pytest.raises(DeforumInputError, match=r"prompts\['0'\]: 5 is not text"):
        keyframes({"0": 5}, 10)  # type: ignore[dict-item]
