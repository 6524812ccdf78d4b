"""``scripts/render_deforum.py`` renders what was asked or refuses it (issue 21).

Blender would clamp or round a scene setting silently (a 100000-pixel width to 65536, a
frame before 0 to 0, a width of 60 to 56): the script refuses those first, with exit
status 2 and one line naming the option, as the CLI does, before anything renders.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deforum_blender.core.folder_lock import folder_lock
from tests.helpers import run_python, run_render_script

pytestmark = pytest.mark.slow

# A 64×64 scene over frames 1-3 with a camera, one prompt and the tiny model. argv: blend, model.
SCENE = r"""
import sys
import bpy
import deforum_blender
from deforum_blender.blender.prompts import add_prompt
from tests.blender.ground_truth import use_tiny_model

blend, model = sys.argv[1:3]
bpy.ops.wm.read_factory_settings(use_empty=True)
if not hasattr(bpy.types.Scene, "deforum"):
    deforum_blender.register()
scene = bpy.context.scene
scene.render.resolution_x = scene.render.resolution_y = 64
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, 3
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(camera)
scene.camera = camera
use_tiny_model(scene.deforum, model, seed=7)
add_prompt(scene, 1, "a red cube on a floor")
bpy.ops.wm.save_as_mainfile(filepath=blend)
"""


@pytest.fixture(scope="module")
def scene_blend(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Path:
    blend = tmp_path_factory.mktemp("input_scene") / "scene.blend"
    result = run_python(SCENE, str(blend), str(tiny_models / "sd"))
    assert result.returncode == 0, result.stderr[-3000:]
    return blend


@pytest.mark.parametrize(
    ("asked", "said"),
    [
        (("--frames", "1-999999999"), "--frames 1-999999999: 999999999 frames is more than"),
        (("--set", "max_frames=1e15"), "1000000000000000 frames is more than 1000000"),
        (("--set", "max_frames=2.5"), "--set max_frames=2.5: write a whole number"),
        (("--set", "W=100000"), "--set W=100000: 100000 is outside 8–8192"),  # not 65536
        (("--set", "W=60"), "--set W=60: 60 is not a multiple of 8; use 64"),  # as the CLI
        (("--set", "first_frame=-2147483648"), "frame -2147483648 is outside Blender's frames"),
        (("--set", "fps=1e308"), "fps: 1e+308 is above 32767"),  # before rendering
    ],
)
def test_a_setting_blender_would_change_is_refused_before_anything_renders(
    scene_blend: Path, tmp_path: Path, asked: tuple[str, ...], said: str
) -> None:
    out = tmp_path / "out"
    result = run_render_script(
        "--blend", str(scene_blend), "--out", str(out), "--preview", "--depth", "flat", *asked,
        cwd=tmp_path, timeout=120,  # --frames 1-999999999 read the camera for minutes
    )  # fmt: skip
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert said in result.stderr.strip().splitlines()[-1], result.stderr[-2000:]
    assert not (out / "frames").exists()


def test_a_blend_that_is_not_a_blend_is_bad_input(tmp_path: Path) -> None:
    text = tmp_path / "notes.blend"
    text.write_text("not a .blend")
    result = run_render_script("--blend", str(text), cwd=tmp_path)
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert "--blend" in line and "notes.blend" in line and "give a .blend file" in line, line


def test_a_folder_another_render_holds_is_neither_cleared_nor_rendered_into(
    scene_blend: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    theirs = out / "frames" / "frame_00001.png"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"a frame of the render that holds the folder")
    with folder_lock(out) as holder:
        result = run_render_script(
            "--blend", str(scene_blend), "--out", str(out), "--preview", "--depth", "flat",
            cwd=tmp_path, timeout=120,
        )  # fmt: skip
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert f"locked by process {holder.pid}" in result.stderr.strip().splitlines()[-1]
    assert theirs.read_bytes() == b"a frame of the render that holds the folder"
