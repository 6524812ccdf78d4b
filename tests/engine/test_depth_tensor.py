"""Estimated depth on the torch device (CPU torch here) against the host path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.engine import depth_tensor
from deforum_blender.engine.deforum_warp import deforum_depth
from deforum_blender.engine.depth import load_depth_estimator, relative_to_depth

torch = pytest.importorskip("torch")


def prediction(height: int = 48, width: int = 64) -> np.ndarray[Any, Any]:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(2)
    values = 4.0 + np.sin(x / 7.0) + np.cos(y / 5.0) + rng.normal(0, 0.05, (height, width))
    return values.astype(np.float32)


@pytest.mark.parametrize("inverse", [True, False])
def test_deforum_depth_is_the_numpy_normalisation_bit_for_bit(inverse: bool) -> None:
    values = prediction()
    got = depth_tensor.deforum_depth(torch.from_numpy(values), inverse=inverse)
    np.testing.assert_array_equal(got.numpy(), deforum_depth(values, inverse=inverse))


@pytest.mark.parametrize("kind", ["constant", "nan"])
def test_a_flat_or_broken_prediction_is_deforums_flat_z(kind: str) -> None:
    values = np.full((8, 8), 3.0, np.float32)
    if kind == "nan":
        values = prediction(8, 8)
        values[2, 3] = np.nan
    got = depth_tensor.deforum_depth(torch.from_numpy(values))
    np.testing.assert_array_equal(got.numpy(), deforum_depth(values))
    np.testing.assert_array_equal(got.numpy(), np.ones((8, 8), np.float32))


def test_relative_to_depth_is_the_numpy_conversion_bit_for_bit() -> None:
    values = prediction()
    got = depth_tensor.relative_to_depth(torch.from_numpy(values))
    np.testing.assert_array_equal(got.numpy(), relative_to_depth(values))


@pytest.mark.parametrize(
    ("size", "keep", "multiple", "frame", "expected"),
    [
        ((518, 518), True, 14, (512, 512), (518, 518)),
        ((518, 518), True, 14, (576, 1024), (518, 924)),
        ((384, 384), False, 32, (576, 1024), (384, 384)),
        ((32, 32), False, 16, (64, 64), (32, 32)),
    ],
)
def test_the_resize_size_is_dpts(
    size: tuple[int, int],
    keep: bool,
    multiple: int,
    frame: tuple[int, int],
    expected: tuple[int, int],
) -> None:
    class Processor:
        pass

    processor = Processor()
    processor.size = {"height": size[0], "width": size[1]}  # type: ignore[attr-defined]
    processor.keep_aspect_ratio = keep  # type: ignore[attr-defined]
    processor.ensure_multiple_of = multiple  # type: ignore[attr-defined]
    assert depth_tensor.resize_size(processor, *frame) == expected


def test_the_device_prediction_follows_the_host_prediction(tiny_models: Path) -> None:
    # torch's bicubic resize is not PIL's: close, not equal (the model sees a 32-px frame).
    estimator = load_depth_estimator(str(tiny_models / "depth"), "cpu")
    assert depth_tensor.supports(estimator)
    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:64, 0:64]
    frame = np.clip(
        np.stack([x * 4, y * 4, (x + y) * 2], -1) + rng.normal(0, 8, (64, 64, 3)), 0, 255
    ).astype(np.uint8)
    host_pixels = estimator.processor(images=frame, return_tensors="pt")["pixel_values"]
    device_pixels = depth_tensor.pixel_values(estimator.processor, torch.from_numpy(frame))
    assert device_pixels.shape == host_pixels.shape
    assert float((device_pixels - host_pixels).abs().mean()) < 0.02  # normalised units
    host = estimator.predict(frame)
    device = depth_tensor.predict(estimator, torch.from_numpy(frame)).numpy()
    assert np.corrcoef(host.ravel(), device.ravel())[0, 1] > 0.99
