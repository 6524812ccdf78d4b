"""Run by ``tests/blender/test_farm_tasks.py`` in a fresh interpreter (``run_test_script``).

A shot of frames 1-8 cut at frame 5 (timeline markers bind camera A, then B), rendered
with the tiny model at 64×64 and flat depth, three farm seeds. Saves it, then evaluates
the Flamenco job type's ``eval`` settings the way Flamenco's Blender add-on does and
prints them with the camera track's cuts as JSON. argv: blend path, model folder,
JOB_TYPE JSON file, render output root.
"""

import json
import sys
from pathlib import Path

import bpy

import deforum_blender
from deforum_blender.blender.camera_track import read_camera_track
from deforum_blender.blender.prompts import add_prompt
from tests.blender.ground_truth import CameraKeys, key_camera, use_tiny_model

blend, model, job_type_file, output_root = sys.argv[1:5]
bpy.ops.wm.read_factory_settings(use_empty=True)
if not hasattr(bpy.types.Scene, "deforum"):
    deforum_blender.register()
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 1
scene.render.resolution_x = scene.render.resolution_y = 64
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, 8
bpy.ops.mesh.primitive_plane_add(size=20)
bpy.ops.mesh.primitive_cube_add(size=1.5, location=(0, 4, 0.75))
shots: dict[str, CameraKeys] = {
    "A": {1: ((0.0, -4.0, 1.6), (82, 0, 0)), 4: ((0.0, -3.4, 1.6), (82, 0, 4.0))},
    "B": {5: ((3.0, -3.0, 2.0), (75, 0, 30)), 8: ((2.6, -2.6, 2.0), (75, 0, 36))},
}
cameras = {}
for name, keys in shots.items():
    camera = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    scene.collection.objects.link(camera)
    key_camera(camera, keys)
    cameras[name] = camera
scene.camera = cameras["A"]
for frame, name in ((1, "A"), (5, "B")):
    scene.timeline_markers.new(f"cam_{name}", frame=frame).camera = cameras[name]
settings = scene.deforum
use_tiny_model(settings, model, seed=7)
settings.depth_source = "flat"
settings.output_dir = "//render/"
settings.farm_seeds = "1, 2, 3"
add_prompt(scene, 1, "a red cube on a floor")
bpy.ops.wm.save_as_mainfile(filepath=blend)


# Flamenco's add-on: eval(expression, {}, these locals) for every setting with an eval.
class Settings:
    render_output_root = output_root


def abspath(path: str) -> str:
    return str(Path(bpy.path.abspath(path)))


names = {
    "bpy": bpy,
    "C": bpy.context,
    "jobname": "shot",
    "Path": Path,
    "abspath": abspath,
    "last_n_dir_parts": lambda n, file_path=None: "",
    "settings": Settings,
}
job_type = json.loads(Path(job_type_file).read_text(encoding="utf-8"))
evaluated = {s["key"]: eval(s["eval"], {}, names) for s in job_type["settings"] if "eval" in s}
print(json.dumps({"settings": evaluated, "cuts": read_camera_track(scene).cuts}))
