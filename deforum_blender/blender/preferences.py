"""Add-on preferences: where the worker's Python lives, and the button that sets it up."""

from __future__ import annotations

import bpy

# The add-on's root package: ``deforum_blender`` on sys.path, ``bl_ext.<repo>.deforum_blender`` as
# an installed extension. Preferences are keyed by it.
ADDON_PACKAGE = __package__.rpartition(".")[0] if __package__ else "deforum_blender"


class DEFORUM_AP_preferences(bpy.types.AddonPreferences):
    """Settings that belong to the machine, not the .blend: the worker environment."""

    bl_idname = ADDON_PACKAGE

    worker_python: bpy.props.StringProperty(
        name="Worker Python",
        description=(
            "Python interpreter that runs the render worker (needs torch and diffusers). "
            "Empty: use DEFORUM_WORKER_PYTHON, then the add-on's own environment"
        ),
        subtype="FILE_PATH",
        default="",
    )

    def draw(self, context: bpy.types.Context) -> None:
        # Imported here: environment_ops imports this module (ADDON_PACKAGE).
        from .environment_ops import draw_environment

        self.layout.prop(self, "worker_python")
        draw_environment(self.layout)


def register() -> None:
    """Register the preferences class."""
    bpy.utils.register_class(DEFORUM_AP_preferences)


def unregister() -> None:
    """Unregister the preferences class."""
    bpy.utils.unregister_class(DEFORUM_AP_preferences)
