"""Run by ``tests/blender/test_video_strip.py`` in a fresh interpreter (``run_test_script``)."""

import sys

import bpy

import deforum_blender
from deforum_blender.blender.prompts import add_prompt

blend, model, movie = sys.argv[1:4]
bpy.ops.wm.read_factory_settings(use_empty=True)
if not hasattr(bpy.types.Scene, "deforum"):
    deforum_blender.register()
scene = bpy.context.scene
scene.render.resolution_x = scene.render.resolution_y = 64
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, 3
scene.sequence_editor_create().strips.new_movie("clip", movie, 1, -1)
settings = scene.deforum
settings.animation_mode = "Video Input"
settings.model = model
settings.device = "cpu"
settings.steps = 4
settings.make_video = False
add_prompt(scene, 1, "a grey wall")
# No video_init_path: the render finds the sequencer's movie strip itself.
bpy.ops.wm.save_as_mainfile(filepath=blend)
