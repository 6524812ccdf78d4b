"""Run by ``tests/blender/test_operators.py`` in a fresh interpreter (``run_test_script``).

The UI path with a real worker: start without blocking, then drive the timer tick by hand
(as Blender would every 0.1 s), timing each tick. argv: output folder, frames.
"""

import json
import math
import sys
import time
from pathlib import Path

import bpy

import deforum_blender
from deforum_blender.blender import progress, render_session
from deforum_blender.blender.prompts import add_prompt

out, frames, cancel_after = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
bpy.ops.wm.read_factory_settings(use_empty=True)
deforum_blender.register()
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y = 64, 48
scene.frame_start, scene.frame_end = 1, frames
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(camera)
scene.camera = camera
for frame, x in ((1, 0.0), (frames, 1.0)):
    camera.location = (x, -6.0, 1.0)
    camera.rotation_euler = (math.radians(85), 0.0, 0.0)
    camera.keyframe_insert("location", frame=frame)
add_prompt(scene, 1, "a field")
scene.deforum.depth_source = "flat"
scene.deforum.make_video = False
scene.deforum.output_dir = str(out)

render_session.render(scene, render_session.RenderRequest(preview=True), blocking=False)
registered = bpy.app.timers.is_registered(render_session.tick)
ticks, cpu, busy = [], [], 0
cancelled = False
while True:
    state = progress.current()
    if cancel_after and not cancelled and state.finished >= cancel_after:
        assert bpy.ops.deforum.cancel() == {"FINISHED"}
        cancelled = True
    start_wall, start_cpu = time.perf_counter(), time.thread_time()
    before = state.written
    again = render_session.tick()
    ticks.append(time.perf_counter() - start_wall)
    cpu.append(time.thread_time() - start_cpu)
    busy += state.written != before
    if again is None:
        break
    time.sleep(0.01 if not cancel_after else 0.05)
state = progress.current()
strip = scene.sequence_editor.strips[0]
print(
    json.dumps(
        {
            "registered": registered,
            "state": state.state,
            "message": state.message,
            "written": state.written,
            "strip": [e.filename for e in strip.elements],
            "ticks": len(ticks),
            "ticks_with_frames": busy,
            "max_ms": 1000 * max(ticks),
            "median_ms": 1000 * sorted(ticks)[len(ticks) // 2],
            "max_cpu_ms": 1000 * max(cpu),
            "render_poll_after": bpy.ops.deforum.render.poll(),
        }
    )
)
render_session.shutdown_worker()
