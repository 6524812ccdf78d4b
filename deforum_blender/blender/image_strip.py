"""The render's image-sequence strip in the Video Sequencer.

A render shows as one image strip named after its output folder, starting at the
scene's first frame, that grows by one element per frame as the worker writes them.
The strip carries the output folder in a custom property, so a re-render into the same
folder finds it (wherever the artist moved it) and replaces its elements instead of
adding a second strip. The strip is looked up again on every change and never kept,
because undo and file loading free the Python objects of strips.

Rendering with strips in the sequencer renders the strips, not the scene: the depth
pass (``depth_pass.py``) and the scene render for the init (``scene_render.py``) switch
``render.use_sequencer`` off while they render.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bpy

from ..core.output_layout import frame_files, frame_name, frames_dir
from .properties import deforum_settings

# Custom property on the strip: the absolute output folder of the render it shows.
OUTPUT_KEY = "deforum_output"
DEFAULT_STRIP_NAME = "Deforum"
MAX_CHANNEL = 128


def strip_name(out_dir: str | os.PathLike[str]) -> str:
    """The strip's name: the render's output folder name (``Deforum`` when there is none)."""
    return Path(os.path.normpath(out_dir)).name or DEFAULT_STRIP_NAME


def output_key(out_dir: str | os.PathLike[str]) -> str:
    """The output folder as strips record it: absolute, case-folded where the OS ignores case."""
    return os.path.normcase(os.path.abspath(out_dir))


def find_strip(scene: bpy.types.Scene, out_dir: str | os.PathLike[str]) -> Any | None:
    """The image strip showing the render in ``out_dir``, or None."""
    editor = scene.sequence_editor
    if editor is None:
        return None
    key = output_key(out_dir)
    for strip in editor.strips_all:
        if strip.type == "IMAGE" and strip.get(OUTPUT_KEY) == key:
            return strip
    return None


def blender_path(scene: bpy.types.Scene, path: Path) -> str:
    """A strip's file or folder as Blender stores it: ``//``-relative when the output is."""
    text = str(path)
    if deforum_settings(scene).output_dir.startswith("//") and bpy.data.filepath:
        try:
            return str(bpy.path.relpath(text))
        except ValueError:  # another drive (Windows): keep it absolute
            return text
    return text


def _busy(strip: Any, start: int, end: int) -> bool:
    """True when ``strip`` takes up any of the frames ``start … end − 1``."""
    return bool(strip.frame_final_start < end and start < strip.frame_final_end)


def free_channel(
    scene: bpy.types.Scene, start: int, end: int, wanted: int = 0, *, ignore: Any = None
) -> int:
    """A channel with no strip (but ``ignore``) over frames ``start … end − 1``.

    ``wanted`` (1…128) if it is free there, else the next free one above it; with
    ``wanted`` 0, the lowest channel above every strip over those frames.
    """
    editor = scene.sequence_editor
    strips = list(editor.strips) if editor is not None else []
    taken = {int(s.channel) for s in strips if s != ignore and _busy(s, start, end)}
    if wanted <= 0:
        channel = max(taken, default=0) + 1
    else:
        channel = next((c for c in range(wanted, MAX_CHANNEL + 1) if c not in taken), 0)
    if not 1 <= channel <= MAX_CHANNEL:
        raise RuntimeError(
            f"no free sequencer channel for frames {start}–{end - 1}: free a channel "
            "or choose one with a free range"
        )
    return channel


def prepare_strip(
    scene: bpy.types.Scene,
    out_dir: str | os.PathLike[str],
    first_frame: int,
    last_frame: int,
    *,
    channel: int = 0,
) -> Any:
    """The render's strip, emptied to its first frame (a re-render replaces its elements).

    Made when missing, in ``channel`` when it is free over the frame range (0: the lowest
    channel above the other strips there). An existing strip stays in its channel unless
    ``channel`` asks for another.
    """
    folder = Path(os.path.abspath(out_dir))
    frames = frames_dir(folder)
    editor = scene.sequence_editor or scene.sequence_editor_create()
    strip: Any = find_strip(scene, folder)
    first_file = frame_name(first_frame)
    if strip is None:
        chosen = free_channel(scene, first_frame, last_frame + 1, channel)
        strip = editor.strips.new_image(
            strip_name(folder), str(frames / first_file), chosen, first_frame
        )
        strip[OUTPUT_KEY] = output_key(folder)
    else:
        while len(strip.elements) > 1:
            strip.elements.pop(len(strip.elements) - 1)
        strip.elements[0].filename = first_file
        strip.frame_start = first_frame
        if channel and channel != strip.channel:
            strip.channel = free_channel(scene, first_frame, last_frame + 1, channel)
    strip.directory = blender_path(scene, frames) + os.sep
    strip.invalidate_cache("RAW")  # same file names as the last render: drop cached images
    return strip


def add_frame(scene: bpy.types.Scene, out_dir: str | os.PathLike[str], frame: int) -> Any | None:
    """Show ``frame`` (just written) in the render's strip: it grows to reach it.

    Frames arrive in order; a frame past the end also adds the frames before it (they
    show as missing until written). Returns the strip, or None when it was deleted.
    """
    strip = find_strip(scene, out_dir)
    if strip is None:
        return None
    elements = strip.elements
    first = round(strip.frame_start)
    index = frame - first
    if index < 0:
        return strip
    if index == 0 or index < len(elements):
        strip.invalidate_cache("RAW")  # a redone frame has the same name as the old one
        return strip
    for missing in range(first + len(elements), frame + 1):
        elements.append(frame_name(missing))
    return strip


def show_finished_frames(
    scene: bpy.types.Scene,
    out_dir: str | os.PathLike[str],
    first_frame: int,
    last_frame: int,
    *,
    channel: int = 0,
) -> Any | None:
    """Make the strip show the frames already in ``out_dir`` (a resumed render, a reload)."""
    finished = [f for f in frame_files(Path(out_dir)) if first_frame <= f <= last_frame]
    strip = prepare_strip(scene, out_dir, first_frame, last_frame, channel=channel)
    if finished:
        add_frame(scene, out_dir, max(finished))
    return strip
