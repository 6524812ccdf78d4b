"""The SD 1.5 timing job of docs/performance.md, shared by gpu_check's rows: 3D mode,
steps × strength 0.65, flat depth, no video, on ``device`` with the model folder ``model``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from deforum_blender.core.job import Job
from deforum_blender.core.overrides import apply_overrides


def timing_job(
    model: Path, device: str, *, size: str, frames: str, steps: str, **settings: str
) -> Job:
    """The job at ``size``² with ``frames`` frames and ``steps`` steps; ``settings`` (``--set``
    keys) on top."""
    job = apply_overrides(
        Job(),
        {
            "W": size,
            "H": size,
            "max_frames": frames,
            "seed": "42",
            "steps_schedule": f"0: ({steps})",
            "strength_schedule": "0: (0.65)",
            "animation_mode": "3D",
            "translation_z": "0: (2)",
            "depth_source": "flat",
            "make_video": "false",
            **settings,
        },
    )
    model_settings = dataclasses.replace(job.model, id=str(model))
    return dataclasses.replace(job, device=device, model=model_settings)
