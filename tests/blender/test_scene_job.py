"""job_from_scene: frame range, size, camera track, eased per-frame values, prompts (real bpy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

from deforum_blender.blender.camera_track import read_camera_track  # noqa: E402
from deforum_blender.blender.prompts import add_prompt  # noqa: E402
from deforum_blender.blender.scene_job import (  # noqa: E402
    job_from_scene,
    output_folder,
    render_size,
)
from deforum_blender.blender.scene_problems import scene_problems  # noqa: E402
from deforum_blender.core.errors import DeforumInputError  # noqa: E402
from deforum_blender.core.job import Job  # noqa: E402


@pytest.fixture
def scene(registered_scene: Any) -> Any:
    """Frames 1-12, a perspective camera dollying in, 64×48 render, one prompt."""
    scene = registered_scene
    scene.frame_start, scene.frame_end = 1, 12
    scene.render.resolution_x, scene.render.resolution_y = 64, 48
    scene.render.resolution_percentage = 100
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    camera.location = (0.0, -10.0, 1.0)
    camera.keyframe_insert("location", frame=1)
    camera.location = (0.0, -6.0, 1.0)
    camera.keyframe_insert("location", frame=12)
    add_prompt(scene, 1, "a forest")
    return scene


def fcurve_of(scene: Any, data_path: str) -> Any:
    animation = scene.animation_data
    for layer in animation.action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(animation.action_slot)
            if bag is not None:
                return bag.fcurves.find(data_path)
    raise AssertionError(data_path)


def key_eased(scene: Any, name: str, values: dict[int, float]) -> Any:
    """Keyframe scene.deforum.<name> at the given frames with Bézier ease in/out."""
    for frame, value in values.items():
        setattr(scene.deforum, name, value)
        scene.deforum.keyframe_insert(name, frame=frame)
    fcurve = fcurve_of(scene, f"deforum.{name}")
    for point in fcurve.keyframe_points:
        point.interpolation = "BEZIER"
        point.handle_left_type = point.handle_right_type = "AUTO_CLAMPED"
    fcurve.update()
    return fcurve


def test_eased_strength_keyframes_reach_the_job_frame_by_frame(scene: Any) -> None:
    fcurve = key_eased(scene, "strength", {1: 0.2, 12: 0.8})
    series = job_from_scene(scene).params["strength"]
    assert isinstance(series, list) and len(series) == 12
    assert series == pytest.approx([fcurve.evaluate(f) for f in range(1, 13)], abs=1e-6)
    # Eased, not linear: slow at both ends.
    assert series[1] - series[0] < (0.8 - 0.2) / 11 / 2
    assert series[6] - series[5] > (0.8 - 0.2) / 11


def test_job_values_are_what_blender_shows_on_each_frame(scene: Any) -> None:
    key_eased(scene, "strength", {1: 0.3, 6: 0.9, 12: 0.5})
    key_eased(scene, "steps", {1: 10, 12: 40})
    job = job_from_scene(scene)
    shown_strength, shown_steps = [], []
    for frame in range(1, 13):
        scene.frame_set(frame)
        shown_strength.append(scene.deforum.strength)
        shown_steps.append(float(scene.deforum.steps))
    assert job.params["strength"] == pytest.approx(shown_strength, abs=1e-7)
    assert job.params["steps"] == shown_steps


def test_an_overshooting_curve_is_clamped_as_blender_clamps_it(scene: Any) -> None:
    fcurve = key_eased(scene, "noise", {1: 0.0, 12: 1.0})
    for point in fcurve.keyframe_points:
        point.handle_left_type = point.handle_right_type = "FREE"
    fcurve.keyframe_points[0].handle_right = (6.0, 1.5)  # bulges above 1
    fcurve.update()
    assert max(fcurve.evaluate(f) for f in range(1, 13)) > 1.0
    series = job_from_scene(scene).params["noise"]
    assert isinstance(series, list) and max(series) == 1.0


def test_reading_does_not_move_the_current_frame(scene: Any) -> None:
    key_eased(scene, "strength", {1: 0.2, 12: 0.8})
    scene.frame_set(7)
    job_from_scene(scene)
    assert scene.frame_current == 7


def test_a_schedule_string_overrides_the_keyframes(scene: Any) -> None:
    key_eased(scene, "strength", {1: 0.2, 12: 0.8})
    scene.deforum.strength_schedule = "0: (0.5), 11: (0.6)"
    job = job_from_scene(scene)
    assert job.params["strength"] == "0: (0.5), 11: (0.6)"
    assert job.series("strength")[0] == pytest.approx(0.5)
    assert job.series("strength")[-1] == pytest.approx(0.6)


def test_an_unanimated_value_is_a_constant(scene: Any) -> None:
    scene.deforum.cfg_scale = 9.5
    assert job_from_scene(scene).params["cfg_scale"] == 9.5


def test_a_bad_schedule_names_the_property_and_the_fix(scene: Any) -> None:
    scene.deforum.noise_schedule = "0: (0,65)"
    with pytest.raises(DeforumInputError, match=r"noise_schedule.*write 0\.65"):
        job_from_scene(scene)
    messages = [problem.message for problem in scene_problems(scene)]
    assert any("noise_schedule" in message for message in messages)


def test_a_driven_value_is_sampled_frame_by_frame(scene: Any) -> None:
    driver = scene.deforum.driver_add("strength").driver
    driver.type = "SCRIPTED"
    driver.expression = "frame / 100"
    scene.frame_set(5)
    job = job_from_scene(scene)
    assert job.params["strength"] == pytest.approx([f / 100 for f in range(1, 13)], abs=1e-7)
    assert scene.frame_current == 5


def test_keyframed_seeds_become_per_frame_seeds_and_the_master_seed(scene: Any) -> None:
    scene.deforum.seed_behavior = "schedule"
    scene.deforum.seed = 100
    scene.deforum.keyframe_insert("seed", frame=1)
    scene.deforum.seed = 111
    scene.deforum.keyframe_insert("seed", frame=12)
    scene.frame_set(12)
    job = job_from_scene(scene)
    assert job.seeds.seed == 100
    assert job.params["seed"] == [float(s) for s in range(100, 112)]


def test_prompts_follow_their_markers(scene: Any) -> None:
    item = add_prompt(scene, 5, "a city at night", "blurry, text")
    assert job_from_scene(scene).prompts.keyframes == {
        "0": "a forest",
        "4": "a city at night --neg blurry, text",
    }
    scene.timeline_markers[item.marker].frame = 9
    job = job_from_scene(scene)
    assert job.prompts.keyframes["8"] == "a city at night --neg blurry, text"
    assert job.frame_prompts()[8].negative == "blurry, text"
    assert job.frame_prompts()[7].positive == "a forest"


def test_an_empty_prompt_list_says_how_to_add_one(scene: Any) -> None:
    scene.deforum.prompts.clear()
    with pytest.raises(DeforumInputError, match=r"prompt list is empty; add a prompt"):
        job_from_scene(scene)


def test_size_is_the_render_size_after_the_percentage(scene: Any) -> None:
    scene.render.resolution_x, scene.render.resolution_y = 128, 96
    scene.render.resolution_percentage = 50
    warnings: list[str] = []
    job = job_from_scene(scene, warnings=warnings)
    assert (job.W, job.H) == (64, 48)
    assert warnings == []


def test_a_size_off_the_multiple_of_8_is_rounded_down_with_a_message(scene: Any) -> None:
    scene.render.resolution_x, scene.render.resolution_y = 100, 75
    warnings: list[str] = []
    job = job_from_scene(scene, warnings=warnings)
    assert (job.W, job.H) == (96, 72)
    assert warnings == [render_size(scene)[2]]
    assert "100×75" in warnings[0] and "96×72" in warnings[0]


def test_frame_range_fps_and_settings_come_from_the_scene(scene: Any) -> None:
    scene.frame_start, scene.frame_end = 3, 10
    scene.render.fps, scene.render.fps_base = 30, 1.001
    settings = scene.deforum
    settings.diffusion_cadence = 3
    settings.sampler = "DDIM"
    settings.depth_source = "estimated"
    settings.init_strength = 0.25
    settings.blend_prompts = True
    job = job_from_scene(scene)
    assert (job.first_frame, job.last_frame, job.max_frames) == (3, 10, 8)
    assert job.fps == pytest.approx(30 / 1.001)
    assert job.cadence.diffusion_cadence == 3
    assert job.sampler == "DDIM"
    assert job.depth.depth_source == "estimated"
    assert job.init.strength == 0.25
    assert job.prompts.blend is True
    settings.use_scene_fps = False
    settings.fps = 12.0
    assert job_from_scene(scene).fps == 12.0


def test_model_sha256_is_a_scene_setting_as_on_the_command_line(scene: Any) -> None:
    assert job_from_scene(scene).model.sha256 is None  # empty: not checked
    scene.deforum.model_sha256 = "ab12"
    scene.deforum.init_strength = 0.3
    job = job_from_scene(scene)
    assert (job.model.sha256, job.init.strength) == ("ab12", pytest.approx(0.3))


def test_the_camera_track_is_the_scene_camera_over_the_range(scene: Any) -> None:
    job = job_from_scene(scene)
    assert job.motion.camera_track == read_camera_track(scene, 1, 12).to_dict()


def test_3d_mode_without_a_camera_is_an_error_and_a_problem(scene: Any) -> None:
    scene.camera = None
    with pytest.raises(DeforumInputError, match="no active camera"):
        job_from_scene(scene)
    problems = scene_problems(scene)
    assert any((scene, "camera") in problem.fixes for problem in problems)
    scene.deforum.animation_mode = "None"
    assert job_from_scene(scene).motion.camera_track is None


def test_an_orthographic_camera_is_reported_with_its_fix(scene: Any) -> None:
    scene.camera.data.type = "ORTHO"
    problem = next(p for p in scene_problems(scene) if "orthographic" in p.message)
    assert problem.fixes == ((scene.camera.data, "type"),)
    with pytest.raises(DeforumInputError, match="Perspective"):
        job_from_scene(scene)


def test_a_switch_without_its_file_is_a_problem_and_an_error(scene: Any) -> None:
    scene.deforum.use_init = True
    assert any("init image" in p.message for p in scene_problems(scene))
    with pytest.raises(DeforumInputError, match=r"init\.init_image"):
        job_from_scene(scene)


def test_relative_paths_are_resolved_against_the_blend(scene: Any, tmp_path: Path) -> None:
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    scene = bpy.context.scene
    scene.deforum.use_init = True
    scene.deforum.init_image = "//init.png"
    job = job_from_scene(scene)
    assert job.init.init_image == str(tmp_path / "init.png")
    assert Path(output_folder(scene)) == tmp_path / "deforum"


def test_an_unsaved_blend_cannot_resolve_a_relative_output_folder(scene: Any) -> None:
    with pytest.raises(DeforumInputError, match=r"save the \.blend"):
        output_folder(scene)


def test_the_job_from_a_scene_round_trips_through_json_data(scene: Any) -> None:
    key_eased(scene, "strength", {1: 0.2, 12: 0.8})
    scene.deforum.contrast_schedule = "0: (1), 6: (1.1)"
    add_prompt(scene, 6, "a river")
    job = job_from_scene(scene)
    assert Job.from_dict(job.to_dict()) == job
