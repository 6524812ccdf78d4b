"""A terminal progress line for the render events: frame n/N, s/frame, ETA."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


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
            resumed = fields.get("resumed_from")
            note = f", resuming at frame {resumed}" if resumed is not None else ""
            self.line(f"rendering {self.total} frames{note}", final=True)
        elif kind == "frame":
            self.done += 1
            elapsed = time.perf_counter() - self.start
            per_frame = elapsed / self.done
            remaining = per_frame * max(self.total - int(fields["index"]) - 1, 0)
            self.line(
                f"frame {int(fields['index']) + 1}/{self.total}  {per_frame:.2f} s/frame  "
                f"ETA {remaining:.0f} s",
                final=not self.interactive,
            )
        elif kind == "warning":
            self.line(f"warning: {fields['message']}", final=True)
        elif kind == "done":
            seconds = float(fields["seconds"])
            summary = f"done: {fields['frames']} frames in {seconds:.1f} s → {fields['out_dir']}"
            self.line(summary, final=True)
        elif kind == "cancelled":
            self.line(f"cancelled after {fields['frames']} frames", final=True)
