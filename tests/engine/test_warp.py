"""The exact 3D warp and Deforum's 2D warp on analytic cases (against Blender: tests/blender)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from deforum_blender.core.camera import (
    CameraData,
    CameraTrack,
    RenderSize,
    intrinsics,
    project,
    relative_pose,
    rotation_x,
    rotation_y,
    rotation_z,
    unproject,
)
from deforum_blender.core.errors import DeforumInputError
from deforum_blender.engine import warp

WIDTH, HEIGHT = 64, 48


def _k(shift_x: float = 0.0, shift_y: float = 0.0, lens: float = 35.0) -> np.ndarray:
    camera = CameraData(lens=lens, shift_x=shift_x, shift_y=shift_y)
    return intrinsics(camera, RenderSize(WIDTH, HEIGHT))


def _pose(rotation: np.ndarray | None = None, translation=(0.0, 0.0, 0.0)) -> np.ndarray:
    pose = np.eye(4)
    if rotation is not None:
        pose[:3, :3] = rotation
    pose[:3, 3] = translation
    return pose


def _texture(height: int = HEIGHT, width: int = WIDTH, seed: int = 0) -> np.ndarray:
    # Smooth random colours: interpolation error stays small, every pixel distinct.
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _pixel_grid(height: int = HEIGHT, width: int = WIDTH) -> tuple[np.ndarray, np.ndarray]:
    columns, rows = np.meshgrid(
        np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
    )
    return columns, rows


def test_identity_pose_is_the_identity_warp() -> None:
    image = _texture()
    depth = np.random.default_rng(1).uniform(1, 9, (HEIGHT, WIDTH)).astype(np.float32)
    maps = warp.reprojection_maps(depth, _k(), _k(), np.eye(4))
    columns, rows = _pixel_grid()
    np.testing.assert_allclose(maps.map_x, columns, atol=1e-3)
    np.testing.assert_allclose(maps.map_y, rows, atol=1e-3)
    result = warp.warp_3d(
        image, k_source=_k(), k_target=_k(), pose=np.eye(4), target_depth=depth, source_depth=depth
    )
    assert np.array_equal(result.image, image)
    assert result.valid.all()


def test_pure_rotation_is_independent_of_depth() -> None:
    pose = _pose(rotation_y(math.radians(3)) @ rotation_x(math.radians(-2)) @ rotation_z(0.05))
    near = np.full((HEIGHT, WIDTH), 0.5, np.float32)
    far = np.random.default_rng(2).uniform(5, 5000, (HEIGHT, WIDTH)).astype(np.float32)
    a = warp.reprojection_maps(near, _k(), _k(), pose)
    b = warp.reprojection_maps(far, _k(), _k(), pose)
    np.testing.assert_allclose(a.map_x, b.map_x, atol=2e-3)
    np.testing.assert_allclose(a.map_y, b.map_y, atol=2e-3)
    assert not np.allclose(a.map_x, _pixel_grid()[0], atol=0.5)


def test_maps_agree_with_core_camera_projection() -> None:
    k_source, k_target = _k(0.1, -0.05, 35), _k(0.1, -0.05, 40)
    pose = _pose(rotation_x(0.03) @ rotation_z(-0.02), (0.2, -0.1, 0.3))
    depth = np.random.default_rng(3).uniform(2, 10, (HEIGHT, WIDTH)).astype(np.float32)
    maps = warp.reprojection_maps(depth, k_source, k_target, pose)
    columns, rows = _pixel_grid()
    points = unproject(k_target, np.stack([columns + 0.5, rows + 0.5], -1), depth)
    in_source = points @ pose[:3, :3].T + pose[:3, 3]
    expected = project(k_source, in_source) - 0.5
    np.testing.assert_allclose(maps.map_x, expected[..., 0], atol=2e-3)
    np.testing.assert_allclose(maps.map_y, expected[..., 1], atol=2e-3)
    np.testing.assert_allclose(maps.source_depth, -in_source[..., 2], rtol=1e-5)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.15, -0.1)])
def test_dolly_towards_a_facing_plane_zooms_about_the_principal_point(shift) -> None:
    k = _k(*shift)
    distance, step = 10.0, 2.0
    # The camera moves forward (its −Z) by `step`; the plane is now distance − step away.
    depth = np.full((HEIGHT, WIDTH), distance - step, np.float32)
    maps = warp.reprojection_maps(depth, k, k, _pose(translation=(0.0, 0.0, -step)))
    columns, rows = _pixel_grid()
    zoom = distance / (distance - step)
    cx, cy = k[0, 2], k[1, 2]
    assert not math.isclose(cx, WIDTH / 2) or shift == (0.0, 0.0)
    np.testing.assert_allclose(maps.map_x + 0.5, cx + (columns + 0.5 - cx) / zoom, atol=2e-3)
    np.testing.assert_allclose(maps.map_y + 0.5, cy + (rows + 0.5 - cy) / zoom, atol=2e-3)


def test_truck_past_a_near_box_hides_the_background_behind_it() -> None:
    k = _k()
    source_depth = np.full((HEIGHT, WIDTH), 20.0, np.float32)
    source_depth[16:32, 24:40] = 2.0  # a near box in front of a far wall
    pose = _pose(translation=(0.3, 0.0, 0.0))  # the camera moves right
    # Target depth with the box where it appears after the move (it shifts left).
    shift = k[0, 0] * 0.3 / 2.0
    target_depth = np.full((HEIGHT, WIDTH), 20.0, np.float32)
    box_left = round(24 - shift)
    target_depth[16:32, box_left : box_left + 16] = 2.0
    result = warp.warp_3d(
        _texture(),
        k_source=k,
        k_target=k,
        pose=pose,
        target_depth=target_depth,
        source_depth=source_depth,
    )
    # Wall pixels just right of the moved box were behind the box in the source.
    revealed = result.valid[20:28, box_left + 17 : box_left + 22]
    assert not revealed.any()
    assert result.valid[20:28, 2:10].all()  # wall far from the box
    assert result.valid[20:28, box_left + 4 : box_left + 12].all()  # the box itself


def test_content_entering_from_outside_the_view_is_marked_invalid() -> None:
    k = _k()
    depth = np.full((HEIGHT, WIDTH), 5.0, np.float32)
    pan = _pose(rotation_y(math.radians(-8)))  # pan right: new content on the right
    result = warp.warp_3d(_texture(), k_source=k, k_target=k, pose=pan, target_depth=depth)
    assert not result.valid[:, -3:].any()
    assert result.valid[:, :20].all()


def test_background_at_cycles_infinity_moves_only_with_rotation() -> None:
    depth = np.full((HEIGHT, WIDTH), 5.0, np.float32)
    depth[: HEIGHT // 2] = 1e10  # what Cycles writes where a ray hits nothing
    pose = _pose(rotation_z(0.0), (0.5, 0.2, -0.3))
    maps = warp.reprojection_maps(depth, _k(), _k(), pose)
    columns, rows = _pixel_grid()
    assert np.isfinite(maps.map_x).all() and np.isfinite(maps.map_y).all()
    np.testing.assert_allclose(maps.map_x[: HEIGHT // 2], columns[: HEIGHT // 2], atol=1e-3)
    np.testing.assert_allclose(maps.map_y[: HEIGHT // 2], rows[: HEIGHT // 2], atol=1e-3)
    assert not np.allclose(maps.map_x[HEIGHT // 2 :], columns[HEIGHT // 2 :], atol=1.0)


@pytest.mark.parametrize("sampling", warp.SAMPLING_MODES)
@pytest.mark.parametrize("padding", warp.PADDING_MODES)
def test_torch_grid_sample_matches_cv2_remap(sampling: str, padding: str) -> None:
    image = _texture(seed=4)
    depth = np.random.default_rng(5).uniform(3, 6, (HEIGHT, WIDTH)).astype(np.float32)
    pose = _pose(rotation_z(0.1) @ rotation_y(0.04), (0.3, 0.2, -0.4))
    maps = warp.reprojection_maps(depth, _k(), _k(lens=30), pose)
    reference = warp.remap(image, maps.map_x, maps.map_y, sampling=sampling, padding=padding)
    on_torch = warp.remap_torch(
        image, maps.map_x, maps.map_y, sampling=sampling, padding=padding, device="cpu"
    )
    difference = np.abs(reference.astype(int) - on_torch.astype(int))
    assert on_torch.dtype == np.uint8 and on_torch.shape == image.shape
    if sampling == "nearest":  # ties round differently: only a few pixels may pick a neighbour
        assert (difference.max(axis=2) > 0).mean() < 0.01
    else:  # OpenCV quantises positions to 1/32 px and weights to 1/1024
        assert difference.mean() < 0.5 and difference.max() <= 4


def test_remap_tensor_keeps_batches_on_the_tensor_device() -> None:
    image = torch.rand(2, 3, 8, 8)
    grid = torch.zeros(2, 8, 8, 2)
    out = warp.remap_tensor(image, grid, sampling="bilinear", padding="zeros")
    assert out.shape == (2, 3, 8, 8)
    assert torch.allclose(out[0, :, 0, 0], image[0, :, 3:5, 3:5].mean(dim=(1, 2)))


def test_estimated_target_depth_converges_to_the_true_depth_of_a_slanted_plane() -> None:
    k = _k()
    rows = _pixel_grid()[1]
    # A floor-like plane whose depth grows towards the top of the image.
    source_depth = (4.0 + 4.0 * (1 - rows / HEIGHT)).astype(np.float32)
    pose = _pose(rotation_y(0.02), (0.15, 0.05, -0.2))
    # Converged means: each target point lands on the source surface where it samples it.
    estimated = warp.estimate_target_depth(source_depth, k, k, pose, iterations=6)
    maps = warp.reprojection_maps(estimated, k, k, pose)
    sampled = cv2.remap(source_depth, maps.map_x, maps.map_y, cv2.INTER_LINEAR)
    inside = maps.in_view
    inside[:2] = inside[-2:] = False
    assert np.abs(maps.source_depth - sampled)[inside].max() < 0.01 * 8


def test_warp_from_source_depth_alone_matches_the_exact_warp_on_a_plane() -> None:
    k = _k()
    source_depth = np.full((HEIGHT, WIDTH), 6.0, np.float32)
    pose = _pose(rotation_y(0.01), (0.2, 0.0, -0.3))
    # The facing plane z = −6 of the source camera, seen along each target ray.
    columns, rows = _pixel_grid()
    rays = unproject(k, np.stack([columns + 0.5, rows + 0.5], -1), np.ones((HEIGHT, WIDTH)))
    true_depth = ((-6.0 - pose[2, 3]) / (rays @ pose[2, :3])).astype(np.float32)
    image = _texture(seed=6)
    exact = warp.warp_3d(image, k_source=k, k_target=k, pose=pose, target_depth=true_depth)
    estimated = warp.warp_3d(image, k_source=k, k_target=k, pose=pose, source_depth=source_depth)
    np.testing.assert_allclose(estimated.target_depth, true_depth, rtol=1e-3)
    both = exact.valid & estimated.valid
    assert both.mean() > 0.8
    assert np.abs(exact.image.astype(int) - estimated.image.astype(int))[both].max() <= 2


def test_warp_to_frame_uses_the_tracks_cameras_and_refuses_a_cut() -> None:
    size = RenderSize(WIDTH, HEIGHT)
    second = np.eye(4)
    second[:3, 3] = (0.0, 0.0, -1.0)
    track = CameraTrack(
        frames=[1, 2, 3],
        matrices=np.stack([np.eye(4), second, second]),
        cameras=[CameraData(lens=35)] * 3,
        size=size,
        cuts=[3],
    )
    depth = np.full((HEIGHT, WIDTH), 4.0, np.float32)
    result = warp.warp_to_frame(_texture(), track, 2, target_depth=depth)
    direct = warp.warp_3d(
        _texture(),
        k_source=_k(),
        k_target=_k(),
        pose=relative_pose(np.eye(4), second),
        target_depth=depth,
    )
    assert np.array_equal(result.image, direct.image)
    with pytest.raises(DeforumInputError, match="cut"):
        warp.warp_to_frame(_texture(), track, 3, target_depth=depth)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.nan, "NaN, infinite, zero or negative"),
        (np.inf, "NaN, infinite, zero or negative"),
        (0.0, "NaN, infinite, zero or negative"),
        (-1.0, "NaN, infinite, zero or negative"),
    ],
)
def test_bad_depth_values_name_the_problem(bad: float, message: str) -> None:
    depth = np.full((HEIGHT, WIDTH), 3.0, np.float32)
    depth[5, 7] = bad
    with pytest.raises(DeforumInputError, match=message) as error:
        warp.warp_3d(_texture(), k_source=_k(), k_target=_k(), pose=np.eye(4), target_depth=depth)
    assert "(5, 7)" in str(error.value)


def test_depth_of_another_size_is_refused_before_opencv_sees_it() -> None:
    with pytest.raises(DeforumInputError, match=r"\(24, 32\).*frame is \(48, 64\)"):
        warp.warp_3d(
            _texture(),
            k_source=_k(),
            k_target=_k(),
            pose=np.eye(4),
            target_depth=np.ones((24, 32), np.float32),
        )


def test_non_perspective_intrinsics_are_refused() -> None:
    orthographic = np.array([[10.0, 0, 32], [0, 10.0, 24], [0, 0, 0]])
    with pytest.raises(DeforumInputError, match="perspective"):
        warp.reprojection_maps(np.ones((HEIGHT, WIDTH)), orthographic, _k(), np.eye(4))


def test_unknown_sampling_and_padding_names_list_the_choices() -> None:
    maps = warp.reprojection_maps(np.ones((HEIGHT, WIDTH)), _k(), _k(), np.eye(4))
    with pytest.raises(DeforumInputError, match="bicubic, bilinear, nearest"):
        warp.remap(_texture(), maps.map_x, maps.map_y, sampling="lanczos")
    with pytest.raises(DeforumInputError, match="border, reflection, zeros, wrap"):
        warp.remap(_texture(), maps.map_x, maps.map_y, padding="mirror")


def test_missing_depth_says_which_depth_sources_exist() -> None:
    with pytest.raises(DeforumInputError, match="'scene', 'estimated' or 'flat'"):
        warp.warp_3d(_texture(), k_source=_k(), k_target=_k(), pose=np.eye(4))


# --- Deforum 2D ------------------------------------------------------------------------


def _marker(x: int, y: int) -> np.ndarray:
    image = np.zeros((HEIGHT, WIDTH), np.uint8)
    image[y, x] = 255
    return image


def _where(image: np.ndarray) -> tuple[float, float]:
    rows, columns = np.nonzero(image > 0)
    weights = image[rows, columns].astype(float)
    return float(np.average(columns, weights=weights)), float(np.average(rows, weights=weights))


def test_neutral_2d_motion_leaves_the_frame_unchanged() -> None:
    image = _texture()
    assert np.array_equal(warp.warp_2d(image, warp.Motion2D()), image)


def test_2d_translation_moves_content_right_and_down() -> None:
    out = warp.warp_2d(_marker(20, 20), warp.Motion2D(translation_x=5, translation_y=3))
    assert _where(out) == pytest.approx((25, 23), abs=0.01)


def test_2d_positive_angle_turns_content_counter_clockwise() -> None:
    centre_x, centre_y = WIDTH / 2, HEIGHT / 2
    out = warp.warp_2d(_marker(int(centre_x) + 10, int(centre_y)), warp.Motion2D(angle=90))
    x, y = _where(out)
    assert x == pytest.approx(centre_x, abs=1.0) and y == pytest.approx(centre_y - 10, abs=1.0)


def test_2d_zoom_above_one_zooms_in_about_the_transform_centre() -> None:
    motion = warp.Motion2D(zoom=2.0, transform_center_x=0.25, transform_center_y=0.5)
    out = warp.warp_2d(_marker(20, 24), motion)
    assert _where(out) == pytest.approx((2 * 20 - 16, 24), abs=0.6)


def test_2d_wrap_border_brings_content_round_from_the_other_side() -> None:
    image = _texture()
    shifted = warp.warp_2d(image, warp.Motion2D(translation_x=10), border="wrap")
    assert np.array_equal(shifted, np.roll(image, 10, axis=1))
    replicated = warp.warp_2d(image, warp.Motion2D(translation_x=10), border="replicate")
    assert np.array_equal(replicated[:, :10], np.repeat(image[:, :1], 10, axis=1))


def test_flat_perspective_flip_is_the_identity_and_tilting_it_is_not() -> None:
    identity = warp.perspective_flip_matrix(WIDTH, HEIGHT, warp.PerspectiveFlip())
    np.testing.assert_allclose(identity, np.eye(3), atol=1e-4)
    tilted = warp.perspective_flip_matrix(WIDTH, HEIGHT, warp.PerspectiveFlip(phi=20))
    assert abs(tilted[2, 1]) > 1e-4


def test_perspective_flip_keeps_the_translation_that_deforum_drops() -> None:
    motion = warp.Motion2D(translation_x=7)
    flip = warp.PerspectiveFlip()
    matrix = warp.deforum_2d_matrix(WIDTH, HEIGHT, motion, flip)
    assert matrix[0, 2] / matrix[2, 2] == pytest.approx(7, abs=1e-3)


def test_non_positive_zoom_is_refused() -> None:
    with pytest.raises(DeforumInputError, match="zoom"):
        warp.warp_2d(_texture(), warp.Motion2D(zoom=0))


@pytest.mark.parametrize("sampling", ["bicubic", "bilinear", "nearest"])
def test_wrap_padding_brings_a_translated_image_round_exactly_on_cpu_and_torch(
    sampling: str,
) -> None:
    image = _texture()
    columns, rows = _pixel_grid()
    map_x, map_y = (columns - 10).astype(np.float32), (rows + 7).astype(np.float32)
    expected = np.roll(np.roll(image, 10, axis=1), -7, axis=0)
    on_cpu = warp.remap(image, map_x, map_y, sampling=sampling, padding="wrap")
    assert np.array_equal(on_cpu, expected)
    through_torch = warp.remap_torch(
        image, map_x, map_y, sampling=sampling, padding="wrap", device="cpu"
    )
    assert np.array_equal(through_torch, expected)


def test_wrap_padding_agrees_between_cv2_and_torch_at_fractional_positions() -> None:
    image = _texture()
    columns, rows = _pixel_grid()
    map_x, map_y = (columns * 1.1 - 20.3).astype(np.float32), (rows * 0.9 + 30.6).astype(np.float32)
    on_cpu = warp.remap(image, map_x, map_y, sampling="bilinear", padding="wrap")
    through_torch = warp.remap_torch(
        image, map_x, map_y, sampling="bilinear", padding="wrap", device="cpu"
    )
    difference = np.abs(on_cpu.astype(int) - through_torch.astype(int))
    # OpenCV interpolates in fixed point (1/32 pixel): a level or so apart, nowhere more.
    assert difference.max() <= 3 and difference.mean() < 0.5
