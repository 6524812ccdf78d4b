"""Sequencer strips as the video of Video Input mode, and the per-frame scene renders (real bpy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from deforum_blender.blender import scene_render, video_strip  # noqa: E402
from deforum_blender.blender.image_strip import OUTPUT_KEY  # noqa: E402
from deforum_blender.core.errors import DeforumInputError  # noqa: E402
from deforum_blender.core.job import Job  # noqa: E402
from deforum_blender.core.output_layout import frame_files, scene_render_frame_path  # noqa: E402
from deforum_blender.engine.frames import read_frame, write_png_atomic  # noqa: E402
from tests.helpers import (  # noqa: E402
    grey_video,
    level,
    run_render_script,
    run_test_script,
)


@pytest.fixture
def scene(registered_scene: Any) -> Any:
    """The registered add-on in an empty scene, frames 1-3, in Video Input mode."""
    scene = registered_scene
    scene.frame_start, scene.frame_end = 1, 3
    scene.deforum.animation_mode = "Video Input"
    return scene


def test_the_movie_strip_on_screen_gives_the_video_and_its_offset(
    scene: Any, tmp_path: Path
) -> None:
    movie = grey_video(tmp_path)
    editor = scene.sequence_editor_create()
    muted = editor.strips.new_movie("muted", str(movie), 1, -5)
    muted.mute = True
    output = editor.strips.new_image("Deforum", str(movie), 2, 1)
    output[OUTPUT_KEY] = str(tmp_path / "render")
    editor.strips.new_movie("clip", str(movie), 3, -1)
    found = video_strip.find_video_strip(scene, 1)
    assert found == video_strip.VideoStrip("clip", "MOVIE", str(movie), 2)
    assert video_strip.apply_video_strip(scene) == found
    settings = scene.deforum
    assert (settings.video_init_path, settings.extract_from_frame) == (str(movie), 2)
    assert video_strip.apply_video_strip(scene) is None  # a chosen video is kept


def test_an_image_strip_gives_its_folder_and_where_its_first_image_sits(
    scene: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "frames"
    for n in range(6):
        write_png_atomic(folder / f"shot_{n:02d}.png", np.full((8, 8, 3), n, np.uint8))
    editor = scene.sequence_editor_create()
    strip = editor.strips.new_image("shot", str(folder / "shot_02.png"), 1, 1)
    for name in ("shot_03.png", "shot_04.png"):
        strip.elements.append(name)
    found = video_strip.find_video_strip(scene, 2)
    assert found == video_strip.VideoStrip("shot", "IMAGE", str(folder), 3)


def test_a_strip_that_starts_after_the_first_frame_is_refused(scene: Any, tmp_path: Path) -> None:
    editor = scene.sequence_editor_create()
    editor.strips.new_movie("late", str(grey_video(tmp_path)), 1, 3)
    with pytest.raises(DeforumInputError, match="starts 2 frames after the render's first frame"):
        video_strip.apply_video_strip(scene)


def test_scene_renders_ignore_the_sequencer_and_restore_the_settings(
    scene: Any, tmp_path: Path
) -> None:
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.render.resolution_x = scene.render.resolution_y = 32
    scene.render.resolution_percentage = 100
    scene.world = bpy.data.worlds.new("sky")
    scene.world.color = (0.8, 0.8, 0.8)  # lights the cube, and a bright background
    bpy.ops.mesh.primitive_cube_add(size=2, location=(0, 0, 0))
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    camera.location = (0, -6, 0)
    camera.rotation_euler = (np.pi / 2, 0, 0)
    camera.keyframe_insert("location", frame=1)
    camera.location = (3, -6, 0)
    camera.keyframe_insert("location", frame=3)
    editor = scene.sequence_editor_create()
    red = editor.strips.new_effect("red", "COLOR", 1, frame_start=1, length=10)
    red.color = (1.0, 0.0, 0.0)
    scene.render.filepath = "//elsewhere/"
    scene.frame_set(2)
    job = Job.from_dict({**Job().to_dict(), "last_frame": 3, "params": {"scene_blend": [0, 1, 1]}})
    written = scene_render.render_scene_guide(scene, job, tmp_path)
    assert written == [scene_render_frame_path(tmp_path, f) for f in (2, 3)]
    second, third = (read_frame(path, (32, 32)) for path in written)
    assert second.std() > 1 and not np.array_equal(second, third)  # the scene, moving
    assert not (second[..., 0] > 200).all()  # not the red strip
    assert scene.render.use_sequencer and scene.render.filepath == "//elsewhere/"
    assert scene.frame_current == 2
    assert scene_render.render_scene_guide(scene, job, tmp_path, resume=True) == []


@pytest.mark.slow
def test_a_movie_strip_drives_video_input_through_the_render_script(
    tmp_path: Path, tiny_models: Path
) -> None:
    movie = grey_video(tmp_path, size=(64, 64))
    blend = tmp_path / "clip.blend"
    made = run_test_script("movie_scene", str(blend), str(tiny_models / "sd"), str(movie))
    assert made.returncode == 0, made.stderr[-3000:]
    out = tmp_path / "out"
    result = run_render_script(
        "--blend",
        str(blend),
        "--out",
        str(out),
        "--set",
        "strength_schedule=0: (1.0)",  # keep each video frame as it is
        "--set",
        "color_coherence=None",
        cwd=tmp_path,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    frames = frame_files(out)
    assert sorted(frames) == [1, 2, 3]
    means = [float(read_frame(path).mean()) for path in frames.values()]
    # The strip starts at frame -1, so frame 1 shows the movie's frame 2.
    np.testing.assert_allclose(means, [level(2), level(3), level(4)], atol=3)
