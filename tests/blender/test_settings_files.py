"""deforum.import_settings / deforum.export_settings between Deforum files and a scene (bpy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import deforum_blender  # noqa: E402
from deforum_blender.blender.camera_track import (  # noqa: E402
    read_camera_track,
    scene_translation_scale,
)
from deforum_blender.blender.prompts import add_prompt  # noqa: E402
from deforum_blender.blender.render_session import (  # noqa: E402
    RenderRequest,
    RenderSession,
    prepare_render,
)
from deforum_blender.blender.scene_job import job_from_scene  # noqa: E402
from deforum_blender.blender.scene_problems import scene_problems  # noqa: E402
from deforum_blender.blender.settings_files import translation_scale  # noqa: E402
from deforum_blender.core import deforum_settings  # noqa: E402
from deforum_blender.core.camera import deforum_motion  # noqa: E402
from deforum_blender.core.deforum_settings import import_settings  # noqa: E402
from deforum_blender.core.errors import DeforumInputError  # noqa: E402
from deforum_blender.core.schedules import evaluate_schedule  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "core" / "data"


@pytest.fixture
def scene(registered_scene: Any) -> Any:
    """A fresh empty scene with the add-on registered (unregistered afterwards)."""
    return registered_scene


def write_settings(path: Path, **changes: Any) -> Path:
    data = json.loads((DATA / "deforum_simple_settings.txt").read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_importing_a_deforum_file_fills_the_scene(scene: Any, tmp_path: Path) -> None:
    path = write_settings(
        tmp_path / "run_settings.txt",
        animation_mode="3D",
        W=96,
        H=64,
        max_frames=6,
        strength_schedule="0: (0.65)",
        noise_schedule="0: (0.02), 3: (0.06)",
        translation_z="0: (2)",
        diffusion_cadence=3,
    )
    result = bpy.ops.deforum.import_settings(filepath=str(path))
    assert result == {"FINISHED"}
    settings = scene.deforum
    assert (scene.render.resolution_x, scene.render.resolution_y) == (96, 64)
    assert (scene.frame_start, scene.frame_end) == (1, 6)
    assert settings.animation_mode == "3D"
    assert settings.strength == pytest.approx(0.65) and settings.strength_schedule == ""
    assert settings.noise_schedule == "0: (0.02), 3: (0.06)"
    assert settings.diffusion_cadence == 3
    assert settings.seed == 1
    assert settings.fps == 20 and not settings.use_scene_fps
    frames = sorted((p.frame, p.prompt, p.negative_prompt) for p in settings.prompts)
    assert frames[0][0] == 1 and frames[2] == (61, "a beautiful coconut", "photo, realistic")
    assert {m.frame for m in scene.timeline_markers} == {1, 31, 61, 91}
    # The camera now performs the file's motion: 2 Deforum units forward per frame.
    assert scene.camera.name == "Deforum Camera"
    job = job_from_scene(scene)
    assert job.series("noise") == pytest.approx([0.02, 0.1 / 3, 0.14 / 3, 0.06, 0.06, 0.06])
    motion = deforum_motion(read_camera_track(scene, 1, 6))
    assert motion["translation_z"][1:] == pytest.approx([2.0] * 5, abs=1e-4)


def test_a_broken_file_is_reported_and_changes_nothing(scene: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.txt"
    path.write_text('{"W": 512,', encoding="utf-8")
    with pytest.raises(RuntimeError, match="not valid JSON"):
        bpy.ops.deforum.import_settings(filepath=str(path))
    assert len(scene.deforum.prompts) == 0


def test_export_then_import_gives_back_the_same_render(scene: Any, tmp_path: Path) -> None:
    scene.frame_start, scene.frame_end = 1, 8
    scene.render.resolution_x, scene.render.resolution_y = 64, 48
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    camera.rotation_euler = (1.4, 0.0, 0.2)
    camera.keyframe_insert("rotation_euler", frame=1)
    camera.keyframe_insert("location", frame=1)
    camera.location = (0.5, 2.0, 0.3)
    camera.rotation_euler = (1.5, 0.0, 0.35)
    camera.keyframe_insert("rotation_euler", frame=8)
    camera.keyframe_insert("location", frame=8)
    settings = scene.deforum
    settings.strength = 0.3
    settings.keyframe_insert("strength", frame=1)
    settings.strength = 0.7
    settings.keyframe_insert("strength", frame=8)
    settings.depth_source = "estimated"
    add_prompt(scene, 1, "a harbour", "fog")
    add_prompt(scene, 5, "a storm")
    before = job_from_scene(scene)
    path = tmp_path / "out_settings.txt"
    assert bpy.ops.deforum.export_settings(filepath=str(path)) == {"FINISHED"}
    exported, _ = import_settings(path)
    assert exported.series("strength") == pytest.approx(before.series("strength"), abs=1e-6)
    assert exported.prompts.keyframes == before.prompts.keyframes

    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.deforum.import_settings(filepath=str(path)) == {"FINISHED"}
    after = job_from_scene(bpy.context.scene)
    assert after.series("strength") == pytest.approx(before.series("strength"), abs=1e-6)
    assert after.prompts.keyframes == before.prompts.keyframes
    assert after.depth.depth_source == "estimated"
    assert (after.W, after.H, after.first_frame, after.last_frame) == (64, 48, 1, 8)
    assert before.motion.camera_track is not None and after.motion.camera_track is not None
    np.testing.assert_allclose(
        after.motion.camera_track["matrices"], before.motion.camera_track["matrices"], atol=1e-5
    )


def camera_over_a_floor(scene: Any) -> Any:
    """A 3D scene, frames 1-6, a camera dollying towards a cube on a floor; no prompt."""
    scene.frame_start, scene.frame_end = 1, 6
    scene.render.resolution_x, scene.render.resolution_y = 64, 48
    scene.deforum.animation_mode = "3D"
    bpy.ops.mesh.primitive_plane_add(size=40)
    bpy.ops.mesh.primitive_cube_add(size=2.0, location=(0.0, 6.0, 1.0))
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    camera.rotation_euler = (1.45, 0.0, 0.0)
    camera.location = (0.0, -6.0, 1.5)
    camera.keyframe_insert("location", frame=1)
    camera.location = (0.0, 1.0, 1.5)  # most of the way to the cube: the view gets nearer
    camera.keyframe_insert("location", frame=6)
    return camera


def test_a_seed_above_blenders_int_range_survives_import_and_export(
    scene: Any, tmp_path: Path
) -> None:
    path = write_settings(tmp_path / "a1111.txt", seed=4294967000, max_frames=3)
    assert bpy.ops.deforum.import_settings(filepath=str(path)) == {"FINISHED"}
    assert scene.deforum.seed_text == "4294967000"
    assert job_from_scene(scene).seeds.seed == 4294967000
    exported = tmp_path / "back.txt"
    assert bpy.ops.deforum.export_settings(filepath=str(exported)) == {"FINISHED"}
    assert json.loads(exported.read_text(encoding="utf-8"))["seed"] == 4294967000


def test_clearing_the_full_seed_gives_seed_back_and_a_bad_one_names_the_fix(scene: Any) -> None:
    add_prompt(scene, 1, "a forest")
    scene.deforum.animation_mode = "2D"  # no camera needed
    scene.deforum.seed = 12
    scene.deforum.seed_text = "4294967295"
    assert job_from_scene(scene).seeds.seed == 2**32 - 1
    scene.deforum.seed_text = ""
    assert job_from_scene(scene).seeds.seed == 12
    scene.deforum.seed_text = "4294967296"
    with pytest.raises(DeforumInputError, match=r"seed_text: '4294967296' .* to 4294967295"):
        job_from_scene(scene)
    assert any("seed_text" in p.message for p in scene_problems(scene))


def test_a_small_seed_clears_the_full_seed_on_import(scene: Any, tmp_path: Path) -> None:
    scene.deforum.seed_text = "4000000000"
    path = write_settings(tmp_path / "small.txt", seed=77, max_frames=3)
    assert bpy.ops.deforum.import_settings(filepath=str(path)) == {"FINISHED"}
    assert (scene.deforum.seed, scene.deforum.seed_text) == (77, "")


def test_a_scene_without_prompts_exports_and_reimports_without_prompts(
    scene: Any, tmp_path: Path
) -> None:
    camera_over_a_floor(scene)
    path = tmp_path / "motion_only.txt"
    assert bpy.ops.deforum.export_settings(filepath=str(path)) == {"FINISHED"}
    assert json.loads(path.read_text(encoding="utf-8"))["prompts"] == {"0": ""}
    assert bpy.ops.deforum.import_settings(filepath=str(path)) == {"FINISHED"}
    assert len(scene.deforum.prompts) == 0  # a render still asks for a prompt
    with pytest.raises(DeforumInputError, match=r"add a prompt .*motion preview"):
        job_from_scene(scene)


def test_export_script_and_render_share_the_first_frames_translation_scale(
    scene: Any, tmp_path: Path
) -> None:
    camera_over_a_floor(scene)
    scene.deforum.depth_source = "flat"
    scene.frame_set(6)  # the view from the last frame is nearer: it must not count
    first = scene_translation_scale(scene, frame=1)
    assert first != pytest.approx(scene_translation_scale(scene), rel=0.1)
    assert translation_scale(scene) == pytest.approx(first)
    expected = deforum_motion(read_camera_track(scene), first)["translation_z"]
    button = tmp_path / "button.txt"
    assert bpy.ops.deforum.export_settings(filepath=str(button)) == {"FINISHED"}
    script = tmp_path / "script.txt"
    render_script().export_deforum(render_script().Addon(deforum_blender), scene, {}, str(script))
    prepared = prepare_render(scene, RenderRequest(preview=True, out_dir=str(tmp_path / "out")))
    written = tmp_path / "worker.txt"
    deforum_settings.write_settings(prepared.job, written)  # what the worker writes
    session = RenderSession(prepared, client=None)
    session.handle({"type": "done", "frames": 6, "out_dir": str(prepared.out), "seconds": 1.0})
    assert not (prepared.out / "deforum_settings.txt").exists()  # Blender rewrites nothing
    assert scene.frame_current == 6
    for path in (button, script, written):
        schedule = json.loads(path.read_text(encoding="utf-8"))["translation_z"]
        assert evaluate_schedule(schedule, 6) == pytest.approx(expected, abs=1e-9), path.name
    scene.deforum.translation_scale = 80.0  # a chosen scale wins everywhere
    assert translation_scale(scene) == 80.0


def test_the_three_exports_of_a_scene_are_byte_identical(scene: Any, tmp_path: Path) -> None:
    camera_over_a_floor(scene)
    scene.deforum.depth_source = "flat"
    button = tmp_path / "button.txt"
    assert bpy.ops.deforum.export_settings(filepath=str(button)) == {"FINISHED"}
    script = tmp_path / "script.txt"
    render_script().export_deforum(render_script().Addon(deforum_blender), scene, {}, str(script))
    job = job_from_scene(scene, need_prompts=False)
    assert job.motion.translation_scale == pytest.approx(translation_scale(scene))
    worker = tmp_path / "worker.txt"
    deforum_settings.write_settings(
        job, worker
    )  # the engine's own deforum_settings.txt of this job
    assert button.read_bytes() == script.read_bytes() == worker.read_bytes()
    scene.deforum.translation_scale = 80.0
    assert job_from_scene(scene, need_prompts=False).motion.translation_scale == 80.0


def render_script() -> Any:
    """scripts/render_deforum.py as a module (its functions, not its main)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "render_deforum.py"
    spec = importlib.util.spec_from_file_location("render_deforum", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sampler_and_checkpoint_schedules_reach_the_scene_and_the_job(
    scene: Any, tmp_path: Path
) -> None:
    samplers, models = '0: ("Euler a"), 3: ("DDIM")', '0: ("/m/a.safetensors"), 2: ("org/b")'
    path = write_settings(
        tmp_path / "run_settings.txt",
        max_frames=6,
        enable_sampler_scheduling=True,
        sampler_schedule=samplers,
        enable_checkpoint_scheduling=True,
        checkpoint_schedule=models,
    )
    assert bpy.ops.deforum.import_settings(filepath=str(path)) == {"FINISHED"}
    assert (scene.deforum.sampler_schedule, scene.deforum.checkpoint_schedule) == (samplers, models)
    job = job_from_scene(scene)
    assert job.frame_samplers() == ["Euler a"] * 3 + ["DDIM"] * 3
    assert job.frame_models()[1:3] == ["/m/a.safetensors", "org/b"]
    scene.deforum.sampler_schedule = ""
    assert job_from_scene(scene).sampler_schedule is None
