"""The Sequencer sidebar's Deforum panel: Render, Preview, Cancel, the progress, the newest frame.

The strip itself (made, grown, found again) lives in ``image_strip.py``.
"""

from __future__ import annotations

from typing import Any, cast

import bpy

from .image_strip import find_strip
from .progress_ui import draw_progress, draw_render_buttons
from .properties import deforum_settings


class _Previews:
    """A thumbnail of the newest frame, loaded once per frame (not stored in the .blend)."""

    collection: Any = None
    path = ""

    @classmethod
    def icon(cls, path: str) -> int:
        if not path or bpy.app.background:
            return 0
        from bpy.utils import previews

        if cls.collection is None:
            cls.collection = previews.new()
        if path != cls.path:
            cls.collection.clear()
            cls.path = path
        if path not in cls.collection:
            cls.collection.load(path, path, "IMAGE")
        return int(cls.collection[path].icon_id)

    @classmethod
    def release(cls) -> None:
        if cls.collection is not None:
            from bpy.utils import previews

            previews.remove(cls.collection)
        cls.collection, cls.path = None, ""


class DEFORUM_PT_sequencer(bpy.types.Panel):
    """Render Deforum into the sequencer: Render, Preview, Cancel and the progress"""

    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Deforum"
    bl_label = "Deforum"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and hasattr(context.scene, "deforum")

    def draw(self, context: bpy.types.Context) -> None:
        scene = context.scene
        layout = self.layout
        assert scene is not None and layout is not None
        state = draw_render_buttons(layout)
        settings = deforum_settings(scene)
        layout.prop(settings, "output_dir", text="")
        if state is None or state.scene != scene.name:
            return
        draw_progress(layout, state)
        if state.state in ("cancelled", "error") and not state.preview:
            resume = layout.operator("deforum.render", icon="FILE_REFRESH", text="Resume")
            cast(Any, resume).resume = True
        for warning in state.warnings[-3:]:
            layout.label(text=warning, icon="INFO")
        strip = find_strip(scene, state.out_dir)
        if strip is not None:
            layout.prop(strip, "channel", text="Strip Channel")
        if state.newest_frame is not None:
            box = layout.box()
            box.label(text=f"Newest: frame {state.newest_frame}", icon="IMAGE_DATA")
            icon = _Previews.icon(state.newest_path)
            if icon:
                box.template_icon(icon_value=icon, scale=6.0)


def register() -> None:
    """Register the Sequencer sidebar panel."""
    bpy.utils.register_class(DEFORUM_PT_sequencer)


def unregister() -> None:
    """Unregister the panel and drop the thumbnail."""
    bpy.utils.unregister_class(DEFORUM_PT_sequencer)
    _Previews.release()
