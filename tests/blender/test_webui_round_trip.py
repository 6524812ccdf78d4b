"""Export → the webui's own keys → import brings the scene camera back (issue 14, item 15).

Real ``bpy``, through ``scripts/render_deforum.py`` as a user runs it: a scene S with no
prompt is exported with ``--export-deforum F --no-render``; the private ``deforum_blender``
key is dropped from F as the webui drops it; F is imported into a copy of S whose camera
is frozen at the first frame (``--import-deforum F --save B --no-render``). B's camera
must match S's on every frame within 2e-3 scene units and 0.05°, and its lens too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.camera import strip_scale
from tests.conftest import run_python
from tests.helpers import run_render_script

pytestmark = pytest.mark.slow

FRAMES = 12

# argv: kind ("move" or "rig"), the path of S, the path of the frozen copy.
BUILD = r"""
import math, sys
import bpy
import deforum_blender

kind, scene_path, frozen_path = sys.argv[1:4]
bpy.ops.wm.read_factory_settings(use_empty=True)
deforum_blender.register()
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y = 64, 48
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, 12
scene.deforum.animation_mode = "3D"
scene.deforum.output_dir = "//render/"
bpy.ops.mesh.primitive_plane_add(size=40)
bpy.ops.mesh.primitive_cube_add(size=2.0, location=(0.5, 6.0, 1.0))
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(camera)
scene.camera = camera


def key(owner, frame, location, rotation):
    owner.location = location
    owner.rotation_euler = [math.radians(a) for a in rotation]
    owner.keyframe_insert("location", frame=frame)
    owner.keyframe_insert("rotation_euler", frame=frame)


if kind == "move":
    # All six axes (Bezier, so every frame differs) and a lens change.
    key(camera, 1, (0.0, -5.0, 1.5), (80, 0, 0))
    key(camera, 6, (0.8, -4.2, 1.9), (74, 6, 9))
    key(camera, 12, (-0.4, -3.1, 1.2), (86, -5, -12))
    camera.data.lens = 35.0
    camera.data.keyframe_insert("lens", frame=1)
    camera.data.lens = 55.0
    camera.data.keyframe_insert("lens", frame=12)
else:
    # A camera on a moving, turning rig, aimed by Track To at a moving target.
    rig = bpy.data.objects.new("Rig", None)
    target = bpy.data.objects.new("Target", None)
    scene.collection.objects.link(rig)
    scene.collection.objects.link(target)
    key(rig, 1, (0.0, -4.0, 0.0), (0, 0, 0))
    key(rig, 12, (1.5, -2.5, 0.4), (0, 0, 25))
    key(target, 1, (0.5, 6.0, 1.0), (0, 0, 0))
    key(target, 12, (-0.5, 5.0, 0.5), (0, 0, 0))
    camera.parent = rig
    camera.location = (0.0, -1.0, 1.6)
    track = camera.constraints.new("TRACK_TO")
    track.target = target
    track.track_axis, track.up_axis = "TRACK_NEGATIVE_Z", "UP_Y"
scene.frame_set(9)  # saved away from the first frame: the scale is the first frame's
bpy.ops.wm.save_as_mainfile(filepath=scene_path)

# The copy: the camera holds its first frame's pose and lens, nothing moves it.
scene.frame_set(1)
pose = camera.matrix_world.copy()
lens = camera.data.lens
camera.constraints.clear()
camera.parent = None
camera.animation_data_clear()
camera.data.animation_data_clear()
camera.matrix_world = pose
camera.data.lens = lens
scene.frame_set(7)
bpy.ops.wm.save_as_mainfile(filepath=frozen_path)
"""

# argv: a .blend; prints the scene camera's world matrices and lenses on every frame.
READ = r"""
import json, sys
import bpy
from deforum_blender.blender.camera_track import read_camera_track

bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
track = read_camera_track(bpy.context.scene)
print(json.dumps({
    "frames": track.frames,
    "matrices": track.matrices.tolist(),
    "lenses": [c.lens for c in track.cameras],
    "camera": bpy.context.scene.camera.name,
}))
"""


def read_cameras(blend: Path) -> dict[str, Any]:
    result = run_python(READ, str(blend))
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def rotation_degrees(a: np.ndarray, b: np.ndarray) -> float:
    """The angle of the rotation between two poses' orientations."""
    relative = strip_scale(a)[:3, :3].T @ strip_scale(b)[:3, :3]
    return math.degrees(math.acos(min(1.0, max(-1.0, (np.trace(relative) - 1.0) / 2.0))))


@pytest.mark.parametrize("kind", ["move", "rig"])
def test_a_camera_comes_back_through_the_webuis_own_keys(kind: str, tmp_path: Path) -> None:
    original, frozen = tmp_path / "S.blend", tmp_path / "frozen.blend"
    built = run_python(BUILD, kind, str(original), str(frozen))
    assert built.returncode == 0, built.stderr[-3000:]

    exported = tmp_path / "settings.txt"
    result = run_render_script(
        "--blend", str(original), "--export-deforum", str(exported), "--no-render", cwd=tmp_path
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(exported.read_text(encoding="utf-8"))
    del data["deforum_blender"]  # the webui keeps only its own keys
    exported.write_text(json.dumps(data), encoding="utf-8")

    brought_back = tmp_path / "B.blend"
    result = run_render_script(
        "--blend", str(frozen), "--import-deforum", str(exported), "--save", str(brought_back),
        "--no-render", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    before, after = read_cameras(original), read_cameras(brought_back)
    assert after["camera"] == "Deforum Camera"
    assert after["frames"] == before["frames"] == list(range(1, FRAMES + 1))
    for frame, a, b in zip(before["frames"], before["matrices"], after["matrices"], strict=True):
        a, b = np.array(a), np.array(b)
        moved = float(np.linalg.norm(a[:3, 3] - b[:3, 3]))
        assert moved < 2e-3, f"frame {frame}: camera {moved:.2e} units away"
        assert rotation_degrees(a, b) < 0.05, f"frame {frame}: turned {rotation_degrees(a, b)}°"
    np.testing.assert_allclose(after["lenses"], before["lenses"], atol=1e-3)


def test_a_motion_preview_needs_no_prompt_and_a_render_names_the_fix(tmp_path: Path) -> None:
    original, frozen = tmp_path / "S.blend", tmp_path / "frozen.blend"
    built = run_python(BUILD, "move", str(original), str(frozen))
    assert built.returncode == 0, built.stderr[-3000:]
    preview = run_render_script(
        "--blend", str(original), "--preview", "--depth", "flat", "--out", str(tmp_path / "p"),
        cwd=tmp_path,
    )  # fmt: skip
    assert preview.returncode == 0, preview.stderr[-3000:]
    assert len(list((tmp_path / "p" / "frames").glob("frame_*.png"))) == FRAMES
    render = run_render_script(
        "--blend", str(original), "--depth", "flat", "--out", str(tmp_path / "r"), cwd=tmp_path
    )  # fmt: skip
    assert render.returncode == 2
    assert "add a prompt" in render.stderr.strip().splitlines()[-1]
