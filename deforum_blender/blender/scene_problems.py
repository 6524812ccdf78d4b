"""What would stop a render of a scene, for the panel: ``scene_problems(scene)``.

Each :class:`Problem` names the properties that fix it (or an operator), so the panel
can draw them beside the message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, cast

import bpy

from ..core import controlnet
from ..core.schedules import ScheduleError, check_schedule
from .animation_data import fcurves_by_path
from .properties import PER_FRAME_NAMES, deforum_settings, schedule_property_name
from .scene_job import (
    CAMERA_REQUIRED_MODES,
    MOTION_MODES,
    absolute_path,
    data_path,
    render_size,
    schedule_text,
    seed_text_problem,
)


@dataclass(frozen=True)
class Problem:
    """Something that stops a render, with the properties that fix it (``(owner, name)``)."""

    message: str
    fixes: tuple[tuple[Any, str], ...] = ()
    operator: str | None = None  # an operator that fixes it in one click


def schedule_problem(settings: Any, name: str) -> str | None:
    """The error of ``<name>_schedule`` when it cannot be read, else None."""
    text = schedule_text(settings, name)
    if not text:
        return None
    try:
        check_schedule(text, field=schedule_property_name(name))
    except ScheduleError as error:
        return str(error)
    return None


def _camera_problems(scene: bpy.types.Scene) -> list[Problem]:
    mode = deforum_settings(scene).animation_mode
    if mode not in MOTION_MODES:
        return []
    camera = scene.camera
    if camera is None:
        if mode not in CAMERA_REQUIRED_MODES:
            return []
        return [Problem("no scene camera: the 3D motion comes from it", ((scene, "camera"),))]
    if camera.type != "CAMERA":
        return [
            Problem(
                f"scene camera {camera.name!r} is a {camera.type} object, not a camera",
                ((scene, "camera"),),
            )
        ]
    data = cast(bpy.types.Camera, camera.data)
    if data.type != "PERSP":
        kind = {"ORTHO": "orthographic", "PANO": "panoramic"}.get(data.type, "")
        return [
            Problem(
                f"camera {camera.name!r} is {kind}: Deforum motion needs a perspective camera",
                ((data, "type"),),
            )
        ]
    return []


# (switch property, its value that needs a file, file property, message)
_NEEDS_FILE = (
    ("use_init", True, "init_image", "Use Init is on but no init image is chosen"),
    ("use_mask", True, "mask_file", "Use Mask is on but no mask file is chosen"),
    ("use_mask_video", True, "video_mask_path", "Use Mask Video is on but no video is chosen"),
    ("color_coherence", "Image", "color_coherence_image_path", "Color Coherence needs an image"),
    ("animation_mode", "Video Input", "video_init_path", "Video Input needs a video"),
    ("depth_source", "files", "depth_path", "Depth Source 'Files' needs a Depth Folder"),
)


def _missing_file(path: str) -> bool:
    """True when ``path`` names a local file or folder (absolute after ``//``) that is not there.

    A Hugging Face id (``owner/name``) is not a local path and is never missing here.
    """
    resolved = absolute_path(path)
    return os.path.isabs(resolved) and not os.path.exists(resolved)


def _unit_problems(scene: bpy.types.Scene, settings: Any, n: int) -> list[Problem]:
    """What stops ControlNet unit ``n`` (when it is on), each with its fix."""

    def name(field: str) -> str:
        return f"cn_{n}_{field}"

    def fix(field: str) -> tuple[tuple[Any, str], ...]:
        return ((settings, name(field)),)

    unit = f"ControlNet {n}"
    problems = []
    for field in controlnet.SCHEDULES:
        if field == "weight" and not str(getattr(settings, name(field))).strip():
            continue  # no Weight Schedule: the animatable Weight is read
        try:
            check_schedule(str(getattr(settings, name(field))), field=name(field))
        except ScheduleError as error:
            problems.append(Problem(str(error), fix(field)))
    model = str(getattr(settings, name("model"))).strip()
    if not model:
        problems.append(Problem(f"{unit} is on but has no model", fix("model")))
    elif _missing_file(model):
        problems.append(Problem(f"{unit}: model {model!r} is not there", fix("model")))
    module = controlnet.canonical_module(str(getattr(settings, name("module"))))
    path = str(getattr(settings, name("vid_path"))).strip()
    if module in controlnet.SCENE_MODULES and scene.camera is None:
        problems.append(
            Problem(
                f"{unit}: {module} renders the scene, which has no camera", ((scene, "camera"),)
            )
        )
    elif module not in controlnet.MODULES:
        problems.append(
            Problem(
                f"{unit}: module {module!r} needs a detector this add-on lacks; "
                + controlnet.detector_alternative(f"cn_{n}", module),
                fix("module"),
            )
        )
    elif module in controlnet.IMAGE_MODULES and not getattr(settings, name("loopback_mode")):
        if not path:
            problems.append(Problem(f"{unit}: module {module!r} needs an image", fix("vid_path")))
        elif _missing_file(path):
            problems.append(Problem(f"{unit}: image {path!r} is not there", fix("vid_path")))
    return problems


def controlnet_problems(scene: bpy.types.Scene) -> list[Problem]:
    """What stops the ControlNet units that are on (unit 1 first), each with its fix."""
    settings = deforum_settings(scene)
    return [
        problem
        for n in range(1, controlnet.UNIT_COUNT + 1)
        if getattr(settings, f"cn_{n}_enabled")
        for problem in _unit_problems(scene, settings, n)
    ]


def scene_problems(scene: bpy.types.Scene) -> list[Problem]:
    """What would stop ``scene`` from rendering, each with the properties that fix it."""
    settings = deforum_settings(scene)
    problems = _camera_problems(scene)
    if scene.frame_end < scene.frame_start:
        problems.append(
            Problem("the frame range is empty", ((scene, "frame_start"), (scene, "frame_end")))
        )
    _, _, size_message = render_size(scene)
    if size_message:
        problems.append(
            Problem(
                size_message,
                ((scene.render, "resolution_x"), (scene.render, "resolution_y")),
            )
        )
    if not settings.prompts:
        problems.append(Problem("no prompts yet", operator="deforum.prompt_add"))
    seed_message = seed_text_problem(settings)
    if seed_message:
        problems.append(Problem(seed_message, ((settings, "seed_text"),)))
    for name in PER_FRAME_NAMES:
        message = schedule_problem(settings, name)
        if message:
            problems.append(Problem(message, ((settings, schedule_property_name(name)),)))
    for switch, needs, path, message in _NEEDS_FILE:
        if getattr(settings, switch) == needs and not getattr(settings, path):
            problems.append(Problem(message, ((settings, path),)))
    problems += controlnet_problems(scene)
    if settings.output_dir.startswith("//") and not bpy.data.filepath:
        problems.append(
            Problem(
                "the output folder is relative to the .blend, which is not saved yet",
                ((settings, "output_dir"),),
            )
        )
    return problems


def seed_keys_unused(scene: bpy.types.Scene) -> bool:
    """True when Seed is keyframed or scheduled but Seed Behavior ignores it."""
    settings = deforum_settings(scene)
    has_keys = data_path("seed") in fcurves_by_path(scene) or bool(schedule_text(settings, "seed"))
    return has_keys and settings.seed_behavior != "schedule"
