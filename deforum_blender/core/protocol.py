"""The worker protocol, documented and versioned in this one place.

The worker (``python -m deforum_blender worker``) reads one JSON object per line
on stdin (requests) and writes one JSON object per line on stdout (events).
Every message carries ``"type"`` and ``"protocol"`` (:data:`PROTOCOL_VERSION`).

Requests (client → worker):

* ``render``   ``job`` (Job dict), ``out_dir`` (str), ``resume`` (bool), ``preview`` (bool).
  Renders run one at a time, in the order asked; the worker keeps its models between them
  (a job with another model replaces the loaded one).
* ``cancel``   stop the running (and any queued) render after the current diffusion step
* ``ping``     answered with ``pong`` at once, even while rendering
* ``release``  drop loaded models and free GPU memory (after the running render)
* ``shutdown`` cancel any render and exit; end of stdin means the same

Events (worker → client):

* ``ready``     ``pid``, ``versions``, ``package`` (folder the worker's code came from) — once
* ``pong``      ``models`` (names of the models loaded now), ``busy`` (a render is running)
* ``started``   ``frames`` (total), ``first_frame``, ``resumed_from`` (frame or null)
* ``progress``  ``frame``, ``step``, ``steps``, ``stage``
* ``frame``     ``frame`` (Blender frame number), ``index``, ``path``
* ``warning``   ``message``
* ``error``     ``message``, ``traceback``, ``bad_input`` (bool), ``request`` (the request type
  that failed: ``"render"`` ends that render; null for a line that could not be read)
* ``done``      ``frames``, ``out_dir``, ``seconds``
* ``cancelled`` ``frames`` (finished so far)
* ``released``  ``models`` (how many were dropped)

The Blender-side client adds two events of its own, never sent by the worker: an
``error`` with ``crashed: true`` and ``exit_status`` when the worker process dies (its
``message`` ends with the worker's last stderr line), and a ``cancelled`` with
``killed: true`` when the worker did not answer a cancel in time and was killed.
Both end the render (:func:`ends_render`).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import DeforumInputError

PROTOCOL_VERSION = 1

# The worker's environment: HF_HUB_OFFLINE=1 makes it download nothing, and this variable
# says why and how to allow it (the engine puts it in its "model is missing" message).
OFFLINE_REASON_VARIABLE = "DEFORUM_BLENDER_OFFLINE_REASON"

REQUESTS = frozenset({"render", "cancel", "ping", "release", "shutdown"})
EVENTS = frozenset(
    {
        "ready",
        "pong",
        "started",
        "progress",
        "frame",
        "warning",
        "error",
        "done",
        "cancelled",
        "released",
    }
)
# Events after which no more events belong to the same render.
FINAL_EVENTS = frozenset({"done", "cancelled", "error"})


class ProtocolError(DeforumInputError):
    """A line that is not a valid message of this protocol version."""


def encode(kind: str, **fields: Any) -> str:
    """One protocol line (no trailing newline) for a request or an event."""
    if kind not in REQUESTS | EVENTS:
        raise ProtocolError(f"unknown message type {kind!r}")
    return json.dumps({"type": kind, "protocol": PROTOCOL_VERSION, **fields}, allow_nan=False)


def decode(line: str | bytes, allowed: frozenset[str]) -> dict[str, Any]:
    """Parse one line into a message dict whose ``type`` is in ``allowed``.

    Any line at all either decodes or raises :class:`ProtocolError`, never another error.
    """
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProtocolError(
                f"not UTF-8 (byte {error.start}): {line[:200]!r}; send text as UTF-8"
            ) from None
    try:
        message = json.loads(line)
    except json.JSONDecodeError as error:
        raise ProtocolError(
            f"not JSON ({error.msg} at column {error.colno}): {line[:200]!r}"
        ) from None
    except (ValueError, RecursionError) as error:
        # A number past Python's digit limit, or nesting deeper than the parser's stack.
        why = "nested too deeply" if isinstance(error, RecursionError) else _first(error)
        raise ProtocolError(f"unreadable JSON ({why}): {line[:200]!r}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"a message must be a JSON object, got: {line[:200]!r}")
    version = message.get("protocol")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ProtocolError(
            f"protocol version {_short(version)} but this side speaks {PROTOCOL_VERSION}; "
            "update the add-on and the worker to the same release"
        )
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in allowed:
        raise ProtocolError(
            f"unexpected message type {_short(kind)}; expected one of {sorted(allowed)}"
        )
    return message


def _first(error: BaseException) -> str:
    """An error's first clause (Python's advice to change its own limits is not for users)."""
    return str(error).split(";")[0]


def _short(value: Any) -> str:
    """A value for an error message, cut to 100 characters (it came from anywhere)."""
    try:
        text = repr(value)
    except RecursionError:
        return "(a value nested too deeply to show)"
    return text if len(text) <= 100 else text[:100] + "..."


def ends_render(event: dict[str, Any]) -> bool:
    """True for an event after which the running render sends nothing more."""
    kind = event.get("type")
    if kind == "error":
        return bool(event.get("crashed")) or event.get("request", "render") == "render"
    return kind in FINAL_EVENTS
