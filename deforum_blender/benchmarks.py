"""``python -m deforum_blender bench``: named speed measurements, each returning figures.

A benchmark is a function returning ``{figure name: value}`` (times in milliseconds,
named ``*_ms``). Heavy modules are imported inside the benchmark functions, so listing
the registry stays cheap. Register new ones in :data:`BENCHMARKS`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .core.errors import DeforumInputError

if TYPE_CHECKING:
    from numpy.typing import NDArray

Figures = dict[str, float]


def best_ms(run: Callable[[], object], repeat: int = 7) -> float:
    """Median of ``repeat`` timings of ``run()`` in milliseconds (after one warm-up)."""
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def bench_schedules() -> Figures:
    """Schedule evaluation: a 10 000-frame schedule with an expression keyframe, and more."""
    from .core import expressions, schedules

    frames = 10_000
    expression = "0: (0.65), 100: (0.5+0.1*sin(2*pi*t/48)*cos(t/300)), 9000: (0.4)"
    numeric = ", ".join(
        f"{frame}: ({0.5 + 0.4 * (frame % 7) / 7:.4f})" for frame in range(0, 10_000, 10)
    )

    def cold_expression() -> None:
        # Parsing is cached; clear the caches to time parse + compile + evaluate.
        schedules._parse.cache_clear()
        expressions.compile_expression.cache_clear()
        schedules.evaluate_schedule(expression, frames)

    def cold_numeric() -> None:
        schedules._parse.cache_clear()
        schedules.evaluate_schedule(numeric, frames)

    # The extreme case: a different expression every 10 frames (1000 to compile).
    many = ", ".join(f"{frame}: (0.5+0.1*sin(t/{frame + 1}))" for frame in range(0, frames, 10))

    def cold_many_expressions() -> None:
        schedules._parse.cache_clear()
        expressions.compile_expression.cache_clear()
        schedules.evaluate_schedule(many, frames)

    series = schedules.evaluate_schedule_array(numeric, frames)
    return {
        "expression_10k_frames_ms": best_ms(cold_expression),
        "expression_10k_frames_cached_ms": best_ms(
            lambda: schedules.evaluate_schedule(expression, frames)
        ),
        "cubic_10k_frames_ms": best_ms(
            lambda: schedules.evaluate_schedule(expression, frames, interpolation="cubic")
        ),
        "numeric_1000_keyframes_ms": best_ms(cold_numeric),
        "expression_1000_keyframes_ms": best_ms(cold_many_expressions, repeat=3),
        "format_10k_frames_ms": best_ms(lambda: schedules.format_schedule(series), repeat=3),
    }


def bench_loop_stages() -> Figures:
    """The loop's image stages on one 512×512 frame, one thread: colour match (LAB), contrast,
    anti-blur, Perlin noise and PNG encode (the warp has its own benchmark)."""
    import cv2
    import numpy as np

    from .engine import adjust, coherence, frames, noise

    size = 512
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([200 * x + 30, 180 * y + 40, 120 + 80 * np.sin(6 * x + 3 * y)], axis=-1)
    texture = cv2.GaussianBlur(rng.normal(0, 25, (size, size, 3)).astype(np.float32), (0, 0), 1.5)
    frame = np.clip(base + texture, 0, 255).round().astype(np.uint8)
    reference = np.clip(frame.astype(np.int16) + 12, 0, 255).astype(np.uint8)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        matcher = coherence.ColorMatcher(reference, "LAB")  # built once per run, as in the loop
        figures = {
            "color_match_lab_ms": best_ms(lambda: matcher.apply(frame)),
            "contrast_ms": best_ms(lambda: adjust.adjust_contrast(frame, 1.05)),
            "anti_blur_ms": best_ms(lambda: adjust.unsharp_mask(frame, 0.1, 5, 1.0, 0.0)),
            "noise_perlin_ms": best_ms(lambda: noise.add_noise(frame, 0.065, 1, 7, "perlin")),
            "png_encode_ms": best_ms(lambda: frames.encode_png(frame)),
        }
    finally:
        cv2.setNumThreads(threads)
    figures["total_ms"] = sum(figures.values())
    return figures


#: Frame sizes (width, height) of the warp and loop benchmarks.
BENCH_SIZES: tuple[tuple[int, int], ...] = ((512, 512), (1024, 576))


def paired_ms(
    run: Callable[[], object], floor: Callable[[], object], repeat: int = 15
) -> tuple[float, float, float]:
    """(median ms of ``run``, of ``floor``, median ratio run/floor), timed in alternation so a
    busy machine slows both alike; the ratio is the median of the pairs' ratios.

    Times are the calling thread's CPU time: both run on this one thread (OpenCV set to one
    thread), and other processes on a shared machine then do not count.
    """
    run()
    floor()
    times: list[float] = []
    floors: list[float] = []
    for _ in range(repeat):
        for job, out in ((run, times), (floor, floors)):
            start = time.thread_time()
            job()
            out.append((time.thread_time() - start) * 1000.0)
    ratios = [a / b for a, b in zip(times, floors, strict=True)]
    return statistics.median(times), statistics.median(floors), statistics.median(ratios)


def _bench_frame(width: int, height: int) -> tuple[NDArray[Any], NDArray[Any]]:
    """A smooth colour frame and a smooth depth map (2…8 units), as a diffused frame and a
    depth model's prediction look: no per-pixel noise."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    frame = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    grid = rng.uniform(2.0, 8.0, (6, 8)).astype(np.float32)
    depth = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return frame, np.clip(depth, 1.0, None).astype(np.float32)


def warp_figures(
    width: int, height: int, repeat: int = 15
) -> dict[str, tuple[float, float, float]]:
    """Each CPU warp the engine runs at ``width × height`` beside its floor on the same frame:
    ``{mode: (engine ms, floor ms, ratio)}`` (see :func:`bench_warp`)."""
    import cv2
    import numpy as np

    from .core.camera import DEFAULT_SCENE_DEPTH, RenderSize, camera_track_from_deforum
    from .engine import deforum_warp, warp

    frame, depth = _bench_frame(width, height)
    k = np.array([[0.9 * width, 0, width / 2], [0, 0.9 * width, height / 2], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, :3] = cv2.Rodrigues(np.array([0.0, np.radians(0.5), 0.0]))[0]
    pose[:3, 3] = (0.02, 0.01, -0.05)
    replicate = cv2.BORDER_REPLICATE

    # 2D: Deforum's 2D move as the engine runs it (a camera over a plane); the floor is
    # Deforum's own call, warpPerspective bilinear with the 2D matrix.
    motion = warp.Motion2D(angle=1.0, zoom=1.01, translation_x=2.0)
    values = {"angle": [0.0, 1.0], "zoom": [1.0, 1.01], "translation_x": [0.0, 2.0]}
    track = camera_track_from_deforum(
        values, 2, animation_mode="2D", size=RenderSize(width, height), frame_start=0
    )
    scene_plane = np.full((height, width), DEFAULT_SCENE_DEPTH, np.float32)
    matrix_2d = warp.deforum_2d_matrix(width, height, motion)

    # Flat depth: one plane; the floor is the one warpPerspective of its homography.
    plane = np.full((height, width), 5.0, np.float32)
    homography = warp.plane_homography(5.0, k, k, pose)
    bicubic_inverse = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP

    # Estimated depth: the source depth alone; the floor is the bicubic remap with the maps
    # of the estimated target depth ready. Scene depth: both depths, maps of the target's.
    estimated = warp.reprojection_maps(warp.estimate_target_depth(depth, k, k, pose), k, k, pose)
    scene = warp.reprojection_maps(depth, k, k, pose)

    # Deforum's own 3D warp (a settings file's 3D motion), its depth normalised; the floor
    # is the remap with its maps ready.
    z = deforum_warp.deforum_depth(1.0 / depth)
    move = deforum_warp.DeforumMotion.from_schedules(0.0, 0.0, 2.0, 0.0, 0.5, 0.0)
    aspect = width / height
    deforum_maps = deforum_warp.deforum_maps(z, move, fov=40.0, aspect=aspect)
    # Its flat depth with a dolly and a roll (Deforum's default motion): one affine map; the
    # floor is the one warpAffine of it.
    flat_z = np.ones((height, width), np.float32)
    dolly = deforum_warp.DeforumMotion.from_schedules(1.0, 0.0, 2.0, 0.0, 0.0, 0.5)
    affine = deforum_warp.flat_affine(flat_z, dolly, fov=40.0, aspect=aspect)
    assert affine is not None

    def remap_ready(maps: tuple[NDArray[Any], NDArray[Any]]) -> Callable[[], object]:
        map_x, map_y = maps
        return lambda: cv2.remap(frame, map_x, map_y, cv2.INTER_CUBIC, borderMode=replicate)

    cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "2d": (
            lambda: warp.warp_to_frame(
                frame, track, 1, target_depth=scene_plane, sampling="bilinear"
            ),
            lambda: cv2.warpPerspective(
                frame, matrix_2d, (width, height), flags=cv2.INTER_LINEAR, borderMode=replicate
            ),
        ),
        "flat": (
            lambda: warp.warp_3d(frame, k_source=k, k_target=k, pose=pose, target_depth=plane),
            lambda: cv2.warpPerspective(
                frame, homography, (width, height), flags=bicubic_inverse, borderMode=replicate
            ),
        ),
        "estimated_depth": (
            lambda: warp.warp_3d(frame, k_source=k, k_target=k, pose=pose, source_depth=depth),
            remap_ready((estimated.map_x, estimated.map_y)),
        ),
        "scene_depth": (
            lambda: warp.warp_3d(
                frame, k_source=k, k_target=k, pose=pose, target_depth=depth, source_depth=depth
            ),
            remap_ready((scene.map_x, scene.map_y)),
        ),
        "deforum_3d": (
            lambda: deforum_warp.warp_deforum_3d(frame, z, move, fov=40.0, aspect=aspect),
            remap_ready(deforum_maps),
        ),
        "deforum_3d_flat": (
            lambda: deforum_warp.warp_deforum_3d(frame, flat_z, dolly, fov=40.0, aspect=aspect),
            lambda: cv2.warpAffine(
                frame, affine[:2], (width, height), flags=bicubic_inverse, borderMode=replicate
            ),
        ),
    }
    return {mode: paired_ms(run, floor, repeat) for mode, (run, floor) in cases.items()}


def bench_warp(sizes: Sequence[tuple[int, int]] = BENCH_SIZES, repeat: int = 15) -> Figures:
    """The engine's CPU warps on one thread, each beside its floor on the same frame, paired:
    2D (floor: Deforum's ``warpPerspective``), flat depth (floor: ``warpPerspective`` of the
    plane's homography), estimated depth from a smooth source depth, scene depth with the
    occlusion test, and Deforum's own 3D warp (floors: bicubic ``cv2.remap`` with the maps
    ready), flat with a dolly (floor: its one ``warpAffine``). ``*_ratio`` is engine ÷ floor
    (targets: 2D and flat ≤ 1.2)."""
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    figures: Figures = {}
    try:
        for width, height in sizes:
            size = f"{width}x{height}"
            for mode, (engine, floor, ratio) in warp_figures(width, height, repeat).items():
                figures[f"{mode}_{size}_ms"] = engine
                figures[f"{mode}_{size}_floor_ms"] = floor
                figures[f"{mode}_{size}_ratio"] = ratio
    finally:
        cv2.setNumThreads(threads)
    return figures


#: The loop benchmark's jobs: ``--set`` keys over the tiny job (3D, Deforum's schedules).
LOOP_MODES: dict[str, dict[str, str]] = {
    "2d": {"animation_mode": "2D", "angle": "0: (1)", "zoom": "0: (1.01)"},
    "flat": {"depth_source": "flat"},
    "estimated_depth": {"depth_source": "estimated"},
}


def loop_figures(models: object, width: int, height: int, mode: str, frames: int = 24) -> Figures:
    """One render of the tiny job (``LOOP_MODES[mode]``) at ``width × height``: the engine's
    own ms per warped frame by stage, their total, and the background PNG write per frame."""
    import json
    import tempfile
    from pathlib import Path

    from .core.output_layout import run_path
    from .engine.render import ENGINE_STAGES, render
    from .engine.tiny_models import tiny_job

    with tempfile.TemporaryDirectory() as temp:
        job = tiny_job(
            Path(str(models)),
            W=str(width),
            H=str(height),
            max_frames=str(frames),
            seed="1",
            steps_schedule="0: (2)",
            diffusion_cadence="1",
            **LOOP_MODES[mode],
        )
        render(job, Path(temp) / "out")
        record = json.loads(run_path(Path(temp) / "out").read_text(encoding="utf-8"))
    timings = record["timings_s"]
    warped = frames - 1  # frame 1 is generated, not warped
    figures = {f"{stage}_ms": 1000 * timings[stage] / warped for stage in ENGINE_STAGES}
    figures["engine_total_ms"] = sum(figures.values())
    figures["png_write_background_ms"] = 1000 * timings["write"] / frames
    return figures


def bench_loop(
    sizes: Sequence[tuple[int, int]] = BENCH_SIZES,
    modes: Sequence[str] = tuple(LOOP_MODES),
    frames: int = 24,
) -> Figures:
    """The render loop with the tiny model on one thread, per size and mode (2D, flat,
    estimated depth with the tiny depth model): the engine's own milliseconds per frame by
    stage (everything but the networks; ``warp`` includes the depth prediction), PNG writing
    apart (it runs on the writer thread)."""
    import tempfile
    from pathlib import Path

    import cv2
    import torch

    from .engine.tiny_models import make_tiny_models

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    figures: Figures = {}
    with tempfile.TemporaryDirectory() as temp:
        models = Path(temp) / "models"
        make_tiny_models(models)
        for width, height in sizes:
            for mode in modes:
                for name, value in loop_figures(models, width, height, mode, frames).items():
                    figures[f"{mode}_{width}x{height}_{name}"] = value
    return figures


def bench_worker() -> Figures:
    """The worker process: time from a ``render`` request to its first ``frame`` event, for
    a cold start (a fresh process: Python, imports, model load) and for the next job on the
    same, warm worker, whose ``load`` stage (run.json) shows that nothing was reloaded.

    Tiny random-weight model, 64×64, 2 frames, 4 steps, on the CPU.
    """
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from .core.output_layout import run_path
    from .core.protocol import EVENTS, decode, encode
    from .engine.tiny_models import make_tiny_models, tiny_job

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="deforum_bench_worker_") as folder:
        temp = Path(folder)
        make_tiny_models(temp / "models")
        job = tiny_job(temp / "models", max_frames="2")
        start = time.perf_counter()
        worker = subprocess.Popen(
            [sys.executable, "-m", "deforum_blender", "worker", "--log-level", "WARNING"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=root,
        )
        assert worker.stdin is not None and worker.stdout is not None

        def until(kind: str) -> float:
            assert worker.stdout is not None
            for line in worker.stdout:
                event = decode(line, EVENTS)
                if event["type"] == kind:
                    return time.perf_counter()
                if event["type"] == "error":
                    raise RuntimeError(f"bench worker: {event['message']}")
            raise RuntimeError("bench worker: the worker exited")

        def first_frame(name: str) -> tuple[float, float]:
            """(request → first frame in ms, the run's load stage in ms)."""
            assert worker.stdin is not None
            asked = time.perf_counter()
            request = encode("render", job=job.to_dict(), out_dir=str(temp / name))
            worker.stdin.write(request + "\n")
            worker.stdin.flush()
            first = until("frame")
            until("done")
            record = json.loads(run_path(temp / name).read_text(encoding="utf-8"))
            return (first - asked) * 1000.0, record["timings_s"]["load"] * 1000.0

        try:
            ready = until("ready")
            cold_ms, cold_load_ms = first_frame("cold")
            warm_ms, warm_load_ms = first_frame("warm")
            worker.stdin.write(encode("shutdown") + "\n")
            worker.stdin.flush()
            worker.wait(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
    return {
        "process_start_to_ready_ms": (ready - start) * 1000.0,
        "cold_request_to_first_frame_ms": cold_ms,
        "cold_start_to_first_frame_ms": (ready - start) * 1000.0 + cold_ms,
        "cold_model_load_ms": cold_load_ms,
        "warm_request_to_first_frame_ms": warm_ms,
        "warm_model_load_ms": warm_load_ms,
    }


BENCHMARKS: dict[str, Callable[[], Figures]] = {
    "schedules": bench_schedules,
    "loop_stages": bench_loop_stages,
    "warp": bench_warp,
    "loop": bench_loop,
    "worker": bench_worker,
}


def run_benchmarks(names: Sequence[str] | None = None) -> dict[str, Figures]:
    """Run the named benchmarks (all when ``names`` is empty) and return their figures."""
    chosen = list(names) if names else list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        raise DeforumInputError(
            f"bench: unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    return {name: BENCHMARKS[name]() for name in chosen}


def format_table(results: dict[str, Figures]) -> str:
    """The figures as an aligned, human-readable table."""
    rows = [
        (name, figure, value)
        for name, figures in results.items()
        for figure, value in figures.items()
    ]
    if not rows:
        return ""
    width = max(len(f"{name}.{figure}") for name, figure, _ in rows)
    return "\n".join(
        f"{f'{name}.{figure}':<{width}}  {value:12.3f}" for name, figure, value in rows
    )
