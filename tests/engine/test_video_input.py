"""Video Input mode with the tiny models: a test video made here with ffmpeg drives it."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.output_layout import (
    EXTRACTION_MARKER,
    frame_files,
    frame_path,
    video_input_dir,
)
from deforum_blender.engine.coherence import match_colors
from deforum_blender.engine.frames import read_frame
from deforum_blender.engine.motion import FrameWarper, job_camera_track
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import tiny_job
from deforum_blender.engine.video import ffmpeg_executable
from deforum_blender.engine.video_input import probe
from tests.helpers import (
    VIDEO_FRAMES,
    encode_video,
    frame_bytes,
    grey_video,
    level,
    run_json,
    write_frames,
)


def mask_video(tmp: Path, size: tuple[int, int] = (80, 64)) -> Path:
    """Left half black (keep the video), right half white (diffuse), on every frame."""
    width, height = size
    mask = np.zeros((height, width, 3), np.uint8)
    mask[:, width // 2 :] = 255
    return encode_video(write_frames(tmp / "mask_frames", [mask] * VIDEO_FRAMES), tmp / "mask.mp4")


def video_job(models: Path, video: Path, **settings: str) -> Any:
    base = {
        "animation_mode": "Video Input",
        "video_init_path": str(video),
        "color_coherence": "None",
        "strength_schedule": "0: (1.0)",
    }
    return tiny_job(models, **{**base, **settings})


def levels(out: Path) -> list[float]:
    return [float(read_frame(path).mean()) for path in frame_files(out).values()]


@pytest.mark.parametrize(
    ("nth", "start", "source"),
    [(1, 0, "video"), (2, 0, "video"), (2, 1, "video"), (3, 0, "folder")],
)
def test_video_frames_drive_the_frames_in_order(
    tiny_models: Path, tmp_path: Path, nth: int, start: int, source: str
) -> None:
    video = grey_video(tmp_path)
    path = tmp_path / "grey_frames" if source == "folder" else video
    job = video_job(
        tiny_models,
        path,
        extract_nth_frame=str(nth),
        extract_from_frame=str(start),
        max_frames="3",
        diffusion_cadence="3",  # ignored: Video Input diffuses every frame, as Deforum
    )
    result = render(job, tmp_path / "out")
    assert sorted(frame_files(tmp_path / "out")) == [1, 2, 3]
    assert result.diffusion_calls == 3
    expected = [level(start + k * nth) for k in range(3)]
    np.testing.assert_allclose(levels(tmp_path / "out"), expected, atol=3)
    # strength 1.0 keeps the video frame: the output is the extracted frame itself
    extracted = read_frame(video_input_dir(tmp_path / "out") / "frame_00002.png")
    np.testing.assert_array_equal(read_frame(frame_path(tmp_path / "out", 2)), extracted)


def test_diffused_video_frames_resume_without_extracting_again(
    tiny_models: Path, tmp_path: Path
) -> None:
    video = grey_video(tmp_path)
    job = video_job(tiny_models, video, strength_schedule="0: (0.5)", max_frames="4")
    render(job, tmp_path / "whole")
    assert len(set(frame_bytes(tmp_path / "whole").values())) == 4
    cancel = threading.Event()

    def emit(kind: str, **fields: Any) -> None:
        if kind == "frame" and fields["index"] >= 1:
            cancel.set()

    assert render(job, tmp_path / "resumed", emit=emit, cancel=cancel).cancelled
    extracted = video_input_dir(tmp_path / "resumed")
    assert (extracted / EXTRACTION_MARKER).is_file()
    stamps = {p.name: p.stat().st_mtime_ns for p in extracted.iterdir()}
    render(job, tmp_path / "resumed", resume=True)
    assert {p.name: p.stat().st_mtime_ns for p in extracted.iterdir()} == stamps
    assert frame_bytes(tmp_path / "resumed") == frame_bytes(tmp_path / "whole")
    assert run_json(tmp_path / "resumed")["status"] == "done"


def test_an_incomplete_extraction_is_redone(tiny_models: Path, tmp_path: Path) -> None:
    video = grey_video(tmp_path)
    job = video_job(tiny_models, video, max_frames="3")
    render(job, tmp_path / "out", preview=True)
    folder = video_input_dir(tmp_path / "out")
    (folder / EXTRACTION_MARKER).unlink()  # as if killed before the marker was written
    (folder / "frame_00003.png").write_bytes(b"broken")
    for path in frame_files(tmp_path / "out").values():
        path.unlink()
    render(job, tmp_path / "out", preview=True, resume=True)
    assert (folder / EXTRACTION_MARKER).is_file()
    np.testing.assert_allclose(levels(tmp_path / "out"), [level(0), level(1), level(2)], atol=3)


def test_a_mask_video_keeps_the_video_where_it_is_black(tiny_models: Path, tmp_path: Path) -> None:
    video = grey_video(tmp_path)
    job = video_job(
        tiny_models,
        video,
        strength_schedule="0: (0.3)",
        use_mask_video="true",
        video_mask_path=str(mask_video(tmp_path)),
        max_frames="2",
    )
    render(job, tmp_path / "out")
    for index in range(2):
        out = read_frame(frame_path(tmp_path / "out", 1 + index))
        source = read_frame(video_input_dir(tmp_path / "out") / f"frame_{1 + index:05d}.png")
        np.testing.assert_array_equal(out[:, :30], source[:, :30])  # black: kept exactly
        assert np.abs(out[:, 34:].astype(int) - source[:, 34:]).mean() > 5  # white: diffused


def test_video_input_coherence_matches_each_frame_to_its_video_frame(
    tiny_models: Path, tmp_path: Path
) -> None:
    video = grey_video(tmp_path)
    settings = {"strength_schedule": "0: (0.4)", "max_frames": "2"}
    render(video_job(tiny_models, video, **settings), tmp_path / "plain")
    matched_job = video_job(tiny_models, video, color_coherence="Video Input", **settings)
    render(matched_job, tmp_path / "matched")
    for frame in (1, 2):
        plain = read_frame(frame_path(tmp_path / "plain", frame))
        source = read_frame(video_input_dir(tmp_path / "plain") / f"frame_{frame:05d}.png")
        expected = match_colors(plain, source, "LAB")
        np.testing.assert_array_equal(read_frame(frame_path(tmp_path / "matched", frame)), expected)
        assert not np.array_equal(plain, expected)


def test_video_coherence_in_3d_matches_the_warped_frame_to_the_video(
    tiny_models: Path, tmp_path: Path
) -> None:
    video = grey_video(tmp_path)
    job = tiny_job(
        tiny_models,
        video_init_path=str(video),
        color_coherence="Video Input",
        diffusion_cadence="1",
        strength_schedule="0: (1.0)",
        noise_schedule="0: (0)",
        amount_schedule="0: (0)",
        max_frames="3",
    )
    render(job, tmp_path / "out", preview=True)
    # Strength 1 keeps the matched frame: flat grey frames match to the video's level.
    np.testing.assert_allclose(levels(tmp_path / "out")[1:], [level(1), level(2)], atol=3)


def bad_input_cases(tmp: Path) -> list[tuple[dict[str, str], str]]:
    text = tmp / "notes.mp4"
    text.write_text("not a video")
    audio = tmp / "audio.m4a"
    command = [ffmpeg_executable(), "-y", "-loglevel", "error", "-f", "lavfi"]
    command += ["-i", "anullsrc=r=8000:cl=mono", "-t", "0.5", str(audio)]
    subprocess.run(command, check=True, capture_output=True)
    empty = tmp / "empty_folder"
    empty.mkdir()
    small_mask = mask_video(tmp, size=(40, 32))
    return [
        ({"video_init_path": str(text)}, "video_init_path: cannot read"),
        ({"video_init_path": str(audio)}, "video_init_path: .* has no video frames"),
        ({"video_init_path": str(empty)}, "video_init_path: the folder .* holds no images"),
        ({"video_init_path": str(tmp / "missing.mp4")}, "video_init_path: no such file"),
        ({"extract_from_frame": "12"}, "extract_from_frame: 12 is past the end .*10 frames"),
        ({"extract_to_frame": "10"}, "extract_to_frame: 10 is past the end"),
        # Only Video Input mode renders a shorter video's frames; a colour sample cannot.
        (
            {"animation_mode": "3D", "color_coherence": "Video Input", "max_frames": "6"}
            | {"extract_nth_frame": "2"},
            "set max_frames to 5",
        ),
        (
            {"use_mask_video": "true", "video_mask_path": str(small_mask)},
            "video_mask_path: the mask is 40×32 pixels but the video is 80×64",
        ),
    ]


def test_bad_video_input_fails_before_the_first_frame(tiny_models: Path, tmp_path: Path) -> None:
    video = grey_video(tmp_path, name="good")
    for number, (settings, message) in enumerate(bad_input_cases(tmp_path)):
        job = video_job(tiny_models, video, **settings)
        out = tmp_path / f"out{number}"
        with pytest.raises(DeforumInputError, match=message):
            render(job, out)
        assert not frame_files(out)


def test_a_video_shorter_than_max_frames_renders_its_frames_and_says_so(
    tiny_models: Path, tmp_path: Path
) -> None:
    video = grey_video(tmp_path)
    job = video_job(tiny_models, video, extract_nth_frame="2", max_frames="8", make_video="true")
    warnings: list[str] = []

    def emit(kind: str, **fields: Any) -> None:
        if kind == "warning":
            warnings.append(fields["message"])

    render(job, tmp_path / "out", preview=True, emit=emit)
    out = tmp_path / "out"
    assert sorted(frame_files(out)) == [1, 2, 3, 4, 5]
    assert any("the video has 5 frames; rendering 5 of 8" in w for w in warnings), warnings
    assert run_json(out)["frames"] == 5 and run_json(out)["status"] == "done"
    assert probe(str(out / "video.mp4"), "video").frames == 5
    np.testing.assert_allclose(levels(out), [level(2 * k) for k in range(5)], atol=3)
    again = render(job, out, preview=True, resume=True)
    assert again.written == [] and not again.cancelled


def test_a_shorter_video_reads_the_schedules_at_its_own_frame_count(
    tiny_models: Path, tmp_path: Path
) -> None:
    video = grey_video(tmp_path)  # 10 frames, every 2nd taken: 5 frames to render
    job = video_job(
        tiny_models,
        video,
        extract_nth_frame="2",
        max_frames="8",
        strength_schedule="0: (0.2), 6: (0.8)",
    )
    warnings: list[str] = []
    render(
        job,
        tmp_path / "out",
        preview=True,
        emit=lambda kind, **f: warnings.append(f.get("message", "")),
    )
    # As Deforum: max_frames becomes the video's 5 frames before the schedules are read,
    # so keyframe 6 lies past the end and is dropped (no ramp towards it).
    assert any("strength" in w and "6" in w and "dropped" in w for w in warnings), warnings


def test_video_coherence_takes_a_new_sample_every_n_frames(
    tiny_models: Path, tmp_path: Path
) -> None:
    video = grey_video(tmp_path)
    job = tiny_job(
        tiny_models,
        video_init_path=str(video),
        color_coherence="Video Input",
        color_coherence_video_every_N_frames="2",
        diffusion_cadence="1",
        noise_schedule="0: (0)",
        amount_schedule="0: (0)",
        max_frames="4",
    )
    render(job, tmp_path / "out", preview=True)
    # Frames 1 and 2 (indices) take the sample of index 0 and 2; index 3 keeps index 2's.
    np.testing.assert_allclose(levels(tmp_path / "out")[1:], [level(0), level(2), level(2)], atol=3)


def test_video_input_mode_refreshes_its_colour_sample_every_n_frames(
    tiny_models: Path, tmp_path: Path
) -> None:
    video = grey_video(tmp_path)
    settings = {"strength_schedule": "0: (0.4)", "max_frames": "2"}
    render(video_job(tiny_models, video, **settings), tmp_path / "plain")
    matched_job = video_job(
        tiny_models,
        video,
        color_coherence="Video Input",
        color_coherence_video_every_N_frames="2",
        **settings,
    )
    render(matched_job, tmp_path / "matched")
    plain = read_frame(frame_path(tmp_path / "plain", 2))
    first_video_frame = read_frame(video_input_dir(tmp_path / "plain") / "frame_00001.png")
    expected = match_colors(plain, first_video_frame, "LAB")  # index 1 keeps index 0's sample
    np.testing.assert_array_equal(read_frame(frame_path(tmp_path / "matched", 2)), expected)


def test_a_mask_video_masks_3d_frames_too(tiny_models: Path, tmp_path: Path) -> None:
    plain = {
        "diffusion_cadence": "1",
        "strength_schedule": "0: (0.3)",
        "noise_schedule": "0: (0)",
        "contrast_schedule": "0: (1)",
        "amount_schedule": "0: (0)",
        "color_coherence": "None",
        "max_frames": "2",
    }
    masked = {"use_mask_video": "true", "video_mask_path": str(mask_video(tmp_path))}
    job = tiny_job(tiny_models, **plain, **masked)
    render(job, tmp_path / "masked")
    render(tiny_job(tiny_models, **plain), tmp_path / "plain")
    first = read_frame(frame_path(tmp_path / "masked", 1))
    track = job_camera_track(job)
    assert track is not None
    warped = FrameWarper(job, track, tmp_path / "masked").warp(first, 0, 1).image
    out = read_frame(frame_path(tmp_path / "masked", 2))
    diffused = read_frame(frame_path(tmp_path / "plain", 2))
    np.testing.assert_array_equal(out[:, :30], warped[:, :30])  # black: the warped frame kept
    np.testing.assert_array_equal(out[:, 34:], diffused[:, 34:])  # white: diffused
    assert np.abs(out[:, :30].astype(int) - diffused[:, :30]).mean() > 2


def test_a_mask_video_outside_2d_3d_and_video_input_is_ignored_with_a_warning(
    tiny_models: Path, tmp_path: Path
) -> None:
    job = tiny_job(
        tiny_models,
        animation_mode="None",
        use_mask_video="true",
        video_mask_path=str(tmp_path / "never_read.mp4"),
        max_frames="1",
    )
    warnings: list[str] = []

    def emit(kind: str, **fields: Any) -> None:
        if kind == "warning":
            warnings.append(fields["message"])

    render(job, tmp_path / "out", preview=True, emit=emit)
    assert any("use_mask_video: ignored in animation_mode 'None'" in w for w in warnings)
    assert sorted(frame_files(tmp_path / "out")) == [1]
