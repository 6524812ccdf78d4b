"""Run by ``tests/blender/test_warp_matches_blender.py`` in a fresh interpreter
(``run_test_script``).
"""

import json
import math
import sys
from pathlib import Path
from typing import Any

import bpy

from deforum_blender.blender.camera_track import read_camera_track
from deforum_blender.blender.depth_pass import render_scene_depth
from tests.blender.ground_truth import build_checker_room, setup_clean_cycles

out = Path(sys.argv[1])
width, height, samples = (int(v) for v in sys.argv[2:5])
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
setup_clean_cycles(scene, width, height, samples)
build_checker_room()

data = bpy.data.cameras.new("Camera")
camera = bpy.data.objects.new("Camera", data)
scene.collection.objects.link(camera)
scene.camera = camera
BASE_LOCATION, BASE_ROTATION, BASE_LENS = (0.0, -4.0, 1.6), (math.radians(82), 0.0, 0.0), 30.0
MOVES: dict[str, dict[str, Any]] = {
    "dolly": {"location": (0, 0.25, 0)},
    "truck": {"location": (0.15, 0, 0)},
    "pan": {"rotation": (0, 0, math.radians(2.0))},
    "tilt": {"rotation": (math.radians(1.5), 0, 0)},
    "roll": {"rotation": (0, math.radians(3.0), 0)},
    "lens": {"lens": 34.0},
}


def key(frame, location=(0, 0, 0), rotation=(0, 0, 0), lens=BASE_LENS):
    camera.location = [b + d for b, d in zip(BASE_LOCATION, location, strict=True)]
    camera.rotation_euler = [b + d for b, d in zip(BASE_ROTATION, rotation, strict=True)]
    data.lens = lens
    camera.keyframe_insert("location", frame=frame)
    camera.keyframe_insert("rotation_euler", frame=frame)
    data.keyframe_insert("lens", frame=frame)


frames = {}
frame = 1
for name, move in MOVES.items():
    key(frame)
    key(frame + 1, **move)
    frames[name] = [frame, frame + 1]
    frame += 2
# Two chained steps of a combined dolly + truck + pan.
key(frame)
key(frame + 1, location=(0.08, 0.15, 0), rotation=(0, 0, math.radians(1.0)))
key(frame + 2, location=(0.16, 0.3, 0), rotation=(0, 0, math.radians(2.0)))
frames["chained"] = [frame, frame + 1, frame + 2]
last = frame + 2

for f in range(1, last + 1):
    scene.frame_set(f)
    scene.render.filepath = str(out / f"frame_{f:05d}.png")
    bpy.ops.render.render(write_still=True)


def settings():
    return {
        "samples": scene.cycles.samples,
        "filter_width": scene.cycles.filter_width,
        "use_sequencer": scene.render.use_sequencer,
        "use_pass_z": scene.view_layers[0].use_pass_z,
        "compositor": scene.compositing_node_group is not None,
        "node_groups": len(bpy.data.node_groups),
        "images": len(bpy.data.images),
        "frame": scene.frame_current,
    }


scene.frame_set(3)
before = settings()
written = render_scene_depth(scene, range(1, last + 1), out)
after = settings()
track = read_camera_track(scene, 1, last)
(out / "scene.json").write_text(
    json.dumps(
        {
            "track": track.to_dict(),
            "frames": frames,
            "written": [p.name for p in written],
            "before": before,
            "after": after,
        }
    )
)
