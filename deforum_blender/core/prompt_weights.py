"""Attention weights in AUTOMATIC1111's prompt syntax, as Deforum users write them.

``(word:1.3)`` weights a span, ``(word)`` multiplies it by 1.1 and ``[word]`` by 1/1.1
(nesting multiplies), ``\\(`` is a literal bracket, and ``BREAK`` starts a new 75-token
chunk. The reading is the webui's own ``parse_prompt_attention``, rule for rule: an
unclosed bracket weights up to the end, a stray ``)`` is text.
"""

from __future__ import annotations

import re

BREAK = "BREAK"
"""The part that ends a chunk (its weight is −1, as in the webui)."""

_ATTENTION = re.compile(
    r"""
\\\(|
\\\)|
\\\[|
\\]|
\\\\|
\\|
\(|
\[|
:\s*([+-]?[.\d]+)\s*\)|
\)|
]|
[^\\()\[\]:]+|
:
""",
    re.X,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)
_AND = re.compile(r"\bAND\b")
ROUND = 1.1
SQUARE = 1 / 1.1


def parse_prompt_attention(text: str) -> list[tuple[str, float]]:
    """(text, weight) runs of a prompt; ``("BREAK", -1.0)`` between chunks."""
    parts: list[list[str | float]] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply(start: int, factor: float) -> None:
        for part in parts[start:]:
            part[1] = float(part[1]) * factor

    for match in _ATTENTION.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            parts.append([token[1:], 1.0])
        elif token == "(":
            round_open.append(len(parts))
        elif token == "[":
            square_open.append(len(parts))
        elif weight is not None and round_open:
            multiply(round_open.pop(), float(weight))
        elif token == ")" and round_open:
            multiply(round_open.pop(), ROUND)
        elif token == "]" and square_open:
            multiply(square_open.pop(), SQUARE)
        else:
            for index, piece in enumerate(_BREAK.split(token)):
                if index > 0:
                    parts.append([BREAK, -1.0])
                parts.append([piece, 1.0])
    for start in round_open:
        multiply(start, ROUND)
    for start in square_open:
        multiply(start, SQUARE)
    if not parts:
        parts = [["", 1.0]]
    merged: list[list[str | float]] = [parts[0]]
    for part in parts[1:]:  # runs of one weight become one run, as the webui merges them
        if part[1] == merged[-1][1]:
            merged[-1][0] = f"{merged[-1][0]}{part[0]}"
        else:
            merged.append(part)
    return [(str(run), float(weight)) for run, weight in merged]


def is_plain(text: str) -> bool:
    """True when the webui reads ``text`` as itself with weight 1 (no syntax to apply)."""
    return parse_prompt_attention(text) == [(text, 1.0)]


def composable_parts(text: str) -> int:
    """How many ``AND``-separated prompts (composable diffusion) ``text`` holds."""
    return len(_AND.split(text))


_LORA = re.compile(r"<lora:([^:>]+)(?::([^:>]*))?(?::[^>]*)?>")


def extract_loras(text: str) -> tuple[str, dict[str, float]]:
    """The prompt without its ``<lora:NAME:WEIGHT>`` tags, and the weight of each LoRA.

    The weight defaults to 1; a third field (the webui's separate UNet weight) is not read.
    A LoRA named twice keeps its last weight.
    """
    loras: dict[str, float] = {}
    problems: list[str] = []

    def take(match: re.Match[str]) -> str:
        name, weight = match.group(1).strip(), (match.group(2) or "1").strip()
        try:
            loras[name] = float(weight)
        except ValueError:
            problems.append(f"{match.group(0)}: {weight!r} is not a weight; write e.g. 0.8")
        return ""

    stripped = _LORA.sub(take, text)
    if problems:
        from .errors import DeforumInputError

        raise DeforumInputError("prompt: " + "; ".join(problems))
    return stripped, loras


def prompt_record(positive: str, negative: str) -> dict[str, object] | None:
    """How a frame's prompt is read (weighted runs, LoRAs), for run.json; None when plain."""
    text, loras = extract_loras(positive)
    negative_text = extract_loras(negative)[0]
    if not loras and is_plain(text) and is_plain(negative_text):
        return None
    return {
        "positive": [[run, round(weight, 6)] for run, weight in parse_prompt_attention(text)],
        "negative": [
            [run, round(weight, 6)] for run, weight in parse_prompt_attention(negative_text)
        ],
        "loras": loras,
    }
