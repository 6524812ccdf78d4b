"""scripts/gpu_check.py runs on the CPU (--quick): CI exercises what the GPU run uses."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def test_gpu_check_quick_runs_on_the_cpu_and_reports_every_figure(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text(encoding="utf-8"))
    assert report["device"] == "cpu"
    # On the CPU both sides of every comparison are the same code path: they agree exactly.
    assert all(row["max_abs"] == 0 for row in report["warp"].values())
    assert report["tiny_job"]["img2img_fp32_max_abs"] == 0
    for cadence, calls in (("cadence_1", 6), ("cadence_2", 3)):
        row = report["timing"][cadence]
        assert row["diffusion_calls"] == calls
        assert 0 < row["unet_share"] <= 1
        assert row["engine_ms_per_frame"] > 0
    assert "| cadence_2 |" in (tmp_path / "gpu_check.md").read_text(encoding="utf-8")


REALTIME_CONFIGS = ("turbo_tiny_vae", "turbo_full_vae", "sd15_25x065")


def test_gpu_check_realtime_quick_reports_every_configuration(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "gpu_check.py"),
            "--quick",
            "--realtime",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    check = json.loads((tmp_path / "gpu_check.json").read_text(encoding="utf-8"))
    assert check["realtime_json"] == "gpu_realtime_cpu.json"
    assert "timing" not in check  # --realtime replaces the old timing
    report = json.loads((tmp_path / "gpu_realtime_cpu.json").read_text(encoding="utf-8"))
    assert report["device"] and report["card"] == "cpu" and report["quick"] is True
    for name in REALTIME_CONFIGS:
        row = report[name]
        assert "error" not in row, row.get("traceback")
        assert row["frames"] == row["frames_asked"] == row["diffusion_calls"]
        for key in ("fps", "p50_ms", "p99_ms", "first_frame_s", "engine_ms_per_frame"):
            assert math.isfinite(row[key]) and row[key] > 0, (name, key, row[key])
        assert row["p50_ms"] <= row["p99_ms"]
        assert math.isfinite(row["syncs_per_frame"]) and row["syncs_per_frame"] >= 0
        assert row["stage_clock"] == "perf_counter"
        assert row["stage_ms_per_frame"]["diffusion"] > 0
        assert row["settings"]["depth_source"] == "estimated"
    # One sampler step per turbo frame after the first (two steps of text-to-image there).
    turbo = report["turbo_tiny_vae"]
    assert turbo["models"]["vae"].startswith("AutoencoderTiny ")
    assert report["turbo_full_vae"]["models"]["vae"].startswith("AutoencoderKL ")
    assert turbo["unet_calls_per_frame"] == round((2 + turbo["frames"] - 1) / turbo["frames"], 3)
