"""The worker protocol: one JSON object per line, typed and versioned."""

from __future__ import annotations

import json

import pytest

from deforum_blender.core.protocol import (
    EVENTS,
    PROTOCOL_VERSION,
    REQUESTS,
    ProtocolError,
    decode,
    encode,
)


def test_encoded_event_decodes_to_the_same_fields() -> None:
    line = encode("frame", frame=7, index=6, path="/out/frames/frame_00007.png")
    assert "\n" not in line
    assert decode(line, EVENTS) == {
        "type": "frame",
        "protocol": PROTOCOL_VERSION,
        "frame": 7,
        "index": 6,
        "path": "/out/frames/frame_00007.png",
    }


def test_a_request_is_not_accepted_where_an_event_is_expected() -> None:
    with pytest.raises(ProtocolError, match="unexpected message type 'render'"):
        decode(encode("render", job={}, out_dir="/x"), EVENTS)


def test_other_protocol_versions_are_refused_with_the_fix() -> None:
    line = json.dumps({"type": "ping", "protocol": PROTOCOL_VERSION + 1})
    with pytest.raises(ProtocolError, match="update the add-on and the worker"):
        decode(line, REQUESTS)


@pytest.mark.parametrize("line", ["{not json", "[1, 2]", '"ping"'])
def test_garbage_lines_are_protocol_errors(line: str) -> None:
    with pytest.raises(ProtocolError):
        decode(line, REQUESTS)


def test_non_finite_numbers_are_never_written() -> None:
    with pytest.raises(ValueError):
        encode("progress", frame=1, step=float("nan"))


@pytest.mark.parametrize(
    "line",
    [
        b'{"type": "ping", "protocol": 1, "x": "\xff"}',
        '{"type": ["ping"], "protocol": 1}',
        '{"type": {"a": 1}, "protocol": 1}',
        '{"type": "ping", "protocol": true}',
        "[" * 100_000 + "]" * 100_000,
        '{"type": "ping", "protocol": 1, "n": ' + "9" * 5000 + "}",
    ],
)
def test_any_line_at_all_is_a_message_or_a_protocol_error(line: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(line, REQUESTS)


def test_a_utf8_bytes_line_decodes_like_its_text() -> None:
    line = encode("ping", note="é")
    assert decode(line.encode("utf-8"), REQUESTS) == decode(line, REQUESTS)
