"""Where a running render stands: frame n/N, s/frame, ETA, the newest frame, the outcome.

Runtime state only, never stored in the .blend (undo would revert it, and a render is
not part of the scene). The operators update it from the worker's events; the panels
and the status bar read it. No ``bpy`` here, so it is cheap to update in a timer tick.
The words are ``core/progress_text.py``'s, shared with the CLI.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..core.progress_text import bar_text, cancelled_text, done_text, frame_line

# Outcomes of a render; "preparing" and "rendering" mean it is still going.
RUNNING_STATES = ("preparing", "rendering", "cancelling")


@dataclass
class RenderProgress:
    """One render's progress, fed with the worker's events through :meth:`update`."""

    scene: str
    out_dir: str
    strip: str
    preview: bool = False
    state: str = "preparing"
    message: str = ""
    total: int = 0
    first_frame: int = 1
    finished: int = 0  # frames on disk (resumed ones included)
    written: int = 0  # frames written by this run
    newest_frame: int | None = None
    newest_path: str = ""
    step: int = 0
    steps: int = 0
    bad_input: bool = False  # the render ended on an error in its input (exit status 2)
    warnings: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    rendering_since: float | None = None

    @property
    def running(self) -> bool:
        """True until the render is done, cancelled or failed."""
        return self.state in RUNNING_STATES

    @property
    def fraction(self) -> float:
        """Share of the frames finished, 0…1 (steps of the current frame count too)."""
        if self.total <= 0:
            return 0.0
        partial = self.step / self.steps if self.steps and self.state == "rendering" else 0.0
        return min((self.finished + partial) / self.total, 1.0)

    @property
    def seconds_per_frame(self) -> float | None:
        """Average time of the frames written by this run (None before the first)."""
        if not self.written or self.rendering_since is None:
            return None
        return (time.monotonic() - self.rendering_since) / self.written

    @property
    def eta(self) -> float | None:
        """Seconds left at the current pace (None before the first frame)."""
        per_frame = self.seconds_per_frame
        if per_frame is None:
            return None
        return per_frame * max(self.total - self.finished, 0)

    def update(self, event: dict[str, Any]) -> None:
        """Take one worker event (``core/protocol.py``) into account."""
        kind = event.get("type")
        if kind == "started":
            self.state = "rendering"
            self.total = int(event.get("frames", 0))
            self.first_frame = int(event.get("first_frame", self.first_frame))
            self.rendering_since = time.monotonic()
        elif kind == "progress":
            self.step, self.steps = int(event.get("step", 0)), int(event.get("steps", 0))
        elif kind == "frame":
            self.written += 1
            self.finished = min(self.finished + 1, self.total) if self.total else self.written
            self.newest_frame = int(event["frame"])
            self.newest_path = str(event.get("path", ""))
            self.step = self.steps = 0
        elif kind == "warning":
            self.warnings.append(str(event.get("message", "")))
        elif kind == "done":
            self.state, self.finished = "done", self.total
            self.message = done_text(self.total, self.elapsed)
        elif kind == "cancelled":
            self.state = "cancelled"
            self.message = cancelled_text(self.finished, self.total)
        elif kind == "error":
            self.state = "error"
            self.message = str(event.get("message", "the worker failed"))
            self.bad_input = bool(event.get("bad_input"))

    @property
    def elapsed(self) -> float:
        """Seconds since the render was asked for."""
        return time.monotonic() - self.started_at

    def text(self) -> str:
        """One line for the panel and the status bar: ``Frame 3/10 · 2.10 s/frame · ETA 0:15``."""
        if self.state == "preparing":
            return self.message or "Preparing…"
        if not self.running:
            return self.message
        if self.state == "cancelling":
            return "Cancelling…"
        return bar_text(
            self.finished, self.total, self.step, self.steps, self.seconds_per_frame, self.eta
        )

    def line(self) -> str:
        """The text progress line printed per frame in background mode."""
        per_frame, eta = self.seconds_per_frame or 0.0, self.eta or 0.0
        return "Deforum: " + frame_line(
            self.newest_frame, self.finished, self.total, per_frame, eta
        )


# The newest render (running or finished) of this Blender session, for the panels.
CURRENT: list[RenderProgress] = []


def current() -> RenderProgress | None:
    """The newest render's progress, or None before the first render."""
    return CURRENT[-1] if CURRENT else None


def begin(progress: RenderProgress) -> RenderProgress:
    """Make ``progress`` the current render's (only the newest one is kept)."""
    CURRENT[:] = [progress]
    return progress
