"""``render --draft``: the Draft preset from the command line renders and says what it changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from deforum_blender.core.job import save_job
from deforum_blender.core.output_layout import frame_files
from deforum_blender.engine.tiny_models import tiny_job
from tests.helpers import ROOT


def test_draft_renders_with_the_draft_model_tiny_vae_and_two_steps_and_says_so(
    tiny_models: Path, tmp_path: Path
) -> None:
    job_path = tmp_path / "job.json"
    save_job(tiny_job(tiny_models, max_frames="3", sampler="DDIM"), job_path)
    out = tmp_path / "out"
    model = str(tiny_models / "sd")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "deforum_blender",
            "render",
            str(job_path),
            "--draft",
            "--model",
            model,
            "--set",
            f"tiny_vae={tiny_models / 'taesd'}",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    said = next(line for line in result.stderr.splitlines() if "Draft:" in line)
    assert f"vae: tiny ({tiny_models / 'taesd'}) (was 'full')" in said
    assert "steps: 2 (one sampler step per frame" in said and "(was '0: (4)')" in said
    assert "cfg_scale: 0" in said and "sampler: Euler a (was 'DDIM')" in said
    written = json.loads((out / "job.json").read_text())
    assert written["model"]["draft"] is True and written["model"]["id"] == model
    assert written["model"]["draft_model"] == model and written["model"]["vae"] == "tiny"
    assert written["params"]["steps"] == 2.0 and written["sampler"] == "Euler a"
    assert len(frame_files(out)) == 3
