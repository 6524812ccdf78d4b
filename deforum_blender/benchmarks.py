"""``python -m deforum_blender bench``: named speed measurements, each returning figures.

A benchmark is a function returning ``{figure name: value}`` (times in milliseconds,
named ``*_ms``). Heavy modules are imported inside the benchmark functions, so listing
the registry stays cheap. Register new ones in :data:`BENCHMARKS`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

from .core.errors import DeforumInputError

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


def bench_warp() -> Figures:
    """The exact 3D warp (maps + bicubic remap) at 512×512 and 1024×576 on one thread.

    Also the occlusion test that comes with the scene depth, and Deforum's 2D warp.
    """
    import cv2
    import numpy as np

    from .engine import warp

    pose = np.eye(4)
    pose[:3, :3] = cv2.Rodrigues(np.array([0.0, np.radians(0.5), 0.0]))[0]
    pose[:3, 3] = (0.02, 0.01, -0.05)

    def measure(width: int, height: int) -> Figures:
        rng = np.random.default_rng(0)
        coarse = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
        frame = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
        depth = rng.uniform(2.0, 8.0, (height, width)).astype(np.float32)
        k = np.array([[0.9 * width, 0, width / 2], [0, 0.9 * width, height / 2], [0, 0, 1]])

        def exact() -> object:
            maps = warp.reprojection_maps(depth, k, k, pose)
            return warp.remap(frame, maps.map_x, maps.map_y, sampling="bicubic")

        def with_occlusion() -> object:
            return warp.warp_3d(
                frame, k_source=k, k_target=k, pose=pose, target_depth=depth, source_depth=depth
            )

        def deforum_2d() -> object:
            return warp.warp_2d(frame, warp.Motion2D(angle=1.0, zoom=1.01))

        size = f"{width}x{height}"
        return {
            f"exact_3d_{size}_ms": best_ms(exact, repeat=15),
            f"exact_3d_with_occlusion_{size}_ms": best_ms(with_occlusion),
            f"deforum_2d_{size}_ms": best_ms(deforum_2d),
        }

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return {**measure(512, 512), **measure(1024, 576)}
    finally:
        cv2.setNumThreads(threads)


def bench_loop() -> Figures:
    """The render loop at 512×512 with the tiny model, one thread: the engine's own
    milliseconds per frame by stage (everything but the networks), PNG writing apart."""
    import json
    import tempfile
    from pathlib import Path

    import cv2
    import torch

    from .core.output_layout import run_path
    from .engine.render import ENGINE_STAGES, render
    from .engine.tiny_models import make_tiny_models, tiny_job

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    frames = 24
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        make_tiny_models(folder / "models")
        job = tiny_job(
            folder / "models",
            W="512",
            H="512",
            max_frames=str(frames),
            seed="1",
            steps_schedule="0: (2)",
            diffusion_cadence="1",
        )
        render(job, folder / "out")
        record = json.loads(run_path(folder / "out").read_text(encoding="utf-8"))
    timings = record["timings_s"]
    warped = frames - 1  # frame 1 is generated, not warped
    figures = {f"{stage}_ms": 1000 * timings[stage] / warped for stage in ENGINE_STAGES}
    figures["engine_total_ms"] = sum(figures.values())
    figures["png_write_background_ms"] = 1000 * timings["write"] / frames
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
