"""Run by ``tests/blender/test_webui_round_trip.py`` in a fresh interpreter
(``run_test_script``).

argv: kind ("move" or "rig"), the path of S, the path of the frozen copy.
"""

import math
import sys

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
