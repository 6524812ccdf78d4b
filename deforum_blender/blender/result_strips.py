"""The finished results of a render as strips beside its frames in the Video Sequencer.

After a render whose job asks for steps after the frames (``engine/finish.py``), the
video (``<out>/video.mp4``) shows as a movie strip, and the upscaled and interpolated
frame folders that were kept show as image strips, each in the first free channel above
the render's frames strip, starting at the render's first frame. Each strip carries the
output folder and its kind in custom properties, so a re-render replaces it (in the
channel the artist moved it to) instead of adding another, and a result the new render
no longer makes (interpolation switched off) loses its strip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bpy

from ..core.job import Job
from ..core.output_layout import INTERPOLATED_DIR, UPSCALED_DIR, frame_number, video_path
from .image_strip import blender_path, find_strip, free_channel, output_key, strip_name

# Custom properties on a result strip: the absolute output folder, and which result it is.
RESULT_KEY = "deforum_result"
KIND_KEY = "deforum_result_kind"
# Result kinds, bottom to top above the frames strip; a strip is named "<folder> <kind>".
KINDS = ("video", "upscaled", "interpolated")


def find_result_strip(scene: bpy.types.Scene, out_dir: str | os.PathLike[str], kind: str) -> Any:
    """The strip showing result ``kind`` of the render in ``out_dir``, or None."""
    editor = scene.sequence_editor
    if editor is None:
        return None
    key = output_key(out_dir)
    for strip in editor.strips_all:
        if strip.get(RESULT_KEY) == key and strip.get(KIND_KEY) == kind:
            return strip
    return None


def is_result_strip(strip: Any) -> bool:
    """True for a strip this module made (an output of a render, never its input)."""
    return RESULT_KEY in strip


def results(out: Path, job: Job) -> dict[str, list[Path]]:
    """The results ``job`` made in ``out`` by kind: the video file, or a folder's frames."""
    found: dict[str, list[Path]] = {}
    if video_path(out).is_file():
        found["video"] = [video_path(out)]
    asked = {
        "upscaled": (job.finish.r_upscale_video, UPSCALED_DIR),
        "interpolated": (job.finish.frame_interpolation_engine != "None", INTERPOLATED_DIR),
    }
    for kind, (wanted, name) in asked.items():
        frames = _frames_in(out / name) if wanted else []
        if frames:
            found[kind] = frames
    return found


def _frames_in(folder: Path) -> list[Path]:
    """The ``frame_<N>.png`` files of ``folder`` in frame order (none when it is missing)."""
    if not folder.is_dir():
        return []
    numbered = [(frame_number(p.name), p) for p in folder.iterdir() if p.is_file()]
    return [path for number, path in sorted((n, p) for n, p in numbered if n is not None)]


def show_results(
    scene: bpy.types.Scene, out_dir: str | os.PathLike[str], job: Job
) -> dict[str, Any]:
    """Put each result of the render in ``out_dir`` in the sequencer; returns them by kind.

    Strips of results that are gone (a re-render without that step) are removed.
    """
    out = Path(os.path.abspath(out_dir))
    found = results(out, job)
    editor = scene.sequence_editor or scene.sequence_editor_create()
    frames_strip = find_strip(scene, out)
    above = int(frames_strip.channel) + 1 if frames_strip is not None else 0
    shown: dict[str, Any] = {}
    for kind in KINDS:
        old = find_result_strip(scene, out, kind)
        channel = int(old.channel) if old is not None else above
        if old is not None:  # replaced: a new render's result may differ in length
            editor.strips.remove(old)
        if kind not in found:
            continue
        files = found[kind]
        name = f"{strip_name(out)} {kind}"
        strip = _new_strip(scene, editor, name, files, channel, job.first_frame)
        strip[RESULT_KEY] = output_key(out)
        strip[KIND_KEY] = kind
        shown[kind] = strip
        above = int(strip.channel) + 1
    return shown


def _new_strip(
    scene: bpy.types.Scene, editor: Any, name: str, files: list[Path], channel: int, start: int
) -> Any:
    """A movie strip for a video file, else an image strip of ``files`` (one folder)."""
    if files[0].suffix.lower() == ".mp4":
        strip = editor.strips.new_movie(name, str(files[0]), 1, start)
        strip.filepath = blender_path(scene, files[0])
    else:
        strip = editor.strips.new_image(name, str(files[0]), 1, start)
        for path in files[1:]:
            strip.elements.append(path.name)
        strip.directory = blender_path(scene, files[0].parent) + os.sep
    # Placed once its length is known: a channel free over its whole range.
    end = int(strip.frame_final_end)
    strip.channel = free_channel(scene, start, end, channel, ignore=strip)
    return strip
