"""Run by ``tests/blender/test_result_strips.py`` in a fresh interpreter (``run_test_script``).

Motion previews with the steps after the frames, through the render session as Blender
runs them, then what the sequencer shows. argv: output folder, mode: ``strips`` (with
interpolation x2, then again without) or ``audio`` (a tone as a sound strip, no soundtrack
file; then again with Scene Audio off). One JSON line per render.
"""

import json
import math
import shutil
import sys
import wave
from pathlib import Path

import bpy
import numpy as np

import deforum_blender
from deforum_blender.blender import image_strip, progress, render_session, result_strips
from deforum_blender.blender.prompts import add_prompt

out, mode = Path(sys.argv[1]), sys.argv[2]
bpy.ops.wm.read_factory_settings(use_empty=True)
deforum_blender.register()
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y = 64, 48
scene.render.fps = 8
scene.frame_start, scene.frame_end = 1, 4
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(camera)
scene.camera = camera
for frame, x in ((1, 0.0), (4, 1.0)):
    camera.location = (x, -6.0, 1.0)
    camera.rotation_euler = (math.radians(85), 0.0, 0.0)
    camera.keyframe_insert("location", frame=frame)
add_prompt(scene, 1, "a field")
settings = scene.deforum
settings.depth_source = "flat"
settings.make_video = True
settings.output_dir = str(out)


def kind(strip):
    if image_strip.OUTPUT_KEY in strip:
        return "frames"
    return strip.get(result_strips.KIND_KEY, strip.type.lower())


def report():
    state = progress.current()
    strips = [
        {
            "kind": kind(s),
            "type": s.type,
            "channel": s.channel,
            "start": s.frame_final_start,
            "length": s.frame_final_duration,
        }
        for s in scene.sequence_editor.strips_all
    ]
    print(json.dumps({"state": state.state, "message": state.message, "strips": strips}))


def render():
    request = render_session.RenderRequest(preview=True)
    render_session.render(scene, request, blocking=True, on_line=None)
    report()


if mode == "strips":
    settings.frame_interpolation_engine = "FILM"
    settings.frame_interpolation_x_amount = 2
    settings.frame_interpolation_keep_imgs = True
    render()
    settings.frame_interpolation_engine = "None"
    render()
if mode == "audio":
    # A 440 Hz tone of 0.25 s, from frame 2 (0.125 s after the render's first frame).
    rate = 48000
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate // 4) / rate)
    wav = out.parent / "tone.wav"
    with wave.open(str(wav), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes((tone * 32767).astype("<i2").tobytes())
    scene.sequence_editor_create().strips.new_sound("tone", str(wav), 3, 2)
    render()
    for name in ("video.mp4", "job.json"):  # kept for the test: the next render replaces them
        shutil.copyfile(out / name, out.parent / f"with_sound_{name}")
    settings.use_scene_audio = False
    render()
render_session.shutdown_worker()
