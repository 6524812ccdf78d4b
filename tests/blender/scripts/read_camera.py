"""Run by ``tests/blender/test_webui_round_trip.py`` in a fresh interpreter
(``run_test_script``).

argv: a .blend; prints the scene camera's world matrices and lenses on every frame.
"""

import json
import sys

import bpy

from deforum_blender.blender.camera_track import read_camera_track

bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
track = read_camera_track(bpy.context.scene)
print(
    json.dumps(
        {
            "frames": track.frames,
            "matrices": track.matrices.tolist(),
            "lenses": [c.lens for c in track.cameras],
            "camera": bpy.context.scene.camera.name,
        }
    )
)
