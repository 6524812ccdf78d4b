"""A ``scene_canny`` ControlNet unit through ``scripts/render_deforum.py`` on a real scene.

White shapes on black (``scripts/silhouette_scene.py``): the only edges of Blender's
render are the shapes' outlines, so the unit's control image must draw them. Blender's
own Z pass (one sample at each pixel's centre) is the judge of where the outline is.
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

FRAMES = (1, 2)


def silhouette(z: np.ndarray) -> np.ndarray:
    """Pixels of a shape with a background pixel beside them (the Z pass's outline)."""
    shape = z < 1e3  # the empty world's Z is huge
    padded = np.pad(shape, 1, mode="edge")
    beside_background = np.zeros_like(shape)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        beside_background |= ~padded[dy : dy + shape.shape[0], dx : dx + shape.shape[1]]
    return shape & beside_background


def near(mask: np.ndarray, reach: int) -> np.ndarray:
    """``mask`` grown by ``reach`` pixels (a square neighbourhood)."""
    grown = np.zeros_like(mask)
    padded = np.pad(mask, reach)
    for dy in range(2 * reach + 1):
        for dx in range(2 * reach + 1):
            grown |= padded[dy : dy + mask.shape[0], dx : dx + mask.shape[1]]
    return grown


@pytest.fixture(scope="module")
def shapes_render(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Path:
    """The output folder of a two-frame render of the shapes with a scene_canny unit."""
    folder = tmp_path_factory.mktemp("controlnet_canny")
    blend = folder / "shapes.blend"
    made = run_test_script("silhouette_scene", str(blend), str(tiny_models / "sd"))
    assert made.returncode == 0, made.stderr[-3000:]
    out = folder / "out"
    result = run_render_script(
        "--blend", str(blend), "--out", str(out), "--depth", "scene",
        "--set", "diffusion_cadence=1",
        "--set", "cn_1_enabled=true",
        "--set", "cn_1_module=scene_canny",
        "--set", "cn_1_threshold_a=100",
        "--set", "cn_1_threshold_b=200",
        "--set", f"cn_1_model={tiny_models / 'controlnet'}",
        "--set", "save_controlnet_inputs=true",
        cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return out


def test_scene_canny_edges_fall_on_blenders_silhouettes(shapes_render: Path) -> None:
    unit = json.loads((shapes_render / "job.json").read_text())["cn_1"]
    assert (unit["enabled"], unit["module"]) == (True, "scene_canny")
    outlines = []
    for frame in FRAMES:
        edges = read_rgb(controlnet_input_path(shapes_render, 1, frame))[..., 0] > 127
        outline = silhouette(np.load(scene_depth_frame_path(shapes_render, frame)))
        assert edges.shape == outline.shape == (64, 96)
        assert outline.sum() > 60, frame  # both shapes are in view
        # Every edge lies on an outline, and every outline pixel has an edge next to it.
        assert (edges & ~near(outline, 1)).sum() <= 0.02 * edges.sum(), frame
        assert (outline & near(edges, 1)).sum() >= 0.95 * outline.sum(), frame
        outlines.append(outline)
    assert (outlines[0] != outlines[1]).sum() > 20  # the camera moved: each frame its own
