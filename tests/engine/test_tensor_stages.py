"""The key-frame stages on torch tensors (CPU torch here) against the numpy stages."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from deforum_blender.core.camera import relative_pose
from deforum_blender.engine import tensor_stages as ts
from deforum_blender.engine.adjust import adjust_contrast, unsharp_mask
from deforum_blender.engine.coherence import ColorMatcher, _cdfs, _to_space
from deforum_blender.engine.deforum_warp import DeforumMotion, deforum_maps, warp_deforum_3d
from deforum_blender.engine.noise import add_noise, noise_image
from deforum_blender.engine.warp import (
    estimate_target_depth,
    remap_torch,
    reprojection_maps,
    warp_3d,
)

torch = pytest.importorskip("torch")

Image = np.ndarray[Any, Any]


def smooth_image(height: int = 48, width: int = 64, seed: int = 3) -> Image:
    """A photo-like frame: smooth colour fields plus a little grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            120 + 90 * np.sin(x / 7.0),
            110 + 80 * np.cos(y / 5.0 + x / 11.0),
            100 + 70 * np.sin((x + y) / 9.0),
        ],
        axis=-1,
    )
    noisy = base + rng.normal(0, 6, base.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def on_device(image: Image) -> Any:
    return ts.upload(image, "cpu")


def max_difference(tensor: Any, expected: Image) -> int:
    got = tensor.numpy().astype(np.int16)
    assert got.shape == expected.shape and tensor.dtype == torch.uint8
    return int(np.abs(got - expected.astype(np.int16)).max())


def camera(width: int, height: int) -> np.ndarray[Any, Any]:
    focal = 1.1 * width
    return np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def moved_pose() -> np.ndarray[Any, Any]:
    angle = np.radians(2.0)
    source = np.eye(4)
    target = np.eye(4)
    target[:3, :3] = [
        [np.cos(angle), 0, np.sin(angle)],
        [0, 1, 0],
        [-np.sin(angle), 0, np.cos(angle)],
    ]
    target[:3, 3] = (0.05, -0.02, -0.1)
    return relative_pose(source, target)


def depth_map(height: int, width: int) -> np.ndarray[Any, Any]:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return (3.0 + np.sin(x / 9.0) + 0.5 * np.cos(y / 6.0)).astype(np.float32)


@pytest.mark.parametrize("sampling", ["bicubic", "bilinear", "nearest"])
@pytest.mark.parametrize("padding", ["border", "reflection", "zeros", "wrap"])
def test_3d_warp_is_the_engines_grid_sample_warp(sampling: str, padding: str) -> None:
    # The numpy path on a GPU samples with remap_torch: the resident warp gives its pixels.
    image = smooth_image()
    height, width = image.shape[:2]
    k, pose, depth = camera(width, height), moved_pose(), depth_map(height, width)
    maps = reprojection_maps(depth, k, k, pose)
    expected = remap_torch(
        image, maps.map_x, maps.map_y, sampling=sampling, padding=padding, device="cpu"
    )
    got = ts.warp_3d(
        on_device(image),
        k_source=k,
        k_target=k,
        pose=pose,
        target_depth=torch.from_numpy(depth),
        source_depth=None,
        sampling=sampling,
        padding=padding,
    )
    assert max_difference(got, expected) == 0


@pytest.mark.parametrize("sampling", ["bicubic", "bilinear"])
@pytest.mark.parametrize("padding", ["border", "reflection"])
def test_3d_warp_is_within_a_grey_level_of_opencv(sampling: str, padding: str) -> None:
    image = smooth_image()
    height, width = image.shape[:2]
    k, pose, depth = camera(width, height), moved_pose(), depth_map(height, width)
    expected = warp_3d(
        image,
        k_source=k,
        k_target=k,
        pose=pose,
        target_depth=depth,
        sampling=sampling,
        padding=padding,
    ).image
    got = ts.warp_3d(
        on_device(image),
        k_source=k,
        k_target=k,
        pose=pose,
        target_depth=torch.from_numpy(depth),
        source_depth=None,
        sampling=sampling,
        padding=padding,
    )
    assert max_difference(got, expected) <= 1


def test_3d_warp_from_source_depth_alone_estimates_the_target_depth() -> None:
    image = smooth_image()
    height, width = image.shape[:2]
    k, pose, depth = camera(width, height), moved_pose(), depth_map(height, width)
    target = estimate_target_depth(depth, k, k, pose)
    maps = reprojection_maps(target, k, k, pose)
    expected = remap_torch(image, maps.map_x, maps.map_y, sampling="bicubic", device="cpu")
    got = ts.warp_3d(
        on_device(image),
        k_source=k,
        k_target=k,
        pose=pose,
        target_depth=None,
        source_depth=torch.from_numpy(depth),
        sampling="bicubic",
        padding="border",
    )
    assert max_difference(got, expected) <= 1


def test_reprojection_maps_match_the_numpy_maps() -> None:
    height, width = 40, 56
    k, pose, depth = camera(width, height), moved_pose(), depth_map(height, width)
    expected = reprojection_maps(depth, k, k, pose)
    map_x, map_y = ts.reprojection_maps(torch.from_numpy(depth), k, k, pose)
    np.testing.assert_allclose(map_x.numpy(), expected.map_x, atol=1e-3)
    np.testing.assert_allclose(map_y.numpy(), expected.map_y, atol=1e-3)


def test_estimated_target_depth_matches_the_numpy_iteration() -> None:
    height, width = 40, 56
    k, pose, depth = camera(width, height), moved_pose(), depth_map(height, width)
    expected = estimate_target_depth(depth, k, k, pose)
    got = ts.estimate_target_depth(torch.from_numpy(depth), k, k, pose).numpy()
    close = np.isclose(got, expected, rtol=1e-4)
    assert close.mean() > 0.995  # a nearest sample may fall the other side of a tie


def test_deforum_3d_warp_is_within_a_grey_level() -> None:
    image = smooth_image()
    height, width = image.shape[:2]
    z = (1.0 + 0.4 * np.linspace(0, 1, width)[None, :] * np.ones((height, 1))).astype(np.float32)
    motion = DeforumMotion.from_schedules(3.0, -2.0, 4.0, 1.0, 0.5, 2.0)
    expected = warp_deforum_3d(image, z, motion, fov=40.0, aspect=width / height).image
    got = ts.warp_deforum_3d(
        on_device(image),
        torch.from_numpy(z),
        motion,
        fov=40.0,
        aspect=width / height,
        sampling="bicubic",
        padding="border",
    )
    assert max_difference(got, expected) <= 1


@pytest.mark.parametrize("flat", [True, False])
def test_deforum_maps_are_the_numpy_maps_bit_for_bit(flat: bool) -> None:
    height, width = 40, 56
    z = np.ones((height, width), np.float32)
    if not flat:
        z += (0.5 * np.linspace(0, 1, width)[None, :] * np.ones((height, 1))).astype(np.float32)
    motion = DeforumMotion.from_schedules(3.0, -2.0, 4.0, 1.0, 0.5, 2.0)
    expected = deforum_maps(z, motion, fov=40.0, aspect=1.4)
    got = ts.deforum_maps(
        torch.from_numpy(z), motion, fov=40.0, aspect=1.4, flat=1.0 if flat else None
    )
    for map_got, map_expected in zip(got, expected, strict=True):
        np.testing.assert_array_equal(map_got.numpy(), map_expected)


@pytest.mark.parametrize("mode", ["LAB", "HSV", "RGB"])
def test_colour_match_is_bitwise_the_numpy_match(mode: str) -> None:
    reference, image = smooth_image(seed=1), smooth_image(seed=2)[::-1].copy()
    image = np.clip(image.astype(np.int16) * 3 // 4 + 40, 0, 255).astype(np.uint8)
    expected = ColorMatcher(reference, mode).apply(image)
    cdfs = _cdfs(_to_space(reference, mode))
    got = ts.TensorColorMatcher(cdfs, mode, "cpu").apply(on_device(image))
    assert max_difference(got, expected) == 0


def test_colour_conversions_are_opencvs_bit_for_bit() -> None:
    import cv2

    image = smooth_image()
    for name in ("COLOR_RGB2LAB", "COLOR_LAB2RGB", "COLOR_RGB2HSV", "COLOR_HSV2RGB"):
        expected = cv2.cvtColor(image, getattr(cv2, name))
        assert max_difference(ts.convert(on_device(image), name), expected) == 0


@pytest.mark.parametrize("contrast", [0.0, 0.9, 1.0, 1.1, 1.7])
def test_contrast_is_bitwise_the_numpy_contrast(contrast: float) -> None:
    image = smooth_image()
    expected = adjust_contrast(image, contrast)
    assert max_difference(ts.adjust_contrast(on_device(image), contrast), expected) == 0


@pytest.mark.parametrize(
    ("amount", "kernel", "sigma", "threshold"),
    [
        (0.5, 5, 1.0, 0.0),
        (1.0, 3, 0.8, 0.0),
        (0.3, 0, 1.2, 0.0),
        (0.8, 5, 1.0, 4.0),
        (0.0, 5, 1, 0),
    ],
)
def test_unsharp_mask_is_bitwise_the_numpy_unsharp_mask(
    amount: float, kernel: int, sigma: float, threshold: float
) -> None:
    image = smooth_image()
    expected = unsharp_mask(image, amount, kernel, sigma, threshold)
    got = ts.unsharp_mask(on_device(image), amount, kernel, sigma, threshold)
    assert max_difference(got, expected) == 0


@pytest.mark.parametrize("noise_type", ["perlin", "uniform"])
@pytest.mark.parametrize("amount", [0.0, 0.02, 0.3])
def test_noise_blend_is_bitwise_the_numpy_noise(noise_type: str, amount: float) -> None:
    image = smooth_image()
    height, width = image.shape[:2]
    expected = add_noise(image, amount, 77, 5, noise_type=noise_type)
    noise = noise_image((height, width), 77, 5, noise_type)
    got = ts.blend_noise(on_device(image), ts.host_to_device(noise, "cpu"), amount)
    assert max_difference(got, expected) == 0
