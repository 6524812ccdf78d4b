"""``--set`` for the headless script: Deforum keys and scene.deforum names typed and checked.

W, H, max_frames, first_frame and last_frame shape the scene itself (its render size and
frame range, over which the camera is read); other Deforum keys change the render's job; a
scene.deforum name changes the scene (kept by ``--save``). Values Blender would clamp or
round silently are refused first, as the CLI refuses them.
"""

from __future__ import annotations

from typing import Any

from ..core import overrides
from ..core.errors import DeforumInputError
from ..core.job import Job, did_you_mean, field_spec
from ..core.schedules import MAX_FRAMES
from . import animation_data
from .properties import deforum_settings

# Deforum keys that shape the scene itself (the camera track is read at its size and range).
SCENE_KEYS = ("W", "H", "max_frames", "first_frame", "last_frame")


def split_settings(scene: Any, items: list[str]) -> tuple[dict[str, str], ...]:
    """``--set`` items as (scene-shaping Deforum keys, other Deforum keys, scene.deforum names)."""
    pairs = overrides.parse_set_arguments(items)
    settings = deforum_settings(scene)
    scene_names = [p.identifier for p in settings.bl_rna.properties if p.identifier != "rna_type"]
    shaping: dict[str, str] = {}
    deforum: dict[str, str] = {}
    own: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in pairs.items():
        if key in SCENE_KEYS:
            shaping[key] = value
        elif key in scene_names and key in overrides.SCENE_ALIASES:
            own[key] = value
        elif key in overrides.TARGETS or "." in key:
            deforum[key] = value
        elif key in scene_names:
            own[key] = value
        else:
            hint = did_you_mean(key, [*overrides.KEYS, *scene_names])
            unknown.append(f"--set {key}: unknown key{hint}")
    if unknown:
        raise DeforumInputError("; ".join(unknown))
    return shaping, deforum, own


def _integer(key: str, text: str) -> int:
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        raise DeforumInputError(f"--set {key}={text}: write a whole number")
    return int(number)


def check_size(key: str, text: str, value: int) -> None:
    """W and H follow the Job's rule, as on the CLI: refused (never rounded or clamped)."""
    spec = field_spec(Job, key)
    assert spec.multiple_of and spec.minimum is not None and spec.maximum is not None
    step, low, high = spec.multiple_of, int(spec.minimum), int(spec.maximum)
    problem = None
    if not low <= value <= high:
        problem = f"outside {low}–{high}; use a size in that range"
    elif value % step:
        problem = f"not a multiple of {step}; use {max(step, round(value / step) * step)}"
    if problem:
        raise DeforumInputError(f"--set {key}={text}: {value} is {problem}")


def check_frame(scene: Any, what: str, frame: int) -> None:
    """A frame Blender's scene can hold (it would clamp others silently)."""
    rna = scene.bl_rna.properties["frame_start"]
    if not rna.hard_min <= frame <= rna.hard_max:
        raise DeforumInputError(
            f"{what}: frame {frame} is outside Blender's frames {rna.hard_min}–{rna.hard_max}; "
            "use a frame in that range"
        )


def check_frame_count(what: str, count: int) -> None:
    """At most the schedules' frame limit, checked before the camera is read per frame."""
    limit = MAX_FRAMES
    if count > limit:
        raise DeforumInputError(f"{what}: {count} frames is more than {limit}; render fewer frames")


def set_frames(scene: Any, frames: tuple[int, int]) -> None:
    """``--frames A-B`` as the scene's range, checked first."""
    first, last = frames
    what = f"--frames {first}-{last}"
    check_frame_count(what, last - first + 1)
    check_frame(scene, what, first)
    check_frame(scene, what, last)
    scene.frame_start, scene.frame_end = first, last


def shape_scene(scene: Any, shaping: dict[str, str]) -> None:
    """Apply W, H, max_frames, first_frame and last_frame to the scene's size and range."""
    for key, text in shaping.items():
        value = _integer(key, text)
        what = f"--set {key}={text}"
        if key == "max_frames":
            check_frame_count(what, value)
        if key in ("first_frame", "last_frame"):
            check_frame(scene, what, value)
        if key in ("W", "H"):
            check_size(key, text, value)
            scene.render.resolution_percentage = 100
            setattr(scene.render, "resolution_x" if key == "W" else "resolution_y", value)
        elif key == "first_frame":
            scene.frame_start = value
        elif key == "last_frame":
            scene.frame_end = value
        else:
            if value < 1:
                raise DeforumInputError(f"--set max_frames={text}: at least 1")
            check_frame(scene, what, scene.frame_start + value - 1)
            scene.frame_end = scene.frame_start + value - 1


def set_scene_properties(scene: Any, own: dict[str, str]) -> list[str]:
    """Set ``scene.deforum`` properties from text; returns warnings."""
    settings = deforum_settings(scene)
    warnings: list[str] = []
    animated = set(animation_data.fcurves_by_path(scene))
    for name, text in own.items():
        rna = settings.bl_rna.properties[name]
        try:
            if rna.type == "BOOLEAN":
                value: Any = overrides.parse_bool(text)
            elif rna.type == "INT":
                value = _integer(name, text)
            elif rna.type == "FLOAT":
                value = overrides.parse_number(text)
            elif rna.type == "ENUM":
                choices = [item.identifier for item in rna.enum_items]
                if text not in choices:
                    raise ValueError(f"use one of {', '.join(choices)}")
                value = text
            elif rna.type == "STRING":
                value = text
            else:
                raise ValueError("this property cannot be set from the command line")
            setattr(settings, name, value)
        except (ValueError, TypeError) as error:
            raise DeforumInputError(f"--set {name}={text}: {error}") from None
        if f"deforum.{name}" in animated:
            warnings.append(
                f"--set {name}: scene.deforum.{name} is keyframed, so its keyframes win; "
                f"set {name}_schedule instead"
            )
    return warnings
