"""The steps after the frames killed, cancelled and run again, in real subprocesses."""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from deforum_blender.core import output_layout as layout
from deforum_blender.core.job import Finish, Job, save_job
from deforum_blender.core.overrides import apply_overrides
from deforum_blender.engine.finish import finish
from deforum_blender.engine.video import ffmpeg_executable
from tests.engine.test_worker import start_worker  # noqa: F401 - the fixture
from tests.helpers import cli_command, run_cli_ok, stop_half_way

SIZE = 160
# ×10 with ×3 slow motion: 30 frames per gap, enough to stop it half-way.
FINISH = ("--interpolate", "10", "--slow-mo", "3")


def _frames(out: Path, count: int = 6, shift: int = 0) -> Job:
    """``count`` frames of a texture moving right, and the job.json a render leaves."""
    rng = np.random.default_rng(shift)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (SIZE, SIZE + 80, 3), np.uint8), (9, 9), 3)
    layout.frames_dir(out).mkdir(parents=True)
    for i in range(count):
        cv2.imwrite(str(layout.frame_path(out, 1 + i)), texture[:, 4 * i : 4 * i + SIZE])
    job = Job(W=SIZE, H=SIZE, first_frame=1, last_frame=count, fps=10.0)
    save_job(job, layout.job_path(out))
    return job


def _finish_command(out: Path) -> list[str]:
    return cli_command("finish", str(out), *FINISH)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix == ".png"}


def _video_frames(video: Path) -> list[str]:
    """An MD5 per decoded video frame (ffmpeg's framemd5), so encoder bytes do not matter."""
    result = subprocess.run(
        [ffmpeg_executable(), "-v", "error", "-i", str(video), "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.split(",")[-1].strip() for line in result.stdout.splitlines() if line[:1] != "#"]


@pytest.mark.slow
@pytest.mark.parametrize("kill", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_finish_killed_half_way_and_run_again_ends_with_the_same_outputs(
    kill: signal.Signals, tmp_path: Path
) -> None:
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _frames(whole), _frames(killed)
    run_cli_ok(_finish_command(whole))
    expected = _files(whole / layout.INTERPOLATED_DIR)
    assert len(expected) == 5 * 30 + 1
    folder = killed / layout.INTERPOLATED_DIR
    status, stderr = stop_half_way(_finish_command(killed), folder, 40, kill)
    if kill == signal.SIGTERM:
        assert status == 1 and "terminated (SIGTERM)" in stderr, stderr
        assert not [p.name for p in folder.iterdir() if layout.is_temp_name(p.name)]
    else:
        assert status == -signal.SIGKILL
    # Half-way: whole in-betweens only (each as the uninterrupted run wrote it), no video.
    written = _files(folder)
    assert 40 <= len(written) < len(expected)
    assert all(expected[name] == data for name, data in written.items())
    assert not layout.video_path(killed).exists()
    frames_before = _files(layout.frames_dir(killed))
    run_cli_ok(_finish_command(killed))
    assert _files(folder) == expected
    assert _video_frames(layout.video_path(killed)) == _video_frames(layout.video_path(whole))
    assert _files(layout.frames_dir(killed)) == frames_before
    assert not [p.name for p in killed.rglob(".*.tmp*")]


def _interpolation(**fields: Any) -> Finish:
    return dataclasses.replace(
        Finish(),
        frame_interpolation_engine="FILM",
        frame_interpolation_keep_imgs=True,
        **fields,
    )


def test_a_finish_with_another_multiplier_starts_the_folder_over(tmp_path: Path) -> None:
    job = _frames(tmp_path / "out", count=3)
    twice = dataclasses.replace(job, finish=_interpolation(frame_interpolation_x_amount=2))
    thrice = dataclasses.replace(job, finish=_interpolation(frame_interpolation_x_amount=3))
    finish(twice, tmp_path / "out")
    finish(thrice, tmp_path / "out")
    _frames(tmp_path / "fresh", count=3)
    finish(thrice, tmp_path / "fresh")
    assert _files(tmp_path / "out" / "interpolated") == _files(tmp_path / "fresh" / "interpolated")


def test_new_frames_are_interpolated_anew_not_mixed_with_the_last_ones(tmp_path: Path) -> None:
    out = tmp_path / "out"
    job = _frames(out, count=3)
    job = dataclasses.replace(job, finish=_interpolation(frame_interpolation_x_amount=2))
    finish(job, out)
    old = _files(out / "interpolated")
    for path in layout.frames_dir(out).iterdir():  # a new render of the same frames
        path.unlink()
    layout.job_path(out).unlink()
    layout.frames_dir(out).rmdir()
    _frames(out, count=3, shift=7)
    finish(job, out)
    _frames(tmp_path / "fresh", count=3, shift=7)
    finish(job, tmp_path / "fresh")
    new = _files(out / "interpolated")
    assert new == _files(tmp_path / "fresh" / "interpolated") and new != old


# -- cancelling the steps after the frames in the worker ----------------------------------


def _preview_job(frames: int) -> Job:
    job = apply_overrides(
        Job(),
        {
            "W": str(SIZE),
            "H": str(SIZE),
            "max_frames": str(frames),
            "animation_mode": "2D",
            "translation_x": "0: (3)",
            "frame_interpolation_engine": "FILM",
            "frame_interpolation_x_amount": "10",
            "frame_interpolation_slow_mo_enabled": "true",
            "frame_interpolation_slow_mo_amount": "10",
            "frame_interpolation_keep_imgs": "true",
        },
    )
    return dataclasses.replace(job, output=dataclasses.replace(job.output, make_video=True))


def _digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in _files(folder).items()}


@pytest.mark.slow
def test_a_cancel_during_the_finish_keeps_every_frame_and_a_resume_finishes(
    tmp_path: Path,
    start_worker: Any,  # noqa: F811 - the fixture
) -> None:
    out, job = tmp_path / "out", _preview_job(4)
    worker = start_worker()
    worker.render(job, out, preview=True)
    while True:
        event = worker.event()
        assert event["type"] not in ("error", "done", "cancelled"), event
        if event["type"] == "progress" and event.get("stage") == "interpolate":
            break
    frames = _digests(layout.frames_dir(out))
    assert len(frames) == 4
    worker.send("cancel")
    while (event := worker.event())["type"] not in ("done", "cancelled", "error"):
        pass
    assert event == {**event, "type": "cancelled", "frames": 4}
    assert _digests(layout.frames_dir(out)) == frames
    inbetweens = len(list((out / layout.INTERPOLATED_DIR).glob("frame_*.png")))
    assert 0 < inbetweens < 3 * 100 + 1
    assert not layout.video_path(out).exists()
    worker.render(job, out, preview=True, resume=True)
    worker.next("done")
    assert _digests(layout.frames_dir(out)) == frames
    assert len(list((out / layout.INTERPOLATED_DIR).glob("frame_*.png"))) == 3 * 100 + 1
    assert layout.video_path(out).is_file()
    worker.close()
