"""Init masks: prepared as Deforum does, applied as its overlay after img2img."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.output_layout import frame_files, frame_path
from deforum_blender.engine.frames import read_frame
from deforum_blender.engine.masks import composite, load_init_mask
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import tiny_job


def write_mask(path: Path, width: int = 64, height: int = 64) -> Path:
    mask = np.zeros((height, width), np.uint8)
    mask[:, width // 2 :] = 255  # left half black (keep), right half white (diffuse)
    cv2.imwrite(str(path), mask)
    return path


def write_init(path: Path) -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64]
    image = np.stack([x * 4, y * 4, np.full_like(x, 128)], -1).astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return image


def test_mask_is_resized_adjusted_and_inverted_like_deforum(
    tiny_models: Path, tmp_path: Path
) -> None:
    path = write_mask(tmp_path / "mask.png", 32, 16)
    job = tiny_job(tiny_models, use_mask="true", mask_file=str(path), mask_overlay_blur="0")
    mask = load_init_mask(job)
    assert mask.shape == (64, 64)
    assert mask[:, :24].max() == 0.0 and mask[:, 40:].min() == 1.0
    inverted = load_init_mask(
        tiny_job(
            tiny_models,
            use_mask="true",
            mask_file=str(path),
            mask_overlay_blur="0",
            invert_mask="true",
        )
    )
    np.testing.assert_allclose(inverted, 1.0 - mask, atol=1 / 255)
    darker = load_init_mask(
        tiny_job(
            tiny_models,
            use_mask="true",
            mask_file=str(path),
            mask_overlay_blur="0",
            mask_brightness_adjust="0.5",
        )
    )
    assert 0.45 < darker[:, 40:].mean() < 0.55
    blurred = load_init_mask(
        tiny_job(tiny_models, use_mask="true", mask_file=str(path), mask_overlay_blur="4")
    )
    assert 0.0 < blurred[:, 31].mean() < 1.0  # the overlay's edge is soft


def test_black_keeps_the_init_image_and_white_is_diffused(
    tiny_models: Path, tmp_path: Path
) -> None:
    init = write_init(tmp_path / "init.png")
    job = tiny_job(
        tiny_models,
        max_frames="2",
        use_init="true",
        init_image=str(tmp_path / "init.png"),
        strength="0.3",
        use_mask="true",
        mask_file=str(write_mask(tmp_path / "mask.png")),
        overlay_mask="false",
    )
    render(job, tmp_path / "out")
    first = read_frame(frame_path(tmp_path / "out", 1))
    np.testing.assert_array_equal(first[:, :32], init[:, :32])
    assert not np.array_equal(first[:, 32:], init[:, 32:])


def test_composite_weights_each_pixel_by_the_mask() -> None:
    kept = np.zeros((2, 2, 3), np.uint8)
    diffused = np.full((2, 2, 3), 200, np.uint8)
    mask = np.array([[0.0, 1.0], [0.5, 0.25]], np.float32)
    assert composite(kept, diffused, mask)[..., 0].tolist() == [[0, 200], [100, 50]]


def test_a_missing_mask_file_fails_before_the_first_frame(
    tiny_models: Path, tmp_path: Path
) -> None:
    job = tiny_job(tiny_models, use_mask="true", mask_file=str(tmp_path / "none.png"))
    with pytest.raises(DeforumInputError, match="mask_file"):
        render(job, tmp_path / "out")
    assert not frame_files(tmp_path / "out")
    job = dataclasses.replace(job, init=dataclasses.replace(job.init, mask_file=None))
    with pytest.raises(DeforumInputError, match="mask_file"):
        render(job, tmp_path / "out2")
