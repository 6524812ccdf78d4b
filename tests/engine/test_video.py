"""video.mp4 from PNG frames through the real ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.engine.video import VideoError, ffmpeg_executable, write_video


def _frames(folder: Path, count: int, size: tuple[int, int] = (48, 64)) -> list[Path]:
    paths = []
    for index in range(count):
        image = np.zeros((*size, 3), np.uint8)
        image[:, : (index + 1) * 8] = (255, 64, 0)
        path = folder / f"frame_{index:05d}.png"
        cv2.imwrite(str(path), image)
        paths.append(path)
    return paths


def test_video_has_every_frame_at_the_requested_fps(tmp_path: Path) -> None:
    out = write_video(_frames(tmp_path, 6), tmp_path / "video.mp4", fps=12)
    probe = subprocess.run(
        [ffmpeg_executable(), "-i", str(out), "-map", "0:v", "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    assert "12 fps" in probe.stderr
    capture = cv2.VideoCapture(str(out))
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(frame)
    assert len(decoded) == 6
    # The coloured band grows frame by frame: the order survived encoding.
    widths = [int((frame[:, :, 0].mean(axis=0) > 128).sum()) for frame in decoded]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    assert not list(tmp_path.glob(".*tmp*"))


def test_odd_sizes_are_padded_not_refused(tmp_path: Path) -> None:
    out = write_video(_frames(tmp_path, 2, size=(33, 35)), tmp_path / "video.mp4", fps=8)
    assert out.stat().st_size > 0


def test_missing_ffmpeg_is_a_clear_error_and_frames_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = _frames(tmp_path, 2)
    monkeypatch.setenv("DEFORUM_FFMPEG", str(tmp_path / "no-ffmpeg"))
    with pytest.raises(VideoError, match="DEFORUM_FFMPEG"):
        write_video(frames, tmp_path / "video.mp4", fps=8)
    assert all(frame.exists() for frame in frames)
    assert not (tmp_path / "video.mp4").exists()


def test_no_frames_or_bad_fps_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(DeforumInputError, match="no frames"):
        write_video([], tmp_path / "video.mp4", fps=8)
    with pytest.raises(DeforumInputError, match="fps"):
        write_video(_frames(tmp_path, 1), tmp_path / "video.mp4", fps=0)
