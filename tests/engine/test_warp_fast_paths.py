"""The CPU warp's shortcuts give the pixels of the per-pixel maps they replace.

Flat depth (2D mode and ``depth_source`` 'flat') is one homography: ``cv2.warpPerspective``
instead of reprojection maps and ``cv2.remap``. Both quantise sample positions to 1/32 pixel
from float maps computed in different orders, so a frame whose neighbouring pixels differ by
less than 32 grey levels comes out within one grey level.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deforum_blender.core.camera import DEFAULT_SCENE_DEPTH, RenderSize, camera_track_from_deforum
from deforum_blender.engine import warp

WIDTH, HEIGHT = 96, 64


def _smooth_frame(seed: int = 0) -> np.ndarray:
    """Colour blobs with steep but finite gradients (under 32 grey levels per pixel)."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (HEIGHT, WIDTH, 3)).astype(np.float32), (0, 0), 4)
    frame = np.clip(128 + noise * (40 / noise.std()), 0, 255).round().astype(np.uint8)
    assert max(np.abs(np.diff(frame.astype(int), axis=a)).max() for a in (0, 1)) < 32
    return frame


def _k() -> np.ndarray:
    return np.array([[0.9 * WIDTH, 0, WIDTH / 2 + 3], [0, 0.9 * WIDTH, HEIGHT / 2 - 2], [0, 0, 1]])


def _random_pose(rng: np.random.Generator) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = cv2.Rodrigues(rng.normal(0, 0.05, 3))[0]
    pose[:3, 3] = rng.normal(0, 0.3, 3)
    return pose


def _maps_path(image: np.ndarray, depth: np.ndarray, pose: np.ndarray, **modes: str):
    maps = warp.reprojection_maps(depth, _k(), _k(), pose)
    return warp.remap(image, maps.map_x, maps.map_y, **modes), maps.in_view


@pytest.mark.parametrize("sampling", ["bicubic", "bilinear"])
@pytest.mark.parametrize("padding", warp.REMAP_PADDINGS)
def test_flat_depth_warp_is_the_maps_warp_within_one_grey_level(sampling, padding) -> None:
    rng = np.random.default_rng(3)
    frame = _smooth_frame()
    for _ in range(8):
        pose = _random_pose(rng)
        depth = np.full((HEIGHT, WIDTH), rng.uniform(1.0, 6.0), np.float32)
        result = warp.warp_3d(
            frame, k_source=_k(), k_target=_k(), pose=pose, target_depth=depth,
            sampling=sampling, padding=padding,
        )  # fmt: skip
        expected, in_view = _maps_path(frame, depth, pose, sampling=sampling, padding=padding)
        assert np.abs(result.image.astype(int) - expected).max() <= 1
        np.testing.assert_array_equal(result.valid, in_view)
        np.testing.assert_array_equal(result.target_depth, depth)


@pytest.mark.parametrize("shift", [0.5, -0.5, 0.25, 3.5, -1.5])
def test_in_view_mask_of_a_homography_matches_the_maps_at_half_pixel_shifts(shift) -> None:
    # A sideways move of `shift` pixels at the plane: with ±0.5 the edge column samples
    # exactly on the bound (in view, as in the maps); with 3.5 and -1.5 columns fall out.
    depth = np.full((HEIGHT, WIDTH), 4.0, np.float32)
    pose = np.eye(4)
    pose[0, 3] = shift * 4.0 / _k()[0, 0]
    _, in_view = _maps_path(_smooth_frame(), depth, pose)
    matrix = warp.plane_homography(4.0, _k(), _k(), pose)
    np.testing.assert_array_equal(warp.homography_in_view(matrix, (HEIGHT, WIDTH)), in_view)
    assert in_view.all() == (abs(shift) <= 0.5)


def test_zoomed_out_rows_outside_the_source_are_wholly_invalid() -> None:
    # Dolly far back and pan: whole rows and columns of the target see past the source's edge.
    depth = np.full((HEIGHT, WIDTH), 4.0, np.float32)
    pose = np.eye(4)
    pose[:3, 3] = (0.3, 0.4, 2.0)
    result = warp.warp_3d(frame := _smooth_frame(), k_source=_k(), k_target=_k(), pose=pose,
                          target_depth=depth)  # fmt: skip
    expected, in_view = _maps_path(frame, depth, pose)
    np.testing.assert_array_equal(result.valid, in_view)
    assert (~in_view).all(axis=1).any() and (~in_view).all(axis=0).any() and in_view.any()
    assert np.abs(result.image.astype(int) - expected).max() <= 1


def test_plane_partly_behind_the_source_camera_keeps_the_maps() -> None:
    # Turned 80° about the vertical: part of the target's plane is behind the source camera,
    # where a homography would mirror content back into view; the maps send it to padding.
    depth = np.full((HEIGHT, WIDTH), 2.0, np.float32)
    pose = np.eye(4)
    pose[:3, :3] = cv2.Rodrigues(np.array([0.0, np.radians(80.0), 0.0]))[0]
    frame = _smooth_frame()
    result = warp.warp_3d(frame, k_source=_k(), k_target=_k(), pose=pose, target_depth=depth)
    expected, in_view = _maps_path(frame, depth, pose)
    maps = warp.reprojection_maps(depth, _k(), _k(), pose)
    assert (maps.source_depth <= 0).any()
    np.testing.assert_array_equal(result.image, expected)
    np.testing.assert_array_equal(result.valid, in_view)


def test_nearest_sampling_keeps_the_maps_exactly() -> None:
    rng = np.random.default_rng(5)
    frame = _smooth_frame(1)
    for _ in range(4):
        pose = _random_pose(rng)
        depth = np.full((HEIGHT, WIDTH), 3.0, np.float32)
        result = warp.warp_3d(
            frame, k_source=_k(), k_target=_k(), pose=pose, target_depth=depth, sampling="nearest"
        )
        expected, _ = _maps_path(frame, depth, pose, sampling="nearest")
        np.testing.assert_array_equal(result.image, expected)


def test_non_flat_or_invalid_depth_is_not_taken_for_a_plane() -> None:
    depth = np.full((HEIGHT, WIDTH), 3.0, np.float32)
    assert warp._flat_depth(depth, (HEIGHT, WIDTH)) is not None
    assert warp._flat_depth(depth[:, :, None], (HEIGHT, WIDTH)) is not None
    stepped = depth.copy()
    stepped[-1, -1] = 3.0001
    assert warp._flat_depth(stepped, (HEIGHT, WIDTH)) is None
    assert warp._flat_depth(np.full_like(depth, np.nan), (HEIGHT, WIDTH)) is None
    assert warp._flat_depth(np.zeros_like(depth), (HEIGHT, WIDTH)) is None
    assert warp._flat_depth(depth[:-1], (HEIGHT, WIDTH)) is None


@pytest.mark.parametrize("padding", ["border", "reflection", "wrap"])
def test_2d_mode_through_the_homography_is_the_maps_warp(padding) -> None:
    # 2D motion is a camera over a plane at the scene depth (bilinear, replicate or wrap).
    values = {
        "angle": [0.0, 2.0],
        "zoom": [1.0, 1.03],
        "translation_x": [0.0, 3.5],
        "translation_y": [0.0, -2.0],
        "transform_center_x": [0.5, 0.3],
        "transform_center_y": [0.5, 0.6],
    }
    track = camera_track_from_deforum(
        values, 2, animation_mode="2D", size=RenderSize(WIDTH, HEIGHT), frame_start=0
    )
    frame = _smooth_frame(2)
    depth = np.full((HEIGHT, WIDTH), DEFAULT_SCENE_DEPTH, np.float32)
    result = warp.warp_to_frame(
        frame, track, 1, target_depth=depth, sampling="bilinear", padding=padding
    )
    pose = track.relative_pose(1)
    maps = warp.reprojection_maps(depth, track.intrinsics(0), track.intrinsics(1), pose)
    expected = warp.remap(frame, maps.map_x, maps.map_y, sampling="bilinear", padding=padding)
    assert np.abs(result.image.astype(int) - expected).max() <= 1
    np.testing.assert_array_equal(result.valid, maps.in_view)


# --- The target depth estimated from the source depth alone -----------------------------

_FLIP = np.diag([1.0, -1.0, -1.0])


def _surface(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A smooth bumpy surface's depth in the source camera at pixel index (u, v)."""
    return 4.0 + 0.8 * np.sin(u / 23.0) * np.cos(v / 17.0)


def _true_target_depth(pose: np.ndarray) -> np.ndarray:
    """The target depth of ``_surface`` at every target pixel: the continuous fixed point,
    in float64 with the surface evaluated exactly (no pixel sampling)."""
    a, b = warp._source_projection(_k(), _k(), pose)
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH] + 0.5
    pixels = np.stack([columns, rows, np.ones_like(rows)], axis=-1)
    unproject = _FLIP @ np.linalg.inv(_k())
    guess = _surface(columns - 0.5, rows - 0.5)
    for _ in range(200):
        source = guess[..., None] * (pixels @ a.T) + b
        su, sv = source[..., 0] / source[..., 2] + 0.5, source[..., 1] / source[..., 2] + 0.5
        point = _surface(su - 0.5, sv - 0.5)[..., None] * (
            np.stack([su, sv, np.ones_like(su)], axis=-1) @ unproject.T
        )
        guess = -((point - pose[:3, 3]) @ pose[:3, :3])[..., 2]
    return guess


def _per_pass_reprojection(depth_s: np.ndarray, pose: np.ndarray, iterations: int = 4):
    """The estimate as first written: full reprojection maps every pass."""
    inverse_pose = np.linalg.inv(pose)
    c = (_FLIP @ inverse_pose[:3, :3] @ _FLIP @ np.linalg.inv(_k()))[2]
    d = float((_FLIP @ inverse_pose[:3, 3])[2])
    guess = depth_s.copy()
    for _ in range(iterations):
        maps = warp.reprojection_maps(guess, _k(), _k(), pose, checked=True)
        sampled = cv2.remap(
            depth_s, maps.map_x, maps.map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE
        )
        ray = c[0] * (maps.map_x + 0.5) + c[1] * (maps.map_y + 0.5) + c[2]
        new = (sampled * ray + d).astype(np.float32)
        np.copyto(guess, new, where=new > 1e-6 * sampled)
    return guess


def test_estimated_target_depth_is_the_per_pass_reprojection_to_float_rounding() -> None:
    # The estimate samples the source depth at the nearest pixel (no blending across depth
    # edges), so on a smooth surface it is about 0.1 % off (1 % at the 99th percentile).
    # Building the maps from precomputed ramps rounds differently: 99.9 % of pixels agree
    # to 1e-5; the others took the neighbouring pixel at a tie, no further from the truth.
    rng = np.random.default_rng(2)
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    depth = _surface(columns, rows).astype(np.float32)
    for _ in range(6):
        pose = np.eye(4)
        pose[:3, :3] = cv2.Rodrigues(rng.normal(0, 0.01, 3))[0]
        pose[:3, 3] = rng.normal(0, 0.05, 3)
        truth = _true_target_depth(pose)
        estimate = warp.estimate_target_depth(depth, _k(), _k(), pose)
        before = _per_pass_reprojection(depth, pose)
        assert np.mean(np.abs(estimate - before) / before > 1e-5) <= 1e-3
        error, error_before = np.abs(estimate - truth) / truth, np.abs(before - truth) / truth
        for q in (0.5, 0.99, 1.0):
            assert np.quantile(error, q) <= np.quantile(error_before, q) + 1e-5
        assert np.quantile(error, 0.99) < 0.03


def test_estimated_depth_keeps_its_guess_where_points_pass_behind_the_target_camera() -> None:
    # A big step forward: the nearest source points end up behind the target camera.
    depth = np.full((HEIGHT, WIDTH), 3.0, np.float32)
    depth[:, : WIDTH // 2] = 0.5
    pose = np.eye(4)
    pose[2, 3] = -1.0
    estimate = warp.estimate_target_depth(depth, _k(), _k(), pose)
    assert np.isfinite(estimate).all() and (estimate > 0).all()
    np.testing.assert_allclose(estimate[:, -5:], 2.0, rtol=1e-5)
