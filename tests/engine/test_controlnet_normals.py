"""``scene_normal`` ControlNet units: camera-space normals as the normal ControlNets' colours."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.output_layout import controlnet_input_path, scene_normal_frame_path
from deforum_blender.engine.controlnet import normal_image
from deforum_blender.engine.frames import read_frame
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import tiny_job
from tests.helpers import run_json

TURN = math.radians(40.0)
# Camera space: x right, y up, z toward the camera.
FACING = (0.0, 0.0, 1.0)
RIGHT = (math.sin(TURN), 0.0, math.cos(TURN))
LEFT = (-math.sin(TURN), 0.0, math.cos(TURN))
UP = (0.0, math.sin(TURN), math.cos(TURN))
DOWN = (0.0, -math.sin(TURN), math.cos(TURN))


def colour(normal: tuple[float, float, float]) -> tuple[int, ...]:
    return tuple(int(c) for c in normal_image(np.array([[normal]], dtype=np.float32))[0, 0])


def test_a_surface_facing_the_camera_is_the_normal_maps_blue() -> None:
    assert colour(FACING) == (128, 128, 255)


def test_red_grows_facing_left_and_green_facing_up() -> None:
    assert colour(LEFT)[0] > colour(FACING)[0] > colour(RIGHT)[0]
    assert colour(UP)[1] > colour(FACING)[1] > colour(DOWN)[1]
    assert colour(RIGHT)[1] == colour(LEFT)[1] == 128 and colour(UP)[0] == colour(DOWN)[0] == 128
    assert colour(RIGHT) == (46, 128, 225)  # ((1 − sin 40°), 1, (1 + cos 40°)) × 127.5


def test_no_surface_reads_as_facing_the_camera_and_lengths_do_not_matter() -> None:
    assert colour((0.0, 0.0, 0.0)) == colour(FACING)
    assert colour(tuple(3.0 * c for c in LEFT)) == colour(LEFT)  # type: ignore[arg-type]


def test_a_render_writes_the_normal_control_image_of_each_diffused_frame(
    tiny_models: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    normals = np.zeros((64, 64, 3), dtype=np.float32)
    normals[:, :32] = LEFT  # left half turned to the camera's left, right half to its right
    normals[:, 32:] = RIGHT
    job = tiny_job(
        tiny_models,
        max_frames="2",
        cn_1_enabled="true",
        cn_1_module="scene_normal",
        cn_1_model=str(tiny_models / "controlnet"),
        save_controlnet_inputs="true",
    )
    for frame in (1, 2):
        path = scene_normal_frame_path(out, frame)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, normals)
    render(job, out)
    for frame in sorted(int(frame) for frame in run_json(out)["seeds"]):
        control = read_frame(controlnet_input_path(out, 1, frame))
        assert tuple(control[10, 5]) == colour(LEFT)
        assert tuple(control[10, 60]) == colour(RIGHT)


def test_missing_normals_name_the_file_before_any_model_loads(
    tiny_models: Path, tmp_path: Path
) -> None:
    job = tiny_job(
        tiny_models,
        max_frames="2",
        cn_1_enabled="true",
        cn_1_module="scene_normal",
        cn_1_model=str(tmp_path / "no_such_controlnet"),
    )
    with pytest.raises(DeforumInputError, match=r"cn_1_module: 'scene_normal' reads .*normal_0000"):
        render(job, tmp_path / "out")
