"""Run by ``tests/blender/test_operators.py`` in a fresh interpreter (``run_test_script``).

argv: extension zip, model folder, output folder, .blend to save, the folder of
ground_truth.py (alone on sys.path: the checkout's add-on must stay unimportable). Prints a
JSON report.
"""

import importlib
import json
import sys

import bpy

zip_path, model, out, blend, helpers = sys.argv[1:6]
sys.path.append(helpers)
from ground_truth import key_camera, use_tiny_model  # type: ignore[import-not-found]  # noqa: E402 - from the folder just added

result = bpy.ops.extensions.package_install_files(
    filepath=zip_path, repo="user_default", enable_on_install=True
)
package = "bl_ext.user_default.deforum_blender"
assert package in bpy.context.preferences.addons, "the extension did not enable"
prompts = importlib.import_module(package + ".blender.prompts")

scene = bpy.context.scene
scene.render.resolution_x = scene.render.resolution_y = 64
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, 4
camera = scene.camera
key_camera(camera, {1: ((0.0, -8.0, 2.0), (80, 0, 0)), 4: ((0.0, -7.0, 2.0), (80, 0, 6.0))})

settings = scene.deforum
use_tiny_model(settings, model, seed=11)
settings.cfg_scale = 6.5
settings.depth_source = "scene"
settings.output_dir = out
prompts.add_prompt(scene, 1, "a grey cube")
# Strength eased with Blender's default Bezier keys (auto-clamped handles).
settings.strength = 0.3
scene.keyframe_insert("deforum.strength", frame=1)
settings.strength = 0.7
scene.keyframe_insert("deforum.strength", frame=4)
animation = scene.animation_data
bag = animation.action.layers[0].strips[0].channelbag(animation.action_slot)
curve = next(c for c in bag.fcurves if c.data_path == "deforum.strength")
interpolations = sorted({k.interpolation for k in curve.keyframe_points})
eased = [curve.evaluate(f) for f in range(1, 5)]

status = bpy.ops.deforum.render()
editor = scene.sequence_editor
strips = [[e.filename for e in s.elements] for s in editor.strips] if editor else []
bpy.ops.wm.save_as_mainfile(filepath=blend)
bpy.ops.wm.open_mainfile(filepath=blend)
scene = bpy.context.scene
editor = scene.sequence_editor
print(
    json.dumps(
        {
            "install": sorted(result),
            "status": sorted(status),
            "interpolations": interpolations,
            "eased": eased,
            "strips": strips,
            "reopened_strips": [
                {
                    "files": [e.filename for e in s.elements],
                    "start": s.frame_final_start,
                    "directory": bpy.path.abspath(s.directory),
                }
                for s in (editor.strips if editor else [])
            ],
            "reopened": {
                "model": scene.deforum.model,
                "steps": scene.deforum.steps,
                "seed": scene.deforum.seed,
                "prompts": [p.prompt for p in scene.deforum.prompts],
            },
        }
    )
)
