"""Run by ``tests/blender/test_render_script.py`` in a fresh interpreter (``run_test_script``)."""

import json
import sys

import bpy

sys.path.insert(0, sys.argv[2])
import deforum_blender

if not hasattr(bpy.types.Scene, "deforum"):
    deforum_blender.register()
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
scene = bpy.context.scene
editor = scene.sequence_editor
strips = [
    {
        "name": s.name,
        "channel": s.channel,
        "start": s.frame_final_start,
        "files": [e.filename for e in s.elements],
        "directory": bpy.path.abspath(s.directory),
    }
    for s in (editor.strips if editor else [])
]
d = scene.deforum
print(
    json.dumps(
        {
            "strips": strips,
            "init_strength": round(d.init_strength, 4),
            "strength_schedule": d.strength_schedule,
            "noise_schedule": d.noise_schedule,
            "steps": d.steps,
            "frames": [scene.frame_start, scene.frame_end],
            "prompts": [p.prompt for p in d.prompts],
        }
    )
)
