"""Blender's own render of every frame, for scene-guided rendering (``scene_blend``).

Each frame whose ``scene_blend`` is above 0 is rendered with the scene's own engine,
samples and colour management into ``<out>/scene_render/frame_<NNNNN>.png`` (8-bit RGB,
the name ``core/output_layout.py`` gives and ``engine/scene_guide.py`` reads). As in
``depth_pass.py``, the settings touched — the sequencer switched off (a scene with strips
would render the strips), the output path and format — and the current frame are put
back afterwards, also on error. Written to a hidden name first, then renamed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import bpy

from ..core.atomic import replacing
from ..core.errors import DeforumInputError
from ..core.job import Job
from ..core.output_layout import scene_render_frame_path
from ..core.scene_inputs import scene_render_frames


@contextmanager
def _render_setup(scene: bpy.types.Scene, path: Path) -> Iterator[None]:
    """Render to one 8-bit RGB PNG at ``path``, the sequencer off; all undone on exit."""
    image = scene.render.image_settings
    settings: list[tuple[Any, str, Any]] = [
        (scene.render, "use_sequencer", False),
        (scene.render, "filepath", str(path)),
        (scene.render, "use_file_extension", False),
        (image, "media_type", "IMAGE"),
        (image, "file_format", "PNG"),
        (image, "color_mode", "RGB"),
        (image, "color_depth", "8"),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in settings]
    try:
        for owner, name, value in settings:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            with suppress(TypeError, ValueError):  # a value the restored format refuses
                setattr(owner, name, value)


def frames_to_render(job: Job) -> list[int]:
    """Blender frames whose ``scene_blend`` is above 0 (``core/scene_inputs.py`` decides)."""
    return scene_render_frames(job)


@contextmanager
def kept_frame(scene: bpy.types.Scene) -> Iterator[None]:
    """Put the scene's current frame (and subframe) back on exit, also on error."""
    frame_before, subframe_before = scene.frame_current, scene.frame_subframe
    try:
        yield
    finally:
        scene.frame_set(frame_before, subframe=subframe_before)


def render_frame(scene: bpy.types.Scene, frame: int, target: Path) -> Path:
    """Blender's render of ``frame`` as an 8-bit RGB PNG at ``target``, written atomically.

    Leaves the scene at ``frame`` (callers keep their frame with :func:`kept_frame`).
    """
    with replacing(target, keep_suffix=True, make_folder=True) as temporary:
        with _render_setup(scene, temporary):
            scene.frame_set(int(frame))
            bpy.ops.render.render(write_still=True, scene=scene.name)
        if not temporary.is_file():
            raise RuntimeError(f"Blender's render of frame {frame} was not written to {target}")
    return target


def render_scene_frames(
    scene: bpy.types.Scene, frames: Iterable[int], out: str | os.PathLike[str]
) -> list[Path]:
    """Render each frame into ``<out>/scene_render/frame_NNNNN.png``; the written paths."""
    if scene.camera is None:
        raise DeforumInputError(
            f"scene_blend: scene {scene.name!r} has no active camera to render; set "
            "Scene > Camera, or set scene_blend to 0"
        )
    out = Path(out)
    with kept_frame(scene):
        return [
            render_frame(scene, int(frame), scene_render_frame_path(out, int(frame)))
            for frame in frames
        ]


def render_scene_guide(
    scene: bpy.types.Scene, job: Job, out: str | os.PathLike[str], *, resume: bool = False
) -> list[Path]:
    """The scene renders the job's ``scene_blend`` needs (only the missing ones on resume)."""
    out = Path(out)
    frames = frames_to_render(job)
    if resume:
        frames = [f for f in frames if not scene_render_frame_path(out, f).is_file()]
    return render_scene_frames(scene, frames, out) if frames else []
