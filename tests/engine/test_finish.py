"""After the frames: interpolation (optical-flow fallback), upscaling, soundtrack."""

from __future__ import annotations

import dataclasses
import math
import struct
import subprocess
import wave
from pathlib import Path

import cv2
import numpy as np
import pytest

from deforum_blender.core import output_layout as layout
from deforum_blender.core.deforum_settings import import_settings
from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.job import Finish, Job
from deforum_blender.engine.finish import finish
from deforum_blender.engine.frame_interpolation import flow_interpolator
from deforum_blender.engine.video import ffmpeg_executable


def _job(frames: int = 5, **finish_fields: object) -> Job:
    return dataclasses.replace(
        Job(W=64, H=64, first_frame=1, last_frame=frames, fps=10.0),
        finish=dataclasses.replace(Finish(), **finish_fields),  # type: ignore[arg-type]
    )


def _write_frames(out: Path, values: list[int]) -> None:
    layout.frames_dir(out).mkdir(parents=True)
    for i, value in enumerate(values):
        cv2.imwrite(str(layout.frame_path(out, 1 + i)), np.full((64, 64, 3), value, np.uint8))


def _read(path: Path) -> np.ndarray:
    return cv2.imread(str(path))


def test_interpolation_x2_of_five_frames_gives_nine_with_inbetweens_between(tmp_path: Path):
    _write_frames(tmp_path, [0, 50, 100, 150, 200])
    job = _job(frame_interpolation_engine="RIFE v4.6", frame_interpolation_keep_imgs=True)
    result = finish(job, tmp_path)
    names = sorted(p.name for p in (tmp_path / "interpolated").glob("*.png"))
    assert len(names) == 9  # (5 − 1) · 2 + 1, as Deforum
    assert result.fps == 20.0
    means = [_read(tmp_path / "interpolated" / name).mean() for name in names]
    for gap in range(4):
        low, mid, high = means[2 * gap], means[2 * gap + 1], means[2 * gap + 2]
        assert low < mid < high


def test_slow_motion_adds_frames_but_not_frame_rate(tmp_path: Path):
    _write_frames(tmp_path, [0, 40, 80])
    job = _job(
        3,
        frame_interpolation_engine="FILM",
        frame_interpolation_keep_imgs=True,
        frame_interpolation_slow_mo_enabled=True,
        frame_interpolation_slow_mo_amount=2,
    )
    result = finish(job, tmp_path)
    assert len(list((tmp_path / "interpolated").glob("*.png"))) == 9  # (3 − 1) · 2 · 2 + 1
    assert result.fps == 20.0  # x_amount only: the video plays twice as long


def test_fallback_halfway_frame_of_a_translation_is_within_30_db():
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (9, 9), 3)
    earlier, halfway, later = (texture[8:72, 8 - s : 104 - s] for s in (0, 2, 4))
    made = flow_interpolator(np.ascontiguousarray(earlier), np.ascontiguousarray(later), 0.5)
    inner = (slice(8, -8), slice(8, -8))
    error = np.mean((made[inner].astype(float) - halfway[inner].astype(float)) ** 2)
    assert 10 * math.log10(255**2 / max(error, 1e-9)) > 30


def test_missing_upscaler_names_the_setting(tmp_path: Path):
    _write_frames(tmp_path, [0, 50])
    job = _job(2, r_upscale_video=True, r_upscale_model=str(tmp_path / "none.pth"))
    with pytest.raises(DeforumInputError, match="r_upscale_model"):
        finish(job, tmp_path)


def _sine_wav(path: Path, seconds: float = 1.0, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        samples = (
            int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate))
        )
        sound.writeframes(b"".join(struct.pack("<h", s) for s in samples))


def test_soundtrack_is_muxed_into_the_video(tmp_path: Path):
    _write_frames(tmp_path, [0, 50, 100, 150, 200])
    wav = tmp_path / "tone.wav"
    _sine_wav(wav)
    result = finish(_job(add_soundtrack="File", soundtrack_path=str(wav)), tmp_path)
    assert result.video == layout.video_path(tmp_path)
    probe = subprocess.run(
        [ffmpeg_executable(), "-hide_banner", "-i", str(result.video)],
        capture_output=True,
        text=True,
    )
    assert "Audio: aac" in probe.stderr


def test_a_web_address_soundtrack_asks_for_the_local_file(tmp_path: Path):
    _write_frames(tmp_path, [0, 50])
    job = _job(2, add_soundtrack="File", soundtrack_path="https://deforum.github.io/a1/A1.mp3")
    with pytest.raises(DeforumInputError, match=r"soundtrack_path: .*web address"):
        finish(job, tmp_path)


def test_settings_with_output_tab_keys_import_without_the_unsupported_warning():
    job, warnings = import_settings(
        {
            "frame_interpolation_engine": "FILM",
            "frame_interpolation_x_amount": 4,
            "frame_interpolation_slow_mo_enabled": False,
            "frame_interpolation_keep_imgs": True,
            "r_upscale_video": True,
            "r_upscale_factor": "x4",
            "r_upscale_model": "realesrgan-x4plus",
            "r_upscale_keep_imgs": True,
            "add_soundtrack": "File",
            "soundtrack_path": "/music/song.mp3",
        }
    )
    assert not [w for w in warnings if "not supported" in w or "frame_interpolation" in w]
    assert job.finish.frame_interpolation_engine == "FILM"
    assert job.finish.frame_interpolation_x_amount == 4
    assert job.finish.r_upscale_factor == "x4"
    assert job.finish.add_soundtrack == "File"
    assert job.finish.soundtrack_path == "/music/song.mp3"


def _sound_seconds(video: Path) -> float:
    """The length of the video's sound, decoded by the bundled ffmpeg (mono 16-bit 48 kHz)."""
    command = [ffmpeg_executable(), "-v", "error", "-i", str(video), "-map", "0:a:0"]
    command += ["-f", "s16le", "-ac", "1", "-ar", "48000", "-"]
    decoded = subprocess.run(command, capture_output=True, check=True)
    return len(decoded.stdout) / 2 / 48000


@pytest.mark.parametrize("sound_seconds", [3.0, 0.1], ids=["longer", "shorter"])
def test_the_soundtrack_is_cut_or_padded_to_the_videos_length(sound_seconds: float, tmp_path: Path):
    _write_frames(tmp_path, [0, 50, 100, 150, 200])
    wav = tmp_path / "tone.wav"
    _sine_wav(wav, seconds=sound_seconds)
    result = finish(_job(add_soundtrack="File", soundtrack_path=str(wav)), tmp_path)
    assert result.video is not None
    assert _sound_seconds(result.video) == pytest.approx(5 / 10, abs=0.03)  # 5 frames, 10 fps


def test_a_deforum_upscaler_name_is_skipped_with_a_warning_not_refused(tmp_path: Path):
    _write_frames(tmp_path, [0, 50])
    warnings: list[str] = []
    job = _job(2, r_upscale_video=True, r_upscale_model="realesrgan-x4plus")
    finish(job, tmp_path, emit=lambda kind, **fields: warnings.append(str(fields.get("message"))))
    assert any("'realesrgan-x4plus'" in text and "not upscaled" in text for text in warnings)
    assert not (tmp_path / layout.UPSCALED_DIR).exists()


def test_a_render_refuses_a_missing_upscaler_before_its_first_frame(tmp_path: Path):
    from deforum_blender.engine.render import render

    job = dataclasses.replace(
        _job(2, r_upscale_video=True, r_upscale_model=str(tmp_path / "none.pth")),
        animation_mode="2D",
    )
    with pytest.raises(DeforumInputError, match=r"r_upscale_model: .*none\.pth"):
        render(job, tmp_path / "out", preview=True)
    assert not list((tmp_path / "out").rglob("*.png"))  # refused before any frame
