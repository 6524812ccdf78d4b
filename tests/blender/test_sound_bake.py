"""deforum.bake_sound: Bake Sound to F-Curves on a Deforum setting, remapped (real bpy)."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

from deforum_blender.blender.animation_data import fcurves_by_path  # noqa: E402
from deforum_blender.blender.prompts import add_prompt  # noqa: E402
from deforum_blender.blender.scene_job import job_from_scene  # noqa: E402
from deforum_blender.blender.sound_bake import SoundBake, bake_sound  # noqa: E402
from deforum_blender.core.errors import DeforumInputError  # noqa: E402

FPS = 24
BURST = (0.75, 1.25)  # seconds of 440 Hz between silence
LOW, HIGH = 0.45, 0.75


def write_tone(path: Path, seconds: float = 2.0, rate: int = 22050) -> Path:
    """A mono WAV: silence, a 440 Hz burst over BURST, silence."""
    samples = [
        0.8 * math.sin(2 * math.pi * 440 * i / rate) if BURST[0] <= i / rate < BURST[1] else 0.0
        for i in range(int(seconds * rate))
    ]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{len(samples)}h", *(round(s * 32767) for s in samples)))
    return path


@pytest.fixture
def scene(registered_scene: Any) -> Any:
    """Frames 1-48 at 24 fps (two seconds), a camera, one prompt, strength 0.6."""
    scene = registered_scene
    scene.camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(scene.camera)
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.frame_start, scene.frame_end = 1, 2 * FPS
    scene.deforum.strength = 0.6
    add_prompt(scene, 1, "a forest")
    return scene


def test_a_tone_burst_drives_strength_inside_the_range_only_where_it_sounds(
    scene: Any, tmp_path: Path
) -> None:
    tone = write_tone(tmp_path / "tone.wav")
    areas = [area.type for area in bpy.context.window.screen.areas]
    result = bpy.ops.deforum.bake_sound(
        filepath=str(tone), target="strength", low=300, high=600, minimum=LOW, maximum=HIGH,
        release=0.05,
    )  # fmt: skip
    assert result == {"FINISHED"}
    assert [area.type for area in bpy.context.window.screen.areas] == areas

    fcurve = fcurves_by_path(scene)["deforum.strength"]
    assert len(fcurve.sampled_points) == 2 * FPS
    curve = [fcurve.evaluate(frame) for frame in range(1, 2 * FPS + 1)]
    series = job_from_scene(scene).series("strength")
    assert series == pytest.approx(curve, abs=1e-6)  # the job carries the baked values

    first, last = (round(t * FPS) + 1 for t in BURST)  # frames 19 and 31 (Frame Start = 0 s)
    assert all(LOW - 1e-6 <= value <= HIGH + 1e-6 for value in series)
    assert series[: first - 1] == pytest.approx([LOW] * (first - 1), abs=1e-6)  # flat before
    inside = series[first : last - 1]  # frames 20 … 30: the tone sounds the whole frame
    assert min(inside) > LOW + 0.9 * (HIGH - LOW)
    assert max(series) == pytest.approx(HIGH, abs=1e-3)
    after = series[last + 5 :]  # 50 ms release, then flat again
    assert after == pytest.approx([LOW] * len(after), abs=2e-3)


def test_without_normalizing_a_band_above_the_tone_stays_near_the_minimum(
    scene: Any, tmp_path: Path
) -> None:
    tone = str(write_tone(tmp_path / "tone.wav"))
    peaks = {}
    for band in ((300, 600), (2000, 8000)):
        fcurve = bake_sound(scene, SoundBake("strength", tone, *band, LOW, HIGH, normalize=False))
        peaks[band] = max(fcurve.fcurve.evaluate(f) for f in range(1, 2 * FPS + 1))
    assert peaks[(300, 600)] > LOW + 0.6 * (HIGH - LOW)  # the 0.8 tone, full scale 1
    assert peaks[(2000, 8000)] < LOW + 0.1 * (HIGH - LOW)


def test_baking_replaces_the_schedule_and_the_keys(scene: Any, tmp_path: Path) -> None:
    scene.deforum.strength_schedule = "0: (0.3)"
    scene.deforum.keyframe_insert("strength", frame=10)
    result = bake_sound(
        scene, SoundBake("strength", str(write_tone(tmp_path / "t.wav")), 300, 600, LOW, HIGH)
    )
    assert result.cleared_schedule == "0: (0.3)"
    assert scene.deforum.strength_schedule == ""
    assert len(result.fcurve.keyframe_points) == 0
    assert [m.type for m in result.fcurve.modifiers] == ["ENVELOPE"]


@pytest.mark.parametrize(
    ("bake", "names"),
    [
        (SoundBake("sampler", "x.wav"), "per-frame Deforum setting"),
        (SoundBake("strength", "/no/such/song.wav"), "does not exist"),
        (SoundBake("strength", __file__, low=600, high=300), "Lowest Frequency below"),
    ],
)
def test_bad_input_names_the_fix(scene: Any, bake: SoundBake, names: str) -> None:
    with pytest.raises(DeforumInputError, match=names):
        bake_sound(scene, bake)


def test_an_unreadable_sound_file_names_the_fix(scene: Any, tmp_path: Path) -> None:
    song = tmp_path / "song.wav"
    song.write_text("not audio")
    with pytest.raises(DeforumInputError, match="convert it to WAV"):
        bake_sound(scene, SoundBake("strength", str(song)))


def test_a_graph_editor_filter_that_hides_the_setting_names_the_fix(
    scene: Any, tmp_path: Path
) -> None:
    area = bpy.context.window.screen.areas[0]
    area.type = "GRAPH_EDITOR"
    area.spaces.active.dopesheet.filter_text = "no such channel"
    scene.deforum.strength_schedule = "0: (0.3)"
    scene.deforum.keyframe_insert("strength", frame=10)
    with pytest.raises(DeforumInputError, match="clear the Graph Editor's search"):
        bake_sound(scene, SoundBake("strength", str(write_tone(tmp_path / "t.wav"))))
    assert area.type == "GRAPH_EDITOR"
    assert scene.deforum.strength_schedule == "0: (0.3)"  # nothing was replaced
    assert len(fcurves_by_path(scene)["deforum.strength"].keyframe_points) == 1


def test_a_hidden_setting_without_keys_is_left_without_an_fcurve(
    scene: Any, tmp_path: Path
) -> None:
    area = bpy.context.window.screen.areas[0]
    area.type = "GRAPH_EDITOR"
    area.spaces.active.dopesheet.filter_text = "no such channel"
    with pytest.raises(DeforumInputError, match="filters hide"):
        bake_sound(scene, SoundBake("strength", str(write_tone(tmp_path / "t.wav"))))
    assert "deforum.strength" not in fcurves_by_path(scene)
