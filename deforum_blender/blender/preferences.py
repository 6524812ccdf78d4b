"""Add-on preferences: where the worker's Python lives, the button that sets it up, and the
model manager (the model folders, the models on this machine, downloads)."""

from __future__ import annotations

import bpy

# The add-on's root package: ``deforum_blender`` on sys.path, ``bl_ext.<repo>.deforum_blender`` as
# an installed extension. Preferences are keyed by it.
ADDON_PACKAGE = __package__.rpartition(".")[0] if __package__ else "deforum_blender"


class DEFORUM_PG_model_folder(bpy.types.PropertyGroup):
    """One folder the model manager looks in."""

    path: bpy.props.StringProperty(
        name="Model Folder",
        description="A folder holding models: diffusers folders and .safetensors files",
        subtype="DIR_PATH",
        default="",
    )


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
    model_folders: bpy.props.CollectionProperty(
        type=DEFORUM_PG_model_folder,
        name="Model Folders",
        description="Folders the model manager lists models from, besides the Hugging Face cache",
    )
    download_id: bpy.props.StringProperty(
        name="Hugging Face Id",
        description="The model to download, as org/name (e.g. stabilityai/sd-turbo)",
        default="",
    )
    download_sha256: bpy.props.StringProperty(
        name="SHA-256",
        description="The expected sha256 of the model's one checkpoint file (the model's page "
        "lists it); a download that differs is removed. Empty: not checked",
        default="",
    )

    def draw(self, context: bpy.types.Context) -> None:
        # Imported here: environment_ops imports this module (ADDON_PACKAGE).
        from .environment_ops import draw_environment
        from .model_manager import draw_models

        self.layout.prop(self, "worker_python")
        draw_environment(self.layout)
        draw_models(self.layout)


def register() -> None:
    """Register the preferences class (after the folder type it holds)."""
    bpy.utils.register_class(DEFORUM_PG_model_folder)
    bpy.utils.register_class(DEFORUM_AP_preferences)


def unregister() -> None:
    """Unregister the preferences class, then the folder type."""
    bpy.utils.unregister_class(DEFORUM_AP_preferences)
    bpy.utils.unregister_class(DEFORUM_PG_model_folder)
