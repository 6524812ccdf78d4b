"""Reading the scene camera into a track and writing it back, in real Blender (bpy)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402

from deforum_blender.blender.camera_track import (  # noqa: E402
    read_camera_track,
    write_camera_track,
)
from deforum_blender.core.camera import (  # noqa: E402
    camera_track_from_deforum,
    deforum_motion,
    deforum_motion_schedules,
    project,
)
from deforum_blender.core.errors import DeforumInputError  # noqa: E402
from deforum_blender.core.schedules import evaluate_schedule, format_schedule  # noqa: E402


@pytest.fixture
def scene() -> Iterator[Any]:
    """An empty factory-settings scene (fresh Blender state for every test)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy.context.scene
    bpy.ops.wm.read_factory_settings(use_empty=True)


def add_camera(scene: Any, name: str = "Camera", **data: Any) -> Any:
    camera = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    for key, value in data.items():
        setattr(camera.data, key, value)
    scene.collection.objects.link(camera)
    scene.camera = camera
    return camera


def add_empty(scene: Any, name: str) -> Any:
    empty = bpy.data.objects.new(name, None)
    scene.collection.objects.link(empty)
    return empty


def rotation_error_degrees(a: np.ndarray, b: np.ndarray) -> float:
    cosine = (np.trace(a[:3, :3].T @ b[:3, :3]) - 1.0) / 2.0
    return math.degrees(math.acos(float(np.clip(cosine, -1.0, 1.0))))


def motion_of(scene: Any, camera: Any, **keys: tuple[Any, Any]) -> dict[str, float]:
    """Deforum values of frame 2 for ``camera`` keyed from the first to the second value."""
    for frame, index in ((1, 0), (2, 1)):
        for path, values in keys.items():
            setattr(camera, path, values[index])
            camera.keyframe_insert(path, frame=frame)
    motion = deforum_motion(read_camera_track(scene, 1, 2), translation_scale=10.0)
    return {key: series[1] for key, series in motion.items()}


# ---------------------------------------------------------------- intrinsics


def test_intrinsics_agree_with_world_to_camera_view_on_random_cameras(scene: Any) -> None:
    rng = np.random.default_rng(42)
    camera = add_camera(scene)
    render = scene.render
    checked, fits = 0, set()
    for _ in range(80):
        data = camera.data
        data.sensor_fit = str(rng.choice(["AUTO", "HORIZONTAL", "VERTICAL"]))
        data.lens = rng.uniform(12.0, 150.0)
        data.sensor_width, data.sensor_height = rng.uniform(8.0, 50.0, size=2)
        data.shift_x, data.shift_y = rng.uniform(-0.6, 0.6, size=2)
        # Portrait and landscape; sizes that stay whole at every percentage used.
        render.resolution_x, render.resolution_y = (int(n) * 4 for n in rng.integers(4, 500, 2))
        render.resolution_percentage = int(rng.choice([25, 50, 100, 150]))
        render.pixel_aspect_x, render.pixel_aspect_y = rng.uniform(0.5, 2.5, size=2)
        axis = Vector(rng.normal(size=3)).normalized()
        camera.matrix_world = Matrix.LocRotScale(
            Vector(rng.normal(size=3) * 5), Matrix.Rotation(rng.uniform(0, 6.3), 3, axis), None
        )
        track = read_camera_track(scene, 1, 1)
        K = track.intrinsics(1)
        world_from_camera = np.array(camera.matrix_world.normalized())
        size = track.size
        fits.add((data.sensor_fit, size.width > size.height))
        for _ in range(10):
            depth = rng.uniform(0.5, 50.0)
            spread = max(data.sensor_width, data.sensor_height) / data.lens  # about the frame
            local = np.array([*(rng.uniform(-1.0, 1.0, 2) * spread * depth), -depth, 1.0])
            world = Vector((world_from_camera @ local)[:3])
            expected = world_to_camera_view(scene, camera, world)
            if not (-0.5 < expected.x < 1.5 and -0.5 < expected.y < 1.5):
                continue  # far outside the frame Blender's float32 maths loses digits
            u, v = project(K, (np.linalg.inv(track.matrix(1)) @ np.array([*world, 1.0]))[:3])
            assert u / size.width == pytest.approx(expected.x, abs=1e-4)
            assert 1.0 - v / size.height == pytest.approx(expected.y, abs=1e-4)
            checked += 1
    assert checked >= 200
    assert len(fits) == 6  # every sensor fit, portrait and landscape


# ---------------------------------------------------------------- signs


@pytest.fixture
def level_camera(scene: Any) -> Any:
    camera = add_camera(scene)
    camera.rotation_euler = (math.radians(90), 0.0, 0.0)  # looking along world +Y
    return camera


def test_dolly_forward_gives_positive_translation_z(scene: Any, level_camera: Any) -> None:
    values = motion_of(scene, level_camera, location=((0, 0, 0), (0, 0.5, 0)))
    assert values["translation_z"] == pytest.approx(5.0, abs=1e-5)
    assert values["translation_x"] == pytest.approx(0.0, abs=1e-5)


def test_truck_right_gives_positive_translation_x(scene: Any, level_camera: Any) -> None:
    values = motion_of(scene, level_camera, location=((0, 0, 0), (0.5, 0, 0)))
    assert values["translation_x"] == pytest.approx(5.0, abs=1e-5)


def test_pedestal_up_gives_positive_translation_y(scene: Any, level_camera: Any) -> None:
    values = motion_of(scene, level_camera, location=((0, 0, 0), (0, 0, 0.5)))
    assert values["translation_y"] == pytest.approx(5.0, abs=1e-5)


def test_pan_right_gives_positive_rotation_3d_y(scene: Any, level_camera: Any) -> None:
    level = math.radians(90)
    values = motion_of(
        scene, level_camera, rotation_euler=((level, 0, 0), (level, 0, math.radians(-3)))
    )
    assert values["rotation_3d_y"] == pytest.approx(3.0, abs=1e-4)
    assert values["rotation_3d_x"] == pytest.approx(0.0, abs=1e-4)


def test_tilt_up_gives_positive_rotation_3d_x(scene: Any, level_camera: Any) -> None:
    values = motion_of(
        scene, level_camera, rotation_euler=((math.radians(90), 0, 0), (math.radians(92), 0, 0))
    )
    assert values["rotation_3d_x"] == pytest.approx(2.0, abs=1e-4)


@pytest.mark.parametrize("fit", ["AUTO", "VERTICAL"])
def test_lens_35_to_50_narrows_the_fov_like_blenders_angle_y(scene: Any, fit: str) -> None:
    camera = add_camera(scene, sensor_fit=fit)
    angle_y = []
    for frame, lens in ((1, 35.0), (2, 50.0)):
        camera.data.lens = lens
        camera.data.keyframe_insert("lens", frame=frame)
        angle_y.append(math.degrees(camera.data.angle_y))
    fov = deforum_motion(read_camera_track(scene, 1, 2))["fov_schedule"]
    assert fov[1] < fov[0] and angle_y[1] < angle_y[0]
    if fit == "VERTICAL":  # only then is angle_y the render's vertical field of view
        assert fov == pytest.approx(angle_y, abs=1e-4)


# ---------------------------------------------------------------- reading the scene


def test_reading_honours_follow_path_and_a_lens_driver(scene: Any) -> None:
    bpy.ops.curve.primitive_bezier_circle_add(radius=4.0)
    circle = bpy.context.active_object
    circle.data.path_duration = 20
    for frame, time in ((1, 0.0), (10, 15.0)):  # what the Animate Path button keys
        circle.data.eval_time = time
        circle.data.keyframe_insert("eval_time", frame=frame)
    camera = add_camera(scene)
    follow = camera.constraints.new("FOLLOW_PATH")
    follow.target, follow.use_curve_follow = circle, True
    driver = camera.data.driver_add("lens").driver
    driver.expression = "20 + frame"
    track = read_camera_track(scene, 1, 10)
    for frame in track.frames:
        scene.frame_set(frame)
        expected = np.array(camera.matrix_world.normalized())
        np.testing.assert_allclose(track.matrix(frame), expected, atol=1e-6)
        assert track.camera(frame).lens == pytest.approx(20 + frame)
    assert np.linalg.norm(track.matrices[0, :3, 3] - track.matrices[9, :3, 3]) > 1.0


def test_marker_camera_switches_are_recorded_as_cuts(scene: Any) -> None:
    first, second = add_camera(scene, "Wide"), add_camera(scene, "Close")
    scene.camera = first
    scene.timeline_markers.new("A", frame=1).camera = first
    scene.timeline_markers.new("B", frame=5).camera = second
    scene.timeline_markers.new("C", frame=8).camera = first
    track = read_camera_track(scene, 1, 9)
    assert track.cuts == [5, 8]
    assert track.camera_names[3:6] == ["Wide", "Close", "Close"]
    assert track.relative_pose(5) is None and track.relative_pose(6) is not None
    assert scene.camera == first


def test_reading_leaves_frame_subframe_and_selection_as_they_were(scene: Any) -> None:
    camera = add_camera(scene)
    camera.location = (0, 0, 0)
    camera.keyframe_insert("location", frame=1)
    camera.location = (0, 0, 10)
    camera.keyframe_insert("location", frame=10)
    others = [add_empty(scene, name) for name in ("A", "B", "C")]
    others[0].select_set(True)
    others[2].select_set(True)
    bpy.context.view_layer.objects.active = others[2]
    scene.frame_set(4, subframe=0.25)
    height = camera.matrix_world.translation.z
    read_camera_track(scene, 1, 10)
    assert (scene.frame_current, scene.frame_subframe) == (4, 0.25)
    assert [o.select_get() for o in (camera, *others)] == [False, True, False, True]
    assert bpy.context.view_layer.objects.active == others[2]
    assert camera.matrix_world.translation.z == height
    assert 0.0 < height < 10.0


def test_an_orthographic_camera_is_refused_by_name(scene: Any) -> None:
    add_camera(scene, "Plan View", type="ORTHO")
    with pytest.raises(DeforumInputError, match=r"'Plan View' is orthographic.*Perspective"):
        read_camera_track(scene, 1, 2)


def test_a_scene_without_camera_says_how_to_set_one(scene: Any) -> None:
    with pytest.raises(DeforumInputError, match=r"no active camera at frame 1.*Scene > Camera"):
        read_camera_track(scene, 1, 2)


# ---------------------------------------------------------------- the round trip


def test_round_trip_through_deforum_schedules_reproduces_the_camera(scene: Any) -> None:
    rng = np.random.default_rng(5)
    rig, target = add_empty(scene, "Rig"), add_empty(scene, "Target")
    camera = add_camera(scene, "Shot Camera")
    camera.parent = rig
    track_to = camera.constraints.new("TRACK_TO")
    track_to.target = target
    for frame in range(1, 31, 5):
        rig.location, rig.rotation_euler = rng.normal(size=3), rng.normal(size=3) * 0.3
        rig.scale = rng.uniform(0.5, 2.0, size=3)
        for path in ("location", "rotation_euler", "scale"):
            rig.keyframe_insert(path, frame=frame)
        camera.location = rng.normal(size=3) * 3 + (0, -10, 2)
        camera.keyframe_insert("location", frame=frame)
        target.location = rng.normal(size=3)
        target.keyframe_insert("location", frame=frame)
        camera.data.lens = rng.uniform(20.0, 80.0)
        camera.data.keyframe_insert("lens", frame=frame)
    original = read_camera_track(scene, 1, 30)

    scale = 23.0
    schedules = deforum_motion_schedules(original, scale)
    values = {key: evaluate_schedule(text, len(original)) for key, text in schedules.items()}
    imported = camera_track_from_deforum(
        values,
        len(original),
        size=original.size,
        camera=original.cameras[0],
        start_pose=original.matrices[0],
        translation_scale=scale,
        frame_start=1,
    )
    empty_scene = bpy.data.scenes.new("Imported")
    written = write_camera_track(empty_scene, imported)
    again = read_camera_track(empty_scene, 1, 30)

    positions = original.matrices[:, :3, 3]
    scene_size = float(np.linalg.norm(positions.max(axis=0) - positions.min(axis=0)))
    assert scene_size > 1.0
    for a, b in zip(again.matrices, original.matrices, strict=True):
        assert np.abs(a[:3, 3] - b[:3, 3]).max() < 1e-4 * scene_size
        assert rotation_error_degrees(a, b) < 0.01
    lenses = [c.lens for c in again.cameras], [c.lens for c in original.cameras]
    assert lenses[0] == pytest.approx(lenses[1], rel=1e-6)
    assert empty_scene.camera == written and again.camera_names[0] == "Deforum Camera"


def test_writing_again_updates_the_same_camera(scene: Any) -> None:
    first = camera_track_from_deforum({"translation_z": [0.0, 10.0, 10.0]}, 3, frame_start=1)
    obj = write_camera_track(scene, first)
    second = camera_track_from_deforum({"translation_x": [0.0, 5.0]}, 2, frame_start=1)
    assert write_camera_track(scene, second) == obj
    assert len([o for o in bpy.data.objects if o.type == "CAMERA"]) == 1
    again = read_camera_track(scene, 1, 2)
    np.testing.assert_allclose(again.matrices, second.matrices, atol=1e-6)
    assert obj.animation_data.action.frame_range[:] == pytest.approx((1.0, 2.0))


def test_a_steady_lens_is_set_once_and_a_changing_one_is_keyed(scene: Any) -> None:
    steady = write_camera_track(
        scene, camera_track_from_deforum({"fov_schedule": [40.0] * 3}, 3, frame_start=1)
    )
    assert steady.data.animation_data is None
    zooming = camera_track_from_deforum({"fov_schedule": [40.0, 30.0, 20.0]}, 3, frame_start=1)
    write_camera_track(scene, zooming)
    again = read_camera_track(scene, 1, 3)
    assert [c.lens for c in again.cameras] == pytest.approx([c.lens for c in zooming.cameras])


def test_keys_before_a_cut_hold_instead_of_sliding(scene: Any) -> None:
    first, second = add_camera(scene, "A"), add_camera(scene, "B")
    second.location = (0, 0, 10)
    scene.timeline_markers.new("A", frame=1).camera = first
    scene.timeline_markers.new("B", frame=3).camera = second
    track = read_camera_track(scene, 1, 4)
    written = write_camera_track(scene, track, "Edit")
    scene.frame_set(2, subframe=0.5)
    assert written.matrix_world.translation.z == pytest.approx(0.0)
    assert format_schedule(deforum_motion(track)["translation_z"]) == "0: (0)"


def test_automatic_translation_scale_is_200_over_the_median_distance_seen() -> None:
    from deforum_blender.blender.camera_track import scene_translation_scale

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    assert scene_translation_scale(scene) == pytest.approx(50.0)  # no camera: the default
    bpy.ops.mesh.primitive_plane_add(size=200, location=(0, 0, 0))
    data = bpy.data.cameras.new("scale camera")
    camera = bpy.data.objects.new("scale camera", data)
    scene.collection.objects.link(camera)
    camera.location = (0, 0, 8)  # looking straight down at the plane, 8 units away
    scene.camera = camera
    assert scene_translation_scale(scene) == pytest.approx(200 / 8, rel=1e-4)
    camera.location = (0, 0, 16)
    assert scene_translation_scale(scene) == pytest.approx(200 / 16, rel=1e-4)
