"""The Deforum settings of a scene (``scene.deforum``), saved with the .blend.

Names follow Deforum's settings keys where one exists (DESIGN.md §4). Enum items, defaults
and ranges come from the core tables (``core/job_fields.py``, ``core/samplers.py``, the
``Job`` dataclass defaults), so the panel, the reader and the CLI agree.

Per-frame values (strength, noise, CFG, …: :data:`ANIMATED`) are animatable properties:
the artist keyframes them with Blender's easing and ``blender/scene_job.py`` samples the
F-curves per frame. Each has a sibling ``<name>_schedule`` text property; when it is not
empty, the Deforum schedule string in it overrides the property and its keyframes.

Prompts are :class:`DeforumPrompt` items; each labels its frame with a timeline marker,
and the marker's frame is the prompt's frame (move the marker, the prompt moves).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import bpy

from ..core import controlnet
from ..core import job_fields as jf
from ..core.job_fields import FieldSpec
from ..core.samplers import SAMPLER_NAMES
from ..core.seeds import SEED_BEHAVIORS
from ..core.settings_registry import SETTINGS, Setting
from .farm_properties import FARM_PROPERTIES, DeforumPromptSet
from .scene_audio import SCENE_AUDIO_PROPERTIES

# Paths may start with "//" (the .blend's folder); Blender 4.5+ asks for this option.
_PATH_OPTIONS: Any = {"PATH_SUPPORTS_BLEND_RELATIVE"}

#: The largest value a Blender IntProperty holds (signed 32-bit).
INT_PROPERTY_MAX = 2**31 - 1


def _enum_items(
    values: Iterable[str], descriptions: Mapping[str, str], names: Mapping[str, str] | None = None
) -> tuple[tuple[str, str, str], ...]:
    """EnumProperty items whose identifiers are the core's values, so they map 1:1 to the Job."""
    return tuple(
        (value, (names or {}).get(value, value), descriptions.get(value, value)) for value in values
    )


ANIMATION_MODE_ITEMS = _enum_items(
    jf.ANIMATION_MODES,
    {
        "None": "No motion: every frame is diffused on its own",
        "2D": "Deforum's 2D warp (zoom, rotation, pan) of each frame",
        "3D": "The scene camera's motion warps each frame through depth",
        "Video Input": "The frames of a video are the init images",
        "Interpolation": "Frames blend from one prompt to the next, without motion",
    },
)
DEVICE_ITEMS = _enum_items(
    jf.DEVICES,
    {
        "auto": "CUDA when the worker finds a GPU, otherwise the CPU",
        "cpu": "Always the CPU (slow, but works everywhere)",
        "cuda": "An NVIDIA GPU through CUDA",
    },
    {"auto": "Auto", "cpu": "CPU", "cuda": "CUDA"},
)
SAMPLER_ITEMS = _enum_items(SAMPLER_NAMES, {name: f"The {name} sampler" for name in SAMPLER_NAMES})
SEED_BEHAVIOR_ITEMS = _enum_items(
    SEED_BEHAVIORS,
    {
        "iter": "Add 1 to the seed every Seed Iter N diffused frames",
        "fixed": "The same seed on every frame",
        "random": "A random seed per frame (reproducible from the master seed)",
        "ladder": "Seed steps +2, −1, +2, −1, …",
        "alternate": "Seed steps +1, −1, +1, …",
        "schedule": "The seed of each frame from Seed's keyframes or its schedule",
    },
    {name: name.capitalize() for name in SEED_BEHAVIORS},
)
BORDER_ITEMS = _enum_items(
    jf.BORDERS,
    {
        "replicate": "2D mode: repeat the edge pixels where the warp leaves the image",
        "wrap": "2D mode: wrap around to the opposite edge",
    },
    {"replicate": "Replicate", "wrap": "Wrap"},
)
DEPTH_SOURCE_ITEMS = _enum_items(
    jf.DEPTH_SOURCES,
    {
        "scene": "Blender renders the scene's own depth (Z pass): exact and metric",
        "estimated": "A depth-estimation model guesses depth from each frame",
        "flat": "A constant depth: the warp moves the image as a flat card",
        "files": "Per-frame depth maps from a folder (Depth Folder), as a depth model predicts",
    },
    {"scene": "Scene", "estimated": "Estimated", "flat": "Flat", "files": "Files"},
)
PADDING_MODE_ITEMS = _enum_items(
    jf.PADDING_MODES,
    {
        "border": "Repeat the edge pixels where the warp looks outside the frame",
        "reflection": "Mirror the frame at its edges",
        "zeros": "Black outside the frame",
    },
    {"border": "Border", "reflection": "Reflection", "zeros": "Zeros"},
)
SAMPLING_MODE_ITEMS = _enum_items(
    jf.SAMPLING_MODES,
    {
        "bicubic": "Sharpest resampling of the warped frame",
        "bilinear": "Smooth resampling",
        "nearest": "Nearest pixel, no filtering",
    },
    {"bicubic": "Bicubic", "bilinear": "Bilinear", "nearest": "Nearest"},
)
COLOR_COHERENCE_ITEMS = _enum_items(
    jf.COLOR_COHERENCE,
    {
        "None": "No colour matching: colours may drift over the animation",
        "LAB": "Match each frame's colours to the first frame in LAB space",
        "HSV": "Match colours in HSV space",
        "RGB": "Match colours in RGB space",
        "Video Input": "Match colours to the video input's frames",
        "Image": "Match colours to the Color Coherence Image",
    },
)
NOISE_TYPE_ITEMS = _enum_items(
    jf.NOISE_TYPES,
    {"uniform": "Uniform random noise", "perlin": "Perlin noise (smoother, Deforum's default)"},
    {"uniform": "Uniform", "perlin": "Perlin"},
)
OPTICAL_FLOW_CADENCE_ITEMS = _enum_items(
    jf.OPTICAL_FLOW_CADENCE,
    {
        "None": "Cross-fade the warped frames between diffused frames",
        "DIS Medium": "Tween with OpenCV DIS optical flow (medium preset)",
        "DIS Fine": "Tween with OpenCV DIS optical flow (fine preset)",
        "Farneback": "Tween with OpenCV Farneback optical flow",
    },
)


@dataclass(frozen=True)
class Animated:
    """One per-frame Job parameter shown as an animatable property (``jf.PARAMS[name]``)."""

    name: str
    label: str
    description: str
    integer: bool = False
    subtype: str = "NONE"
    soft_max: float | None = None


# The per-frame parameters that the artist keyframes: those of jf.PARAMS with a label
# (label, tooltip and range come from there); ``seed`` is handled on its own (it is also
# the master seed).
ANIMATED: tuple[Animated, ...] = tuple(
    Animated(name, spec.label, spec.tooltip, spec.integer, spec.subtype, spec.soft_max)
    for name, spec in jf.PARAMS.items()
    if spec.label
)
ANIMATED_BY_NAME: dict[str, Animated] = {item.name: item for item in ANIMATED}
# Every property that holds a per-frame Job parameter (``seed`` included) and so has a
# ``<name>_schedule`` sibling.
PER_FRAME_NAMES: tuple[str, ...] = (*ANIMATED_BY_NAME, "seed")


def schedule_property_name(name: str) -> str:
    """The text property holding the Deforum schedule that overrides property ``name``."""
    return f"{name}_schedule"


def _deforum_key(name: str) -> str:
    return jf.PARAMS[name].deforum_key or schedule_property_name(name)


def _animated_property(item: Animated) -> Any:
    spec = jf.PARAMS[item.name]
    limits: dict[str, Any] = {}
    if spec.minimum is not None:
        limits["min"] = spec.minimum if not item.integer else int(spec.minimum)
    if spec.maximum is not None:
        limits["max"] = spec.maximum if not item.integer else int(spec.maximum)
    if item.soft_max is not None:
        limits["soft_max"] = item.soft_max if not item.integer else int(item.soft_max)
    default = spec.default if isinstance(spec.default, float) else 0.0
    common = {"name": item.label, "description": item.description, **limits}
    if item.integer:
        return bpy.props.IntProperty(default=round(default), **common)
    return bpy.props.FloatProperty(
        default=default, subtype=cast(Any, item.subtype), precision=3, **common
    )


def _schedule_property(name: str, label: str) -> Any:
    return bpy.props.StringProperty(
        name=f"{label} Schedule",
        description=(
            f"A Deforum schedule for {label} ({_deforum_key(name)}), e.g. "
            "'0: (0.65), 30: (0.5)', frames counted from Frame Start = 0 as in Deforum. "
            "When set it overrides the value and its keyframes; leave empty to use them"
        ),
        default="",
    )


def deforum_settings(scene: bpy.types.Scene) -> Any:
    """``scene.deforum`` (typed ``Any``: the type stubs do not know the add-on's pointer)."""
    return cast(Any, scene).deforum


# -- prompts ------------------------------------------------------------------------------

MARKER_PREFIX = "P"
_MARKER_TEXT_LENGTH = 20


def marker_label(number: int, text: str) -> str:
    """Marker name for prompt ``number``: short, unique by its number, e.g. ``P3 a red fox``."""
    words = " ".join(text.split())
    if len(words) > _MARKER_TEXT_LENGTH:
        words = words[: _MARKER_TEXT_LENGTH - 1].rstrip() + "…"
    return f"{MARKER_PREFIX}{number} {words}".rstrip()


def prompt_marker(prompt: Any) -> Any:
    """The timeline marker labelling ``prompt``, or None when it was deleted or renamed."""
    if not prompt.marker:
        return None
    return prompt.id_data.timeline_markers.get(prompt.marker)


def _get_frame(self: Any) -> int:
    # The marker is the truth while it exists: moving it in the timeline moves the prompt.
    marker = prompt_marker(self)
    return int(marker.frame) if marker is not None else int(self.stored_frame)


def _set_frame(self: Any, value: int) -> None:
    self.stored_frame = value
    marker = prompt_marker(self)
    if marker is not None:
        marker.frame = value


def _rename_marker(self: Any, _context: Any) -> None:
    marker = prompt_marker(self)
    if marker is not None:
        marker.name = marker_label(self.number, self.prompt)
        self.marker = marker.name


class DeforumPrompt(bpy.types.PropertyGroup):
    """One entry of the prompt list: from its frame on, this prompt is diffused."""

    prompt: bpy.props.StringProperty(
        name="Prompt",
        description=(
            "What the frames show from this prompt's frame on; `expressions` in backticks "
            "are evaluated per frame, as in Deforum"
        ),
        default="",
        update=_rename_marker,
    )
    negative_prompt: bpy.props.StringProperty(
        name="Negative Prompt",
        description="What the frames should not show (Deforum's part after --neg)",
        default="",
    )
    frame: bpy.props.IntProperty(
        name="Frame",
        description=(
            "Blender frame where this prompt starts: the frame of its timeline marker "
            "(moving the marker moves the prompt)"
        ),
        get=_get_frame,
        set=_set_frame,
    )
    stored_frame: bpy.props.IntProperty(
        name="Stored Frame",
        description="The prompt's frame when its marker is gone (kept in sync with the marker)",
        default=1,
        options={"HIDDEN"},
    )
    marker: bpy.props.StringProperty(
        name="Marker",
        description="Name of the timeline marker that labels this prompt",
        default="",
    )
    number: bpy.props.IntProperty(
        name="Number",
        description="The prompt's number, shown in its marker's name",
        default=0,
        min=0,
        options={"HIDDEN"},
    )


# -- settings ------------------------------------------------------------------------------


class DeforumSettings(bpy.types.PropertyGroup):
    """Every Deforum setting of a scene; per-frame ones are animatable (see ANIMATED).

    Only the Blender-only properties are written here; every Job setting with a label in
    the registry (``core/settings_registry.py``) is added below by :func:`plain_property`.
    """

    output_dir: bpy.props.StringProperty(
        name="Output Folder",
        description=(
            "Folder for the frames, job.json and the video; // is the .blend file's folder"
        ),
        default="//deforum/",
        subtype="DIR_PATH",
        options=_PATH_OPTIONS,
    )
    use_scene_fps: bpy.props.BoolProperty(
        name="Scene Frame Rate",
        description="Make the video at the scene's frame rate (Output > Frame Rate)",
        default=True,
    )
    prompts: bpy.props.CollectionProperty(
        type=DeforumPrompt,
        name="Prompts",
        description="Prompts keyed to frames (Deforum's prompts), labelled by timeline markers",
    )
    prompt_index: bpy.props.IntProperty(
        name="Active Prompt",
        description="The prompt selected in the list",
        default=0,
        min=0,
    )
    seed_text: bpy.props.StringProperty(
        name="Full Seed",
        description=(
            "The master seed as text, for seeds above 2147483647 (Deforum's go up to "
            "4294967295), which Seed cannot hold; when set it replaces Seed. Clear it to "
            "use Seed again"
        ),
        default="",
    )
    show_schedules: bpy.props.BoolProperty(
        name="Schedules",
        description=(
            "Show a Deforum schedule field under every per-frame value (a schedule that "
            "is set is always shown)"
        ),
        default=False,
    )


# Menus whose items carry a label and tooltip of their own; any other choice setting
# lists its values as they are.
ENUM_ITEMS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "animation_mode": ANIMATION_MODE_ITEMS,
    "device": DEVICE_ITEMS,
    "sampler": SAMPLER_ITEMS,
    "seed_behavior": SEED_BEHAVIOR_ITEMS,
    "border": BORDER_ITEMS,
    "depth_source": DEPTH_SOURCE_ITEMS,
    "padding_mode": PADDING_MODE_ITEMS,
    "sampling_mode": SAMPLING_MODE_ITEMS,
    "color_coherence": COLOR_COHERENCE_ITEMS,
    "noise_type": NOISE_TYPE_ITEMS,
    "optical_flow_cadence": OPTICAL_FLOW_CADENCE_ITEMS,
}
#: The registry's settings shown as ``scene.deforum`` properties: those with a label.
PLAIN_SETTINGS: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.spec.label)


def blender_default(setting: Setting) -> Any:
    """The property's default: the registry's Blender default, else the Job's ("" for None)."""
    default = setting.spec.blender_default
    if default is None:
        default = setting.default
    return "" if default is None else default


def _limits(spec: FieldSpec, integer: bool) -> dict[str, Any]:
    """min, max and soft_max of a number property; an int's max fits a signed 32-bit value."""
    number = int if integer else float
    maximum = None if spec.blender_unbounded else spec.maximum
    limits = {
        "min": spec.minimum if spec.blender_min is None else spec.blender_min,
        "max": min(maximum, INT_PROPERTY_MAX) if integer and maximum is not None else maximum,
        "soft_max": spec.soft_max,
    }
    return {key: number(value) for key, value in limits.items() if value is not None}


def plain_property(setting: Setting) -> Any:
    """The Blender property of a plain Job setting, made from its registry entry."""
    spec = setting.spec
    common: dict[str, Any] = {
        "name": spec.label,
        "description": spec.tooltip,
        "default": blender_default(setting),
    }
    if spec.kind in ("choice", "sampler"):
        items = ENUM_ITEMS.get(setting.key) or _enum_items(spec.choices, {})
        return bpy.props.EnumProperty(items=items, **common)
    if spec.kind == "bool":
        return bpy.props.BoolProperty(**common)
    if spec.kind == "int":
        return bpy.props.IntProperty(**common, **_limits(spec, integer=True))
    if spec.kind == "float":
        subtype = cast(Any, spec.subtype or "NONE")
        return bpy.props.FloatProperty(subtype=subtype, **common, **_limits(spec, integer=False))
    if spec.path:
        return bpy.props.StringProperty(
            subtype=cast(Any, spec.path), options=_PATH_OPTIONS, **common
        )
    return bpy.props.StringProperty(**common)


def _unit_weight_property(n: int) -> Any:
    """ControlNet unit ``n``'s Weight, animatable like the per-frame values."""
    return bpy.props.FloatProperty(
        name=f"ControlNet {n} Weight",
        description="The unit's weight on this frame: keyframe it or give it a driver like "
        "the other per-frame values; a Weight Schedule overrides it; 0 leaves the unit out "
        "of the frame",
        default=1.0,
        min=0.0,
        soft_max=2.0,
        precision=3,
    )


for _setting in PLAIN_SETTINGS:
    DeforumSettings.__annotations__[_setting.key] = plain_property(_setting)
# The per-frame properties and their schedule siblings are made from the ANIMATED table.
for _item in ANIMATED:
    DeforumSettings.__annotations__[_item.name] = _animated_property(_item)
for _name in PER_FRAME_NAMES:
    _label = ANIMATED_BY_NAME[_name].label if _name in ANIMATED_BY_NAME else _name.capitalize()
    DeforumSettings.__annotations__[schedule_property_name(_name)] = _schedule_property(
        _name, _label
    )
# Each ControlNet unit's animatable weight; its Weight Schedule text overrides it when set.
for _n in range(1, controlnet.UNIT_COUNT + 1):
    DeforumSettings.__annotations__[controlnet.weight_property(_n)] = _unit_weight_property(_n)
# Blender-only farm settings (seeds, prompt sets) and what the Flamenco job type reads.
DeforumSettings.__annotations__.update(FARM_PROPERTIES)
DeforumSettings.__annotations__.update(SCENE_AUDIO_PROPERTIES)  # Blender-only: sound strips

_CLASSES = (DeforumPrompt, DeforumPromptSet, DeforumSettings)


def register() -> None:
    """Register the PropertyGroups, then ``Scene.deforum`` that holds them."""
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    # Through Any: the type stubs know neither the attribute nor the deferred property.
    scene_type: Any = bpy.types.Scene
    pointer: Any = bpy.props.PointerProperty
    scene_type.deforum = pointer(
        type=DeforumSettings, name="Deforum", description="Deforum settings of this scene"
    )


def unregister() -> None:
    """Remove ``Scene.deforum``, then the PropertyGroups."""
    scene_type: Any = bpy.types.Scene
    del scene_type.deforum
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
