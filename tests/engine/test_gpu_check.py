"""scripts/gpu_check.py runs on the CPU (--quick): CI exercises what the GPU run uses."""

from __future__ import annotations

import json
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
