"""Run by ``tests/blender/test_worker_offline.py`` in a fresh interpreter
(``run_test_script``).

A scene whose model is a hub id that is not in the cache. argv: blend path, model.
"""

import sys

import bpy

import deforum_blender
from deforum_blender.blender.prompts import add_prompt

blend, model = sys.argv[1:3]
bpy.ops.wm.read_factory_settings(use_empty=True)
if not hasattr(bpy.types.Scene, "deforum"):
    deforum_blender.register()
scene = bpy.context.scene
scene.render.resolution_x = scene.render.resolution_y = 64
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, 2
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(camera)
scene.camera = camera
scene.deforum.model = model
scene.deforum.device = "cpu"
scene.deforum.make_video = False
add_prompt(scene, 1, "a valley")
bpy.ops.wm.save_as_mainfile(filepath=blend)
