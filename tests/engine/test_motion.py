"""How a job's motion is warped: 2D border wrap, the Deforum and exact 3D paths, depth files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from deforum_blender.core.job import Job
from deforum_blender.core.output_layout import frame_path
from deforum_blender.core.overrides import apply_overrides
from deforum_blender.engine.frames import read_frame
from deforum_blender.engine.motion import FrameWarper, job_camera_track
from deforum_blender.engine.render import render


def _texture(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    coarse = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _job_2d(border: str) -> Job:
    settings = {
        "animation_mode": "2D",
        "W": "64",
        "H": "48",
        "max_frames": "3",
        "border": border,
        "zoom": "0: (1)",
        "translation_x": "0: (10)",
        "translation_y": "0: (-3)",
    }
    return apply_overrides(Job(), settings)


def _warp_2d(job: Job, tmp_path: Path, image: np.ndarray, target: int) -> np.ndarray:
    track = job_camera_track(job)
    assert track is not None
    return np.asarray(FrameWarper(job, track, tmp_path).warp(image, 0, target).image)


def test_2d_border_wrap_brings_translated_content_round_from_the_other_side(
    tmp_path: Path,
) -> None:
    image = _texture(48, 64)
    out = _warp_2d(_job_2d("wrap"), tmp_path, image, 1)
    assert np.array_equal(out, np.roll(np.roll(image, 10, axis=1), -3, axis=0))
    # Two frames of motion wrap twice as far.
    two = _warp_2d(_job_2d("wrap"), tmp_path, image, 2)
    assert np.array_equal(two, np.roll(np.roll(image, 20, axis=1), -6, axis=0))


def test_2d_border_replicate_repeats_the_edge_column(tmp_path: Path) -> None:
    image = _texture(48, 64)
    out = _warp_2d(_job_2d("replicate"), tmp_path, image, 1)
    assert np.array_equal(out[:-3, :10], np.repeat(image[3:, :1], 10, axis=1))


def test_a_2d_wrap_preview_wraps_without_a_warning(tmp_path: Path) -> None:
    init = tmp_path / "init.png"
    image = _texture(48, 64)
    Image.fromarray(image).save(init)
    settings = {"use_init": "true", "init_image": str(init), "diffusion_cadence": "1"}
    settings |= {"color_coherence": "None", "noise_schedule": "0: (0)", "amount_schedule": "0: (0)"}
    job = apply_overrides(_job_2d("wrap"), {**settings, "make_video": "false"})
    events: list[tuple[str, dict[str, Any]]] = []
    render(job, tmp_path / "out", preview=True, emit=lambda kind, **f: events.append((kind, f)))
    assert [f for kind, f in events if kind == "warning"] == []
    second = read_frame(frame_path(tmp_path / "out", 2))
    assert np.array_equal(second, np.roll(np.roll(image, 10, axis=1), -3, axis=0))
