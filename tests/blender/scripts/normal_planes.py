"""Run by ``tests/blender/test_controlnet_normals.py`` in a fresh interpreter.

Five small planes in front of a camera that looks along world +Y (camera right is world
+X, camera up world +Z): one facing the camera, one turned 40° to face the camera's
right, left, up and down, each at its place in a plus sign. 64×64, one frame, the tiny
model. argv: blend path, model folder.
"""

import math
import sys

import bpy

import deforum_blender
from deforum_blender.blender.prompts import add_prompt
from tests.blender.ground_truth import use_tiny_model

TURN = 40.0  # degrees each outer plane is turned away from facing the camera
SPACING = 1.3  # metres between plane centres, at 6 m from the camera
# name: (x, z) of its centre, (X, Z) Euler degrees; a plane's +Z turned by X=90° faces −Y.
PLANES = {
    "facing": ((0.0, 0.0), (90.0, 0.0)),
    "right": ((SPACING, 0.0), (90.0, TURN)),
    "left": ((-SPACING, 0.0), (90.0, -TURN)),
    "up": ((0.0, SPACING), (90.0 - TURN, 0.0)),
    "down": ((0.0, -SPACING), (90.0 + TURN, 0.0)),
}

blend, model = sys.argv[1:3]
bpy.ops.wm.read_factory_settings(use_empty=True)
if not hasattr(bpy.types.Scene, "deforum"):
    deforum_blender.register()
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 1
scene.render.resolution_x = scene.render.resolution_y = 64
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, 1
for name, ((x, z), (rx, rz)) in PLANES.items():
    bpy.ops.mesh.primitive_plane_add(
        size=1.0, location=(x, 6.0, z), rotation=(math.radians(rx), 0.0, math.radians(rz))
    )
    bpy.context.active_object.name = name
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(camera)
camera.rotation_euler = (math.radians(90.0), 0.0, 0.0)
scene.camera = camera
settings = scene.deforum
use_tiny_model(settings, model, seed=7)
settings.output_dir = "//render/"
add_prompt(scene, 1, "five tiles")
bpy.ops.wm.save_as_mainfile(filepath=blend)
