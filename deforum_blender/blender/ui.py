"""Small helpers every operator and timer shares: the result type, reports, popups, redraws.

An operator reports through ``self.report``; a timer has no operator, so it shows a
popup instead (never in background mode, where there is no screen to show it on).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import suppress
from typing import Any, Literal, TypeVar, cast

import bpy

from ..core.errors import DeforumInputError

T = TypeVar("T")
OperatorResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]

RENDER_AREAS = ("SEQUENCE_EDITOR", "PROPERTIES")  # the areas that show a render's progress


def reported(operator: bpy.types.Operator, action: Callable[[], T]) -> T | None:
    """``action()``, or None once its error is reported (bad input as it is, others typed)."""
    try:
        return action()
    except DeforumInputError as error:
        operator.report({"ERROR"}, str(error))
    except Exception as error:
        operator.report({"ERROR"}, f"Deforum: {type(error).__name__}: {error}")
    return None


def popup(message: str, icon: str) -> None:
    """Show ``message`` in a popup (a timer has no operator to report through)."""
    manager = bpy.context.window_manager
    # Background mode has a window but no screen to show it on (popup_menu crashes there).
    if bpy.app.background or manager is None or not manager.windows:
        return

    def draw(menu: Any, _context: Any) -> None:
        menu.layout.label(text=message)

    with bpy.context.temp_override(window=manager.windows[0]):
        manager.popup_menu(draw, title="Deforum", icon=cast(Any, icon))


def tag_redraw(area_types: Collection[str] = RENDER_AREAS, *, status_bar: bool = True) -> None:
    """Redraw the areas (and the status bar) that show the progress."""
    manager = bpy.context.window_manager
    if manager is None:
        return
    for window in manager.windows:
        screen = window.screen
        if screen is None:
            continue
        for area in screen.areas:
            if area.type in area_types:
                area.tag_redraw()
        workspace = window.workspace
        if status_bar and workspace is not None:
            with bpy.context.temp_override(window=window):
                workspace.status_text_set_internal(None)  # also redraws the status bar


def push_undo(message: str) -> None:
    """An undo step named ``message`` for what a timer changed (it has no operator's step)."""
    manager = bpy.context.window_manager
    if manager is None or not manager.windows:
        return
    with bpy.context.temp_override(window=manager.windows[0]), suppress(RuntimeError):
        bpy.ops.ed.undo_push(message=message)
