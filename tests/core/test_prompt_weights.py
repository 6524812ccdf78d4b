"""The webui's attention syntax, read rule for rule (its own documented examples)."""

from __future__ import annotations

import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.prompt_weights import (
    composable_parts,
    extract_loras,
    is_plain,
    parse_prompt_attention,
)


def assert_runs(parsed: list[tuple[str, float]], expected: list[tuple[str, float]]) -> None:
    assert [run for run, _ in parsed] == [run for run, _ in expected]
    assert [w for _, w in parsed] == pytest.approx([w for _, w in expected])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("normal text", [("normal text", 1.0)]),
        ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
        ("(unbalanced", [("unbalanced", 1.1)]),
        ("\\(literal\\]", [("(literal]", 1.0)]),
        ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
        (
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                ("a ", 1.0),
                ("house", 1.573),
                (" ", 1.1),
                ("on", 1.0),
                (" a ", 1.1),
                ("hill", 0.55),
                (", sun, ", 1.1),
                ("sky", 1.4641),
                (".", 1.1),
            ],
        ),
        ("[faint]", [("faint", 1 / 1.1)]),
        ("a BREAK b", [("a", 1.0), ("BREAK", -1.0), ("b", 1.0)]),
        ("", [("", 1.0)]),
    ],
)
def test_the_webuis_examples_read_as_the_webui_reads_them(
    text: str, expected: list[tuple[str, float]]
) -> None:
    assert_runs(parse_prompt_attention(text), expected)


def test_plain_text_is_plain_and_weighted_text_is_not() -> None:
    assert is_plain("a cat on a hill, at dusk")
    assert not is_plain("a (cat:1.3)")
    assert not is_plain("a cat BREAK a dog")
    assert not is_plain("a \\(cat\\)")  # the escapes are dropped from the text


def test_and_separates_composable_prompts() -> None:
    assert composable_parts("a cat AND a dog") == 2
    assert composable_parts("a cat ANDROID") == 1


def test_lora_tags_are_taken_out_of_the_prompt_with_their_weights() -> None:
    text, loras = extract_loras("a cat <lora:tiny:0.8>, at dusk <lora:other> <lora:x:1:0.5>")
    assert text == "a cat , at dusk  "
    assert loras == {"tiny": 0.8, "other": 1.0, "x": 1.0}


def test_a_lora_weight_that_is_not_a_number_names_the_tag() -> None:
    with pytest.raises(DeforumInputError, match=r"<lora:tiny:heavy>: 'heavy' is not a weight"):
        extract_loras("a cat <lora:tiny:heavy>")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("(word:.5)", [("word", 0.5)]), ("()", [("", 1.0)]), ("a ()b", [("a b", 1.0)])],
)
def test_numbers_without_a_leading_zero_and_empty_brackets(
    text: str, expected: list[tuple[str, float]]
) -> None:
    assert_runs(parse_prompt_attention(text), expected)
