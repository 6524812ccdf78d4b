"""The video-rate benchmark of issue 16: the full 3D Deforum loop, timed through the engine.

Random weights of the real architectures (``random_models.py``): an SD-Turbo-sized
pipeline (SD 2.1 UNet, OpenCLIP-H text encoder) with ``AutoencoderTiny`` or its KL VAE, an
SD 1.5-sized pipeline, a Depth Anything V2 Small-sized depth model. Each configuration
renders 512×512 frames in 3D mode at cadence 1 with estimated depth, LAB colour
coherence, Perlin noise and every PNG written, through the engine's public ``Renderer``.

Per configuration: a short warm-up render (its first frame is the first-frame/compile
time), a short render that counts host syncs with ``torch.cuda.set_sync_debug_mode("warn")``
once compiling and CUDA-graph recording are behind, then the timed render: frames/s from
the first PNG to the last, p50/p99 frame interval, GPU time per stage (CUDA events around
the engine's own stage timers), peak memory. One failing configuration is recorded and
the others still run; the JSON is written after each.

``python scripts/gpu_realtime.py --out DIR [--quick]`` (``gpu_check.py --realtime`` calls it);
``--quick`` runs the same code on toy models at 64 px on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import platform
import re
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from deforum_blender.core.job import Job  # noqa: E402
from deforum_blender.core.output_layout import frame_files, run_path  # noqa: E402
from deforum_blender.core.overrides import apply_overrides  # noqa: E402
from deforum_blender.engine import diffusion  # noqa: E402
from deforum_blender.engine.render import Renderer  # noqa: E402

#: The loop every configuration runs (``--set`` keys): the issue's "full 3D Deforum loop".
LOOP_SETTINGS = {
    "animation_mode": "3D",
    "diffusion_cadence": "1",
    "depth_source": "estimated",
    "color_coherence": "LAB",
    "noise_type": "perlin",
    "translation_z": "0: (2)",
    "rotation_3d_y": "0: (0.4)",
    "seed": "42",
    "make_video": "false",
}
#: Stages timed with CUDA events (the writer thread's "write" and the one-off ones are not).
GPU_STAGES = ("warp", "coherence", "contrast", "antiblur", "noise", "diffusion", "tween")
#: Seconds the configurations may take together (building the models not counted); each
#: timed render gets an equal share of what is left, less a reserve for its warm-up.
BUDGET_S = 330.0
WARMUP_RESERVE_S = 20.0
MIN_LIMIT_S = 10.0
WARMUP_LIMIT_S = 240.0  # the warm-up holds the compile (compile: auto)
#: Frames of the render that counts syncs (its first, text-to-image, is left out); --quick.
SYNC_FRAMES, QUICK_SYNC_FRAMES = 12, 3
SYNC_MESSAGE = "called a synchronizing"  # torch's warning: "... CUDA operation"


@dataclass(frozen=True)
class Config:
    """One timed configuration: its model, frame counts and diffusion settings."""

    name: str
    model: str  # a key of the built models: turbo_tiny, turbo_full, sd15
    frames: int
    quick_frames: int
    warmup_frames: int
    limit_s: float  # the timed render stops (cancelled) after this long; fps covers what ran
    settings: dict[str, str]


#: One diffusion step per frame for turbo, as the engine's Draft preset: steps 2 at strength
#: 0.65 is ``int(0.35 × 2) + 1`` = 1 sampler step, no guidance (CFG 0), Euler a.
TURBO = {
    "steps_schedule": "0: (2)",
    "strength_schedule": "0: (0.65)",
    "cfg_scale_schedule": "0: (0)",
    "sampler": "Euler a",
}
#: docs/performance.md's SD 1.5 job: 25 steps × strength 0.65 (9 sampler steps a frame),
#: CFG 7, 24 frames as there; in this loop (estimated depth; that job's was flat).
SD15 = {
    "steps_schedule": "0: (25)",
    "strength_schedule": "0: (0.65)",
    "cfg_scale_schedule": "0: (7)",
}
CONFIGS = (
    Config(
        "turbo_tiny_vae",
        "turbo_tiny",
        frames=300,
        quick_frames=6,
        warmup_frames=10,
        limit_s=100.0,
        settings=TURBO,
    ),
    Config(
        "turbo_full_vae",
        "turbo_full",
        frames=300,
        quick_frames=6,
        warmup_frames=10,
        limit_s=100.0,
        settings=TURBO,
    ),
    Config(
        "sd15_25x065",
        "sd15",
        frames=24,
        quick_frames=3,
        warmup_frames=4,
        limit_s=60.0,
        settings=SD15,
    ),
    # The first row without torch.compile (compile: auto is on for CUDA): where it pays.
    Config(
        "turbo_tiny_vae_eager",
        "turbo_tiny",
        frames=300,
        quick_frames=3,
        warmup_frames=4,
        limit_s=60.0,
        settings={**TURBO, "compile": "off"},
    ),
)


def card_name(device_name: str) -> str:
    """A short file-name tag for a device: "NVIDIA H100 80GB HBM3" → "h100"; the CPU: "cpu"."""
    found = re.search(r"\b(?:RTX\s*\d{4}|[A-Z]{1,2}\d{2,4})\b", device_name.replace("NVIDIA", ""))
    if found:
        return re.sub(r"\s+", "", found.group(0)).lower()
    return re.sub(r"[^a-z0-9]+", "_", device_name.lower()).strip("_") or "device"


class StageEvents:
    """CUDA events around each stage the engine times: GPU milliseconds per stage."""

    def __init__(self) -> None:
        self.pairs: dict[str, list[tuple[Any, Any]]] = {}

    @contextmanager
    def around(self, stage: str) -> Iterator[None]:
        import torch

        start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        start.record()
        try:
            yield
        finally:
            end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            end.record()
            self.pairs.setdefault(stage, []).append((start, end))

    def milliseconds(self) -> dict[str, float]:
        """Total GPU time per stage (synchronises once, after the render)."""
        import torch

        torch.cuda.synchronize()
        return {s: float(sum(a.elapsed_time(b) for a, b in p)) for s, p in self.pairs.items()}


class TimedRenderer(Renderer):
    """The engine's Renderer with CUDA events around its stage timers (off by default) and
    the host-sync count at the start of every span (one span = one frame at cadence 1)."""

    def __init__(
        self, *args: Any, events: StageEvents | None = None, syncs: Callable[[], int], **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.events = events
        self.syncs = syncs
        self.span_syncs: list[int] = []

    @contextmanager
    def timed(self, stage: str, *args: Any, **kw: Any) -> Iterator[None]:
        with super().timed(stage, *args, **kw):
            if self.events is None or stage not in GPU_STAGES:
                yield
            else:
                with self.events.around(stage):
                    yield

    def render_span(self, span: Any, done: set[int]) -> None:
        self.span_syncs.append(self.syncs())
        super().render_span(span, done)


class SyncCounter:
    """Counts CUDA host synchronisations (torch's sync-debug warnings) while active."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.log: list[warnings.WarningMessage] = []
        self._catch: Any = None

    def count(self) -> int:
        return sum(1 for w in list(self.log) if SYNC_MESSAGE in str(w.message))

    def __enter__(self) -> SyncCounter:
        if self.cuda:
            import torch

            self._catch = warnings.catch_warnings(record=True)
            self.log = self._catch.__enter__()
            warnings.simplefilter("always")  # every sync, not once per call site
            torch.cuda.set_sync_debug_mode("warn")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            import torch

            torch.cuda.set_sync_debug_mode("default")
            self._catch.__exit__(*exc)


def loop_syncs_per_frame(marks: list[int]) -> float:
    """Syncs per frame from the sync count at each span's start (one span, one frame at
    cadence 1): from the second span's start to the last's, so frame 0 (text-to-image) and
    the end of the run are left out."""
    return (marks[-1] - marks[1]) / (len(marks) - 2) if len(marks) > 2 else 0.0


class UnetCalls:
    """Counts UNet forward calls and their time (CUDA events on a GPU), by hooks on the
    loaded pipeline's UNet when it has one."""

    def __init__(self, diffuser: Any, cuda: bool) -> None:
        self.calls, self.cuda, self.cpu_seconds = 0, cuda, 0.0
        self.pairs: list[tuple[Any, Any]] = []
        self._start: Any = None
        unet = getattr(getattr(diffuser, "txt2img_pipe", None), "unet", None)
        self.hooked = unet is not None
        if unet is not None:
            self.handles = (
                unet.register_forward_pre_hook(self.before),
                unet.register_forward_hook(self.after),
            )

    def _now(self) -> Any:
        if not self.cuda:
            return time.perf_counter()
        import torch

        event = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        event.record()
        return event

    def before(self, *_: Any) -> None:
        self._start = self._now()

    def after(self, *_: Any) -> None:
        self.calls += 1
        end = self._now()
        if self.cuda:
            self.pairs.append((self._start, end))
        else:
            self.cpu_seconds += end - self._start

    def milliseconds(self) -> float:
        if not self.cuda:
            return 1000.0 * self.cpu_seconds
        import torch

        torch.cuda.synchronize()
        return float(sum(a.elapsed_time(b) for a, b in self.pairs))

    def remove(self) -> None:
        if self.hooked:
            for handle in self.handles:
                handle.remove()


def model_parts(diffuser: Any) -> dict[str, Any]:
    """Class and size (millions of parameters) of each network of the loaded pipeline."""
    pipe = getattr(diffuser, "txt2img_pipe", None)
    parts: dict[str, Any] = {}
    for name in ("unet", "text_encoder", "vae"):
        module = getattr(pipe, name, None)
        if module is not None:
            millions = sum(p.numel() for p in module.parameters()) / 1e6
            parts[name] = f"{type(module).__name__} {millions:.2f}M"
    return parts


def model_for(config: Config, job_model: Any, models: dict[str, Path]) -> tuple[Any, str]:
    """The job's model settings for ``config`` and how its VAE is chosen: the engine's Draft
    preset or ``vae`` setting where it has them, else a pipeline whose VAE is the tiny one."""
    fields = {f.name for f in dataclasses.fields(job_model)}
    replace = dataclasses.replace
    if config.model == "turbo_tiny":
        full, tiny_vae = str(models["turbo_full"]), str(models["turbo_tiny_vae"])
        if {"draft", "draft_model", "tiny_vae"} <= fields:
            model = replace(job_model, id=full, draft=True, draft_model=full, tiny_vae=tiny_vae)
            return model, "draft preset (vae tiny)"
        if {"vae", "tiny_vae"} <= fields:
            return replace(job_model, id=full, vae="tiny", tiny_vae=tiny_vae), "vae tiny"
        return replace(job_model, id=str(models["turbo_tiny"])), "pipeline with AutoencoderTiny"
    model = replace(job_model, id=str(models[config.model]))
    return (replace(model, vae="full"), "vae full") if "vae" in fields else (model, "its VAE")


def config_job(
    config: Config, models: dict[str, Path], device: str, quick: bool, n: int
) -> tuple[Job, str]:
    """The job of ``config`` with ``n`` frames, and how its VAE is chosen."""
    size = "64" if quick else "512"
    settings = {
        **LOOP_SETTINGS,
        **config.settings,
        "W": size,
        "H": size,
        "max_frames": str(n),
        "depth_model": str(models["depth"]),
    }
    job = apply_overrides(Job(), settings)
    model, route = model_for(config, job.model, models)
    return dataclasses.replace(job, device=device, model=model), route


def percentile_ms(intervals: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(intervals) * 1000.0, q)), 3) if intervals else 0.0


def render_once(
    job: Job,
    out: Path,
    *,
    cuda: bool,
    limit_s: float,
    events: StageEvents | None = None,
    count_syncs: bool = False,
    label: str = "",
) -> dict[str, Any]:
    """Render ``job`` into ``out``; frame-event times, sync marks and the renderer."""
    cancel = threading.Event()
    times: list[float] = []
    said: list[str] = []
    start = time.perf_counter()

    def emit(kind: str, **fields: Any) -> None:
        if kind == "warning" and fields.get("message") not in said:
            said.append(str(fields.get("message")))
        if kind == "frame":
            times.append(time.perf_counter())
            if len(times) % 50 == 0:
                print(f"  {label}: {len(times)} frames, {times[-1] - start:.1f} s", flush=True)
            if times[-1] - start > limit_s:
                cancel.set()  # the time limit: stop after this frame, keep what ran

    with SyncCounter(cuda and count_syncs) as syncs:
        renderer = TimedRenderer(
            job, out, emit=emit, cancel=cancel, events=events, syncs=syncs.count
        )
        result = renderer.run()
    return {
        "start": start,
        "times": times,
        "renderer": renderer,
        "result": result,
        "warnings": said,
    }


def measure(
    config: Config, models: dict[str, Path], work: Path, device: str, quick: bool, limit_s: float
) -> dict[str, Any]:
    """Warm-up render (first frame), a render counting syncs, then the timed render of one
    configuration, stopped after ``limit_s`` seconds (its figures cover the frames that ran)."""
    import torch

    missing = [m for m in (config.model, "depth") if m not in models]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not built (see build_errors)")
    cuda = device != "cpu"
    diffusion.clear_model_cache()  # peak memory: this configuration's models only
    n = config.quick_frames if quick else config.frames
    job, route = config_job(config, models, device, quick, n)  # the timed render's

    def untimed(name: str, frames: int) -> dict[str, Any]:
        """A render before the timed one, host syncs counted (``<config>_<name>``)."""
        short = config_job(config, models, device, quick, frames)[0]
        print(f"{config.name}: {name} ({frames} frames)", flush=True)
        limit = math.inf if quick else WARMUP_LIMIT_S
        out = work / f"{config.name}_{name}"
        return render_once(short, out, cuda=cuda, limit_s=limit, count_syncs=True, label=name)

    first = untimed("warmup", 3 if quick else config.warmup_frames)
    warmup_syncs = loop_syncs_per_frame(first["renderer"].span_syncs)
    # The steady loop's syncs: on a warm model, not the timed render (the debug mode slows it).
    counted = untimed("syncs", QUICK_SYNC_FRAMES if quick else SYNC_FRAMES)
    syncs_per_frame = loop_syncs_per_frame(counted["renderer"].span_syncs)
    first_frame_s = first["times"][0] - first["start"] if first["times"] else None
    load_s = first["result"].timings.get("load", 0.0)
    warm_record = json.loads(run_path(work / f"{config.name}_warmup").read_text(encoding="utf-8"))

    unet = UnetCalls(first["renderer"].diffuser, cuda)
    events = StageEvents() if cuda else None
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    print(f"{config.name}: timed render ({n} frames, limit {limit_s:.0f} s)", flush=True)
    out = work / config.name
    timed = render_once(job, out, cuda=cuda, limit_s=limit_s, events=events, label=config.name)
    unet.remove()
    times, result = timed["times"], timed["result"]
    done = len(times)
    intervals = [b - a for a, b in itertools.pairwise(times)]
    span = times[-1] - times[0] if done > 1 else 0.0
    mtimes = sorted(p.stat().st_mtime for p in frame_files(out).values())
    record = json.loads(run_path(out).read_text(encoding="utf-8"))
    host_ms = {s: 1000.0 * result.timings.get(s, 0.0) for s in GPU_STAGES}
    stage_ms, clock = host_ms, "perf_counter"
    if events is not None:
        stage_ms, clock = events.milliseconds(), "cuda_events"
    per_frame = max(done, 1)
    return {
        "fps": round((done - 1) / span, 3) if span > 0 else 0.0,
        "p50_ms": percentile_ms(intervals, 50),
        "p99_ms": percentile_ms(intervals, 99),
        "syncs_per_frame": round(syncs_per_frame, 2),
        "sync_frames": len(counted["times"]),
        "warmup_syncs_per_frame": round(warmup_syncs, 2),  # compiling and recording in it
        "frames": done,
        "frames_asked": n,
        "stopped_at_limit": bool(result.cancelled),
        "fps_from_mtimes": (
            round((len(mtimes) - 1) / (mtimes[-1] - mtimes[0]), 3)
            if len(mtimes) > 1 and mtimes[-1] > mtimes[0]
            else None
        ),
        "wall_s": round(times[-1] - timed["start"], 3) if times else None,
        "first_frame_s": None if first_frame_s is None else round(first_frame_s, 3),
        "model_load_s": round(load_s, 3),  # part of first_frame_s
        "compile_s": warm_record.get("compile_s") or {},  # part of first_frame_s, by model part
        "steady_first_frame_s": round(times[0] - timed["start"], 3) if times else None,
        "stage_clock": clock,
        "stage_ms_per_frame": {s: round(v / per_frame, 3) for s, v in stage_ms.items()},
        "host_stage_ms_per_frame": {s: round(v / per_frame, 3) for s, v in host_ms.items()},
        "unet_calls_per_frame": round(unet.calls / per_frame, 3) if unet.hooked else None,
        "unet_ms_per_frame": round(unet.milliseconds() / per_frame, 3) if unet.hooked else None,
        "diffusion_calls": result.diffusion_calls,
        "models": model_parts(first["renderer"].diffuser),
        "engine_ms_per_frame": record.get("engine_ms_per_frame"),
        "diffusion_ms_per_call": record.get("diffusion_ms_per_call"),
        "write_ms_per_frame_in_background": record.get("write_ms_per_frame_in_background"),
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
        "peak_reserved_mib": round(torch.cuda.max_memory_reserved() / 2**20, 1) if cuda else None,
        "settings": {**LOOP_SETTINGS, **config.settings, "W": job.W, "H": job.H},
        "vae_route": route,
        "engine_warnings": timed["warnings"][:5],
    }


def build_models(
    work: Path, device: str, quick: bool, report: dict[str, Any], configs: tuple[Config, ...]
) -> dict[str, Path]:
    """The models ``configs`` need (and the depth model), built and saved under ``work``."""
    from random_models import build_depth_anything_small, build_sd15_sized, build_turbo_sized

    models: dict[str, Path] = {}
    steps: tuple[tuple[str, Callable[[], None]], ...] = (
        (
            "depth",
            lambda: models.update(depth=build_depth_anything_small(work / "depth", device, quick)),
        ),
        (
            "turbo",
            lambda: models.update(
                {
                    f"turbo_{k}": v
                    for k, v in build_turbo_sized(work / "turbo", device, quick).items()
                }
            ),
        ),
        ("sd15", lambda: models.update(sd15=build_sd15_sized(work / "sd15", device, quick))),
    )
    needed = {"depth"} | {config.model.split("_")[0] for config in configs}
    report["build_s"] = {}
    for name, build in steps:
        if name not in needed:
            continue
        start = time.perf_counter()
        print(f"building {name} (random weights)", flush=True)
        try:
            build()
        except Exception as error:  # recorded; the configurations that need it say so
            traceback.print_exc()
            report.setdefault("build_errors", {})[name] = f"{type(error).__name__}: {error}"
        report["build_s"][name] = round(time.perf_counter() - start, 1)
    if device != "cpu":
        import torch

        torch.cuda.empty_cache()  # the built copies are gone; start each config clean
    return models


def run_realtime(
    out: Path,
    quick: bool,
    work: Path | None = None,
    budget_s: float = BUDGET_S,
    only: tuple[str, ...] = (),
) -> Path:
    """Build the models, measure every configuration (or those named in ``only``), write
    ``gpu_realtime_<card>.json``.

    The configurations share ``budget_s`` seconds (model building not counted): a timed
    render that would overrun its share stops early and says so (``stopped_at_limit``)."""
    import torch

    from deforum_blender.engine.render import versions

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if quick:
        budget_s = math.inf  # the test checks every frame ran, however slow the machine
        if device == "cpu":
            torch.set_num_threads(1)  # a shared CI machine: spinning thread pools cost seconds
    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
    card = card_name(name) if device == "cuda" else "cpu"
    report: dict[str, Any] = {
        "device": name,
        "card": card,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "quick": quick,
        "versions": versions(),
        "loop": LOOP_SETTINGS,
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"gpu_realtime_{card}.json"

    def write() -> None:
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    with tempfile.TemporaryDirectory(dir=work) as temp:
        folder = Path(temp)
        configs = tuple(c for c in CONFIGS if not only or c.name in only)
        models = build_models(folder, device, quick, report, configs)
        if "depth" in models:  # loaded once for all: no configuration's first frame pays it
            from deforum_blender.engine.depth import load_depth_estimator

            start = time.perf_counter()
            try:
                load_depth_estimator(str(models["depth"]), device)
            except Exception as error:  # each configuration will say it too
                report["depth_load_error"] = f"{type(error).__name__}: {error}"
            report["depth_load_s"] = round(time.perf_counter() - start, 2)
        write()
        deadline = time.perf_counter() + budget_s
        for index, config in enumerate(configs):
            # An equal share of what is left of the budget, the warm-up included.
            share = (deadline - time.perf_counter()) / (len(configs) - index) - WARMUP_RESERVE_S
            limit = min(config.limit_s, max(share, MIN_LIMIT_S)) if share < math.inf else share
            try:
                report[config.name] = measure(config, models, folder, device, quick, limit)
            except Exception as error:  # recorded; the other configurations still run
                traceback.print_exc()
                report[config.name] = {
                    "error": f"{type(error).__name__}: {error}",
                    "traceback": traceback.format_exc()[-4000:],
                }
            print(f"{config.name}: {json.dumps(summary(report[config.name]))}", flush=True)
            write()
    diffusion.clear_model_cache()
    return path


def markdown_table(report: dict[str, Any]) -> str:
    """The figures as docs/performance.md's results table (a failed row shows its error)."""
    lines = [
        f"{report['device']} ({report['card']}), {report['date']}",
        "",
        "| configuration | frames/s | p50 ms | p99 ms | syncs/frame | first frame s "
        "| peak GPU MiB | frames |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for config in CONFIGS:
        row = report.get(config.name, {})
        if "error" in row or "fps" not in row:
            lines.append(f"| {config.name} | {row.get('error', 'not run')} |||||||")
            continue
        keys = ("fps", "p50_ms", "p99_ms", "syncs_per_frame", "first_frame_s", "peak_gpu_mib")
        cells = " | ".join(str(row.get(key)) for key in keys)
        stopped = " (stopped at the time limit)" if row.get("stopped_at_limit") else ""
        lines.append(f"| {config.name} | {cells} | {row.get('frames')}{stopped} |")
    return "\n".join(lines) + "\n"


def summary(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("fps", "p50_ms", "p99_ms", "syncs_per_frame", "frames", "peak_gpu_mib", "error")
    return {k: row[k] for k in keys if k in row}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="toy sizes: test the script on a CPU")
    parser.add_argument(
        "--budget-s", type=float, default=BUDGET_S, help="seconds for all configurations"
    )
    names = [config.name for config in CONFIGS]
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated configurations to run (of {', '.join(names)}); default: all",
    )
    args = parser.parse_args()
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = [name for name in only if name not in names]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; use one of {', '.join(names)}")
    path = run_realtime(args.out, args.quick, budget_s=args.budget_s, only=only)
    print(path.read_text(encoding="utf-8"))
    print(markdown_table(json.loads(path.read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
