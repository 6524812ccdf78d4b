"""One prepared device check: CUDA against the CPU, then the speed of a real-size job.

Run on a machine with an NVIDIA GPU (``python scripts/gpu_check.py --out DIR``); no weights
are downloaded: the timing model is an SD 1.5-sized pipeline (UNet 320/640/1280/1280 with
cross-attention 768, its VAE, a CLIP ViT-L/14-sized text encoder) with random weights built
from configs — the same FLOPs as the real model. ``--quick`` shrinks everything so the
script itself can be tested on a CPU. Writes ``gpu_check.json`` and ``gpu_check.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from gpu_controlnet import markdown_rows, time_controlnets  # noqa: E402
from gpu_finish import time_finish  # noqa: E402
from gpu_jobs import timing_job  # noqa: E402
from random_models import build_sd15_sized  # noqa: E402

from deforum_blender.core.job import Job  # noqa: E402
from deforum_blender.core.output_layout import run_path  # noqa: E402
from deforum_blender.engine import diffusion  # noqa: E402
from deforum_blender.engine.render import render  # noqa: E402
from deforum_blender.engine.tiny_models import make_tiny_models, tiny_job  # noqa: E402


def psnr(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    """PSNR in dB of two uint8 images (99.0 stands for identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else min(99.0, 10 * math.log10(255.0**2 / mse))


def check_warp(device: str) -> dict[str, Any]:
    """The grid_sample warp on ``device`` against the cv2 warp, same inputs, every mode."""
    from deforum_blender.core.camera import CameraData, RenderSize, intrinsics
    from deforum_blender.engine.warp import remap, reprojection_maps

    rng = np.random.default_rng(0)
    height, width = 384, 512
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    depth = (3.0 + rng.random((height, width)) * 2.0).astype(np.float32)
    k = intrinsics(CameraData(), RenderSize(width, height))
    pose = np.eye(4)
    angle = math.radians(2.0)
    pose[:3, :3] = [
        [math.cos(angle), 0, math.sin(angle)],
        [0, 1, 0],
        [-math.sin(angle), 0, math.cos(angle)],
    ]
    pose[:3, 3] = [0.05, 0.02, -0.1]
    maps = reprojection_maps(depth, k, k, pose)
    results = {}
    for sampling in ("bicubic", "bilinear", "nearest"):
        for padding in ("border", "reflection", "zeros"):
            cpu = remap(image, maps.map_x, maps.map_y, sampling=sampling, padding=padding)
            gpu = remap(
                image, maps.map_x, maps.map_y, sampling=sampling, padding=padding, device=device
            )
            diff = np.abs(cpu.astype(np.int16) - gpu.astype(np.int16))
            results[f"{sampling}/{padding}"] = {
                "max_abs": int(diff.max()),
                "share_over_1": float((diff > 1).mean()),
            }
    return results


def gpu_tiny_job(models: Path, device: str) -> Job:
    """The package's tiny job, 6 frames at cadence 2, 6 steps, on ``device``."""
    # Eager: compiling the tiny model would cost the check more than it runs.
    settings = {"max_frames": "6", "seed": "7", "steps_schedule": "0: (6)", "compile": "off"}
    return tiny_job(models, device, diffusion_cadence="2", **settings)


def check_tiny_job(models: Path, work: Path, device: str) -> dict[str, Any]:
    """The tiny-model job on CUDA (fp16 and fp32) against the same job on the CPU."""
    from deforum_blender.core.output_layout import frame_files
    from deforum_blender.engine.frames import read_frame

    out: dict[str, Any] = {}
    cpu_job = gpu_tiny_job(models, "cpu")
    render(cpu_job, work / "tiny_cpu")
    cpu_frames = {n: read_frame(p) for n, p in frame_files(work / "tiny_cpu").items()}
    gpu_job = gpu_tiny_job(models, device)
    render(gpu_job, work / "tiny_gpu")
    gpu_frames = {n: read_frame(p) for n, p in frame_files(work / "tiny_gpu").items()}
    out["loop_fp16_psnr_db"] = {
        str(n): round(psnr(cpu_frames[n], gpu_frames[n]), 2) for n in cpu_frames
    }
    # One diffusion call in fp32 on both devices: the fair numerical comparison.
    image = cpu_frames[1]
    results = {}
    for name, options in (
        ("cpu", diffusion.ModelOptions(device="cpu")),
        # Eager: the comparison is of the devices' arithmetic, not of the compiler's.
        ("gpu_fp32", diffusion.ModelOptions(device=device, dtype="float32", compile="off")),
    ):
        diffuser = diffusion.load_diffuser(str(models / "sd"), options)
        results[name] = (
            diffuser.txt2img("a red hill", "", 11, 6, 7.0, 64, 64, "Euler a"),
            diffuser.img2img(image, "a red hill", "", 11, 6, 7.0, 0.35, "Euler a"),
        )
    for index, stage in enumerate(("txt2img", "img2img")):
        a, b = results["cpu"][index], results["gpu_fp32"][index]
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
        out[f"{stage}_fp32_max_abs"] = int(diff.max())
        out[f"{stage}_fp32_mean_abs"] = round(float(diff.mean()), 4)
        out[f"{stage}_fp32_psnr_db"] = round(psnr(a, b), 2)
    return out


class UnetTimer:
    """Sums the time spent inside ``unet.forward`` (CUDA events on a GPU)."""

    def __init__(self, unet: Any, device: str) -> None:
        import torch

        self.torch = torch
        self.cuda = device != "cpu"
        self.pairs: list[Any] = []
        self.cpu_seconds = 0.0
        self._start: Any = None
        unet.register_forward_pre_hook(self.before)
        unet.register_forward_hook(self.after)

    def before(self, *_: Any) -> None:
        if self.cuda:
            self._start = self.torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            self._start.record()
        else:
            self._start = time.perf_counter()

    def after(self, *_: Any) -> None:
        if self.cuda:
            end = self.torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            end.record()
            self.pairs.append((self._start, end))
        else:
            self.cpu_seconds += time.perf_counter() - self._start

    def seconds(self) -> float:
        if not self.cuda:
            return self.cpu_seconds
        self.torch.cuda.synchronize()
        return float(sum(a.elapsed_time(b) for a, b in self.pairs)) / 1000.0

    def reset(self) -> None:
        self.pairs, self.cpu_seconds = [], 0.0


def time_jobs(model: Path, work: Path, device: str, quick: bool) -> dict[str, Any]:
    """A 3D-mode job (24 frames, 25 steps, strength 0.65) at cadence 1 and 2, fp16."""
    import torch

    size = "64" if quick else "512"
    frames = "6" if quick else "24"
    steps = "8" if quick else "25"
    diffuser = diffusion.load_diffuser(str(model), diffusion.ModelOptions(device=device))
    timer = UnetTimer(diffuser.txt2img_pipe.unet, device)
    results: dict[str, Any] = {}
    for cadence in (0, 1, 2):  # 0: a short warm-up job (CUDA kernels, allocator), not reported
        job = timing_job(
            model,
            device,
            size=size,
            frames=frames if cadence else "2",
            steps=steps,
            diffusion_cadence=str(max(cadence, 1)),
            rotation_3d_y="0: (0.4)",
        )
        if device != "cpu":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        timer.reset()
        start = time.perf_counter()
        result = render(job, work / f"timed_c{cadence}")
        if device != "cpu":
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
        if cadence == 0:
            continue
        record = json.loads(run_path(work / f"timed_c{cadence}").read_text())
        unet_s = timer.seconds()
        n = int(frames)
        results[f"cadence_{cadence}"] = {
            "frames": n,
            "diffusion_calls": result.diffusion_calls,
            "wall_s": round(wall, 3),
            "s_per_frame": round(wall / n, 4),
            "unet_s": round(unet_s, 3),
            "unet_share": round(unet_s / wall, 4),
            "engine_ms_per_frame": record["engine_ms_per_frame"],
            "engine_share": round(record["engine_ms_per_frame"] / 1000 / (wall / n), 4),
            "timings_s": record["timings_s"],
            "peak_gpu_mib": (
                round(torch.cuda.max_memory_allocated() / 2**20, 1) if device != "cpu" else None
            ),
        }
    return results


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# gpu_check — {report['device_name']} — {report['date']}",
        "",
        f"versions: {json.dumps(report['versions'])}",
    ]
    if report.get("timing"):  # --realtime replaces it
        lines += [
            "",
            "| job | s/frame | UNet share | engine ms/frame | engine share | peak GPU MiB "
            "| calls |",
            "|---|---|---|---|---|---|---|",
        ]
    for name, row in report.get("timing", {}).items():
        lines.append(
            f"| {name} | {row['s_per_frame']} | {row['unet_share']:.1%} | "
            f"{row['engine_ms_per_frame']} | {row['engine_share']:.1%} | {row['peak_gpu_mib']} | "
            f"{row['diffusion_calls']} |"
        )
    if report.get("controlnet"):
        lines += [
            "",
            "## ControlNet (SD 1.5-sized, 512², 25 × 0.65)",
            "",
            markdown_rows(report["controlnet"]),
        ]
    finished = report.get("finish")
    if finished:
        lines += ["", f"## Output tab ({finished['size']}² frames)", ""]
        lines += ["| step | s/frame | peak GPU MiB | frames |", "|---|---|---|---|"]
        for step in ("upscale_x4", "rife_x2"):
            row = finished[step]
            lines.append(
                f"| {step} | {row['s_per_frame']} | {row['peak_gpu_mib']} | {row['frames']} |"
            )
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: test the script on a CPU")
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="after the checks, the video-rate benchmark (gpu_realtime.py) instead of the timing",
    )
    parser.add_argument(
        "--budget-s", type=float, default=330.0, help="--realtime: seconds for its timed renders"
    )
    parser.add_argument(
        "--no-controlnet", action="store_true", help="leave out the ControlNet row (gpu_controlnet)"
    )
    parser.add_argument(
        "--no-finish", action="store_true", help="leave out the upscale/RIFE row (gpu_finish)"
    )
    args = parser.parse_args()
    import torch

    from deforum_blender.engine.render import versions

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.quick and device == "cpu":
        torch.set_num_threads(1)  # a shared CI machine: spinning thread pools cost minutes
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "device": device,
        "device_name": torch.cuda.get_device_name() if device == "cuda" else platform.processor(),
        "versions": versions(),
    }
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        stage = time.perf_counter()
        report["warp"] = check_warp(device)
        make_tiny_models(work / "tiny")
        report["tiny_job"] = check_tiny_job(work / "tiny", work, device)
        report["correctness_s"] = round(time.perf_counter() - stage, 1)
        write_report(report, args.out)
        # The bounded rows first: the video-rate run's compile times are the unknown.
        sd15 = work / "sd15"
        if not args.no_controlnet:
            sd15 = build_sd15_sized(sd15, device, args.quick)
            report["controlnet"] = time_controlnets(sd15, work, device, args.quick)
            write_report(report, args.out)
        if not args.no_finish:
            report["finish"] = time_finish(work, device, args.quick)
            write_report(report, args.out)
        diffusion.clear_model_cache()
        if args.realtime:
            from gpu_realtime import run_realtime

            report["realtime_json"] = run_realtime(args.out, args.quick, work, args.budget_s).name
        else:
            stage = time.perf_counter()
            model = sd15 if sd15.is_dir() else build_sd15_sized(sd15, device, args.quick)
            report["build_model_s"] = round(time.perf_counter() - stage, 1)
            report["timing"] = time_jobs(model, work, device, args.quick)
    write_report(report, args.out)
    if args.realtime:
        from gpu_realtime import markdown_table

        realtime = json.loads((args.out / report["realtime_json"]).read_text(encoding="utf-8"))
        with (args.out / "gpu_check.md").open("a", encoding="utf-8") as md:
            md.write("\n## Video rate (--realtime)\n\n" + markdown_table(realtime))
    print((args.out / "gpu_check.md").read_text())
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
