"""The prompt list: its UIList, "add at current frame" / remove, and the timeline markers.

Each prompt is labelled by a timeline marker (``P3 a red fox``); the marker's frame is the
prompt's frame, so moving the marker in the timeline moves the prompt. Marker names are
short, so a marker labels its entry rather than holding the text. Before the .blend is
saved, every prompt remembers its marker's frame, so deleting the marker later keeps the
prompt where it was.
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.app.handlers import persistent

from .properties import deforum_settings, marker_label, prompt_marker
from .ui import OperatorResult


class DEFORUM_UL_prompts(bpy.types.UIList):
    """The prompts in frame order: frame, prompt text, a mark when the negative part is set."""

    def draw_item(
        self,
        context: bpy.types.Context,
        layout: bpy.types.UILayout,
        data: Any | None,
        item: Any | None,
        icon: int | None,
        active_data: Any,
        active_property: str | None,
        index: int | None = 0,
        flt_flag: int | None = 0,
    ) -> None:
        if item is None:
            return
        row = layout.row(align=True)
        frame = row.row()
        frame.ui_units_x = 3
        frame.prop(item, "frame", text="", emboss=False)
        row.prop(
            item, "prompt", text="", emboss=False, icon="MARKER_HLT" if item.marker else "NONE"
        )

    def filter_items(
        self, context: bpy.types.Context | None, data: Any | None, property: str | None
    ) -> Any:
        items = getattr(data, property or "prompts")
        # Show the list in frame order, whatever the order the prompts were added in.
        order = sorted(range(len(items)), key=lambda i: (items[i].frame, i))
        new_order = [0] * len(items)
        for position, index in enumerate(order):
            new_order[index] = position
        flags = [self.bitflag_filter_item] * len(items)
        if self.filter_name:
            needle = self.filter_name.lower()
            flags = [self.bitflag_filter_item if needle in p.prompt.lower() else 0 for p in items]
        return flags, new_order


def next_prompt_number(settings: Any) -> int:
    """A number no prompt of ``settings`` uses yet (markers are told apart by it)."""
    return max((p.number for p in settings.prompts), default=0) + 1


def add_prompt(
    scene: bpy.types.Scene, frame: int, prompt: str = "", negative_prompt: str = ""
) -> Any:
    """Add a prompt at ``frame`` with a timeline marker labelling it; returns the entry."""
    settings = deforum_settings(scene)
    item = settings.prompts.add()
    item.number = next_prompt_number(settings)
    marker = scene.timeline_markers.new(marker_label(item.number, prompt), frame=frame)
    item.marker = marker.name
    item.stored_frame = frame
    item.prompt = prompt  # renames the marker through the update callback
    item.negative_prompt = negative_prompt
    settings.prompt_index = len(settings.prompts) - 1
    return item


def remove_prompt(scene: bpy.types.Scene, index: int) -> None:
    """Remove prompt ``index`` and the marker labelling it."""
    settings = deforum_settings(scene)
    marker = prompt_marker(settings.prompts[index])
    if marker is not None:
        scene.timeline_markers.remove(marker)
    settings.prompts.remove(index)
    settings.prompt_index = max(0, min(settings.prompt_index, len(settings.prompts) - 1))


def sync_stored_frames(scene: bpy.types.Scene) -> None:
    """Copy each marker's frame into its prompt, so the frame survives the marker."""
    for item in deforum_settings(scene).prompts:
        marker = prompt_marker(item)
        if marker is not None and item.stored_frame != marker.frame:
            item.stored_frame = marker.frame


class DEFORUM_OT_prompt_add(bpy.types.Operator):
    """Add a prompt at the current frame, labelled by a timeline marker"""

    bl_idname = "deforum.prompt_add"
    bl_label = "Add Prompt"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    prompt: bpy.props.StringProperty(
        name="Prompt", description="Text of the new prompt", default=""
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        scene = context.scene
        assert scene is not None  # poll checked it
        add_prompt(scene, scene.frame_current, self.prompt)
        return {"FINISHED"}


class DEFORUM_OT_prompt_remove(bpy.types.Operator):
    """Remove the selected prompt and its timeline marker"""

    bl_idname = "deforum.prompt_remove"
    bl_label = "Remove Prompt"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None:
            return False
        settings = deforum_settings(context.scene)
        return bool(0 <= settings.prompt_index < len(settings.prompts))

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        scene = context.scene
        assert scene is not None  # poll checked it
        remove_prompt(scene, deforum_settings(scene).prompt_index)
        return {"FINISHED"}


@persistent  # type: ignore[untyped-decorator]
def _sync_before_save(*_args: Any) -> None:
    for scene in bpy.data.scenes:
        if hasattr(scene, "deforum"):
            sync_stored_frames(scene)


_CLASSES = (DEFORUM_UL_prompts, DEFORUM_OT_prompt_add, DEFORUM_OT_prompt_remove)


def register() -> None:
    """Register the list, the operators and the save handler."""
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.app.handlers.save_pre.append(_sync_before_save)


def unregister() -> None:
    """Remove the save handler, then the classes."""
    if _sync_before_save in bpy.app.handlers.save_pre:
        bpy.app.handlers.save_pre.remove(_sync_before_save)
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
