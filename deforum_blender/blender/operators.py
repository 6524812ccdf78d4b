"""The render operators: ``deforum.render``, ``deforum.preview``, ``deforum.cancel``, and Esc.

Each operator is small: ``poll`` says when it makes sense and ``execute`` asks the render
session (``render_session.py``) to do one thing, then reports. In the UI ``execute``
returns at once and a timer follows the render; in background mode it returns when the
render has ended.
"""

from __future__ import annotations

from typing import Any

import bpy

from .image_strip import MAX_CHANNEL
from .render_session import RenderRequest, active_session, render
from .ui import OperatorResult, reported


def _init_items() -> tuple[tuple[str, str, str], ...]:
    return (
        ("settings", "Settings", "The first frame starts as the Init & Mask settings say"),
        ("render", "Scene Render", "The first frame starts from Blender's own render of it"),
        ("image", "Init Image", "The first frame starts from the init image"),
        ("none", "None", "The first frame is generated from the prompt alone"),
    )


class _RenderOperator(bpy.types.Operator):
    """Shared by Render and Preview (never registered itself)."""

    bl_options = {"REGISTER"}  # noqa: RUF012 - Blender reads a set
    preview_only = False

    resume: bpy.props.BoolProperty(
        name="Resume",
        description="Continue the render in the output folder instead of starting over",
        default=False,
    )
    init: bpy.props.EnumProperty(
        name="Init",
        description="What the first frame starts from",
        items=_init_items(),
        default="settings",
    )
    channel: bpy.props.IntProperty(
        name="Channel",
        description=(
            "Sequencer channel for a new strip; 0 keeps the strip's channel or picks "
            "the first free one"
        ),
        default=0,
        min=0,
        max=MAX_CHANNEL,
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return (
            context.scene is not None
            and hasattr(context.scene, "deforum")
            and active_session() is None
        )

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        scene = context.scene
        assert scene is not None
        request = RenderRequest(
            preview=self.preview_only,
            resume=bool(self.resume),
            init=str(self.init),
            channel=int(self.channel),
        )
        background = bool(bpy.app.background)
        session = reported(self, lambda: render(scene, request, blocking=background))
        if session is None:
            return {"CANCELLED"}
        for warning in session.prepared.warnings:
            self.report({"WARNING"}, warning)
        state = session.progress
        if not background:
            self.report({"INFO"}, f"Deforum: rendering {state.total} frames into {state.out_dir}")
            return {"FINISHED"}
        if state.state == "error":
            self.report({"ERROR"}, f"Deforum: {state.message}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Deforum: {state.message}")
        return {"FINISHED"} if state.state == "done" else {"CANCELLED"}


class DEFORUM_OT_render(_RenderOperator):
    """Render the Deforum animation of this scene; the frames grow as a sequencer strip"""

    bl_idname = "deforum.render"
    bl_label = "Render Deforum"


class DEFORUM_OT_preview(_RenderOperator):
    """Motion preview: warp the frames with the camera's motion, without diffusion (fast)"""

    bl_idname = "deforum.preview"
    bl_label = "Preview Deforum Motion"
    preview_only = True


class DEFORUM_OT_cancel(bpy.types.Operator):
    """Stop the running Deforum render after the current step (frames so far are kept)"""

    bl_idname = "deforum.cancel"
    bl_label = "Cancel Deforum Render"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        session = active_session()
        return session is not None and session.progress.state != "cancelling"

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        session = active_session()
        if session is None:
            return {"CANCELLED"}
        session.cancel()
        self.report({"INFO"}, "Deforum: cancelling after the current step")
        return {"FINISHED"}


_CLASSES = (DEFORUM_OT_render, DEFORUM_OT_preview, DEFORUM_OT_cancel)
_KEYMAPS: list[tuple[Any, Any]] = []


def register() -> None:
    """Register the operators, and Esc to cancel a running render."""
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    keyconfig = bpy.context.window_manager.keyconfigs.addon if bpy.context.window_manager else None
    if keyconfig is not None:
        # Esc anywhere cancels a running render; with none running the key passes on.
        keymap = keyconfig.keymaps.new(name="Window", space_type="EMPTY")
        _KEYMAPS.append((keymap, keymap.keymap_items.new("deforum.cancel", "ESC", "PRESS")))


def unregister() -> None:
    """Remove Esc and the operators (the render session stops the render itself)."""
    for keymap, item in _KEYMAPS:
        keymap.keymap_items.remove(item)
    _KEYMAPS.clear()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
