"""The Output tab's GPU row of ``gpu_check.py`` (issue 19): ×4 upscaling of 24 frames at
512² with a Real-ESRGAN x4plus-sized network, and ×2 RIFE v4.6 interpolation of the same
frames, through the engine's ``finish`` (the same loaders as real weights).

Random weights of the published architectures (RRDBNet 64 features × 23 blocks; IFNet's
published widths) cost what the released weights cost. ``--quick`` runs toy sizes on a CPU.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from deforum_blender.core import output_layout as layout
from deforum_blender.core.job import Finish, Job
from deforum_blender.core.output_layout import INTERPOLATED_DIR, UPSCALED_DIR
from deforum_blender.engine.finish import finish
from deforum_blender.engine.rife import IFNet, build_tiny_rife, save_weights
from deforum_blender.engine.upscale import build_tiny_esrgan


def write_frames(out: Path, count: int, size: int) -> None:
    """``count`` smooth, moving test frames (a finish needs a rendered folder)."""
    layout.frames_dir(out).mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for i in range(count):
        phase = i / max(count, 1)
        image = np.stack(
            [np.sin(6 * (x + phase)), np.cos(5 * (y - phase)), np.sin(4 * (x + y) + phase)], -1
        )
        cv2.imwrite(str(layout.frame_path(out, 1 + i)), (127.5 + 127 * image).astype(np.uint8))


def _timed(job: Job, out: Path, device: str) -> dict[str, Any]:
    import torch

    cuda = device != "cpu"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    finish(job, out, device=device)
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    return {
        "frames": job.max_frames,
        "s_per_frame": round(wall / job.max_frames, 4),
        "wall_s": round(wall, 2),
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
    }


def time_finish(work: Path, device: str, quick: bool) -> dict[str, Any]:
    """Seconds per rendered frame of a ×4 upscale and of a ×2 RIFE interpolation."""
    count, size = (4, 32) if quick else (24, 512)
    upscaler = build_tiny_esrgan(
        work / "esrgan_x4.safetensors", 4, **({} if quick else {"features": 64, "blocks": 23})
    )
    rife = work / "rife.safetensors"
    build_tiny_rife(rife, 7) if quick else save_weights(IFNet(), rife)
    base = Job(W=size, H=size, first_frame=1, last_frame=count, fps=12.0)
    # The networks and the frames written, not ffmpeg's encode (the device has no ffmpeg).
    base = dataclasses.replace(base, output=dataclasses.replace(base.output, make_video=False))
    jobs = {
        "upscale_x4": Finish(
            r_upscale_video=True, r_upscale_model=str(upscaler), r_upscale_factor="x4"
        ),
        "rife_x2": Finish(
            frame_interpolation_engine="RIFE v4.6",
            frame_interpolation_x_amount=2,
            interpolation_model=str(rife),
            frame_interpolation_keep_imgs=True,
        ),
    }
    rows: dict[str, Any] = {"size": size}
    for name, settings in jobs.items():
        out = work / f"finish_{name}"
        write_frames(out, count, size)
        job = dataclasses.replace(
            base, finish=dataclasses.replace(settings, r_upscale_keep_imgs=True)
        )
        rows[name] = _timed(job, out, device)
        made = sorted(
            p for p in out.rglob("*.png") if p.parent.name in (UPSCALED_DIR, INTERPOLATED_DIR)
        )
        first = cv2.imread(str(made[0])) if made else None
        rows[name] |= {"outputs": len(made), "output_side": 0 if first is None else first.shape[0]}
    return rows
