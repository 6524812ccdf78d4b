"""Deforum-style Stable Diffusion animations with the Blender camera as the motion source.

Importing this package is cheap: it pulls in neither ``bpy`` nor ``torch`` nor
``cv2``. Blender calls :func:`register`, which imports the Blender layer; the
command line (``python -m deforum_blender``) imports what each sub-command needs.
"""

from __future__ import annotations

__version__ = "0.1.0"


def register() -> None:
    """Register the add-on's Blender classes (called by Blender)."""
    from . import blender

    blender.register()


def unregister() -> None:
    """Unregister the add-on's Blender classes (called by Blender)."""
    from . import blender

    blender.unregister()
