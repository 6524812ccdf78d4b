"""The finished video and the kept step folders as strips beside the frames (real bpy)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from deforum_blender.blender import image_strip, result_strips, video_strip  # noqa: E402
from deforum_blender.core import output_layout as layout  # noqa: E402
from deforum_blender.core.job import Finish, Job  # noqa: E402
from tests.helpers import run_test_script  # noqa: E402


@pytest.fixture
def scene(registered_scene: Any) -> Iterator[Any]:
    """The registered add-on in an empty scene with frames 1-3."""
    registered_scene.frame_start, registered_scene.frame_end = 1, 3
    yield registered_scene


def _job(**finish: Any) -> Job:
    fields = dataclasses.replace(Finish(), **finish)
    return dataclasses.replace(Job(W=8, H=8, first_frame=1, last_frame=3, fps=10.0), finish=fields)


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = bpy.data.images.new("frame", 8, 8)
    image.filepath_raw = str(path)
    image.file_format = "PNG"
    image.save()
    bpy.data.images.remove(image)


def _render_output(out: Path, interpolated: int = 0) -> None:
    """Frames 1-3, a 3-frame video.mp4 and ``interpolated`` in-betweens, as a finish leaves."""
    from deforum_blender.engine.video import write_video

    for frame in (1, 2, 3):
        _png(layout.frame_path(out, frame))
    write_video([layout.frame_path(out, f) for f in (1, 2, 3)], layout.video_path(out), 10.0)
    for index in range(interpolated):
        _png(out / layout.INTERPOLATED_DIR / layout.frame_name(index))


def _kinds(scene: Any) -> dict[str, Any]:
    return {
        s.get(result_strips.KIND_KEY): s
        for s in scene.sequence_editor.strips_all
        if result_strips.is_result_strip(s)
    }


def test_the_video_and_interpolated_frames_show_above_the_frames_strip(
    scene: Any, tmp_path: Path
) -> None:
    out = tmp_path / "shot"
    _render_output(out, interpolated=5)
    frames = image_strip.show_finished_frames(scene, out, 1, 3, channel=2)
    job = _job(frame_interpolation_engine="FILM", frame_interpolation_keep_imgs=True)
    shown = result_strips.show_results(scene, out, job)
    video, inbetweens = shown["video"], shown["interpolated"]
    assert (video.type, video.name, video.frame_final_start) == ("MOVIE", "shot video", 1)
    assert Path(bpy.path.abspath(video.filepath)) == layout.video_path(out)
    assert video.frame_final_duration == 3
    assert (inbetweens.type, inbetweens.frame_final_start) == ("IMAGE", 1)
    assert [e.filename for e in inbetweens.elements] == [layout.frame_name(i) for i in range(5)]
    assert Path(bpy.path.abspath(inbetweens.directory)) == out / layout.INTERPOLATED_DIR
    assert frames.channel == 2 and video.channel == 3 and inbetweens.channel == 4
    # An output is never taken for Video Input's video.
    assert video_strip.find_video_strip(scene, 1) is None


def test_a_rerender_replaces_the_result_strips_where_the_artist_moved_them(
    scene: Any, tmp_path: Path
) -> None:
    out = tmp_path / "shot"
    _render_output(out, interpolated=5)
    image_strip.show_finished_frames(scene, out, 1, 3)
    job = _job(frame_interpolation_engine="FILM", frame_interpolation_keep_imgs=True)
    result_strips.show_results(scene, out, job)
    _kinds(scene)["video"].channel = 9
    _render_output(out, interpolated=7)  # x3 this time
    result_strips.show_results(scene, out, job)
    kinds = _kinds(scene)
    assert sorted(kinds) == ["interpolated", "video"]
    assert len(scene.sequence_editor.strips_all) == 3  # frames, video, in-betweens
    assert kinds["video"].channel == 9
    assert len(kinds["interpolated"].elements) == 7


def test_a_result_the_new_render_does_not_make_loses_its_strip(scene: Any, tmp_path: Path) -> None:
    out = tmp_path / "shot"
    _render_output(out, interpolated=5)
    image_strip.show_finished_frames(scene, out, 1, 3)
    kept = _job(frame_interpolation_engine="FILM", frame_interpolation_keep_imgs=True)
    result_strips.show_results(scene, out, kept)
    # Interpolation off now: the old folder on disk is not this render's result.
    assert sorted(result_strips.show_results(scene, out, _job())) == ["video"]
    assert sorted(_kinds(scene)) == ["video"]
    layout.video_path(out).unlink()
    assert result_strips.show_results(scene, out, _job()) == {}
    assert _kinds(scene) == {}


def test_result_strips_are_relative_to_the_blend_when_the_output_is(
    scene: Any, tmp_path: Path
) -> None:
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    scene = bpy.context.scene
    scene.deforum.output_dir = "//deforum/"
    out = tmp_path / "deforum"
    _render_output(out, interpolated=3)
    job = _job(frame_interpolation_engine="FILM", frame_interpolation_keep_imgs=True)
    shown = result_strips.show_results(scene, out, job)
    assert shown["video"].filepath.startswith("//")
    assert shown["interpolated"].directory.startswith("//")


def _reports(stdout: str) -> list[dict[str, Any]]:
    """The script's JSON lines (Blender prints its own lines too)."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_a_render_with_interpolation_shows_its_video_and_inbetweens_then_a_rerender_replaces_them(
    tmp_path: Path,
) -> None:
    result = run_test_script(
        "finished_scene",
        str(tmp_path / "out"),
        "strips",
        env={"DEFORUM_WORKER_PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    first, second = _reports(result.stdout)
    assert first["state"] == "done", first
    by_kind = {strip["kind"]: strip for strip in first["strips"]}
    assert sorted(by_kind) == ["frames", "interpolated", "video"]
    assert by_kind["interpolated"]["length"] == 7  # (4 − 1) · 2 + 1
    assert by_kind["video"]["type"] == "MOVIE" and by_kind["video"]["start"] == 1
    assert by_kind["frames"]["channel"] < by_kind["video"]["channel"]
    # Re-rendered without interpolation: one strip per result, the in-betweens' gone.
    assert second["state"] == "done", second
    assert sorted(strip["kind"] for strip in second["strips"]) == ["frames", "video"]


# -- Scene Audio: the sequencer's sound strips in the video ------------------------------


def _audio(video: Path) -> np.ndarray:
    """The video's sound as mono 48 kHz floats, decoded by the bundled ffmpeg."""
    from deforum_blender.engine.video import ffmpeg_executable

    command = [ffmpeg_executable(), "-v", "error", "-i", str(video), "-map", "0:a:0"]
    command += ["-f", "s16le", "-ac", "1", "-ar", "48000", "-"]
    decoded = subprocess.run(command, capture_output=True, check=True)
    return np.frombuffer(decoded.stdout, "<i2").astype(np.float64) / 32768


def _has_audio(video: Path) -> bool:
    from deforum_blender.engine.video import ffmpeg_executable

    probe = subprocess.run(
        [ffmpeg_executable(), "-hide_banner", "-i", str(video)], capture_output=True, text=True
    )
    return "Audio:" in probe.stderr


@pytest.mark.slow
def test_scene_sound_strips_are_the_videos_sound_from_the_first_frame_unless_turned_off(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    result = run_test_script(
        "finished_scene", str(out), "audio", env={"DEFORUM_WORKER_PYTHON": sys.executable}
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    with_sound, without = _reports(result.stdout)
    assert with_sound["state"] == "done", with_sound
    job = json.loads((tmp_path / "with_sound_job.json").read_text())
    assert job["finish"]["add_soundtrack"] == "File"
    assert Path(job["finish"]["soundtrack_path"]) == layout.scene_audio_path(out)
    sound = _audio(tmp_path / "with_sound_video.mp4")
    rate = 48000
    assert len(sound) / rate == pytest.approx(4 / 8, abs=0.03)  # 4 frames at 8 fps
    before, during = sound[: rate // 10], sound[int(0.15 * rate) : int(0.35 * rate)]
    assert np.sqrt(np.mean(before**2)) < 0.01  # silent until the tone's strip at frame 2
    assert np.sqrt(np.mean(during**2)) > 0.1
    spectrum = np.abs(np.fft.rfft(during))
    assert np.fft.rfftfreq(len(during), 1 / rate)[spectrum.argmax()] == pytest.approx(440, abs=10)
    # Scene Audio off: the re-rendered video has no sound, the job no soundtrack.
    assert without["state"] == "done", without
    assert not _has_audio(layout.video_path(out))
    assert json.loads((out / "job.json").read_text())["finish"]["add_soundtrack"] == "None"
