"""Scene-guided rendering: Blender's render of each frame mixed in before img2img."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.job import Job
from deforum_blender.core.output_layout import (
    frame_files,
    frame_path,
    scene_depth_dir,
    scene_render_frame_path,
)
from deforum_blender.engine import diffusion
from deforum_blender.engine.depth import scene_depth_path
from deforum_blender.engine.frames import read_frame, write_png_atomic
from deforum_blender.engine.motion import FrameWarper, job_camera_track
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import tiny_job

# Everything between the mix and img2img left neutral, so the frame shows the mix itself.
NEUTRAL = {
    "diffusion_cadence": "1",
    "noise_schedule": "0: (0)",
    "contrast_schedule": "0: (1)",
    "amount_schedule": "0: (0)",
    "color_coherence": "None",
    "strength_schedule": "0: (1.0)",
    "max_frames": "3",
}


COLOURS = ((200, 40, 40), (40, 200, 40), (40, 40, 200))


def scene_renders(out: Path, frames: range) -> dict[int, np.ndarray]:
    """A textured render of a distinct colour per frame, where Blender's renderer leaves it."""
    rng = np.random.default_rng(7)
    renders = {}
    for frame in frames:
        texture = rng.integers(-25, 26, (64, 64, 3))
        image = np.clip(np.array(COLOURS[frame % 3]) + texture, 0, 255).astype(np.uint8)
        write_png_atomic(scene_render_frame_path(out, frame), image)
        renders[frame] = image
    return renders


def test_scene_blend_one_and_strength_one_return_the_scene_render_itself(
    tiny_models: Path, tmp_path: Path
) -> None:
    renders = scene_renders(tmp_path, range(1, 4))
    result = render(tiny_job(tiny_models, scene_blend="1.0", **NEUTRAL), tmp_path)
    assert result.diffusion_calls == 3
    for frame, image in renders.items():
        np.testing.assert_array_equal(read_frame(frame_path(tmp_path, frame)), image)


def test_a_partial_scene_blend_mixes_the_render_into_the_warped_frame(
    tiny_models: Path, tmp_path: Path
) -> None:
    renders = scene_renders(tmp_path, range(1, 4))
    job = tiny_job(tiny_models, scene_blend="0: (0), 1: (0.25)", **NEUTRAL)
    render(job, tmp_path, preview=True)
    track = job_camera_track(job)
    assert track is not None
    first = read_frame(frame_path(tmp_path, 1))
    warped = FrameWarper(job, track, tmp_path).warp(first, 0, 1).image.astype(np.float32)
    expected = np.rint(warped * 0.75 + renders[2].astype(np.float32) * 0.25)
    np.testing.assert_array_equal(read_frame(frame_path(tmp_path, 2)), expected.astype(np.uint8))
    assert not np.array_equal(first, renders[1])  # frame 1 had scene_blend 0


def test_max_depth_mixes_the_render_only_where_the_scene_is_near(
    tiny_models: Path, tmp_path: Path
) -> None:
    renders = scene_renders(tmp_path, range(1, 4))
    depth = np.full((64, 64), 10.0, np.float32)
    depth[:, :32] = 2.0  # the left half is near
    for frame in range(1, 4):
        path = scene_depth_path(scene_depth_dir(tmp_path), frame)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, depth)
    job = tiny_job(tiny_models, scene_blend="1.0", scene_blend_max_depth="5", **NEUTRAL)
    render(job, tmp_path, preview=True)
    second = read_frame(frame_path(tmp_path, 2))
    np.testing.assert_array_equal(second[:, :32], renders[2][:, :32])
    assert np.abs(second[:, 32:].astype(int) - renders[2][:, 32:]).mean() > 20


def test_missing_scene_renders_fail_before_the_first_frame(
    tiny_models: Path, tmp_path: Path
) -> None:
    scene_renders(tmp_path, range(1, 3))  # frame 3 is missing
    with pytest.raises(DeforumInputError, match=r"scene_blend: no scene render for frames 3"):
        render(tiny_job(tiny_models, scene_blend="1.0", **NEUTRAL), tmp_path)
    job = tiny_job(tiny_models, scene_blend="1.0", scene_blend_max_depth="5", **NEUTRAL)
    scene_renders(tmp_path / "b", range(1, 4))
    with pytest.raises(DeforumInputError, match="scene_blend_max_depth: no scene depth"):
        render(job, tmp_path / "b")
    assert not frame_files(tmp_path) and not frame_files(tmp_path / "b")


def test_stills_with_scene_blend_are_img2img_of_each_scene_render(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inits: list[tuple[np.ndarray, float]] = []
    real = diffusion.Diffuser.img2img

    def record(self: diffusion.Diffuser, image: np.ndarray, *a: Any, **k: Any) -> Any:
        inits.append((image.copy(), a[5]))  # (init, denoise)
        return real(self, image, *a, **k)

    monkeypatch.setattr(diffusion.Diffuser, "img2img", record)
    renders = scene_renders(tmp_path, range(1, 4))
    settings = {**NEUTRAL, "strength_schedule": "0: (0.6)"}
    job: Job = tiny_job(tiny_models, animation_mode="None", scene_blend="1.0", **settings)
    render(job, tmp_path)
    assert len(inits) == 3
    for (init, denoise), image in zip(inits, renders.values(), strict=True):
        np.testing.assert_array_equal(init, image)
        assert denoise == pytest.approx(0.4)
