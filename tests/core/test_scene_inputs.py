"""core/scene_inputs.py: the frames Blender renders for the worker (Z pass, scene render)."""

from __future__ import annotations

from deforum_blender.core.job import Job
from deforum_blender.core.overrides import apply_overrides


def job(**settings: str) -> Job:
    """Frames 3-6 with ``settings`` as ``--set`` takes them."""
    return apply_overrides(Job(), {"first_frame": "3", "max_frames": "4", **settings})


def test_scene_depth_in_3d_needs_every_frame() -> None:
    from deforum_blender.core.scene_inputs import scene_depth_frames, scene_render_frames

    scene_depth = job(animation_mode="3D", depth_source="scene")
    assert scene_depth_frames(scene_depth) == [3, 4, 5, 6]
    assert scene_render_frames(scene_depth) == []


def test_estimated_depth_needs_no_z_pass() -> None:
    from deforum_blender.core.scene_inputs import scene_depth_frames

    assert scene_depth_frames(job(animation_mode="3D")) == []
    assert scene_depth_frames(job(animation_mode="2D", depth_source="scene")) == []


def test_scene_guided_frames_get_a_render_and_with_a_depth_mask_a_z_pass() -> None:
    from deforum_blender.core.scene_inputs import scene_depth_frames, scene_render_frames

    guided = "0: (0), 1: (0.5), 2: (0)"
    plain = job(animation_mode="2D", scene_blend=guided)
    assert scene_render_frames(plain) == [4]
    assert scene_depth_frames(plain) == []
    masked = job(animation_mode="2D", scene_blend=guided, scene_blend_max_depth="10")
    assert scene_depth_frames(masked) == [4]


def test_interpolation_mode_renders_no_scene_frames() -> None:
    from deforum_blender.core.scene_inputs import scene_render_frames

    guided = job(animation_mode="Interpolation", scene_blend="0: (1)")
    assert scene_render_frames(guided) == []


def test_a_scene_normal_unit_needs_the_normal_pass_of_every_frame_and_no_z_pass() -> None:
    from deforum_blender.core.output_layout import scene_normal_frame_path
    from deforum_blender.core.scene_inputs import scene_depth_frames, scene_normal_frames

    unit = job(animation_mode="2D", cn_1_enabled="true", cn_1_module="scene_normal", cn_1_model="m")
    assert scene_normal_frames(unit) == [3, 4, 5, 6]
    assert scene_depth_frames(unit) == []
    assert scene_normal_frames(job(animation_mode="3D", depth_source="scene")) == []
    off = job(animation_mode="2D", cn_1_enabled="false", cn_1_module="scene_normal")
    assert scene_normal_frames(off) == []
    assert scene_normal_frame_path("out", 12).as_posix() == "out/scene_normal/normal_00012.npy"
