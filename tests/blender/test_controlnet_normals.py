"""A ``scene_normal`` ControlNet unit through ``scripts/render_deforum.py`` on a real scene.

Five planes face the camera or are turned 40° to face its right, left, up and down
(``scripts/normal_planes.py``); Blender's Normal pass must come out in camera space and
the control image in the normal ControlNets' colours (red grows facing left, green facing
up, blue facing the camera).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from deforum_blender.core.output_layout import controlnet_input_path, scene_normal_frame_path
from tests.blender.ground_truth import read_rgb
from tests.helpers import run_render_script, run_test_script

pytestmark = pytest.mark.slow

# Pixel (row, column) of each plane's centre in the 64×64 frame: 1.3 m apart at 6 m with a
# 50 mm lens on a 36 mm sensor is 19 pixels.
CENTRES = {
    "facing": (32, 32),
    "right": (32, 51),
    "left": (32, 13),
    "up": (13, 32),
    "down": (51, 32),
}
TURN = math.radians(40.0)
# Each plane's normal in camera space (x right, y up, z toward the camera).
NORMALS = {
    "facing": (0.0, 0.0, 1.0),
    "right": (math.sin(TURN), 0.0, math.cos(TURN)),
    "left": (-math.sin(TURN), 0.0, math.cos(TURN)),
    "up": (0.0, math.sin(TURN), math.cos(TURN)),
    "down": (0.0, -math.sin(TURN), math.cos(TURN)),
}


@pytest.fixture(scope="module")
def planes_render(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Path:
    """The output folder of a one-frame render of the planes with a scene_normal unit."""
    folder = tmp_path_factory.mktemp("controlnet_normals")
    blend = folder / "planes.blend"
    made = run_test_script("normal_planes", str(blend), str(tiny_models / "sd"))
    assert made.returncode == 0, made.stderr[-3000:]
    out = folder / "out"
    result = run_render_script(
        "--blend", str(blend), "--out", str(out), "--depth", "flat",
        "--set", "cn_1_enabled=true",
        "--set", "cn_1_module=scene_normal",
        "--set", f"cn_1_model={tiny_models / 'controlnet'}",
        "--set", "save_controlnet_inputs=true",
        cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return out


def test_blenders_normal_pass_is_saved_in_camera_space(planes_render: Path) -> None:
    normals = np.load(scene_normal_frame_path(planes_render, 1))
    assert normals.shape == (64, 64, 3) and normals.dtype == np.float32
    for name, (row, column) in CENTRES.items():
        np.testing.assert_allclose(normals[row, column], NORMALS[name], atol=1e-3, err_msg=name)
    assert not normals[1, 1].any()  # no surface in the corner: a zero normal


def test_planes_facing_known_directions_give_the_normal_maps_colours(planes_render: Path) -> None:
    unit = json.loads((planes_render / "job.json").read_text())["cn_1"]
    assert (unit["enabled"], unit["module"]) == (True, "scene_normal")
    control = read_rgb(controlnet_input_path(planes_render, 1, 1)).astype(int)
    colour = {name: tuple(control[row, column]) for name, (row, column) in CENTRES.items()}
    assert colour["facing"] == (128, 128, 255)
    assert colour["left"][0] > colour["facing"][0] > colour["right"][0]  # red: facing left
    assert colour["up"][1] > colour["facing"][1] > colour["down"][1]  # green: facing up
    assert all(colour[name][2] < 255 for name in ("left", "right", "up", "down"))
    assert tuple(control[1, 1]) == (128, 128, 255)  # no surface reads as facing the camera
