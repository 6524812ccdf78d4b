"""Optical-flow cadence: the flow measures motion, and flow tweens slide instead of cross-fade."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.output_layout import frame_files
from deforum_blender.engine.flow import FLOW_METHODS, flow_tween, optical_flow
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import tiny_job


def texture(shift: float = 0.0) -> np.ndarray:
    """A smooth random texture, moved ``shift`` pixels to the right."""
    rng = np.random.default_rng(3)
    base = cv2.GaussianBlur(rng.random((96, 160, 3)).astype(np.float32), (0, 0), 3.0)
    base = (base - base.min()) / (base.max() - base.min())
    moved = cv2.warpAffine(
        base,
        np.array([[1, 0, shift], [0, 1, 0]], dtype=np.float32),
        (160, 96),
        borderMode=cv2.BORDER_REFLECT,
    )
    return np.asarray(np.rint(moved * 255), dtype=np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    inner = (slice(10, -10), slice(16, -16))  # away from the borders
    mse = float(np.mean((a[inner].astype(float) - b[inner].astype(float)) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_flow_measures_a_known_shift(method: str) -> None:
    flow = optical_flow(texture(), texture(4.0), method)
    inner = flow[20:-20, 30:-30]
    assert np.median(inner[..., 0]) == pytest.approx(4.0, abs=0.5)
    assert np.median(inner[..., 1]) == pytest.approx(0.0, abs=0.5)


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_flow_tween_lands_between_the_two_positions(method: str) -> None:
    earlier, later, halfway = texture(), texture(6.0), texture(3.0)
    aligned = flow_tween(earlier, later, 0.5, method, 1.0)
    faded = np.asarray(np.rint((earlier.astype(float) + later.astype(float)) / 2), np.uint8)
    assert psnr(aligned, halfway) > psnr(faded, halfway) + 3


def test_unknown_flow_method_names_the_setting() -> None:
    with pytest.raises(DeforumInputError, match="optical_flow_cadence"):
        optical_flow(texture(), texture(1.0), "RAFT")


def test_flow_cadence_changes_only_the_tweens(tiny_models: Path, tmp_path: Path) -> None:
    plain = tiny_job(tiny_models, diffusion_cadence="3", max_frames="4")
    flowing = tiny_job(
        tiny_models, diffusion_cadence="3", max_frames="4", optical_flow_cadence="DIS Fine"
    )
    render(plain, tmp_path / "plain")
    render(flowing, tmp_path / "flow")
    a, b = frame_files(tmp_path / "plain"), frame_files(tmp_path / "flow")
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    for key in (1, 4):
        assert a[key].read_bytes() == b[key].read_bytes()
    assert any(a[t].read_bytes() != b[t].read_bytes() for t in (2, 3))
