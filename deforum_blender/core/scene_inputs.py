"""What Blender renders for the worker before a job runs: which frames need the scene's
Z pass and which need Blender's own render (the files ``output_layout.py`` names).

The worker reads the Z pass of every frame of a 3D job with ``depth_source`` 'scene'
(``engine/motion.py``) and of every scene-guided frame when ``scene_blend_max_depth``
masks the guide by depth; it reads Blender's render of every frame whose ``scene_blend``
is above 0 (``engine/scene_guide.py``); ControlNet units with a ``scene_*`` module read
them on every frame (``scene_normal``: the Normal pass, rendered with the Z pass). Blender
renders exactly these frames.
"""

from __future__ import annotations

from .controlnet import UNIT_GROUPS
from .job import Job


def scene_render_frames(job: Job) -> list[int]:
    """Blender frames whose ``scene_blend`` is above 0 (none in Interpolation mode)."""
    if job.animation_mode == "Interpolation":
        return []
    if _controlnet_reads(job, ("scene_render", "scene_canny")):
        return list(range(job.first_frame, job.last_frame + 1))
    blend = job.series("scene_blend")
    return [job.first_frame + i for i, value in enumerate(blend) if value > 0.0]


def scene_depth_frames(job: Job) -> list[int]:
    """Blender frames whose Z pass the worker reads: all for scene depth in 3D, the
    guided ones when ``scene_blend_max_depth`` masks the scene guide by depth."""
    scene_3d = job.animation_mode == "3D" and job.depth.depth_source == "scene"
    if scene_3d or _controlnet_reads(job, ("scene_depth",)):
        return list(range(job.first_frame, job.last_frame + 1))
    if job.scene_guide.scene_blend_max_depth > 0:
        return scene_render_frames(job)
    return []


def scene_normal_frames(job: Job) -> list[int]:
    """Blender frames whose Normal pass the worker reads: all, for a ``scene_normal`` unit."""
    if _controlnet_reads(job, ("scene_normal",)):
        return list(range(job.first_frame, job.last_frame + 1))
    return []


def _controlnet_reads(job: Job, modules: tuple[str, ...]) -> bool:
    """True when an enabled ControlNet unit's control image comes from ``modules``."""
    return any(
        unit.enabled and unit.module in modules
        for unit in (getattr(job, group) for group in UNIT_GROUPS)
    )
