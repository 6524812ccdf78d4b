"""``scripts/render_deforum.py`` headless, as a real subprocess of the ``bpy`` module.

The scene is small (64×64, three frames, four steps) and renders with the tiny models.
The motion preview is judged by Blender itself: with noise, contrast, colour coherence
and anti-blur off, the preview's frames are the first frame warped by the camera's
motion, so they must match Blender's own renders of those frames where both see the
same surfaces (the warp issue's thresholds), for four kinds of camera move.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.camera import CameraTrack
from deforum_blender.core.output_layout import frame_path, scene_depth_dir
from tests.blender.ground_truth import psnr, read_rgb
from tests.helpers import ROOT, run_render_script, run_test_script

pytestmark = pytest.mark.slow

FRAMES = (1, 2, 3)


@pytest.fixture(scope="module")
def small_blend(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Path:
    """A saved .blend of the small 3D scene, rendering with the tiny model."""
    folder = tmp_path_factory.mktemp("small_scene")
    blend = folder / "scene.blend"
    result = run_test_script("small_scene", str(blend), str(tiny_models / "sd"))
    assert result.returncode == 0, result.stderr[-3000:]
    return blend


def inspect_blend(blend: Path) -> dict[str, Any]:
    """The strips and a few Deforum settings of a saved .blend, read by a fresh Blender."""
    result = run_test_script("inspect_blend", str(blend), str(ROOT))
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_script_renders_with_set_saves_the_strip_and_exports_deforum_settings(
    small_blend: Path, tmp_path: Path
) -> None:
    out, saved, exported = tmp_path / "out", tmp_path / "saved.blend", tmp_path / "settings.txt"
    result = run_render_script(
        "--blend", str(small_blend), "--out", str(out), "--depth", "flat",
        "--set", "strength_schedule=0: (0.5)",  # a Deforum key
        "--set", "init_strength=0.7",  # a scene.deforum name
        "--set", "color_coherence=None",
        "--export-deforum", str(exported), "--save", str(saved),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert all(frame_path(out, f).is_file() for f in FRAMES)
    lines = [line for line in result.stdout.splitlines() if line.startswith("Deforum: frame")]
    assert len(lines) == len(FRAMES) and "s/frame" in lines[-1] and "ETA" in lines[-1]
    job = json.loads((out / "job.json").read_text())
    assert job["params"]["strength"] == "0: (0.5)"
    assert job["init"]["strength"] == pytest.approx(0.7)
    assert job["depth"]["depth_source"] == "flat" and job["coherence"]["color_coherence"] == "None"
    settings = json.loads(exported.read_text())
    assert settings["strength_schedule"] == "0: (0.5)" and settings["W"] == 64
    assert settings["prompts"] == {"0": "a red cube on a floor"}
    report = inspect_blend(saved)
    (strip,) = report["strips"]
    assert strip["files"] == [f"frame_{f:05d}.png" for f in FRAMES] and strip["start"] == 1
    assert Path(strip["directory"]).resolve() == (out / "frames").resolve()
    assert report["init_strength"] == pytest.approx(0.7)  # scene names are kept by --save


def test_script_preview_resumes_only_the_missing_frames(small_blend: Path, tmp_path: Path) -> None:
    out = tmp_path / "preview"
    common = ("--blend", str(small_blend), "--out", str(out), "--preview", "--depth", "scene")
    first = run_render_script(*common, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert all(frame_path(out, f).is_file() for f in FRAMES)
    assert sorted(p.name for p in scene_depth_dir(out).iterdir()) == [
        f"depth_{f:05d}.npy" for f in FRAMES
    ]
    kept = frame_path(out, 1).stat().st_mtime_ns
    removed = frame_path(out, 3).read_bytes()
    frame_path(out, 3).unlink()
    second = run_render_script(*common, "--resume", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert frame_path(out, 3).read_bytes() == removed  # the same frame again
    assert frame_path(out, 1).stat().st_mtime_ns == kept  # untouched
    assert len([x for x in second.stdout.splitlines() if x.startswith("Deforum: frame")]) == 1


def test_script_imports_deforum_settings_into_the_scene(small_blend: Path, tmp_path: Path) -> None:
    settings_file = tmp_path / "deforum_settings.txt"
    exported = run_render_script(
        "--blend", str(small_blend), "--no-render", "--export-deforum", str(settings_file),
        "--set", "noise_schedule=0: (0.02), 2: (0.04)", cwd=tmp_path,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    data = json.loads(settings_file.read_text())
    data["prompts"] = {"0": "a blue sphere", "2": "a green hill"}
    data["steps"] = 6
    settings_file.write_text(json.dumps(data))
    saved = tmp_path / "imported.blend"
    result = run_render_script(
        "--blend", str(small_blend), "--no-render", "--import-deforum", str(settings_file),
        "--save", str(saved), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = inspect_blend(saved)
    assert report["prompts"] == ["a blue sphere", "a green hill"]
    assert report["noise_schedule"] == "0: (0.02), 2: (0.04)"
    assert report["steps"] == 6 and report["frames"] == [1, 3]


def test_an_unknown_set_key_is_bad_input_with_the_closest_names(
    small_blend: Path, tmp_path: Path
) -> None:
    result = run_render_script(
        "--blend", str(small_blend), "--no-render", "--set", "strenght_schedule=0: (0.5)",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "strenght_schedule" in line and "strength_schedule" in line


def test_a_missing_model_fails_with_status_2_naming_it(small_blend: Path, tmp_path: Path) -> None:
    result = run_render_script(
        "--blend", str(small_blend), "--out", str(tmp_path / "out"), "--depth", "flat",
        "--model", str(tmp_path / "no_such_model"), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    assert "no_such_model" in result.stderr.strip().splitlines()[-1]


def test_a_missing_blend_is_bad_input(tmp_path: Path) -> None:
    result = run_render_script("--blend", str(tmp_path / "none.blend"), cwd=tmp_path)
    assert result.returncode == 2
    assert "none.blend" in result.stderr.strip().splitlines()[-1]


def test_help_says_which_name_wins_for_set() -> None:
    result = run_render_script("--help", cwd=ROOT)
    assert result.returncode == 0
    assert "Deforum key wins" in " ".join(result.stdout.split())


# -- motion preview, judged by Blender -----------------------------------------------------

WIDTH, HEIGHT, SAMPLES = 128, 96, 16
MOVES = ("pan", "dolly", "mixed_lens", "rig_track_to")


# Everything but the warp off: the preview's frames are then frame 1 moved by the camera.
WARP_ONLY = (
    "--set", "noise_schedule=0: (0)",
    "--set", "contrast_schedule=0: (1)",
    "--set", "color_coherence=None",
    "--set", "amount_schedule=0: (0)",  # anti-blur off
)  # fmt: skip


@pytest.fixture(scope="module")
def motion_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder per move: ``scene.blend`` and Blender's renders ``blender_0000N.png``."""
    folder = tmp_path_factory.mktemp("motion_scenes")
    result = run_test_script("motion_scenes", str(folder), str(WIDTH), str(HEIGHT), str(SAMPLES))
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def _covisible(out: Path, frames: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Pixels of each frame that frame 1 sees too, by the scene's depth and the camera track."""
    from deforum_blender.engine import warp
    from deforum_blender.engine.depth import load_scene_depth

    job = json.loads((out / "job.json").read_text())
    track = CameraTrack.from_dict(job["motion"]["camera_track"])

    def depth(frame: int) -> np.ndarray:
        return load_scene_depth(scene_depth_dir(out) / f"depth_{frame:05d}.npy", (HEIGHT, WIDTH))

    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    valid = np.ones((HEIGHT, WIDTH), bool)
    masks = {}
    for frame in frames[1:]:
        result = warp.warp_to_frame(
            image, track, frame, target_depth=depth(frame), source_depth=depth(frame - 1)
        )
        valid = valid & result.valid
        masks[frame] = valid.copy()
    return masks


@pytest.mark.parametrize("move", MOVES)
def test_motion_preview_from_the_scene_render_reproduces_blenders_frames(
    motion_scenes: Path, tmp_path: Path, move: str
) -> None:
    scene = motion_scenes / move
    out = tmp_path / "preview"
    result = run_render_script(
        "--blend", str(scene / "scene.blend"), "--out", str(out), "--preview",
        "--init", "render", "--depth", "scene", *WARP_ONLY, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    blender = {f: read_rgb(scene / f"blender_{f:05d}.png") for f in FRAMES}
    preview = {f: read_rgb(frame_path(out, f)) for f in FRAMES}
    # Frame 1 is Blender's own render of frame 1 (the init, not warped, not changed).
    assert np.array_equal(preview[1], blender[1])
    masks = _covisible(out, FRAMES)
    for frame, threshold in ((2, 34.0), (3, 32.0)):
        where = masks[frame]
        assert where.mean() > 0.85, f"{move} frame {frame}: only {where.mean():.0%} covisible"
        quality = psnr(preview[frame], blender[frame], where)
        unwarped = psnr(blender[1], blender[frame], where)
        assert quality >= threshold, f"{move} frame {frame}: {quality:.2f} dB"
        assert quality - unwarped >= 10.0, f"{move} frame {frame}: {quality:.2f} vs {unwarped:.2f}"


def test_scene_blend_renders_blenders_frames_for_the_worker_first(
    small_blend: Path, tmp_path: Path
) -> None:
    out = tmp_path / "guided"
    result = run_render_script(
        "--blend", str(small_blend), "--out", str(out), "--preview", "--depth", "flat",
        "--set", "scene_blend=0: (0), 1: (0.5)", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    renders = sorted(p.name for p in (out / "scene_render").iterdir())
    assert renders == ["frame_00002.png", "frame_00003.png"]  # only where scene_blend > 0
    assert all(frame_path(out, f).is_file() for f in FRAMES)
