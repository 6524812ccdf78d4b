"""Run by ``tests/blender/test_controlnet_canny.py`` in a fresh interpreter.

White emission shapes on black (no world): a cube turned on two axes and a sphere, off
the frame's centre, so the render's only edges are the shapes' outlines. 96×64, the
camera sliding and turning over two frames, 16 clean Cycles samples, the tiny model.
argv: blend path, model folder.
"""

import math
import sys

import bpy

import deforum_blender
from deforum_blender.blender.prompts import add_prompt
from tests.blender.ground_truth import key_camera, setup_clean_cycles, use_tiny_model

blend, model = sys.argv[1:3]
bpy.ops.wm.read_factory_settings(use_empty=True)
if not hasattr(bpy.types.Scene, "deforum"):
    deforum_blender.register()
scene = bpy.context.scene
setup_clean_cycles(scene, 96, 64, samples=16)
scene.frame_start, scene.frame_end = 1, 2
white = bpy.data.materials.new("white")
white.use_nodes = True
nodes = white.node_tree.nodes
nodes.clear()
emission = nodes.new("ShaderNodeEmission")
emission.inputs["Strength"].default_value = 1.0
output = nodes.new("ShaderNodeOutputMaterial")
white.node_tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
bpy.ops.mesh.primitive_cube_add(
    size=1.4, location=(-1.1, 6.0, 0.3), rotation=(math.radians(25), 0, math.radians(35))
)
bpy.context.active_object.data.materials.append(white)
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, location=(1.3, 5.0, -0.4))
bpy.ops.object.shade_smooth()
bpy.context.active_object.data.materials.append(white)
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(camera)
scene.camera = camera
key_camera(camera, {1: ((0.0, 0.0, 0.0), (90, 0, 0)), 2: ((0.4, 0.2, 0.1), (90, 0, -4))})
settings = scene.deforum
use_tiny_model(settings, model, seed=7)
settings.output_dir = "//render/"
add_prompt(scene, 1, "two white shapes")
bpy.ops.wm.save_as_mainfile(filepath=blend)
