"""Deforum settings files ↔ the scene: ``deforum.import_settings`` / ``deforum.export_settings``.

Import reads an sd-webui-deforum settings file through ``core/deforum_settings.py`` and
writes it into the scene: ``scene.deforum`` values (a constant schedule such as
``0: (0.65)`` becomes the property's value, any other schedule goes into its schedule
field, a per-frame list becomes linear keyframes), the render size and frame range, the
prompt list with its markers, and — in 2D and 3D modes — a keyframed "Deforum Camera"
that performs the file's motion (``core/camera.py``), starting at the scene camera's
pose on the first frame. Export writes the scene's Job with the camera's motion in
Deforum's units at :func:`translation_scale`, which an import into the same scene
measures again, so a file that kept only the webui's keys brings the camera back.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..core import atomic, controlnet
from ..core import job_fields as jf
from ..core.camera import (
    DEFORUM_2D_KEYS,
    DEFORUM_3D_KEYS,
    CameraData,
    CameraTrack,
    RenderSize,
    camera_track_from_deforum,
)
from ..core.deforum_settings import export_losses, export_settings, import_settings
from ..core.errors import DeforumInputError
from ..core.job import Job
from ..core.overrides import apply_overrides
from ..core.prompts import keyframe_index, split_negative
from .animation_data import LINEAR, drop_animation, ensure_action, key_series
from .camera_track import (
    camera_data_of,
    camera_pose_at,
    write_camera_track,
)
from .prompts import add_prompt, remove_prompt
from .properties import (
    INT_PROPERTY_MAX,
    PER_FRAME_NAMES,
    deforum_settings,
    schedule_property_name,
)
from .scene_job import (
    MOTION_MODES,
    SETTINGS_PATH,
    copied_fields,
    job_from_scene,
    translation_scale,
)
from .ui import OperatorResult

# "0: (0.65)": one keyframe at frame 0 holding a plain number, i.e. a constant.
_CONSTANT = re.compile(
    r"\s*0\s*:\s*\(?\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*\)?\s*,?\s*"
)
_IMPORTED_CAMERA = "Deforum Camera"


# -- import -------------------------------------------------------------------------------


def _keyframe_series(scene: bpy.types.Scene, name: str, first: int, values: list[float]) -> None:
    """Key ``scene.deforum.<name>`` on every frame from ``first`` (linear between)."""
    action = ensure_action(scene, f"{scene.name} Deforum")
    frames = [first + i for i in range(len(values))]
    key_series(action, scene, f"{SETTINGS_PATH}.{name}", frames, values, [LINEAR] * len(values))


def _apply_param(scene: bpy.types.Scene, name: str, value: jf.Param, first: int) -> None:
    settings = deforum_settings(scene)
    schedule = schedule_property_name(name)
    drop_animation(scene, f"{SETTINGS_PATH}.{name}")
    setattr(settings, schedule, "")
    if isinstance(value, str):
        constant = _CONSTANT.fullmatch(value)
        if constant is None:
            setattr(settings, schedule, value)
            return
        value = float(constant.group(1))
    if isinstance(value, list):
        _keyframe_series(scene, name, first, value)
        return
    kind = settings.bl_rna.properties[name].type
    setattr(settings, name, round(value) if kind == "INT" else value)


def _apply_unit_weight(scene: bpy.types.Scene, n: int, weight: str) -> None:
    """A unit's constant weight goes to its animatable Weight (as for the other per-frame
    values), a schedule stays its Weight Schedule; the Weight's keys are dropped."""
    settings = deforum_settings(scene)
    name = controlnet.weight_property(n)
    drop_animation(scene, f"{SETTINGS_PATH}.{name}")
    constant = _CONSTANT.fullmatch(weight)
    if constant is not None and float(constant.group(1)) >= 0.0:
        setattr(settings, name, float(constant.group(1)))
        setattr(settings, f"cn_{n}_weight", "")


def _apply_prompts(scene: bpy.types.Scene, job: Job) -> None:
    settings = deforum_settings(scene)
    while settings.prompts:
        remove_prompt(scene, len(settings.prompts) - 1)
    keys = sorted(
        (keyframe_index(key, job.max_frames, max(job.seeds.seed, 0)), text)
        for key, text in job.prompts.keyframes.items()
    )
    for index, text in keys:
        positive, negative = split_negative(text)
        if positive.strip() or negative.strip():  # an export without prompts writes ""
            add_prompt(scene, job.first_frame + index, positive, negative)
    settings.prompt_index = 0


def _template_camera(scene: bpy.types.Scene) -> CameraData | None:
    camera = scene.camera
    if camera is None or camera.type != "CAMERA":
        return None
    try:
        data: CameraData = camera_data_of(cast(bpy.types.Camera, camera.data), camera.name)
    except DeforumInputError:
        return None
    return data


def _imported_track(scene: bpy.types.Scene, job: Job) -> CameraTrack | None:
    """The job's own camera track, or the camera motion its Deforum schedules describe.

    The motion starts at the scene camera's pose on the first frame (the world origin
    without a camera), so an export brought back through the webui's keys lands where
    it left.
    """
    if job.motion.camera_track is not None:
        return CameraTrack.from_dict(job.motion.camera_track)
    if job.animation_mode not in MOTION_MODES:
        return None
    keys = DEFORUM_3D_KEYS if job.animation_mode == "3D" else DEFORUM_2D_KEYS
    values = {key: job.series(jf.PARAM_BY_DEFORUM_KEY[key]) for key in keys}
    return camera_track_from_deforum(
        values,
        job.max_frames,
        animation_mode=job.animation_mode,
        size=RenderSize(job.W, job.H),
        camera=_template_camera(scene),
        start_pose=camera_pose_at(scene, job.first_frame),
        translation_scale=translation_scale(scene),
        frame_start=job.first_frame,
    )


def apply_job(scene: bpy.types.Scene, job: Job) -> list[str]:
    """Write ``job`` into the scene (settings, size, range, prompts, camera); returns warnings."""
    warnings: list[str] = []
    settings = deforum_settings(scene)
    for setting in copied_fields():
        value = setting.value(job)
        setattr(settings, setting.key, "" if value is None else value)
    settings.sampler_schedule = job.sampler_schedule or ""
    # Seeds above an IntProperty's range (A1111 writes up to 2**32 - 1) go to Full Seed.
    fits = job.seeds.seed <= INT_PROPERTY_MAX
    settings.seed = job.seeds.seed if fits else INT_PROPERTY_MAX
    settings.seed_text = "" if fits else str(job.seeds.seed)
    settings.use_scene_fps = False
    settings.fps = job.fps
    scene.render.resolution_x, scene.render.resolution_y = job.W, job.H
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = job.first_frame, job.last_frame
    for name in PER_FRAME_NAMES:
        if name == "seed" and job.seeds.seed_behavior != "schedule":
            _apply_param(scene, name, float(settings.seed), job.first_frame)
            continue
        _apply_param(scene, name, job.params[name], job.first_frame)
    for n, group in enumerate(controlnet.UNIT_GROUPS, start=1):
        _apply_unit_weight(scene, n, getattr(job, group).weight)
    _apply_prompts(scene, job)
    track = _imported_track(scene, job)
    if track is not None:
        write_camera_track(scene, track, _IMPORTED_CAMERA)
    return warnings


def _filepath(operator: Any) -> str:
    """The file the browser chose (ImportHelper/ExportHelper add ``filepath``)."""
    return str(operator.filepath)


class _SettingsFileOperator:
    """What Import and Export share: the browser's filter and the report (a mixin)."""

    filename_ext = ".txt"
    filter_glob: bpy.props.StringProperty(
        name="File Filter",
        description="Settings files shown in the browser",
        default="*.txt;*.json",
        options={"HIDDEN"},
    )

    def run_and_report(
        self,
        action: Callable[[str], list[str]],
        errors: tuple[type[Exception], ...],
        done: str,
    ) -> OperatorResult:
        """``action(file)``, its warnings and ``done`` reported; an error in ``errors`` cancels."""
        operator = cast(bpy.types.Operator, self)
        path = _filepath(self)
        try:
            warnings = action(path)
        except errors as error:
            operator.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        for warning in warnings:
            operator.report({"WARNING"}, warning)
        operator.report({"INFO"}, f"{done} {Path(path).name}")
        return {"FINISHED"}


class DEFORUM_OT_import_settings(bpy.types.Operator, _SettingsFileOperator, ImportHelper):  # type: ignore[misc]
    """Load an sd-webui-deforum settings file into the scene (and make its camera move)"""

    bl_idname = "deforum.import_settings"
    bl_label = "Import Deforum Settings"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        scene = context.scene
        assert scene is not None

        def load(path: str) -> list[str]:
            job, warnings = import_settings(path)
            return warnings + apply_job(scene, job)

        return self.run_and_report(load, (DeforumInputError,), "Imported")


# -- export -------------------------------------------------------------------------------


def job_settings(scene: bpy.types.Scene, job: Job) -> dict[str, Any]:
    """``job`` (read from ``scene``) as sd-webui-deforum settings: its camera motion at the
    job's own translation scale (the scene's :func:`translation_scale`, read into the Job),
    as Export, ``--export-deforum`` and a render's ``deforum_settings.txt`` all write it."""
    return export_settings(job)


def write_settings_file(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write settings as a Deforum settings file (JSON), atomically."""
    text = json.dumps(data, indent=4, ensure_ascii=False) + "\n"
    atomic.write_text(path, text, make_folder=True)


def scene_settings(scene: bpy.types.Scene) -> tuple[dict[str, Any], list[str]]:
    """The scene as sd-webui-deforum settings, and what Deforum cannot reproduce."""
    warnings: list[str] = []
    job = job_from_scene(scene, warnings=warnings, need_prompts=False)
    return job_settings(scene, job), warnings + export_losses(job)


def export_scene(
    scene: bpy.types.Scene, path: str | os.PathLike[str], overrides: dict[str, str] | None = None
) -> list[str]:
    """Write the scene, with ``--set`` Deforum keys applied, as a Deforum settings file
    (``--export-deforum``); returns what Deforum cannot reproduce. No prompt is needed."""
    job = job_from_scene(scene, need_prompts=False)
    if overrides:
        job = apply_overrides(job, overrides)
    write_settings_file(job_settings(scene, job), path)
    return export_losses(job)


def write_scene_settings(scene: bpy.types.Scene, path: str | os.PathLike[str]) -> list[str]:
    """Write the scene as a Deforum settings file, atomically; returns the warnings."""
    data, warnings = scene_settings(scene)
    write_settings_file(data, path)
    return warnings


class DEFORUM_OT_export_settings(bpy.types.Operator, _SettingsFileOperator, ExportHelper):  # type: ignore[misc]
    """Save the scene's Deforum settings and camera motion as an sd-webui-deforum file"""

    bl_idname = "deforum.export_settings"
    bl_label = "Export Deforum Settings"

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        scene = context.scene
        assert scene is not None
        return self.run_and_report(
            lambda path: write_scene_settings(scene, path), (DeforumInputError, OSError), "Exported"
        )


_CLASSES = (DEFORUM_OT_import_settings, DEFORUM_OT_export_settings)


def register() -> None:
    """Register the import and export operators."""
    for cls in _CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    """Unregister them."""
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
