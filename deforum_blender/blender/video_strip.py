"""A movie or image strip of the Video Sequencer as the video of Video Input mode.

The strip shown at the render's first frame is the video: its file (a movie strip) or
its folder (an image strip), and the frame offset — which of its frames is on screen at
the first frame, counted from 0 as the engine counts ``extract_from_frame``. Blender
plays a strip one frame per scene frame, so ``extract_nth_frame`` is 1. Muted strips and
the Deforum output strips (the frames, ``image_strip.OUTPUT_KEY``, and the results,
``result_strips.RESULT_KEY``) are never the video. A movie whose
frame rate differs from the scene's is still read frame by frame (as Blender shows it
without retiming); retimed strips are not followed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy

from ..core.errors import DeforumInputError
from .image_strip import OUTPUT_KEY
from .properties import deforum_settings
from .result_strips import is_result_strip

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class VideoStrip:
    """The strip that gives the video: its name, file or folder, and frame offset."""

    name: str
    kind: str  # "MOVIE" | "IMAGE"
    path: str  # absolute: the movie file, or the image strip's folder
    frame_offset: int  # the strip's frame (from 0) on screen at the render's first frame


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _covers(strip: Any, frame: int) -> bool:
    return int(strip.frame_final_start) <= frame < int(strip.frame_final_end)


def find_video_strip(scene: bpy.types.Scene, first_frame: int) -> VideoStrip | None:
    """The movie/image strip on screen at ``first_frame`` (lowest channel first), or None.

    Without one on screen there, the lowest-channel movie or image strip; its offset is
    then negative when it starts later, which :func:`apply_video_strip` refuses.
    """
    editor = scene.sequence_editor
    if editor is None:
        return None
    strips: list[Any] = list(editor.strips_all)
    candidates = [
        strip
        for strip in strips
        if strip.type in ("MOVIE", "IMAGE")
        and not strip.mute
        and OUTPUT_KEY not in strip
        and not is_result_strip(strip)
    ]
    if not candidates:
        return None
    strip: Any = min(candidates, key=lambda s: (not _covers(s, first_frame), s.channel))
    offset = first_frame - int(strip.frame_start)  # frame 0 of the content sits at frame_start
    if strip.type == "MOVIE":
        return VideoStrip(strip.name, "MOVIE", bpy.path.abspath(strip.filepath), offset)
    folder = Path(bpy.path.abspath(strip.directory))
    first_name = strip.elements[0].filename if len(strip.elements) else ""
    # The engine reads the folder's images in natural order: count the ones before the strip's.
    names = sorted(
        (p.name for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if folder.is_dir()
        else [],
        key=_natural_key,
    )
    before = names.index(first_name) if first_name in names else 0
    return VideoStrip(strip.name, "IMAGE", str(folder), offset + before)


def apply_video_strip(scene: bpy.types.Scene) -> VideoStrip | None:
    """Video Input without a video chosen: take the sequencer's strip (sets scene.deforum).

    Sets ``video_init_path``, ``extract_from_frame`` (the strip's offset),
    ``extract_nth_frame`` 1 and ``extract_to_frame`` −1; returns the strip used, or None
    when the mode is another, a video is already chosen, or there is no strip.
    """
    settings = deforum_settings(scene)
    if settings.animation_mode != "Video Input" or settings.video_init_path:
        return None
    strip = find_video_strip(scene, int(scene.frame_start))
    if strip is None:
        return None
    if strip.frame_offset < 0:
        raise DeforumInputError(
            f"video strip {strip.name!r} starts {-strip.frame_offset} frames after the render's "
            f"first frame {scene.frame_start}; move the strip to start at or before it, or "
            "start the frame range later"
        )
    settings.video_init_path = strip.path
    settings.extract_from_frame = strip.frame_offset
    settings.extract_nth_frame = 1
    settings.extract_to_frame = -1
    return strip
