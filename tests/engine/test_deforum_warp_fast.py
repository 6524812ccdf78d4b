"""Deforum's 3D warp on the CPU: the faster maps and depth equalisation give the same values
as the formulas they replace (written out here as Deforum's code reads)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from deforum_blender.engine import deforum_warp as dw


def _reference_maps(z: np.ndarray, motion: dw.DeforumMotion, fov: float, aspect: float):
    depth = np.asarray(z, dtype=np.float64)
    height, width = depth.shape
    x = np.linspace(-1.0, 1.0, width)[None, :]
    y = np.linspace(-1.0, 1.0, height)[:, None]
    r, t = motion.rotation, motion.translation
    new_x = x * r[0, 0] + y * r[1, 0] + depth * r[2, 0] + t[0]
    new_y = x * r[0, 1] + y * r[1, 1] + depth * r[2, 1] + t[1]
    new_z = x * r[0, 2] + y * r[1, 2] + depth * r[2, 2] + t[2]
    focal = math.tan(math.radians(fov) / 2.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        offset_x = new_x / (focal * aspect * new_z) - x / (focal * aspect * depth)
        offset_y = new_y / (focal * new_z) - y / (focal * depth)
    map_x = np.arange(width)[None, :] - offset_x * (width / 2.0)
    map_y = np.arange(height)[:, None] - offset_y * (height / 2.0)
    map_x = np.where(np.isfinite(map_x), map_x, -2.0 * width)
    map_y = np.where(np.isfinite(map_y), map_y, -2.0 * height)
    return (
        np.clip(map_x, -4.0 * width, 4.0 * width).astype(np.float32),
        np.clip(map_y, -4.0 * height, 4.0 * height).astype(np.float32),
    )


def _depths(height: int = 48, width: int = 80) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0.1, 1.0, (4, 5)).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return {
        "flat": np.ones((height, width), np.float32),
        "flat_1.5": np.full((height, width), 1.5, np.float32),
        "equalised": dw.deforum_depth(smooth),
    }


@pytest.mark.parametrize("depth_name", ["flat", "flat_1.5", "equalised"])
def test_deforum_maps_are_the_formula_to_float32_rounding(depth_name: str) -> None:
    z = _depths()[depth_name]
    rng = np.random.default_rng(1)
    for _ in range(6):
        motion = dw.DeforumMotion.from_schedules(*rng.normal(0, 3, 6))
        fov = float(rng.uniform(30, 90))
        got = dw.deforum_maps(z, motion, fov=fov, aspect=80 / 48)
        expected = _reference_maps(z, motion, fov, 80 / 48)
        for a, b in zip(got, expected, strict=True):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_a_point_on_the_camera_plane_still_goes_to_the_padding() -> None:
    # Moving forward by the whole depth puts every point on the new camera's plane.
    z = np.ones((24, 32), np.float32)
    motion = dw.DeforumMotion.from_schedules(0.0, 0.0, 200.0, 0.0, 0.0, 0.0)
    got = dw.deforum_maps(z, motion, fov=40.0, aspect=32 / 24)
    expected = _reference_maps(z, motion, 40.0, 32 / 24)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert (got[0] == -64.0).all()


def _reference_depth(prediction: np.ndarray, inverse: bool) -> np.ndarray:
    values = np.asarray(prediction, dtype=np.float64)
    unit = (values - values.min()) / (values.max() - values.min())
    counts, edges = np.histogram(unit, bins=dw.DEPTH_BINS, range=(0.0, 1.0))
    equalised = np.interp(unit, edges[:-1], np.cumsum(counts) / unit.size)
    return np.asarray(2.0 - equalised if inverse else equalised + 1.0, dtype=np.float32)


@pytest.mark.parametrize("inverse", [True, False])
def test_depth_equalisation_is_numpys_histogram_and_interp_bit_for_bit(inverse: bool) -> None:
    rng = np.random.default_rng(2)
    predictions = [
        rng.uniform(0, 1, (48, 64)),
        rng.normal(size=(33, 17)) ** 3,  # long tails: most values in a few bins
        rng.integers(0, 5, (20, 30)).astype(np.float64),  # ties on bin edges
        np.linspace(0.0, 1.0, 1025)[None, :] * np.ones((3, 1)),  # every edge itself
    ]
    for prediction in predictions:
        np.testing.assert_array_equal(
            dw.deforum_depth(prediction, inverse=inverse), _reference_depth(prediction, inverse)
        )


def _smooth_frame(height: int = 48, width: int = 80) -> np.ndarray:
    """Colours whose neighbouring pixels differ by far less than 32 levels."""
    rows, columns = np.mgrid[0:height, 0:width]
    channels = [127 + 100 * np.sin(columns / 9.0 + c) * np.cos(rows / 7.0 - c) for c in range(3)]
    return np.stack(channels, axis=-1).astype(np.uint8)


@pytest.mark.parametrize("padding", ["border", "reflection", "zeros", "wrap"])
@pytest.mark.parametrize("sampling", ["bicubic", "bilinear"])
def test_a_flat_warp_without_a_turn_about_x_or_y_is_one_affine_warp_within_a_level(
    sampling: str, padding: str
) -> None:
    frame, z = _smooth_frame(), _depths()["flat_1.5"]
    rng = np.random.default_rng(2)
    for _ in range(4):
        tx, ty, tz, rz = rng.normal(0, 4, 4)
        motion = dw.DeforumMotion.from_schedules(tx, ty, 3 * tz, 0.0, 0.0, rz)
        assert dw.flat_affine(z, motion, fov=40.0, aspect=80 / 48) is not None
        got = dw.warp_deforum_3d(frame, z, motion, fov=40.0, aspect=80 / 48, sampling=sampling,
                                 padding=padding)  # fmt: skip
        map_x, map_y = _reference_maps(z, motion, 40.0, 80 / 48)
        flags = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR}[sampling]
        border = {"border": cv2.BORDER_REPLICATE, "reflection": cv2.BORDER_REFLECT,
                  "zeros": cv2.BORDER_CONSTANT, "wrap": cv2.BORDER_WRAP}[padding]  # fmt: skip
        expected = cv2.remap(frame, map_x, map_y, flags, borderMode=border)
        assert np.abs(got.image.astype(int) - expected.astype(int)).max() <= 1
        in_view = (map_x >= -0.5) & (map_x <= 79.5) & (map_y >= -0.5) & (map_y <= 47.5)
        np.testing.assert_array_equal(got.valid, in_view)
        np.testing.assert_array_equal(got.target_depth, z)


def test_a_turn_about_x_or_y_or_a_depth_map_keeps_deforums_maps() -> None:
    flat, shaped = _depths()["flat"], _depths()["equalised"]
    turn = dw.DeforumMotion.from_schedules(1.0, 0.0, 5.0, 0.0, 0.5, 0.0)
    dolly = dw.DeforumMotion.from_schedules(1.0, 0.0, 5.0, 0.0, 0.0, 2.0)
    assert dw.flat_affine(flat, turn, fov=40.0, aspect=1.0) is None
    assert dw.flat_affine(shaped, dolly, fov=40.0, aspect=1.0) is None
    assert dw.flat_affine(flat, dolly, fov=40.0, aspect=1.0) is not None
    on_the_camera_plane = dw.DeforumMotion.from_schedules(0.0, 0.0, 200.0, 0.0, 0.0, 0.0)
    assert dw.flat_affine(flat, on_the_camera_plane, fov=40.0, aspect=1.0) is None
