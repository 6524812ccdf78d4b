"""Scene audio: the sequencer's sound strips as the video's soundtrack.

When a render makes a video and its job names no soundtrack file (``add_soundtrack``
None, or File with no path), the scene's unmuted sound strips over the render's frames
are mixed down by Blender (``bpy.ops.sound.mixdown``, the render's frame range at the
scene's frame rate) into ``<out>/scene_audio.wav``, and the job takes that file as its
soundtrack: the video then starts with the sound that plays at the render's first frame.
``use_scene_audio`` (Blender-only, on by default) turns this off. Not a Job setting: the
worker only sees a soundtrack file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import bpy

from ..core.atomic import replacing
from ..core.job import Job
from ..core.output_layout import scene_audio_path

_props: Any = bpy.props

SCENE_AUDIO_PROPERTIES: dict[str, Any] = {
    "use_scene_audio": _props.BoolProperty(
        name="Scene Audio",
        description=(
            "When no soundtrack file is set, mix the scene's sound strips over the rendered "
            "frames into scene_audio.wav in the output folder and put it in the video"
        ),
        default=True,
    ),
}


def sound_strips(scene: bpy.types.Scene, first: int, last: int) -> list[Any]:
    """The unmuted sound strips that play during frames ``first … last``."""
    editor = scene.sequence_editor
    if editor is None:
        return []
    return [
        strip
        for strip in editor.strips_all
        if strip.type == "SOUND"
        and not strip.mute
        and strip.frame_final_start <= last
        and first < strip.frame_final_end
    ]


def wants_scene_audio(scene: bpy.types.Scene, job: Job) -> bool:
    """Whether the render's video takes its sound from the scene's sound strips."""
    finish = job.finish
    no_file = finish.add_soundtrack == "None" or (
        finish.add_soundtrack == "File" and not finish.soundtrack_path
    )
    return (
        bool(cast(Any, scene).deforum.use_scene_audio)
        and job.output.make_video
        and no_file
        and bool(sound_strips(scene, job.first_frame, job.last_frame))
    )


def mix_down(scene: bpy.types.Scene, first: int, last: int, target: Path) -> Path:
    """Blender's mix of the scene's sound over frames ``first … last`` as a WAV (atomic)."""
    kept = scene.frame_start, scene.frame_end
    scene.frame_start, scene.frame_end = first, last
    try:
        with replacing(target, keep_suffix=True, make_folder=True) as temporary:
            bpy.ops.sound.mixdown(
                filepath=str(temporary),
                check_existing=False,
                relative_path=False,
                container="WAV",
                codec="PCM",
                format="S16",
                mixrate=48000,
                channels="STEREO",
            )
    finally:
        scene.frame_start, scene.frame_end = kept
    return target


def with_scene_audio(scene: bpy.types.Scene, job: Job, out: Path) -> Job:
    """``job`` with the scene's mixed sound as its soundtrack when it wants scene audio."""
    if not wants_scene_audio(scene, job):
        return job
    wav = mix_down(scene, job.first_frame, job.last_frame, scene_audio_path(out))
    finish = dataclasses.replace(job.finish, add_soundtrack="File", soundtrack_path=str(wav))
    return dataclasses.replace(job, finish=finish)
