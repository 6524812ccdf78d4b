"""Run by ``tests/blender/test_render_script.py`` in a fresh interpreter (``run_test_script``).

A 3D scene: a camera dollying and panning over a floor and a cube, one prompt, the tiny
model, 64×64, three frames, four steps. argv: blend path, model folder.
"""

import sys

import bpy

import deforum_blender
from deforum_blender.blender.prompts import add_prompt
from tests.blender.ground_truth import key_camera, use_tiny_model

blend, model = sys.argv[1:3]
bpy.ops.wm.read_factory_settings(use_empty=True)
if not hasattr(bpy.types.Scene, "deforum"):
    deforum_blender.register()
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 1
scene.render.resolution_x = scene.render.resolution_y = 64
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, 3
bpy.ops.mesh.primitive_plane_add(size=20)
bpy.ops.mesh.primitive_cube_add(size=1.5, location=(0, 4, 0.75))
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(camera)
scene.camera = camera
key_camera(camera, {1: ((0.0, -4.0, 1.6), (82, 0, 0)), 3: ((0.0, -3.4, 1.6), (82, 0, 4.0))})
settings = scene.deforum
use_tiny_model(settings, model, seed=7)
settings.output_dir = "//render/"
add_prompt(scene, 1, "a red cube on a floor")
bpy.ops.wm.save_as_mainfile(filepath=blend)
