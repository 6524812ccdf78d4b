"""Run by ``tests/blender/test_farm_tasks.py``: each segment × seed rendered directly.

One process, the worker kept between renders: the .blend is opened afresh for each
render, its frame range set to the segment, the seed given as a Deforum override, and
the frames written to ``OUT/seed_<S>/<A>-<B>``. argv: blend path, out folder,
segments (``1-4,5-8``), seeds (``1,2,3``).
"""

import sys
from pathlib import Path

import bpy

import deforum_blender
from deforum_blender.blender import render_session

blend, out, segments, seeds = sys.argv[1:5]
if not hasattr(bpy.types.Scene, "deforum"):
    deforum_blender.register()
status = 0
try:
    for seed in seeds.split(","):
        for piece in segments.split(","):
            bpy.ops.wm.open_mainfile(filepath=blend)
            scene = bpy.context.scene
            first, last = (int(n) for n in piece.split("-"))
            scene.frame_start, scene.frame_end = first, last
            folder = Path(out) / f"seed_{seed}" / piece
            request = render_session.RenderRequest(out_dir=str(folder), overrides={"seed": seed})
            session = render_session.render(scene, request, blocking=True)
            if session.progress.state != "done":
                print(f"error: {piece} seed {seed}: {session.progress.message}", file=sys.stderr)
                status = 1
finally:
    render_session.shutdown_worker()
sys.exit(status)
