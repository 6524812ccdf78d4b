"""Blender is the judge of geometry: warping frame f−1 with the scene's Z pass gives Blender's f.

A small scene of emission checker textures (clean at few Cycles samples) is rendered by
real Blender (the ``bpy`` module, in a fresh subprocess) at 128×96, 16 samples, as
8-bit PNGs, with the Z pass from ``blender/depth_pass.py`` and the camera track from
``blender/camera_track.py``, for one camera move per pair of frames. The engine then
warps each f−1 to f and the result is compared with Blender's own render of f on the
pixels the warp says are visible in both.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.camera import CameraTrack, unproject
from deforum_blender.engine import warp
from deforum_blender.engine.depth import load_scene_depth
from tests.blender.ground_truth import psnr, read_rgb
from tests.helpers import run_test_script

pytestmark = pytest.mark.slow

WIDTH, HEIGHT, SAMPLES = 128, 96, 16
MOVES = ("dolly", "truck", "pan", "tilt", "roll", "lens")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Blender's renders, Z passes and camera track of every move (one Blender run)."""
    out = tmp_path_factory.mktemp("blender_warp")
    result = run_test_script("warp_scene", str(out), str(WIDTH), str(HEIGHT), str(SAMPLES))
    assert result.returncode == 0, result.stderr[-3000:]
    scene = json.loads((out / "scene.json").read_text())
    scene["out"] = out
    scene["camera_track"] = CameraTrack.from_dict(scene["track"])
    return scene


def _frame(rendered: dict[str, Any], frame: int) -> np.ndarray:
    rgb = read_rgb(rendered["out"] / f"frame_{frame:05d}.png")
    assert rgb.shape == (HEIGHT, WIDTH, 3)
    return rgb


def _depth(rendered: dict[str, Any], frame: int) -> np.ndarray:
    return load_scene_depth(rendered["out"] / f"depth_{frame:05d}.npy", (HEIGHT, WIDTH))


def _warp_chain(
    rendered: dict[str, Any], frames: list[int], *, with_target_depth: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    track: CameraTrack = rendered["camera_track"]
    image = _frame(rendered, frames[0])
    valid = np.ones((HEIGHT, WIDTH), bool)
    for frame in frames[1:]:
        result = warp.warp_to_frame(
            image,
            track,
            frame,
            target_depth=_depth(rendered, frame) if with_target_depth else None,
            source_depth=_depth(rendered, frame - 1),
        )
        image, valid = result.image, valid & result.valid
    return image, valid


@pytest.mark.parametrize("move", MOVES)
def test_exact_warp_reproduces_blenders_next_frame(rendered: dict[str, Any], move: str) -> None:
    frames = rendered["frames"][move]
    warped, valid = _warp_chain(rendered, frames)
    target, previous = _frame(rendered, frames[-1]), _frame(rendered, frames[0])
    assert valid.mean() > 0.9  # the mask must not hide the comparison
    quality, unwarped = psnr(warped, target, valid), psnr(previous, target, valid)
    assert quality >= 34.0, f"{move}: {quality:.2f} dB"
    assert quality - unwarped >= 10.0, f"{move}: {quality:.2f} dB vs {unwarped:.2f} unwarped"


def test_two_chained_warps_stay_close_to_blender(rendered: dict[str, Any]) -> None:
    frames = rendered["frames"]["chained"]
    warped, valid = _warp_chain(rendered, frames)
    target = _frame(rendered, frames[-1])
    assert valid.mean() > 0.9
    assert psnr(warped, target, valid) >= 32.0
    assert psnr(warped, target, valid) - psnr(_frame(rendered, frames[0]), target, valid) >= 10


@pytest.mark.parametrize("move", ["dolly", "truck", "pan", "chained"])
def test_warp_from_the_source_depth_alone_also_follows_blender(
    rendered: dict[str, Any], move: str
) -> None:
    # The estimated-depth path: only the previous frame's depth, target depth iterated.
    frames = rendered["frames"][move]
    warped, valid = _warp_chain(rendered, frames, with_target_depth=False)
    target = _frame(rendered, frames[-1])
    assert valid.mean() > 0.9
    assert psnr(warped, target, valid) >= 33.0


def test_depth_pass_is_planar_depth_at_pixel_centres_top_row_first(
    rendered: dict[str, Any],
) -> None:
    track: CameraTrack = rendered["camera_track"]
    depth = _depth(rendered, 1)
    k, pose = track.intrinsics(1), track.matrix(1)
    # Where each pixel centre's ray meets the wall (world plane y = 12).
    columns, rows = np.meshgrid(np.arange(WIDTH) + 0.5, np.arange(HEIGHT) + 0.5)
    rays = unproject(k, np.stack([columns, rows], -1), np.ones((HEIGHT, WIDTH)))
    world_rays = rays @ pose[:3, :3].T
    wall_depth = (12.0 - pose[1, 3]) / world_rays[..., 1]
    # The top rows see only the wall; compare there.
    top = slice(0, 10)
    np.testing.assert_allclose(depth[top], wall_depth[top], rtol=1e-4)
    assert depth[-1].max() < wall_depth[-1].min()  # the bottom row sees the nearer floor


def test_depth_pass_writes_every_frame_and_restores_the_scene(rendered: dict[str, Any]) -> None:
    last = rendered["frames"]["chained"][-1]
    assert rendered["written"] == [f"depth_{f:05d}.npy" for f in range(1, last + 1)]
    assert rendered["after"] == rendered["before"]
    assert rendered["before"]["samples"] == SAMPLES and rendered["before"]["frame"] == 3
