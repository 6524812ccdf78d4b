"""The words a render's progress is told in, from the worker's events: one place for all.

Blender's panels, status bar and background-mode lines (``blender/progress.py``) and the
CLI's terminal line (``engine/progress.py``) say the same things the same way.
"""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """``0:07``, ``12:05`` or ``1:02:03`` for a number of seconds."""
    whole = max(round(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def started_text(frames: int, resumed_from: int | None = None) -> str:
    """``Rendering 10 frames`` (``, resuming at frame 4`` when resumed)."""
    note = f", resuming at frame {resumed_from}" if resumed_from is not None else ""
    return f"Rendering {frames} frames{note}"


def frame_line(frame: int | None, finished: int, total: int, per_frame: float, eta: float) -> str:
    """One line per written frame: ``frame 7 (3/10)  2.10 s/frame  ETA 0:15``."""
    return (
        f"frame {frame} ({finished}/{total})  {per_frame:.2f} s/frame  ETA {format_duration(eta)}"
    )


def bar_text(
    finished: int, total: int, step: int, steps: int, per_frame: float | None, eta: float | None
) -> str:
    """The progress bar's text: ``Frame 4/10 · step 3/20 · 2.10 s/frame · ETA 0:15``.

    The frame is the one being rendered (the next after those finished); the step and
    the pace appear once they are known.
    """
    parts = [f"Frame {min(finished + 1, max(total, 1))}/{total}"]
    if steps:
        parts.append(f"step {step}/{steps}")
    if per_frame is not None and eta is not None:
        parts.append(f"{per_frame:.2f} s/frame")
        parts.append(f"ETA {format_duration(eta)}")
    return " · ".join(parts)


def done_text(frames: int, seconds: float) -> str:
    """``Done: 10 frames in 0:21``."""
    return f"Done: {frames} frames in {format_duration(seconds)}"


def cancelled_text(finished: int, total: int) -> str:
    """``Cancelled after 3 of 10 frames``."""
    return f"Cancelled after {finished} of {total} frames"
