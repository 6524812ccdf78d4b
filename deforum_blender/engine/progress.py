"""A terminal progress line for the render events: frame n/N, s/frame, ETA.

The words are ``core/progress_text.py``'s, the same Blender prints in background mode.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ..core.progress_text import cancelled_text, done_text, frame_line, started_text


class TerminalProgress:
    """An ``emit`` sink for the render loop that prints one progress line per frame."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = 0
        self.done = 0
        self.start = time.perf_counter()
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self, text: str, *, final: bool = False) -> None:
        if self.interactive and not final:
            self.stream.write("\r" + text.ljust(79)[:79])
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, kind: str, **fields: Any) -> None:
        if kind == "started":
            self.total = int(fields["frames"])
            self.start = time.perf_counter()
            self.line(started_text(self.total, fields.get("resumed_from")), final=True)
        elif kind == "frame":
            self.done += 1
            finished = int(fields["index"]) + 1  # frames finished, resumed ones included
            per_frame = (time.perf_counter() - self.start) / self.done
            remaining = per_frame * max(self.total - finished, 0)
            text = frame_line(fields.get("frame"), finished, self.total, per_frame, remaining)
            self.line(text, final=not self.interactive)
        elif kind == "warning":
            self.line(f"warning: {fields['message']}", final=True)
        elif kind == "done":
            summary = done_text(int(fields["frames"]), float(fields["seconds"]))
            self.line(f"{summary} → {fields['out_dir']}", final=True)
        elif kind == "cancelled":
            self.line(cancelled_text(int(fields["frames"]), self.total), final=True)
