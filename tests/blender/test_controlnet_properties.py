"""ControlNet units and the after-render (finish) settings as scene.deforum properties (bpy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from deforum_blender.blender.scene_job import job_from_scene  # noqa: E402
from deforum_blender.blender.settings_files import apply_job  # noqa: E402
from deforum_blender.core.job import Job  # noqa: E402


@pytest.fixture
def scene(registered_scene: Any) -> Any:
    """The registered add-on's scene, in a mode that needs neither camera nor prompts."""
    registered_scene.frame_start, registered_scene.frame_end = 1, 4
    registered_scene.render.resolution_x = registered_scene.render.resolution_y = 64
    registered_scene.deforum.animation_mode = "None"
    return registered_scene


def test_every_unit_field_is_a_labelled_property_of_the_unit(scene: Any) -> None:
    props = scene.deforum.bl_rna.properties
    assert props["cn_3_model"].name == "ControlNet 3 Model"
    assert props["cn_5_vid_path"].subtype == "FILE_PATH"
    assert [item.identifier for item in props["cn_1_control_mode"].enum_items] == [
        "Balanced",
        "My prompt is more important",
        "ControlNet is more important",
    ]
    for name in ("interpolation_model", "soundtrack_path", "r_upscale_model"):
        assert props[name].subtype == "FILE_PATH", name


def test_a_units_properties_reach_the_job(scene: Any, tmp_path: Path) -> None:
    settings = scene.deforum
    settings.cn_2_enabled = True
    settings.cn_2_module = "canny"
    settings.cn_2_model = "lllyasviel/control_v11p_sd15_canny"
    settings.cn_2_weight = "0:(1), 2:(0.5)"
    settings.cn_2_vid_path = str(tmp_path / "edges.png")
    settings.cn_2_threshold_a = 100.0
    settings.save_controlnet_inputs = True
    job = job_from_scene(scene, need_prompts=False)
    assert job.cn_2.enabled and job.cn_2.module == "canny"
    assert job.cn_2.weight == "0:(1), 2:(0.5)" and job.cn_2.threshold_a == 100.0
    assert job.cn_2.vid_path == str(tmp_path / "edges.png")
    assert job.output.save_controlnet_inputs
    assert not job.cn_1.enabled


def test_the_finish_properties_reach_the_job(scene: Any) -> None:
    settings = scene.deforum
    settings.frame_interpolation_engine = "FILM"
    settings.frame_interpolation_x_amount = 4
    settings.r_upscale_video = True
    settings.r_upscale_factor = "x4"
    settings.add_soundtrack = "File"
    settings.soundtrack_path = "/sounds/song.wav"
    finish = job_from_scene(scene, need_prompts=False).finish
    assert (finish.frame_interpolation_engine, finish.frame_interpolation_x_amount) == ("FILM", 4)
    assert finish.r_upscale_video and finish.r_upscale_factor == "x4"
    assert (finish.add_soundtrack, finish.soundtrack_path) == ("File", "/sounds/song.wav")
    assert finish.interpolation_model is None  # the empty field: the optical-flow fallback


def test_an_imported_unit_fills_the_scene_and_comes_back(scene: Any) -> None:
    job = Job.from_dict(
        {
            "version": 1,
            "animation_mode": "None",
            "W": 64,
            "H": 64,
            "cn_4": {"enabled": True, "module": "scene_depth", "model": "/models/depth"},
            "finish": {"r_upscale_video": True},
        }
    )
    apply_job(scene, job)
    assert scene.deforum.cn_4_enabled and scene.deforum.cn_4_module == "scene_depth"
    assert scene.deforum.r_upscale_video
    scene.deforum.animation_mode = "None"
    again = job_from_scene(scene, need_prompts=False)
    assert again.cn_4 == job.cn_4 and again.finish == job.finish


def test_a_unit_with_a_webui_detector_shows_what_to_use_instead(scene: Any) -> None:
    from deforum_blender.blender.scene_problems import controlnet_problems

    deforum = scene.deforum
    deforum.cn_2_enabled, deforum.cn_2_module, deforum.cn_2_model = True, "normal_bae", "cn"
    problem = next(p for p in controlnet_problems(scene) if "normal_bae" in p.message)
    assert problem.message == (
        "ControlNet 2: module 'normal_bae' needs a detector this add-on lacks; use "
        "scene_normal (Blender's exact normals)"
    )
    assert problem.fixes == ((deforum, "cn_2_module"),)


def unit_weights(scene: Any, n: int) -> list[float]:
    """Unit ``n``'s weight on each frame of the scene, as the Job gives it."""
    from deforum_blender.core.schedules import evaluate_schedule

    job = job_from_scene(scene, need_prompts=False)
    return evaluate_schedule(getattr(job, f"cn_{n}").weight, job.max_frames)


def test_a_units_weight_is_one_until_it_is_changed(scene: Any) -> None:
    assert scene.deforum.cn_1_weight == "" and scene.deforum.cn_1_weight_value == 1.0
    assert job_from_scene(scene, need_prompts=False).cn_1.weight == "0:(1)"  # as Job()'s
    scene.deforum.cn_1_weight_value = 0.7
    assert job_from_scene(scene, need_prompts=False).cn_1.weight == "0:(0.7)"


def test_a_keyframed_weight_is_read_per_frame_from_its_f_curve(scene: Any) -> None:
    settings = scene.deforum
    settings.cn_3_weight_value = 1.0
    settings.keyframe_insert("cn_3_weight_value", frame=1)
    settings.cn_3_weight_value = 0.0
    settings.keyframe_insert("cn_3_weight_value", frame=4)
    from deforum_blender.blender.animation_data import fcurves_by_path

    curve = fcurves_by_path(scene)["deforum.cn_3_weight_value"]
    expected = [curve.evaluate(frame) for frame in range(1, 5)]
    assert expected[0] == 1.0 and 0.0 < expected[1] < 1.0 and expected[3] == 0.0
    np.testing.assert_allclose(unit_weights(scene, 3), expected, atol=1e-6)
    settings.cn_3_weight = "0:(0.25)"  # a typed schedule overrides the keys
    assert unit_weights(scene, 3) == [0.25] * 4


def test_a_driven_weight_is_read_per_frame(scene: Any) -> None:
    driver = scene.deforum.driver_add("cn_2_weight_value").driver
    driver.expression = "frame / 8"
    np.testing.assert_allclose(unit_weights(scene, 2), [0.125, 0.25, 0.375, 0.5], atol=1e-6)


def test_an_imported_constant_weight_fills_the_weight_and_a_schedule_its_schedule(
    scene: Any,
) -> None:
    data = {"version": 1, "animation_mode": "None", "W": 64, "H": 64}
    job = Job.from_dict(
        {**data, "cn_1": {"weight": "0: (0.5)"}, "cn_2": {"weight": "0:(1), 2:(0)"}}
    )
    apply_job(scene, job)
    settings = scene.deforum
    assert (settings.cn_1_weight, settings.cn_1_weight_value) == ("", 0.5)
    assert settings.cn_2_weight == "0:(1), 2:(0)"
    again = job_from_scene(scene, need_prompts=False)
    assert (again.cn_1.weight, again.cn_2.weight) == ("0:(0.5)", "0:(1), 2:(0)")


def test_the_weight_is_drawn_greyed_out_while_a_weight_schedule_is_typed(scene: Any) -> None:
    from deforum_blender.blender import panels
    from tests.helpers import draw

    scene.deforum.cn_1_enabled = True
    for text, active in (("", True), ("0:(1), 3:(0)", False)):
        scene.deforum.cn_1_weight = text
        record = draw(panels.DEFORUM_PT_controlnet, scene)
        (row,) = [row for _, name, row in record["props"] if name == "cn_1_weight_value"]
        assert row.active is active
