"""The Blender layer: preferences, properties, panels, operators and the render session.

Imports ``bpy``; never imports ``torch`` or the engine (the worker process runs
that). Registered by :func:`deforum_blender.register`.
"""

from __future__ import annotations

from . import (
    environment_ops,
    farm_ui,
    model_manager,
    operators,
    panels,
    preferences,
    progress_ui,
    prompts,
    properties,
    render_session,
    sequencer_panel,
    settings_files,
    sound_bake,
)

# Registered in order, unregistered in reverse (PropertyGroups before the pointers to them;
# the render session before the operators that start it, so it is stopped after them).
_MODULES = (
    preferences,
    properties,
    prompts,
    settings_files,
    panels,
    sequencer_panel,
    progress_ui,
    render_session,
    operators,
    environment_ops,
    model_manager,
    sound_bake,
    farm_ui,
)


def register() -> None:
    """Register every Blender class of the add-on."""
    for module in _MODULES:
        module.register()


def unregister() -> None:
    """Unregister in reverse order of registration."""
    for module in reversed(_MODULES):
        module.unregister()
