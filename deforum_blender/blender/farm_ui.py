"""The prompt-set list of the Render Farm sub-panel: its UIList and add/remove operators."""

from __future__ import annotations

from typing import Any

import bpy

from .properties import deforum_settings
from .ui import OperatorResult


class DEFORUM_UL_prompt_sets(bpy.types.UIList):
    """The farm's prompt sets: name and the text put before every prompt."""

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
        row.prop(item, "name", text="", emboss=False)
        row.prop(item, "positive", text="", emboss=False)


class DEFORUM_OT_farm_prompt_set_add(bpy.types.Operator):
    """Add a prompt set: the farm renders every seed with each set"""

    bl_idname = "deforum.farm_prompt_set_add"
    bl_label = "Add Prompt Set"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        assert context.scene is not None  # poll checked it
        settings = deforum_settings(context.scene)
        item = settings.farm_prompt_sets.add()
        item.name = f"set_{len(settings.farm_prompt_sets)}"
        settings.farm_prompt_set_index = len(settings.farm_prompt_sets) - 1
        return {"FINISHED"}


class DEFORUM_OT_farm_prompt_set_remove(bpy.types.Operator):
    """Remove the selected prompt set"""

    bl_idname = "deforum.farm_prompt_set_remove"
    bl_label = "Remove Prompt Set"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None:
            return False
        settings = deforum_settings(context.scene)
        return bool(0 <= settings.farm_prompt_set_index < len(settings.farm_prompt_sets))

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        assert context.scene is not None  # poll checked it
        settings = deforum_settings(context.scene)
        settings.farm_prompt_sets.remove(settings.farm_prompt_set_index)
        settings.farm_prompt_set_index = max(0, settings.farm_prompt_set_index - 1)
        return {"FINISHED"}


_CLASSES = (
    DEFORUM_UL_prompt_sets,
    DEFORUM_OT_farm_prompt_set_add,
    DEFORUM_OT_farm_prompt_set_remove,
)


def register() -> None:
    """Register the list and its operators."""
    for cls in _CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    """Unregister in reverse order."""
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
