"""Sound-driven schedules: Blender's Bake Sound to F-Curves on a per-frame Deforum property.

``deforum.bake_sound`` runs Blender's own ``graph.sound_to_samples`` on the property's
F-curve (the sound's start lines up with Frame Start), then remaps the baked loudness
from [0, its peak] (or [0, full scale] without normalising) into the artist's [minimum,
maximum] with an Envelope modifier, so the raw bake stays visible in the Graph Editor and
the range stays editable there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import bpy

from ..core.errors import DeforumInputError
from .animation_data import (
    LINEAR,
    channelbags,
    drop_animation,
    ensure_action,
    fcurves,
    key_series,
)
from .properties import ANIMATED_BY_NAME, deforum_settings, schedule_property_name
from .scene_job import data_path
from .ui import OperatorResult, reported

# Blender's Bake Sound to F-Curves defaults for the envelope follower (seconds).
ATTACK = 0.005
RELEASE = 0.2


@dataclass(frozen=True)
class SoundBake:
    """What to bake: the property, the sound file, the frequency band and the value range."""

    name: str
    path: str
    low: float = 0.0
    high: float = 100000.0
    minimum: float = 0.0
    maximum: float = 1.0
    attack: float = ATTACK
    release: float = RELEASE
    normalize: bool = True  # the loudest moment reaches ``maximum``; else full scale does


@dataclass(frozen=True)
class BakeResult:
    """The baked F-curve, the loudest baked value, and what was cleared to make room."""

    fcurve: Any
    peak: float
    cleared_schedule: str


def check_bake(bake: SoundBake) -> None:
    """Raise a DeforumInputError naming the field, the value and the fix."""
    if bake.name not in ANIMATED_BY_NAME:
        raise DeforumInputError(
            f"Bake Sound: property {bake.name!r} is not a per-frame Deforum setting; "
            f"pick one of {', '.join(sorted(ANIMATED_BY_NAME))}"
        )
    path = Path(bpy.path.abspath(bake.path)) if bake.path else None
    if path is None or not path.is_file():
        raise DeforumInputError(
            f"Bake Sound: sound file {bake.path!r} does not exist; "
            "pick a WAV, MP3, FLAC or OGG file"
        )
    if not 0.0 <= bake.low < bake.high:
        raise DeforumInputError(
            f"Bake Sound: frequency band {bake.low:g}-{bake.high:g} Hz is empty; "
            "set Lowest Frequency below Highest Frequency"
        )
    import aud  # Blender's audio library, the one the bake reads with

    audio: Any = aud  # its stubs lack Sound(path) and the error type
    try:
        _specs = audio.Sound(str(path)).specs  # reads the header only
    except audio.error as error:
        raise DeforumInputError(
            f"Bake Sound: Blender cannot read sound file {bake.path!r} ({error}); "
            "convert it to WAV or FLAC"
        ) from error


def bake_sound(scene: bpy.types.Scene, bake: SoundBake) -> BakeResult:
    """Bake ``bake.path``'s loudness in the band onto ``scene.deforum.<name>``, remapped."""
    check_bake(bake)
    path = data_path(bake.name)
    _check_visible(scene, path)  # before anything is replaced
    settings = deforum_settings(scene)
    schedule = schedule_property_name(bake.name)
    cleared = str(getattr(settings, schedule)).strip()
    setattr(settings, schedule, "")  # a schedule would override the baked curve
    drop_animation(scene, path)  # old keys, modifiers and drivers
    action = ensure_action(scene, f"{scene.name} Deforum")
    value = float(getattr(settings, bake.name))
    fcurve = key_series(action, scene, path, [float(scene.frame_start)], [value], [LINEAR])
    with _only_selected(fcurve), _graph_editor():
        bpy.ops.graph.sound_to_samples(
            filepath=str(Path(bpy.path.abspath(bake.path))),
            low=bake.low,
            high=bake.high,
            attack=bake.attack,
            release=bake.release,
        )
    peak = max((float(point.co[1]) for point in fcurve.sampled_points), default=0.0)
    scale = peak if bake.normalize else 1.0
    _remap(fcurve, float(scene.frame_start), scale, bake.minimum, bake.maximum)
    return BakeResult(fcurve, peak, cleared)


def _check_visible(scene: bpy.types.Scene, path: str) -> None:
    """Raise when the Graph Editor would not show ``path``'s F-curve (its filters hide it)."""
    existing = [fcurve for fcurve in fcurves(scene) if fcurve.data_path == path]
    action = ensure_action(scene, f"{scene.name} Deforum")
    probe = existing[0] if existing else action.fcurve_ensure_for_datablock(scene, path)
    with _only_selected(probe), _graph_editor():
        visible = bool(cast(Any, bpy.ops.graph.sound_to_samples).poll())
    if not existing:
        for bag in channelbags(scene):
            if probe in list(bag.fcurves):
                bag.fcurves.remove(probe)
    if not visible:
        raise DeforumInputError(
            f"Bake Sound: the Graph Editor's filters hide {path!r}; clear the Graph "
            "Editor's search and 'Only Show' filters and bake again"
        )


def _remap(fcurve: Any, start: float, scale: float, minimum: float, maximum: float) -> None:
    """Map the baked [0, scale] onto [minimum, maximum] (silence in the band: minimum)."""
    envelope = fcurve.modifiers.new("ENVELOPE")
    envelope.reference_value = 0.0
    envelope.default_min = 0.0
    envelope.default_max = scale if scale > 0.0 else 1.0
    point = envelope.control_points.add(start)
    point.min = minimum
    point.max = minimum if scale <= 0.0 else maximum


def _all_fcurves() -> Iterator[Any]:
    for action in bpy.data.actions:
        for layer in action.layers:
            for strip in layer.strips:
                for bag in cast(Any, strip).channelbags:
                    yield from bag.fcurves


@contextmanager
def _only_selected(target: Any) -> Iterator[None]:
    """Select ``target`` alone (the bake works on every selected F-curve), then restore."""
    selected = [fcurve for fcurve in _all_fcurves() if fcurve.select]
    for fcurve in selected:
        fcurve.select = False
    target.select, target.hide = True, False
    try:
        yield
    finally:
        target.select = False
        for fcurve in selected:
            fcurve.select = True


@contextmanager
def _graph_editor() -> Iterator[None]:
    """A context with a Graph Editor: an area of the first window turned into one.

    The bake operator only runs there; the area gets its own editor back afterwards.
    """
    manager = bpy.context.window_manager
    windows = list(manager.windows) if manager is not None else []
    if not windows or windows[0].screen is None:
        raise DeforumInputError(
            "Bake Sound needs a Blender window (Bake Sound to F-Curves runs in a Graph "
            "Editor); bake in the UI or with the bpy module, then save the .blend"
        )
    window = windows[0]
    areas = list(window.screen.areas)
    graph = [area for area in areas if area.type == "GRAPH_EDITOR"]
    area = graph[0] if graph else max(areas, key=lambda a: a.width * a.height)
    old_type = area.type
    area.type = "GRAPH_EDITOR"
    try:
        region = next(r for r in area.regions if r.type == "WINDOW")
        with bpy.context.temp_override(
            window=window, screen=window.screen, area=area, region=region
        ):
            yield
    finally:
        area.type = old_type


_TARGET_ITEMS = tuple(
    (item.name, item.label, item.description) for item in ANIMATED_BY_NAME.values()
)


class DEFORUM_OT_bake_sound(bpy.types.Operator):
    """Drive a per-frame Deforum setting with a sound's loudness in a frequency band"""

    bl_idname = "deforum.bake_sound"
    bl_label = "Bake Sound to Setting"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    filepath: bpy.props.StringProperty(
        name="Sound File",
        description="The sound to bake; its start lines up with Frame Start",
        subtype="FILE_PATH",
    )
    filter_sound: bpy.props.BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})
    filter_folder: bpy.props.BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})
    target: bpy.props.EnumProperty(
        name="Setting",
        description="The per-frame Deforum setting the sound drives (its keys are replaced)",
        items=_TARGET_ITEMS,
        default="strength",
    )
    low: bpy.props.FloatProperty(
        name="Lowest Frequency",
        description="Cutoff below which the sound is ignored (Hz)",
        default=0.0,
        min=0.0,
        max=100000.0,
    )
    high: bpy.props.FloatProperty(
        name="Highest Frequency",
        description="Cutoff above which the sound is ignored (Hz)",
        default=100000.0,
        min=0.0,
        max=100000.0,
    )
    minimum: bpy.props.FloatProperty(
        name="Value in Silence",
        description="The setting's value where the band is silent",
        default=0.45,
    )
    maximum: bpy.props.FloatProperty(
        name="Value at Peak",
        description="The setting's value at the band's loudest moment",
        default=0.75,
    )
    attack: bpy.props.FloatProperty(
        name="Attack Time",
        description="How fast the value rises with a louder sound (seconds)",
        default=ATTACK,
        min=0.0,
        max=2.0,
    )
    release: bpy.props.FloatProperty(
        name="Release Time",
        description="How fast the value falls back when the sound gets quieter (seconds)",
        default=RELEASE,
        min=0.0,
        max=5.0,
    )

    normalize: bpy.props.BoolProperty(
        name="Normalize",
        description=(
            "The loudest moment in the band reaches Value at Peak; off: only a full-scale "
            "sound does (quiet bands stay near Value in Silence)"
        ),
        default=True,
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and hasattr(context.scene, "deforum")

    def invoke(self, context: bpy.types.Context, event: Any) -> OperatorResult:
        manager = context.window_manager
        if manager is None:
            return self.execute(context)
        manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        scene = context.scene
        assert scene is not None
        bake = SoundBake(
            name=str(self.target),
            path=str(self.filepath),
            low=float(self.low),
            high=float(self.high),
            minimum=float(self.minimum),
            maximum=float(self.maximum),
            attack=float(self.attack),
            release=float(self.release),
            normalize=bool(self.normalize),
        )
        result = reported(self, lambda: bake_sound(scene, bake))
        if result is None:
            return {"CANCELLED"}
        label = ANIMATED_BY_NAME[bake.name].label
        if result.cleared_schedule:
            self.report({"WARNING"}, f"Deforum: cleared {label}'s schedule to use the sound")
        if result.peak <= 0.0:
            self.report(
                {"WARNING"}, f"Deforum: the sound is silent in {bake.low:g}-{bake.high:g} Hz"
            )
            return {"FINISHED"}
        self.report(
            {"INFO"}, f"Deforum: {label} follows the sound ({bake.minimum:g} to {bake.maximum:g})"
        )
        return {"FINISHED"}


def register() -> None:
    """Register the bake operator."""
    bpy.utils.register_class(DEFORUM_OT_bake_sound)


def unregister() -> None:
    """Unregister the bake operator."""
    bpy.utils.unregister_class(DEFORUM_OT_bake_sound)
