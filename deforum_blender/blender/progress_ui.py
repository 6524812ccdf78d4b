"""How a render's progress is drawn: the Render / Preview / Cancel buttons, the bar, the status bar.

The Properties panel and the Sequencer sidebar both draw the buttons and the bar; the
status bar shows the running render's bar in every window.
"""

from __future__ import annotations

from typing import Any

import bpy

from . import progress


def draw_progress(layout: Any, state: progress.RenderProgress) -> None:
    """The progress bar (or the outcome) of ``state``."""
    if state.running:
        layout.progress(factor=state.fraction, type="BAR", text=state.text())
    else:
        icon = {"done": "CHECKMARK", "cancelled": "CANCEL"}.get(state.state, "ERROR")
        row = layout.row()
        row.alert = state.state == "error"
        row.label(text=state.text(), icon=icon)


def draw_render_buttons(layout: Any) -> progress.RenderProgress | None:
    """Render / Preview (while idle) and Cancel (while running); returns the progress."""
    state = progress.current()
    running = state is not None and state.running
    column = layout.column(align=True)
    buttons = column.row(align=True)
    buttons.enabled = not running
    buttons.operator("deforum.render", icon="RENDER_ANIMATION", text="Render")
    buttons.operator("deforum.preview", icon="CAMERA_DATA", text="Preview")
    cancel = column.row()
    cancel.enabled = running
    cancel.operator("deforum.cancel", icon="CANCEL", text="Cancel")
    return state


def draw_status(header: Any, _context: Any) -> None:
    """The status bar: the running render's progress bar."""
    state = progress.current()
    if state is None or not state.running:
        return
    header.layout.progress(factor=state.fraction, type="BAR", text=f"Deforum {state.text()}")


def register() -> None:
    """Show the running render's progress in the status bar."""
    bpy.types.STATUSBAR_HT_header.append(draw_status)


def unregister() -> None:
    """Remove the status bar's progress."""
    bpy.types.STATUSBAR_HT_header.remove(draw_status)
