"""Camera maths: intrinsics, poses, Deforum units and their inverse (pure numpy)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deforum_blender.core.camera import (
    DEFAULT_TRANSLATION_SCALE,
    DEFORUM_3D_KEYS,
    CameraData,
    CameraTrack,
    RenderSize,
    camera_track_from_deforum,
    default_start_pose,
    default_translation_scale,
    deforum_motion,
    deforum_motion_schedules,
    deforum_to_motion,
    euler_zyx_to_matrix,
    intrinsics,
    lens_for_vertical_fov,
    matrix_to_euler_zyx,
    motion_to_deforum,
    project,
    relative_pose,
    rotation_x,
    rotation_y,
    rotation_z,
    strip_scale,
    unproject,
    vertical_fov,
)
from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.schedules import evaluate_schedule


def pose(
    rot: np.ndarray | None = None, loc: Sequence[float] | np.ndarray = (0, 0, 0)
) -> np.ndarray:
    m = np.eye(4)
    if rot is not None:
        m[:3, :3] = rot
    m[:3, 3] = loc
    return m


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    return q if np.linalg.det(q) > 0 else -q


def track_of(matrices: list[np.ndarray], lenses: list[float] | None = None) -> CameraTrack:
    lenses = lenses or [50.0] * len(matrices)
    return CameraTrack(
        frames=list(range(1, len(matrices) + 1)),
        matrices=np.stack(matrices),
        cameras=[CameraData(lens=lens) for lens in lenses],
        size=RenderSize(640, 360),
    )


def one_step(motion: np.ndarray, start: np.ndarray | None = None) -> dict[str, float]:
    """Deforum values of frame 1 for a camera that moves by ``motion`` (camera-local)."""
    m0 = default_start_pose() if start is None else start
    values = deforum_motion(track_of([m0, m0 @ motion]), translation_scale=100.0)
    return {key: series[1] for key, series in values.items()}


# ---------------------------------------------------------------- intrinsics


def test_horizontal_fit_focal_is_lens_over_sensor_times_width() -> None:
    K = intrinsics(CameraData(lens=50, sensor_width=36), RenderSize(1920, 1080))
    assert K[0, 0] == pytest.approx(50 / 36 * 1920)
    assert K[1, 1] == pytest.approx(K[0, 0])
    assert (K[0, 2], K[1, 2]) == (960, 540)


def test_auto_fit_of_a_portrait_render_fits_the_sensor_width_to_the_height() -> None:
    K = intrinsics(CameraData(lens=50, sensor_width=36), RenderSize(1080, 1920))
    assert K[1, 1] == pytest.approx(50 / 36 * 1920)


def test_vertical_fit_uses_the_sensor_height() -> None:
    K = intrinsics(
        CameraData(lens=30, sensor_fit="VERTICAL", sensor_height=24), RenderSize(1920, 1080)
    )
    assert K[1, 1] == pytest.approx(30 / 24 * 1080)


def test_shift_right_and_up_moves_the_principal_point_left_and_down_in_pixels() -> None:
    K = intrinsics(CameraData(shift_x=0.1, shift_y=0.1), RenderSize(1000, 500))
    assert K[0, 2] == pytest.approx(500 - 100)
    assert K[1, 2] == pytest.approx(250 + 100)


def test_wide_pixels_need_more_pixels_per_unit_vertically() -> None:
    K = intrinsics(CameraData(), RenderSize(1000, 500, pixel_aspect_x=2.0))
    assert K[1, 1] == pytest.approx(2.0 * K[0, 0])


def test_percentage_scales_the_pixel_grid_with_blender_integer_arithmetic() -> None:
    size = RenderSize(1921, 1081, percentage=50)
    assert (size.width, size.height) == (960, 540)
    K = intrinsics(CameraData(), size)
    assert K[0, 2] == 480


def test_fov_lens_unit_uses_the_angle() -> None:
    a = intrinsics(CameraData(lens_unit="FOV", angle=math.radians(90)), RenderSize(200, 100))
    assert a[0, 0] == pytest.approx(100)  # tan(45°) = 1: half the width at unit depth


@pytest.mark.parametrize(("kind", "word"), [("ORTHO", "orthographic"), ("PANO", "panoramic")])
def test_non_perspective_cameras_are_refused_with_the_fix(kind: str, word: str) -> None:
    with pytest.raises(DeforumInputError, match=rf"{kind}.*{word}.*Perspective"):
        CameraData(type=kind)


def test_unknown_sensor_fit_names_the_choices() -> None:
    with pytest.raises(DeforumInputError, match=r"sensor_fit 'WIDE'.*AUTO, HORIZONTAL"):
        CameraData(sensor_fit="WIDE")


@settings(max_examples=50, deadline=None)
@given(
    u=st.floats(0, 640),
    v=st.floats(0, 360),
    depth=st.floats(0.01, 1000),
    shift=st.floats(-1, 1),
)
def test_unproject_then_project_returns_the_pixel(
    u: float, v: float, depth: float, shift: float
) -> None:
    K = intrinsics(CameraData(shift_x=shift), RenderSize(640, 360, pixel_aspect_y=1.3))
    points = unproject(K, [u, v], depth)
    assert points[2] == pytest.approx(-depth)
    np.testing.assert_allclose(project(K, points), [u, v], atol=1e-6)


def test_a_point_up_and_right_lands_top_right_of_centre() -> None:
    K = intrinsics(CameraData(), RenderSize(100, 100))
    u, v = project(K, [1.0, 1.0, -5.0])
    assert u > 50 and v < 50


def test_vertical_fov_inverts_to_the_lens() -> None:
    camera, size = CameraData(lens=35, sensor_fit="AUTO"), RenderSize(720, 1280)
    fov = vertical_fov(camera, size)
    assert lens_for_vertical_fov(camera, size, fov) == pytest.approx(35)


# ---------------------------------------------------------------- poses


def test_strip_scale_removes_parent_scale_but_keeps_rotation_and_location() -> None:
    rot = rotation_z(0.3) @ rotation_x(1.0)
    scaled = pose(rot @ np.diag([2.0, 3.0, 0.5]), (1, 2, 3))
    np.testing.assert_allclose(strip_scale(scaled), pose(rot, (1, 2, 3)), atol=1e-12)


def test_relative_pose_composes_back_to_the_current_pose() -> None:
    rng = np.random.default_rng(3)
    a = pose(random_rotation(rng), tuple(rng.normal(size=3)))
    b = pose(random_rotation(rng), tuple(rng.normal(size=3)))
    a_scaled = a.copy()
    a_scaled[:3, :3] = a[:3, :3] @ np.diag([2.0, 3.0, 0.5])  # a parent's scale
    np.testing.assert_allclose(a @ relative_pose(a_scaled, b), b, atol=1e-12)


def test_relative_pose_translation_is_seen_from_the_previous_camera() -> None:
    start = default_start_pose()  # looking along world +Y
    moved = pose(start[:3, :3], (0, 1, 0))  # one unit forward in the world
    np.testing.assert_allclose(relative_pose(start, moved)[:3, 3], [0, 0, -1], atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(x=st.floats(-3.1, 3.1), y=st.floats(-1.5, 1.5), z=st.floats(-3.1, 3.1))
def test_euler_zyx_round_trips(x: float, y: float, z: float) -> None:
    rot = euler_zyx_to_matrix(x, y, z)
    np.testing.assert_allclose(euler_zyx_to_matrix(*matrix_to_euler_zyx(rot)), rot, atol=1e-9)


def test_euler_zyx_is_x_then_y_then_z_matrices() -> None:
    expected = rotation_x(0.1) @ rotation_y(0.2) @ rotation_z(0.3)
    np.testing.assert_allclose(euler_zyx_to_matrix(0.1, 0.2, 0.3), expected)


# ---------------------------------------------------------------- Deforum signs


def test_dolly_forward_is_positive_translation_z() -> None:
    values = one_step(pose(loc=(0, 0, -0.1)))
    assert values["translation_z"] == pytest.approx(10.0)
    assert values["translation_x"] == pytest.approx(0.0)


def test_truck_right_is_positive_translation_x() -> None:
    assert one_step(pose(loc=(0.1, 0, 0)))["translation_x"] == pytest.approx(10.0)


def test_pedestal_up_is_positive_translation_y() -> None:
    assert one_step(pose(loc=(0, 0.1, 0)))["translation_y"] == pytest.approx(10.0)


def test_pan_right_is_positive_rotation_3d_y() -> None:
    # Turning right about the camera's up axis is a negative angle about +Y.
    values = one_step(pose(rotation_y(math.radians(-2))))
    assert values["rotation_3d_y"] == pytest.approx(2.0)
    assert values["rotation_3d_x"] == pytest.approx(0.0)


def test_tilt_up_is_positive_rotation_3d_x() -> None:
    assert one_step(pose(rotation_x(math.radians(3))))["rotation_3d_x"] == pytest.approx(3.0)


def test_clockwise_roll_is_positive_rotation_3d_z() -> None:
    # Seen from behind the camera, +Z points at the viewer: a clockwise roll is negative.
    assert one_step(pose(rotation_z(math.radians(-4))))["rotation_3d_z"] == pytest.approx(4.0)


def test_pan_right_in_the_world_reads_the_same_from_any_start_pose() -> None:
    start = pose(rotation_z(1.0) @ rotation_x(math.pi / 2), (3, -2, 1))  # level
    turned = pose(rotation_z(math.radians(-2)) @ start[:3, :3], (3, -2, 1))  # about world Z
    values = one_step(relative_pose(start, turned), start)
    assert values["rotation_3d_y"] == pytest.approx(2.0)
    assert values["rotation_3d_x"] == pytest.approx(0.0, abs=1e-9)


def test_longer_lens_narrows_the_fov_schedule() -> None:
    still = [default_start_pose()] * 3
    fov = deforum_motion(track_of(still, [35.0, 42.0, 50.0]))["fov_schedule"]
    assert fov[0] > fov[1] > fov[2]
    assert fov[0] == pytest.approx(math.degrees(2 * math.atan(18 / 35 * 360 / 640)))


def test_the_first_frame_and_a_cut_carry_no_motion() -> None:
    m = [pose(loc=(0, 0, -i)) for i in range(4)]
    track = CameraTrack(
        frames=[10, 11, 12, 13],
        matrices=np.stack(m),
        cameras=[CameraData()] * 4,
        size=RenderSize(64, 64),
        cuts=[12],
        camera_names=["A", "A", "B", "B"],
    )
    tz = deforum_motion(track, 1.0)["translation_z"]
    assert tz == [0.0, 1.0, 0.0, 1.0]
    assert track.relative_pose(12) is None and track.is_cut(12)


@settings(max_examples=100, deadline=None)
@given(
    values=st.fixed_dictionaries(
        {key: st.floats(-20, 20) for key in ("translation_x", "translation_y", "translation_z")}
        | {key: st.floats(-60, 60) for key in ("rotation_3d_x", "rotation_3d_y", "rotation_3d_z")}
    ),
    scale=st.floats(0.5, 500),
)
def test_deforum_values_round_trip_through_a_relative_pose(
    values: dict[str, float], scale: float
) -> None:
    back = motion_to_deforum(deforum_to_motion(values, scale), scale)
    for key, value in values.items():
        assert back[key] == pytest.approx(value, abs=1e-7)


def test_random_track_round_trips_through_deforum_values() -> None:
    rng = np.random.default_rng(7)
    matrices = [pose(random_rotation(rng), tuple(rng.normal(size=3) * 5))]
    for _ in range(29):
        step = pose(euler_zyx_to_matrix(*rng.normal(scale=0.05, size=3)), rng.normal(size=3) * 0.2)
        matrices.append(matrices[-1] @ step)
    lenses = list(rng.uniform(20, 80, size=30))
    track = track_of(matrices, lenses)
    values = deforum_motion(track, 37.0)
    back = camera_track_from_deforum(
        values,
        30,
        size=track.size,
        camera=track.cameras[0],
        start_pose=matrices[0],
        translation_scale=37.0,
        frame_start=1,
    )
    np.testing.assert_allclose(back.matrices, track.matrices, atol=1e-9)
    np.testing.assert_allclose([c.lens for c in back.cameras], lenses, rtol=1e-9)
    assert back.frames == track.frames


def test_motion_schedules_evaluate_back_to_the_per_frame_values() -> None:
    rng = np.random.default_rng(11)
    matrices = [default_start_pose()]
    for i in range(1, 40):
        # Smooth dolly (collinear keys merge) then random shake (every key kept).
        step = (0, 0, -0.1) if i < 20 else tuple(rng.normal(size=3) * 0.05)
        matrices.append(matrices[-1] @ pose(rotation_z(0.01 * (i >= 20)), step))
    track = track_of(matrices, list(np.linspace(30.0, 60.0, 40)))
    values = deforum_motion(track, 50.0)
    schedules = deforum_motion_schedules(track, 50.0)
    for key, text in schedules.items():
        assert "e" not in text  # exponent notation reads as an expression in Deforum
        np.testing.assert_allclose(evaluate_schedule(text, 40), values[key], atol=1e-9)
    assert schedules["rotation_3d_z"].startswith("0: (0), 19: (0), 20: (-0.5729577951)")
    assert schedules["fov_schedule"].count(":") == 40  # a lens ramp narrows the fov nonlinearly


def test_motion_schedules_hold_every_3d_key() -> None:
    track = track_of([default_start_pose(), default_start_pose() @ pose(loc=(0, 0, -1))])
    schedules = deforum_motion_schedules(track, 2.0)
    assert set(schedules) == set(DEFORUM_3D_KEYS)
    assert schedules["translation_z"] == "0: (0), 1: (2)"
    assert schedules["rotation_3d_x"] == "0: (0)"


def test_translation_scale_comes_from_the_median_depth() -> None:
    assert default_translation_scale(8.0) == pytest.approx(25.0)
    assert default_translation_scale() == DEFAULT_TRANSLATION_SCALE == 50.0
    with pytest.raises(DeforumInputError, match="median scene depth"):
        default_translation_scale(0.0)


# ---------------------------------------------------------------- 2D mode


def test_2d_motion_reproduces_the_2d_warp_on_the_facing_plane() -> None:
    size, camera, depth = RenderSize(320, 240), CameraData(lens=40), 6.0
    values = {
        "angle": [0.0, 3.0],
        "zoom": [1.0, 1.04],
        "translation_x": [0.0, 5.0],
        "translation_y": [0.0, -2.0],
        "transform_center_x": [0.5, 0.3],
        "transform_center_y": [0.5, 0.6],
    }
    track = camera_track_from_deforum(
        values, 2, animation_mode="2D", size=size, camera=camera, plane_depth=depth
    )
    K = intrinsics(camera, size)
    uv = np.array([[10.0, 20.0], [300.0, 30.0], [160.0, 120.0], [50.0, 200.0]])
    plane = unproject(K, uv, depth)  # points on the plane, in the first camera's frame
    plane_world = (track.matrices[0] @ np.c_[plane, np.ones(4)].T).T
    seen = project(K, (np.linalg.inv(track.matrices[1]) @ plane_world.T).T[:, :3])
    # Deforum: content point p moves to rotation_about_centre(angle, zoom) @ translate(p).
    a, b = 1.04 * math.cos(math.radians(3)), 1.04 * math.sin(math.radians(3))
    cx, cy = 0.3 * 320, 0.6 * 240
    warp = np.array([[a, b, (1 - a) * cx - b * cy], [-b, a, b * cx + (1 - a) * cy]])
    expected = (warp @ np.c_[uv + np.array([5.0, -2.0]), np.ones(4)].T).T
    np.testing.assert_allclose(seen, expected, atol=1e-9)


def test_2d_zoom_in_moves_the_camera_forward_and_positive_x_moves_it_left() -> None:
    zoom = camera_track_from_deforum({"zoom": [1.0, 1.1]}, 2, animation_mode="2D")
    assert relative_pose(zoom.matrices[0], zoom.matrices[1])[2, 3] < 0
    right = camera_track_from_deforum({"translation_x": [0.0, 4.0]}, 2, animation_mode="2D")
    assert relative_pose(right.matrices[0], right.matrices[1])[0, 3] < 0


def test_modes_without_motion_are_refused() -> None:
    with pytest.raises(DeforumInputError, match=r"'Video Input'.*'3D'"):
        camera_track_from_deforum({}, 3, animation_mode="Video Input")


def test_a_short_schedule_names_the_key() -> None:
    with pytest.raises(DeforumInputError, match="translation_z has 2 values for 5 frames"):
        camera_track_from_deforum({"translation_z": [0.0, 1.0]}, 5)


# ---------------------------------------------------------------- the track as JSON


def test_camera_track_round_trips_through_json() -> None:
    track = CameraTrack(
        frames=[5, 6],
        matrices=np.stack([default_start_pose(), pose(rotation_z(0.2), (1, 2, 3))]),
        cameras=[CameraData(lens=35, shift_x=0.1), CameraData(lens=50, sensor_fit="VERTICAL")],
        size=RenderSize(64, 48, 50, 1.0, 1.5),
        cuts=[6],
        camera_names=["A", "B"],
    )
    back = CameraTrack.from_dict(json.loads(json.dumps(track.to_dict())))
    np.testing.assert_array_equal(back.matrices, track.matrices)
    assert (back.frames, back.cameras, back.size) == (track.frames, track.cameras, track.size)
    assert (back.cuts, back.camera_names) == ([6], ["A", "B"])


def test_unknown_camera_track_keys_are_named() -> None:
    data = track_of([default_start_pose()]).to_dict() | {"fps": 24}
    with pytest.raises(DeforumInputError, match=r"unknown keys \['fps'\]"):
        CameraTrack.from_dict(data)


def test_a_track_needs_one_camera_per_frame() -> None:
    with pytest.raises(DeforumInputError, match="1 cameras for 2 frames"):
        CameraTrack([1, 2], np.stack([np.eye(4)] * 2), [CameraData()], RenderSize())
