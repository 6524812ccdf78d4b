"""``bench warp`` and ``bench loop`` at toy sizes: every row is there (no timing is judged)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from deforum_blender import benchmarks

WARP_MODES = ("2d", "flat", "estimated_depth", "scene_depth", "deforum_3d", "deforum_3d_flat")


def test_warp_bench_reports_each_warp_beside_its_floor_at_each_size() -> None:
    figures = benchmarks.bench_warp(sizes=((48, 32), (40, 24)), repeat=1)
    expected = {
        f"{mode}_{size}_{figure}"
        for mode in WARP_MODES
        for size in ("48x32", "40x24")
        for figure in ("ms", "floor_ms", "ratio")
    }
    assert set(figures) == expected
    assert all(math.isfinite(value) and value > 0 for value in figures.values())


def test_paired_timing_alternates_the_two_and_reports_the_median_ratio() -> None:
    calls: list[str] = []
    engine, floor, ratio = benchmarks.paired_ms(
        lambda: calls.append("run"), lambda: calls.append("floor"), repeat=3
    )
    assert calls == ["run", "floor"] * 4  # one warm-up pair, then three timed pairs
    assert engine > 0 and floor > 0 and ratio > 0


@pytest.mark.parametrize("mode", list(benchmarks.LOOP_MODES))
def test_loop_bench_reports_the_engine_per_frame_for_each_mode(
    tiny_models: Path, mode: str
) -> None:
    figures = benchmarks.loop_figures(tiny_models, 64, 48, mode, frames=3)
    stages = [f"{stage}_ms" for stage in ("warp", "coherence", "contrast", "antiblur", "noise")]
    assert set(stages) <= set(figures)
    assert figures["warp_ms"] > 0
    assert figures["engine_total_ms"] == pytest.approx(
        sum(
            v for k, v in figures.items() if k not in ("engine_total_ms", "png_write_background_ms")
        )
    )
    assert figures["png_write_background_ms"] > 0
