"""What Blender renders for the worker before a job runs: which frames need the scene's
Z pass and which need Blender's own render (the files ``output_layout.py`` names).

The worker reads the Z pass of every frame of a 3D job with ``depth_source`` 'scene'
(``engine/motion.py``) and of every scene-guided frame when ``scene_blend_max_depth``
masks the guide by depth; it reads Blender's render of every frame whose ``scene_blend``
is above 0 (``engine/scene_guide.py``). Blender renders exactly these frames.
"""

from __future__ import annotations

from .job import Job


def scene_render_frames(job: Job) -> list[int]:
    """Blender frames whose ``scene_blend`` is above 0 (none in Interpolation mode)."""
    if job.animation_mode == "Interpolation":
        return []
    blend = job.series("scene_blend")
    return [job.first_frame + i for i, value in enumerate(blend) if value > 0.0]


def scene_depth_frames(job: Job) -> list[int]:
    """Blender frames whose Z pass the worker reads: all for scene depth in 3D, the
    guided ones when ``scene_blend_max_depth`` masks the scene guide by depth."""
    if job.animation_mode == "3D" and job.depth.depth_source == "scene":
        return list(range(job.first_frame, job.last_frame + 1))
    if job.scene_guide.scene_blend_max_depth > 0:
        return scene_render_frames(job)
    return []
