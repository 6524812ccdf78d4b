"""Run by ``tests/blender/test_render_script.py`` in a fresh interpreter (``run_test_script``).

Emission checkers (clean at few samples; tests/blender/ground_truth.py), one .blend per
camera move over frames 1-3 (linear keys), and Blender's own render of each frame. argv:
output folder, width, height, samples.
"""

import math
import sys
from pathlib import Path

import bpy

import deforum_blender
from deforum_blender.blender.prompts import add_prompt
from tests.blender.ground_truth import build_checker_room, setup_clean_cycles

out = Path(sys.argv[1])
width, height, samples = (int(v) for v in sys.argv[2:5])
bpy.ops.wm.read_factory_settings(use_empty=True)
if not hasattr(bpy.types.Scene, "deforum"):
    deforum_blender.register()
scene = bpy.context.scene
setup_clean_cycles(scene, width, height, samples)
scene.frame_start, scene.frame_end = 1, 3
build_checker_room()

settings = scene.deforum
settings.animation_mode = "3D"
settings.diffusion_cadence = 1
settings.make_video = False
add_prompt(scene, 1, "a checkered room")

BASE_LOCATION, BASE_ROTATION, BASE_LENS = (0.0, -4.0, 1.6), (math.radians(82), 0.0, 0.0), 30.0
# Per-frame steps of each move: (location, rotation, lens).
STEPS = {
    "pan": ((0, 0, 0), (0, 0, math.radians(1.5)), 0.0),
    "dolly": ((0, 0.25, 0), (0, 0, 0), 0.0),
    "mixed_lens": ((0.08, 0.15, 0), (0, 0, math.radians(1.0)), 2.0),
}


def linear(*ids):
    for thing in ids:
        for fcurve in (
            thing.animation_data.action.layers[0]
            .strips[0]
            .channelbag(thing.animation_data.action_slot)
            .fcurves
        ):
            for point in fcurve.keyframe_points:
                point.interpolation = "LINEAR"


def new_camera(name):
    data = bpy.data.cameras.new(name)
    camera = bpy.data.objects.new(name, data)
    scene.collection.objects.link(camera)
    scene.camera = camera
    data.lens = BASE_LENS
    return camera


for move in ("pan", "dolly", "mixed_lens", "rig_track_to"):
    for old in [o for o in scene.objects if o.type in ("CAMERA", "EMPTY")]:
        bpy.data.objects.remove(old)
    camera = new_camera(f"Camera {move}")
    if move == "rig_track_to":
        rig = bpy.data.objects.new("Rig", None)
        target = bpy.data.objects.new("Target", None)
        scene.collection.objects.link(rig)
        scene.collection.objects.link(target)
        target.location = (0.3, 5.0, 0.8)
        camera.parent = rig
        for frame in (1, 3):
            rig.location = (0.12 * (frame - 1), -4.0 + 0.15 * (frame - 1), 1.6)
            rig.keyframe_insert("location", frame=frame)
        linear(rig)
        track = camera.constraints.new("TRACK_TO")
        track.target = target
        track.track_axis, track.up_axis = "TRACK_NEGATIVE_Z", "UP_Y"
    else:
        location, rotation, lens = STEPS[move]
        for frame in (1, 3):
            steps = frame - 1
            camera.location = [b + d * steps for b, d in zip(BASE_LOCATION, location, strict=True)]
            camera.rotation_euler = [
                b + d * steps for b, d in zip(BASE_ROTATION, rotation, strict=True)
            ]
            camera.data.lens = BASE_LENS + lens * steps
            camera.keyframe_insert("location", frame=frame)
            camera.keyframe_insert("rotation_euler", frame=frame)
            camera.data.keyframe_insert("lens", frame=frame)
        linear(camera, camera.data)
    folder = out / move
    folder.mkdir(parents=True, exist_ok=True)
    for frame in (1, 2, 3):
        scene.frame_set(frame)
        scene.render.filepath = str(folder / f"blender_{frame:05d}.png")
        bpy.ops.render.render(write_still=True)
    scene.frame_set(1)
    bpy.ops.wm.save_as_mainfile(filepath=str(folder / "scene.blend"))
