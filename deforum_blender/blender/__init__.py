"""The Blender layer: preferences, properties, panels and operators.

Imports ``bpy``; never imports ``torch`` or the engine (the worker process runs
that). Registered by :func:`deforum_blender.register`.
"""

from __future__ import annotations

from . import (
    environment_ops,
    operators,
    panels,
    preferences,
    prompts,
    properties,
    sequencer,
    settings_files,
)

# Registered in order, unregistered in reverse (PropertyGroups before the pointers to them).
_MODULES = (
    preferences,
    properties,
    prompts,
    settings_files,
    panels,
    sequencer,
    operators,
    environment_ops,
)


def register() -> None:
    """Register every Blender class of the add-on."""
    for module in _MODULES:
        module.register()


def unregister() -> None:
    """Unregister in reverse order of registration."""
    for module in reversed(_MODULES):
        module.unregister()
