"""Huge frame counts are refused before anything is built per frame."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from deforum_blender.core.job import Job, JobError
from deforum_blender.core.overrides import apply_overrides
from deforum_blender.core.schedules import MAX_FRAMES
from tests.helpers import ROOT

SETTINGS = ROOT / "tests" / "core" / "data" / "deforum_simple_settings.txt"


@pytest.mark.parametrize(
    ("setting", "frames"),
    [("max_frames=300000000", "300000000"), ("first_frame=-2147483648", "2147483654")],
)
def test_the_cli_refuses_a_huge_frame_count_at_once(
    tmp_path: Path, setting: str, frames: str
) -> None:
    command = ["render", str(SETTINGS), "--preview", "--set", setting, "--out", str(tmp_path)]
    result = subprocess.run(
        [sys.executable, "-m", "deforum_blender", *command],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=60,  # it ran for minutes before; refused, it takes a moment
    )
    assert result.returncode == 2, result.stderr[-2000:]
    error = result.stderr.strip().splitlines()[-1]
    assert f"max_frames: {frames} frames" in error and str(MAX_FRAMES) in error, error
    assert not (tmp_path / "frames").exists()


def test_a_huge_job_is_refused_without_memory_per_frame() -> None:
    data = {**Job().to_dict(), "first_frame": -(2**31), "last_frame": 2**31 - 1}
    tracemalloc.start()
    try:
        with pytest.raises(JobError, match=f"more than {MAX_FRAMES}; render fewer frames"):
            Job.from_dict(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, peak  # one frame's worth of lists would be gigabytes


def test_the_limit_itself_is_allowed() -> None:
    job = apply_overrides(Job(), {"first_frame": "1", "last_frame": str(MAX_FRAMES)})
    assert job.max_frames == MAX_FRAMES
    with pytest.raises(JobError, match="max_frames"):
        apply_overrides(Job(), {"first_frame": "0", "last_frame": str(MAX_FRAMES)})
