"""Read a scene into a :class:`~..core.job.Job`: ``job_from_scene(scene)``.

* Frame range from the scene; size from the render settings (resolution × percentage,
  rounded down to multiples of 8 as Deforum does, with a warning saying so).
* The camera track (2D and 3D modes) through ``camera_track.read_camera_track``.
* Per-frame values: a non-empty ``<name>_schedule`` wins; otherwise a keyframed property
  is sampled per frame from its F-curve (``fcurve.evaluate``: exact, fast, and the scene
  is not touched; properties driven by a driver are sampled with ``frame_set``);
  otherwise the property's value is a constant. Sampled values are clamped to the
  property's range as Blender clamps them when it animates the property.
* Prompts from the prompt list, each at its marker's frame.

What would stop a render, for the panel: ``scene_problems.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import bpy
import numpy as np

from ..core import controlnet
from ..core import job_fields as jf
from ..core import settings_registry as registry
from ..core.errors import DeforumInputError
from ..core.job import GROUPS, JOB_VERSION, Job
from ..core.prompts import NEGATIVE_MARKER
from ..core.schedules import evaluate_schedule
from ..core.seeds import SEED_RANGE
from .animation_data import fcurves_by_path
from .camera_track import (
    preserved_frame_and_selection,
    read_camera_track,
    scene_translation_scale,
    view_layer_of,
)
from .properties import (
    ANIMATED_BY_NAME,
    PER_FRAME_NAMES,
    deforum_settings,
    schedule_property_name,
)

SIZE_MULTIPLE = 8
# Modes whose frames move with the camera.
MOTION_MODES = ("2D", "3D")
CAMERA_REQUIRED_MODES = ("3D",)
SETTINGS_PATH = "deforum"  # Scene.deforum: F-curve data paths are "deforum.<property>"

# Job fields that are not a plain copy of one property: read by their own code below.
_NOT_COPIED = {
    ("", "fps"),  # or the scene's, with Use Scene FPS
    ("", "sampler_schedule"),  # stripped
    ("prompts", "keyframes"),
    ("seeds", "seed"),
    ("motion", "camera_track"),
    ("motion", "translation_scale"),  # the property's 0 means "measure it"
}
# Text fields that name files: made absolute ("//" is the .blend's folder); empty → None.
_PATHS = {(s.group, s.name) for s in registry.SETTINGS if s.spec.path}
_OPTIONAL_TEXT = {(s.group, s.name) for s in registry.SETTINGS if s.spec.kind == "optional_str"}


def copied_fields() -> list[registry.Setting]:
    """Every setting copied from one ``scene.deforum`` property: the one named by its flat
    name (``init_strength``), as ``--set`` knows it."""
    return [
        setting
        for setting in registry.SETTINGS
        if setting.spec.label and (setting.group, setting.name) not in _NOT_COPIED
    ]


# -- size, range, paths -------------------------------------------------------------------


def render_size(scene: bpy.types.Scene) -> tuple[int, int, str | None]:
    """Deforum's W and H from the render settings, and a message when they were rounded."""
    render = scene.render
    width = render.resolution_x * render.resolution_percentage // 100
    height = render.resolution_y * render.resolution_percentage // 100
    w = max(SIZE_MULTIPLE, width - width % SIZE_MULTIPLE)
    h = max(SIZE_MULTIPLE, height - height % SIZE_MULTIPLE)
    if (w, h) == (width, height):
        return w, h, None
    return (
        w,
        h,
        f"render size {width}×{height} is not a multiple of {SIZE_MULTIPLE}: Deforum renders "
        f"{w}×{h}; set Output > Resolution (× %) to {w}×{h} to render the camera's exact view",
    )


def scene_fps(scene: bpy.types.Scene) -> float:
    """The scene's frame rate (Output > Frame Rate)."""
    return float(scene.render.fps) / float(scene.render.fps_base)


def absolute_path(path: str) -> str:
    """``path`` with ``//`` resolved against the .blend's folder."""
    return str(bpy.path.abspath(path)) if path else ""


def translation_scale(scene: bpy.types.Scene) -> float:
    """Deforum translation units per Blender unit, the same for export, import and render.

    The Translation Scale setting when set; else measured from the scene camera's pose
    on the first frame (which an import into the same scene finds again).
    """
    chosen = float(deforum_settings(scene).translation_scale)
    return chosen or scene_translation_scale(scene, frame=scene.frame_start)


def output_folder(scene: bpy.types.Scene) -> str:
    """The render's output folder as an absolute path; an error if it cannot be resolved."""
    path = deforum_settings(scene).output_dir
    if not path:
        raise DeforumInputError("output_dir: empty; choose an output folder")
    if path.startswith("//") and not bpy.data.filepath:
        raise DeforumInputError(
            f"output_dir: {path!r} is relative to the .blend file, which is not saved yet; "
            "save the .blend or choose an absolute folder"
        )
    return absolute_path(path)


# -- per-frame values ---------------------------------------------------------------------


def _driven(scene: bpy.types.Scene) -> set[str]:
    animation = scene.animation_data
    if animation is None:
        return set()
    return {driver.data_path for driver in animation.drivers if not driver.mute}


def data_path(name: str) -> str:
    """The F-curve data path of scene.deforum property ``name``."""
    return f"{SETTINGS_PATH}.{name}"


def _float32(value: float) -> float:
    """A float property's value as Blender stores it (float32), in its shortest decimal form."""
    return float(str(np.float32(value)))


def _clamper(settings: Any, name: str) -> Callable[[float], float]:
    """How Blender turns an animated value into the property's value (clamp, round, float32)."""
    rna = settings.bl_rna.properties[name]
    low, high = float(rna.hard_min), float(rna.hard_max)
    if rna.type == "INT":
        return lambda value: float(min(max(round(value), low), high))
    return lambda value: _float32(min(max(value, low), high))


def _animated_values(
    scene: bpy.types.Scene, names: Iterable[str], frames: range
) -> dict[str, list[float]]:
    """Per-frame values of the animated (keyframed or driven) settings among ``names``."""
    settings = deforum_settings(scene)
    fcurves = fcurves_by_path(scene)
    driven = _driven(scene)
    values: dict[str, list[float]] = {}
    by_frame_set: list[str] = []
    for name in names:
        path = data_path(name)
        if path in driven:
            by_frame_set.append(name)  # a driver may read anything: evaluate the scene
        elif path in fcurves:
            clamp = _clamper(settings, name)
            values[name] = [clamp(fcurves[path].evaluate(frame)) for frame in frames]
    if by_frame_set:
        values.update(_values_by_frame_set(scene, by_frame_set, frames))
    return values


def _values_by_frame_set(
    scene: bpy.types.Scene, names: list[str], frames: range
) -> dict[str, list[float]]:
    settings = deforum_settings(scene)
    values: dict[str, list[float]] = {name: [] for name in names}
    layer = view_layer_of(scene)
    with preserved_frame_and_selection(scene, layer):
        for frame in frames:
            scene.frame_set(frame)
            for name in names:
                clamp = _clamper(settings, name)
                values[name].append(clamp(float(getattr(settings, name))))
    return values


def _unit_weight(scene: bpy.types.Scene, n: int, frames: range) -> str:
    """ControlNet unit ``n``'s weight schedule from its Weight: sampled per frame from its
    F-curve or driver, else its value."""
    name = controlnet.weight_property(n)
    animated = _animated_values(scene, [name], frames).get(name)
    if animated is None:
        animated = [_clamper(deforum_settings(scene), name)(getattr(deforum_settings(scene), name))]
    return controlnet.weight_schedule(animated)


def schedule_text(settings: Any, name: str) -> str:
    """The schedule string typed over per-frame property ``name`` (empty: none)."""
    return str(getattr(settings, schedule_property_name(name))).strip()


def _param_values(scene: bpy.types.Scene, frames: range) -> dict[str, jf.Param]:
    """The Job's ``params`` from the settings: schedule text, sampled F-curves or constants."""
    settings = deforum_settings(scene)
    params: dict[str, jf.Param] = {}
    scheduled = {name: schedule_text(settings, name) for name in PER_FRAME_NAMES}
    for name, text in scheduled.items():
        if text:
            # Checked here so the message names the property the artist typed into.
            evaluate_schedule(
                text,
                len(frames),
                max(int(settings.seed), 0),
                field=f"scene.deforum.{schedule_property_name(name)}",
            )
            params[name] = text
    animated = _animated_values(scene, [n for n in PER_FRAME_NAMES if not scheduled[n]], frames)
    for name in ANIMATED_BY_NAME:
        if name in params:
            continue
        if name in animated:
            params[name] = animated[name]
        else:
            params[name] = _clamper(settings, name)(float(getattr(settings, name)))
    if "seed" not in params and "seed" in animated:
        params["seed"] = animated["seed"]  # per-frame seeds for seed_behavior 'schedule'
    return params


def seed_text_problem(settings: Any) -> str | None:
    """Why ``seed_text`` (the full 32-bit seed) cannot be read; None when it can or is empty."""
    text = str(settings.seed_text).strip()
    if not text:
        return None
    if text.lstrip("-").isdigit() and -1 <= int(text) < SEED_RANGE:
        return None
    return (
        f"scene.deforum.seed_text: {text!r} is not a seed; write a whole number from -1 "
        f"(random) to {SEED_RANGE - 1}, or clear it to use Seed"
    )


def _master_seed(scene: bpy.types.Scene, frames: range) -> int:
    """The master seed: Full Seed when set, else Seed (at the first frame when keyframed)."""
    settings = deforum_settings(scene)
    problem = seed_text_problem(settings)
    if problem:
        raise DeforumInputError(problem)
    if settings.seed_text.strip():
        return int(settings.seed_text)
    fcurve = fcurves_by_path(scene).get(data_path("seed"))
    if fcurve is None:
        return int(deforum_settings(scene).seed)
    return int(_clamper(deforum_settings(scene), "seed")(fcurve.evaluate(frames.start)))


# -- prompts ------------------------------------------------------------------------------


def _prompt_text(item: Any) -> str:
    text = str(item.prompt)
    negative = str(item.negative_prompt).strip()
    return f"{text} {NEGATIVE_MARKER} {negative}" if negative else text


def _prompt_keyframes(scene: bpy.types.Scene, first_frame: int, need: bool) -> dict[str, str]:
    """Deforum's frame → prompt map; keys count from the first frame, as the Job's do.

    Without prompts: an error when ``need``, else one empty prompt (motion needs none).
    """
    items = list(deforum_settings(scene).prompts)
    if not items and not need:
        return {"0": ""}
    if not items:
        raise DeforumInputError(
            "scene.deforum.prompts: the prompt list is empty; add a prompt "
            "(Properties > Output > Deforum > Prompts > +), or run a motion preview, "
            "which needs none"
        )
    # Sorted by frame (list order breaks ties, so the later entry wins as in Deforum).
    ordered = sorted(enumerate(items), key=lambda pair: (pair[1].frame, pair[0]))
    return {str(item.frame - first_frame): _prompt_text(item) for _, item in ordered}


# -- the job ------------------------------------------------------------------------------


def _copied_value(settings: Any, group: str, field: str, name: str) -> Any:
    value = getattr(settings, name)
    if (group, field) in _PATHS:
        path = absolute_path(value)
        return None if not path and (group, field) in _OPTIONAL_TEXT else path
    if isinstance(value, float):
        return _float32(value)
    if not value and (group, field) in _OPTIONAL_TEXT:
        return None  # an empty text field: not set
    return value


def job_from_scene(
    scene: bpy.types.Scene, *, warnings: list[str] | None = None, need_prompts: bool = True
) -> Job:
    """The Job that renders ``scene`` with its Deforum settings; validated.

    Raises :class:`DeforumInputError` (a ``JobError`` for bad values) naming the setting.
    Messages that do not stop the render (a rounded size) are appended to ``warnings``.
    ``need_prompts=False`` (motion preview, settings export) accepts an empty prompt list.
    """
    settings = deforum_settings(scene)
    first, last = int(scene.frame_start), int(scene.frame_end)
    if last < first:
        raise DeforumInputError(
            f"frame range {first}-{last} is empty: set Output > Frame Range so the end "
            "is at or after the start"
        )
    frames = range(first, last + 1)
    width, height, size_message = render_size(scene)
    if size_message and warnings is not None:
        warnings.append(size_message)

    data: dict[str, Any] = {
        "version": JOB_VERSION,
        "W": width,
        "H": height,
        "first_frame": first,
        "last_frame": last,
        "fps": scene_fps(scene) if settings.use_scene_fps else _float32(settings.fps),
        "sampler_schedule": settings.sampler_schedule.strip() or None,
    }
    groups: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
    for setting in copied_fields():
        target = groups[setting.group] if setting.group else data
        target[setting.name] = _copied_value(settings, setting.group, setting.name, setting.key)
    for n, group in enumerate(controlnet.UNIT_GROUPS, start=1):
        if not str(groups[group]["weight"]).strip():  # no Weight Schedule typed
            groups[group]["weight"] = _unit_weight(scene, n, frames)
    groups["prompts"]["keyframes"] = _prompt_keyframes(scene, first, need_prompts)
    groups["seeds"]["seed"] = _master_seed(scene, frames)
    mode = settings.animation_mode
    if mode in CAMERA_REQUIRED_MODES or (mode in MOTION_MODES and scene.camera is not None):
        groups["motion"]["camera_track"] = read_camera_track(scene, first, last).to_dict()
        groups["motion"]["translation_scale"] = translation_scale(scene)
    elif settings.translation_scale:
        groups["motion"]["translation_scale"] = float(settings.translation_scale)
    data.update(groups)
    data["params"] = _param_values(scene, frames)
    return Job.from_dict(data)
