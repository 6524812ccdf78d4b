"""The CLI's progress lines speak the shared progress words (``core/progress_text.py``)."""

from __future__ import annotations

import io

from deforum_blender.engine.progress import TerminalProgress


def test_a_render_prints_its_start_every_frame_and_its_outcome() -> None:
    stream = io.StringIO()
    sink = TerminalProgress(stream)
    sink("started", frames=3, first_frame=5, resumed_from=6)
    sink("frame", frame=6, index=1, path="/out/frames/frame_00006.png")
    sink("warning", message="a warning")
    sink("frame", frame=7, index=2, path="/out/frames/frame_00007.png")
    sink("done", frames=3, out_dir="/out", seconds=62.0)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "Rendering 3 frames, resuming at frame 6"
    assert lines[1].startswith("frame 6 (2/3)  ") and " s/frame  ETA " in lines[1]
    assert lines[2] == "warning: a warning"
    assert lines[3].startswith("frame 7 (3/3)  ") and lines[3].endswith("ETA 0:00")
    assert lines[4] == "Done: 3 frames in 1:02 → /out"


def test_a_cancelled_render_says_how_far_it_got() -> None:
    stream = io.StringIO()
    sink = TerminalProgress(stream)
    sink("started", frames=10, first_frame=1)
    sink("cancelled", frames=4)
    assert stream.getvalue().splitlines() == [
        "Rendering 10 frames",
        "Cancelled after 4 of 10 frames",
    ]
