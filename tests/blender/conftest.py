"""Fixtures for the Blender-layer tests (real bpy)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def registered_scene() -> Iterator[Any]:
    """A fresh empty scene with the add-on registered; unregistered and reset afterwards."""
    import bpy

    import deforum_blender

    bpy.ops.wm.read_factory_settings(use_empty=True)
    deforum_blender.register()
    try:
        yield bpy.context.scene
    finally:
        deforum_blender.unregister()
        bpy.ops.wm.read_factory_settings(use_empty=True)
