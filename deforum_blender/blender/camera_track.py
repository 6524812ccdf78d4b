"""The scene camera as a :class:`~..core.camera.CameraTrack`, and back into a keyframed camera.

Reading evaluates the scene on every frame (``frame_set``), so parenting, constraints
(Track To, Follow Path, …), drivers and animated lenses all count, and camera switches
bound to timeline markers become hard cuts. The scene's current frame, active camera and
selection are left as they were.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import bpy
import numpy as np
import numpy.typing as npt
from mathutils import Euler, Matrix

from ..core.camera import CameraData, CameraTrack, RenderSize
from ..core.errors import DeforumInputError
from .animation_data import clear_animation, fresh_action, key_series

# Camera data fields that shape the projection and may be animated: keyframed on write
# when they change over the track, otherwise set once.
_ANIMATABLE_CAMERA_FIELDS = ("lens", "shift_x", "shift_y", "clip_start", "clip_end")
# Keyframe.interpolation as foreach_set wants it (enum index).
_LINEAR, _CONSTANT = 1, 0


def camera_data_of(data: bpy.types.Camera, name: str = "") -> CameraData:
    """The projection fields of Blender camera data (use the evaluated data for animation)."""
    if data.type != "PERSP":
        kind = {"ORTHO": "orthographic", "PANO": "panoramic"}.get(data.type, data.type)
        raise DeforumInputError(
            f"camera {name or data.name!r} is {kind} (type {data.type!r}): Deforum motion "
            "needs a perspective camera; set its Lens > Type to Perspective"
        )
    return CameraData(
        lens=float(data.lens),
        lens_unit=str(data.lens_unit),
        angle=float(data.angle),
        sensor_fit=str(data.sensor_fit),
        sensor_width=float(data.sensor_width),
        sensor_height=float(data.sensor_height),
        shift_x=float(data.shift_x),
        shift_y=float(data.shift_y),
        clip_start=float(data.clip_start),
        clip_end=float(data.clip_end),
        type=str(data.type),
    )


def render_size_of(scene: bpy.types.Scene) -> RenderSize:
    """The scene's render resolution, percentage and pixel aspect."""
    render = scene.render
    return RenderSize(
        resolution_x=int(render.resolution_x),
        resolution_y=int(render.resolution_y),
        percentage=int(render.resolution_percentage),
        pixel_aspect_x=float(render.pixel_aspect_x),
        pixel_aspect_y=float(render.pixel_aspect_y),
    )


def apply_render_size(scene: bpy.types.Scene, size: RenderSize) -> None:
    """Set the scene's render resolution, percentage and pixel aspect from ``size``."""
    render = scene.render
    render.resolution_x, render.resolution_y = size.resolution_x, size.resolution_y
    render.resolution_percentage = size.percentage
    render.pixel_aspect_x, render.pixel_aspect_y = size.pixel_aspect_x, size.pixel_aspect_y


@contextmanager
def preserved_frame_and_selection(
    scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer
) -> Iterator[None]:
    """Put back the current frame (and subframe), active camera and selection on exit."""
    frame, subframe = scene.frame_current, scene.frame_subframe
    camera = scene.camera
    selected = [obj.name for obj in view_layer.objects if obj.select_get(view_layer=view_layer)]
    active = view_layer.objects.active
    try:
        yield
    finally:
        scene.frame_set(frame, subframe=subframe)
        # frame_set applies marker camera bindings; the user's choice of camera wins.
        scene.camera = camera
        for obj in view_layer.objects:
            obj.select_set(obj.name in selected, view_layer=view_layer)
        view_layer.objects.active = active


def view_layer_of(scene: bpy.types.Scene) -> bpy.types.ViewLayer:
    """The view layer to read the scene through: the context's when it shows this scene."""
    context_layer: bpy.types.ViewLayer | None = getattr(bpy.context, "view_layer", None)
    if context_layer is not None and bpy.context.scene == scene:
        return context_layer
    return scene.view_layers[0]


def _depsgraph_of(scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer) -> Any:
    if bpy.context.scene == scene and getattr(bpy.context, "view_layer", None) == view_layer:
        return bpy.context.evaluated_depsgraph_get()
    # Another scene: ViewLayer.update() makes (and evaluates) its depsgraph.
    view_layer.update()
    depsgraph = view_layer.depsgraph
    if depsgraph is None:
        raise RuntimeError(f"Blender made no depsgraph for view layer {view_layer.name!r}")
    return depsgraph


def read_camera_track(
    scene: bpy.types.Scene,
    frame_start: int | None = None,
    frame_end: int | None = None,
    *,
    view_layer: bpy.types.ViewLayer | None = None,
) -> CameraTrack:
    """The evaluated active camera on every frame of ``frame_start``–``frame_end`` (inclusive).

    Defaults to the scene's frame range. A change of active camera between two frames
    (a camera bound to a timeline marker) is recorded as a cut.
    """
    start = scene.frame_start if frame_start is None else int(frame_start)
    end = scene.frame_end if frame_end is None else int(frame_end)
    if end < start:
        raise DeforumInputError(
            f"frame range {start}-{end} is empty: the end frame must not come before the start"
        )
    layer = view_layer or view_layer_of(scene)
    size = render_size_of(scene)
    matrices: list[npt.NDArray[np.float64]] = []
    cameras: list[CameraData] = []
    names: list[str] = []
    cuts: list[int] = []
    with preserved_frame_and_selection(scene, layer):
        for frame in range(start, end + 1):
            scene.frame_set(frame)
            camera = scene.camera
            if camera is None:
                raise DeforumInputError(
                    f"scene {scene.name!r} has no active camera at frame {frame}: set "
                    "Scene > Camera, or bind a camera to a timeline marker"
                )
            if camera.type != "CAMERA":
                raise DeforumInputError(
                    f"scene camera {camera.name!r} at frame {frame} is a {camera.type} "
                    "object: make a Camera object the scene camera"
                )
            evaluated = camera.evaluated_get(_depsgraph_of(scene, layer))
            matrices.append(np.array(evaluated.matrix_world, dtype=np.float64))
            cameras.append(camera_data_of(cast(bpy.types.Camera, evaluated.data), camera.name))
            if names and names[-1] != camera.name:
                cuts.append(frame)
            names.append(camera.name)
    return CameraTrack(
        frames=list(range(start, end + 1)),
        matrices=np.stack(matrices),
        cameras=cameras,
        size=size,
        cuts=cuts,
        camera_names=names,
    )


def _camera_object(scene: bpy.types.Scene, name: str) -> bpy.types.Object:
    obj = bpy.data.objects.get(name)
    if obj is not None and obj.type != "CAMERA":
        raise DeforumInputError(
            f"object {name!r} exists and is a {obj.type} object, not a camera: choose "
            "another camera name"
        )
    if obj is None:
        obj = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    if obj.name not in scene.collection.all_objects:
        scene.collection.objects.link(obj)
    # The keyframes are the camera's world motion: nothing else may move it.
    obj.parent = None
    obj.constraints.clear()
    obj.rotation_mode = "XYZ"
    obj.scale = (1.0, 1.0, 1.0)
    obj.delta_location = (0.0, 0.0, 0.0)
    obj.delta_rotation_euler = (0.0, 0.0, 0.0)
    obj.delta_scale = (1.0, 1.0, 1.0)
    return obj


def write_camera_track(
    scene: bpy.types.Scene,
    track: CameraTrack,
    name: str = "Deforum Camera",
    *,
    make_active: bool = True,
) -> bpy.types.Object:
    """Create or update the camera object ``name`` keyframed on every frame of ``track``.

    Location and rotation are keyed on every frame (linear, constant before a cut); the
    lens, shift and clip distances are keyed only when they change. An existing object of
    that name loses its previous animation, parent and constraints.
    """
    obj = _camera_object(scene, name)
    frames = track.frames
    # Linear between keys so subframes stay between the exact poses; constant into a cut.
    interpolation = [_CONSTANT if frame + 1 in track.cuts else _LINEAR for frame in frames]
    locations: list[list[float]] = [[], [], []]
    rotations: list[list[float]] = [[], [], []]
    euler: Euler | None = None
    for m in track.matrices:
        matrix = Matrix(m.tolist())
        # Each Euler is the closest to the previous one, so the F-curves never flip by 360°.
        euler = matrix.to_euler("XYZ", euler) if euler is not None else matrix.to_euler("XYZ")
        location = matrix.to_translation()
        for axis in range(3):
            locations[axis].append(float(location[axis]))
            rotations[axis].append(float(euler[axis]))
    action = fresh_action(obj, f"{name} Action")
    for axis in range(3):
        key_series(action, obj, "location", frames, locations[axis], interpolation, axis)
        key_series(action, obj, "rotation_euler", frames, rotations[axis], interpolation, axis)

    data = cast(bpy.types.Camera, obj.data)
    first = track.cameras[0]
    data.type = "PERSP"
    # The core validated these against Blender's enum identifiers.
    data.lens_unit = cast(Any, first.lens_unit)
    data.sensor_fit = cast(Any, first.sensor_fit)
    data.sensor_width, data.sensor_height = first.sensor_width, first.sensor_height
    changing: dict[str, list[float]] = {}
    for field_name in _ANIMATABLE_CAMERA_FIELDS:
        values = [
            c.focal_length if field_name == "lens" else float(getattr(c, field_name))
            for c in track.cameras
        ]
        setattr(data, field_name, values[0])
        if any(not math.isclose(v, values[0], rel_tol=1e-9, abs_tol=0.0) for v in values):
            changing[field_name] = values
    clear_animation(data)
    if changing:
        data_action = fresh_action(data, f"{name} Lens Action")
        for field_name, values in changing.items():
            key_series(data_action, data, field_name, frames, values, interpolation)
    if make_active:
        scene.camera = obj
    return obj


def scene_translation_scale(
    scene: bpy.types.Scene, rays: tuple[int, int] = (16, 12), *, frame: int | None = None
) -> float:
    """Deforum translation units per Blender unit for this scene: ``200 ÷`` the median
    distance (along the view axis) to what the active camera sees at ``frame`` (default:
    now), by ray casts; the documented default (a subject 4 units away) when it sees nothing."""
    if frame is None or frame == scene.frame_current:
        return _translation_scale_now(scene, rays)
    with preserved_frame_and_selection(scene, view_layer_of(scene)):
        scene.frame_set(frame)
        return _translation_scale_now(scene, rays)


def camera_pose_at(scene: bpy.types.Scene, frame: int) -> npt.NDArray[np.float64] | None:
    """The scene camera's evaluated world matrix at ``frame`` (None without a camera)."""
    with preserved_frame_and_selection(scene, view_layer_of(scene)):
        scene.frame_set(frame)
        camera = scene.camera
        if camera is None or camera.type != "CAMERA":
            return None
        evaluated = camera.evaluated_get(_depsgraph_of(scene, view_layer_of(scene)))
        return np.array(evaluated.matrix_world, dtype=np.float64)


def _translation_scale_now(scene: bpy.types.Scene, rays: tuple[int, int]) -> float:
    from ..core.camera import default_translation_scale, intrinsics, strip_scale, unproject

    camera = scene.camera
    if camera is None or camera.type != "CAMERA":
        return default_translation_scale()
    depsgraph = _depsgraph_of(scene, view_layer_of(scene))
    evaluated = camera.evaluated_get(depsgraph)
    data = camera_data_of(cast(bpy.types.Camera, evaluated.data), camera.name)
    size = render_size_of(scene)
    k = intrinsics(data, size)
    columns, rows = rays
    u, v = np.meshgrid(
        (np.arange(columns) + 0.5) * size.width / columns,
        (np.arange(rows) + 0.5) * size.height / rows,
    )
    directions = unproject(k, np.stack([u, v], axis=-1).reshape(-1, 2), 1.0)
    world = strip_scale(np.array(evaluated.matrix_world, dtype=np.float64))
    rotation, origin = world[:3, :3], world[:3, 3]
    depths = []
    for direction in directions:
        along = rotation @ direction
        hit, location, *_ = scene.ray_cast(
            depsgraph, tuple(origin), tuple(along / np.linalg.norm(along))
        )
        if hit:
            # Planar depth: the distance along the camera's −Z, as the Z pass measures it.
            depths.append(float(-(rotation.T @ (np.array(location) - origin))[2]))
    positive = [d for d in depths if d > 1e-6]
    return default_translation_scale(float(np.median(positive)) if positive else None)
