"""A ``scene_depth`` ControlNet unit through ``scripts/render_deforum.py`` on a real scene.

The small 3D scene (a floor and a cube, 64×64, three frames) renders with the tiny
models; the unit's control images must follow Blender's own Z pass of each frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deforum_blender.core.output_layout import controlnet_input_path, scene_depth_frame_path
from tests.blender.ground_truth import read_rgb
from tests.helpers import run_render_script, run_test_script

pytestmark = pytest.mark.slow

FRAMES = (1, 2, 3)


@pytest.fixture(scope="module")
def small_blend(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Path:
    """A saved .blend of the small 3D scene, rendering with the tiny model."""
    blend = tmp_path_factory.mktemp("controlnet_scene") / "scene.blend"
    result = run_test_script("small_scene", str(blend), str(tiny_models / "sd"))
    assert result.returncode == 0, result.stderr[-3000:]
    return blend


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two arrays (ties share their mean rank)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a.ravel(), b.ravel()).statistic)


def test_a_scene_depth_unit_writes_control_images_that_follow_the_z_pass(
    small_blend: Path, tiny_models: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_render_script(
        "--blend", str(small_blend), "--out", str(out), "--depth", "scene",
        "--set", "cn_1_enabled=true",
        "--set", "cn_1_module=scene_depth",
        "--set", f"cn_1_model={tiny_models / 'controlnet'}",
        "--set", "save_controlnet_inputs=true",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    unit = json.loads((out / "job.json").read_text())["cn_1"]
    assert (unit["enabled"], unit["module"]) == (True, "scene_depth")
    saved = sorted(path.name for path in (out / "controlnet").iterdir())
    diffused = [frame for frame in FRAMES if controlnet_input_path(out, 1, frame).name in saved]
    assert len(saved) == len(diffused) and diffused[0] == FRAMES[0] and len(diffused) >= 2
    for frame in diffused:  # with cadence, the diffused frames only
        control = read_rgb(controlnet_input_path(out, 1, frame))[..., 0].astype(np.float64)
        z = np.load(scene_depth_frame_path(out, frame)).astype(np.float64)
        assert control.shape == z.shape
        near = 1.0 / np.maximum(z, 1e-6)  # the sky's huge Z reads as 0, as it should
        assert control.std() > 0, frame  # the floor and the cube are not one grey
        assert rank_correlation(control, near) >= 0.95, frame
