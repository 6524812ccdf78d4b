"""The ControlNet row of ``gpu_check.py`` (issue 15): an SD 1.5-sized pipeline alone and with
one and two SD 1.5-sized ControlNets, at 512², 25 steps × strength 0.65, fp16, in 3D mode.

Random weights of the real architectures (``ControlNetModel.from_unet`` of the SD 1.5-sized
UNet: the released ControlNet 1.1 models have that shape), saved in diffusers layout and
loaded by the engine's ControlNet code. The units are canny on the frame's init (loopback),
so no input files are needed; eager (compile off). ``--quick`` (from gpu_check) runs toy
sizes on a CPU.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gpu_jobs import timing_job

from deforum_blender.core.output_layout import run_path
from deforum_blender.engine import diffusion
from deforum_blender.engine.render import render

UNITS = (0, 1, 2)  # ControlNets per timed render


def build_controlnet(sd: Path, folder: Path, device: str) -> Path:
    """A ControlNet shaped like ``sd``'s UNet (random weights), saved as published."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(sd / "unet")
    torch.manual_seed(1)
    controlnet = ControlNetModel.from_unet(unet, load_weights_from_unet=False)
    controlnet.to(torch.float16 if device != "cpu" else torch.float32)
    controlnet.save_pretrained(folder, safe_serialization=True)
    return folder


def unit_settings(count: int, model: Path) -> dict[str, str]:
    """``count`` canny units on the frame's init (loopback), as a settings file spells them."""
    settings: dict[str, str] = {}
    for n in range(1, count + 1):
        settings |= {
            f"cn_{n}_enabled": "true",
            f"cn_{n}_module": "canny",
            f"cn_{n}_model": str(model),
            f"cn_{n}_loopback_mode": "true",
        }
    return settings


def time_controlnets(sd: Path, work: Path, device: str, quick: bool) -> dict[str, Any]:
    """s/frame and peak memory with 0, 1 and 2 units (a short warm-up job first)."""
    import torch

    controlnet = build_controlnet(sd, work / "controlnet_sd15", device)
    size, frames, steps = ("64", 4, "8") if quick else ("512", 12, "25")
    rows: dict[str, Any] = {}
    runs = [("warm_up", 0), *((f"controlnets_{count}", count) for count in UNITS)]
    for name, count in runs:  # the warm-up is not reported
        job = timing_job(
            sd,
            device,
            size=size,
            frames="2" if name == "warm_up" else str(frames),
            steps=steps,
            diffusion_cadence="1",
            compile="off",  # eager: one compile per unit count would cost minutes
            **unit_settings(count, controlnet),
        )
        if device != "cpu":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = render(job, work / name)
        if device != "cpu":
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
        n = job.max_frames
        record = json.loads(run_path(work / name).read_text(encoding="utf-8"))
        rows[name] = {
            "units": count,
            "units_in_run_json": len(record.get("controlnet") or {}),
            "frames": n,
            "diffusion_calls": result.diffusion_calls,
            "s_per_frame": round(wall / n, 4),
            "peak_gpu_mib": (
                round(torch.cuda.max_memory_allocated() / 2**20, 1) if device != "cpu" else None
            ),
        }
    rows.pop("warm_up")
    diffusion.clear_model_cache()
    return rows


def markdown_rows(rows: dict[str, Any]) -> str:
    """The ControlNet table for gpu_check.md."""
    lines = ["| ControlNets | s/frame | peak GPU MiB | frames |", "|---|---|---|---|"]
    for row in rows.values():
        lines.append(
            f"| {row['units']} | {row['s_per_frame']} | {row['peak_gpu_mib']} | {row['frames']} |"
        )
    return "\n".join(lines) + "\n"
