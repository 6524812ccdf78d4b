"""The render loop with the tiny models on the CPU: determinism, cadence, seeds, resume."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.job import Job
from deforum_blender.core.output_layout import frame_files, frame_path
from deforum_blender.core.overrides import apply_overrides
from deforum_blender.core.seeds import seeds_for_frames
from deforum_blender.engine import diffusion
from deforum_blender.engine.coherence import match_colors
from deforum_blender.engine.frames import read_frame, write_png_atomic
from deforum_blender.engine.motion import FrameWarper, job_camera_track
from deforum_blender.engine.render import plan_spans, render
from deforum_blender.engine.tiny_models import tiny_job
from tests.helpers import ROOT, frame_bytes, run_json

pytestmark = pytest.mark.heavy

REFERENCE = ROOT / "tests" / "core" / "data"


def test_spans_cover_every_frame_once_with_a_key_every_n() -> None:
    spans = plan_spans(7, 3)
    covered = [i for span in spans for i in span.indices]
    assert sorted(covered) == list(range(7))
    assert [span.key for span in spans] == [0, 3, 6]
    assert plan_spans(5, 3)[-1].key is None  # frames after the last key are warped forward


def test_same_job_and_seed_give_bitwise_identical_frames(tiny_models: Path, tmp_path: Path) -> None:
    job = tiny_job(tiny_models, diffusion_cadence="2")
    render(job, tmp_path / "a")
    render(job, tmp_path / "b")
    first, second = frame_bytes(tmp_path / "a"), frame_bytes(tmp_path / "b")
    assert list(first) == [1, 2, 3, 4, 5]
    assert first == second
    assert len(set(first.values())) == 5  # the frames move


def test_tiling_changes_the_frames_and_leaves_the_shared_model_as_it_was(
    tiny_models: Path, tmp_path: Path
) -> None:
    for name, tiling in (("plain", "false"), ("tiled", "true"), ("again", "false")):
        render(tiny_job(tiny_models, max_frames="2", tiling=tiling), tmp_path / name)
    plain, tiled = frame_bytes(tmp_path / "plain"), frame_bytes(tmp_path / "tiled")
    assert plain == frame_bytes(tmp_path / "again")
    assert all(plain[frame] != tiled[frame] for frame in plain)


@pytest.mark.parametrize("cadence", [1, 2, 3])
def test_cadence_n_makes_ceil_frames_over_n_diffusion_calls(
    tiny_models: Path, tmp_path: Path, cadence: int
) -> None:
    job = tiny_job(tiny_models, max_frames="7", diffusion_cadence=str(cadence))
    render(job, tmp_path)
    record = run_json(tmp_path)
    assert record["diffusion_calls"] == math.ceil(7 / cadence)
    assert sorted(frame_files(tmp_path)) == list(range(1, 8))
    assert len(record["seeds"]) == math.ceil(7 / cadence)


def test_strength_one_without_noise_reproduces_the_warped_frame(
    tiny_models: Path, tmp_path: Path
) -> None:
    job = tiny_job(
        tiny_models,
        diffusion_cadence="1",
        strength_schedule="0: (1.0)",
        noise_schedule="0: (0)",
        contrast_schedule="0: (1)",
        amount_schedule="0: (0)",
        color_coherence="None",
        max_frames="3",
    )
    render(job, tmp_path)
    first = read_frame(frame_path(tmp_path, 1))
    second = read_frame(frame_path(tmp_path, 2))
    track = job_camera_track(job)
    assert track is not None
    expected = FrameWarper(job, track, tmp_path).warp(first, 0, 1).image
    np.testing.assert_array_equal(second, expected)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("behavior", ["iter", "fixed", "ladder", "alternate", "random"])
def test_seeds_follow_the_seed_behavior(tiny_models: Path, tmp_path: Path, behavior: str) -> None:
    job = tiny_job(tiny_models, seed_behavior=behavior, diffusion_cadence="1", max_frames="4")
    render(job, tmp_path)
    expected = seeds_for_frames([0, 1, 2, 3], seed=1234, behavior=behavior)
    assert run_json(tmp_path)["seeds"] == {str(i + 1): s for i, s in expected.items()}
    sidecar = json.loads((tmp_path / "frames" / "frame_00003.json").read_text(encoding="utf-8"))
    assert sidecar["seed"] == expected[2]


def test_prompts_and_negative_prompts_reach_the_pipeline_per_frame(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []
    real_txt2img, real_img2img = diffusion.Diffuser.txt2img, diffusion.Diffuser.img2img

    def txt2img(self: diffusion.Diffuser, prompt: str, negative: str, *a: Any, **k: Any) -> Any:
        seen.append((prompt, negative))
        return real_txt2img(self, prompt, negative, *a, **k)

    def img2img(
        self: diffusion.Diffuser, image: Any, prompt: str, negative: str, *a: Any, **k: Any
    ) -> Any:
        seen.append((prompt, negative))
        return real_img2img(self, image, prompt, negative, *a, **k)

    monkeypatch.setattr(diffusion.Diffuser, "txt2img", txt2img)
    monkeypatch.setattr(diffusion.Diffuser, "img2img", img2img)
    job = tiny_job(tiny_models, diffusion_cadence="1", max_frames="4")
    job = dataclasses.replace(
        job,
        prompts=dataclasses.replace(
            job.prompts, keyframes={"0": "a red cube --neg blurry", "2": "a blue sphere"}
        ),
    )
    render(job, tmp_path)
    assert seen == [
        ("a red cube", "blurry"),
        ("a red cube", "blurry"),
        ("a blue sphere", ""),
        ("a blue sphere", ""),
    ]


@pytest.mark.parametrize("mode", ["None", "2D", "3D"])
def test_every_motion_mode_renders_every_frame(
    tiny_models: Path, tmp_path: Path, mode: str
) -> None:
    job = tiny_job(
        tiny_models,
        animation_mode=mode,
        angle="0: (3)",
        zoom="0: (1.05)",
        depth_source="estimated",
        max_frames="4",
    )
    render(job, tmp_path)
    frames = frame_bytes(tmp_path)
    assert list(frames) == [1, 2, 3, 4]
    assert len(set(frames.values())) == 4
    assert run_json(tmp_path)["status"] == "done"
    assert (tmp_path / "deforum_settings.txt").exists()


@pytest.mark.parametrize(
    "settings_file", ["deforum_default_settings.txt", "deforum_simple_settings.txt"]
)
def test_reference_deforum_settings_files_render_from_the_command_line(
    tiny_models: Path, tmp_path: Path, settings_file: str
) -> None:
    command = [
        sys.executable,
        "-m",
        "deforum_blender",
        "render",
        str(REFERENCE / settings_file),
        "--out",
        str(tmp_path),
        "--model",
        str(tiny_models / "sd"),
        "--device",
        "cpu",
        "--set",
        "W=64",
        "--set",
        "H=64",
        "--set",
        "max_frames=6",
        # No depth model can be downloaded here: point Deforum's MiDaS at the tiny one.
        "--set",
        f"depth_model={tiny_models / 'depth'}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(frame_files(tmp_path)) == list(range(1, 7))
    assert (tmp_path / "video.mp4").stat().st_size > 0
    assert "frame 6 (6/6)" in result.stderr and "Done: 6 frames" in result.stderr


def test_bad_jobs_fail_before_the_first_frame_naming_the_field(
    tiny_models: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    cases: list[tuple[Job, Path, str]] = [
        (
            tiny_job(tiny_models, use_init="true", init_image=str(tmp_path / "no.png")),
            tmp_path / "1",
            "init_image",
        ),
        (
            dataclasses.replace(
                tiny_job(tiny_models), model=dataclasses.replace(Job().model, id=str(tmp_path))
            ),
            tmp_path / "2",
            "model",
        ),
        (tiny_job(tiny_models), blocker / "out", "output folder"),
    ]
    for job, out, field in cases:
        with pytest.raises(DeforumInputError, match=field):
            render(job, out)
        assert not out.exists() or not frame_files(out)
    for setting, field in (("W=60", "W"), ("sampler=Euler b", "sampler")):
        key, _, value = setting.partition("=")
        with pytest.raises(DeforumInputError, match=field):
            tiny_job(tiny_models, **{key: value})


def test_a_failure_mid_run_keeps_finished_frames_and_names_the_frame(
    tiny_models: Path, tmp_path: Path
) -> None:
    from deforum_blender.engine.depth import scene_depth_path

    job = tiny_job(tiny_models, depth_source="scene", diffusion_cadence="1", max_frames="4")
    # Frame 3 is warped from frame 2, whose depth is missing (Deforum's warp of a schedule
    # job reads the source frame's depth only).
    path = scene_depth_path(tmp_path / "scene_depth", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.full((64, 64), 4.0, np.float32))
    with pytest.raises(DeforumInputError, match="frame 2"):
        render(job, tmp_path)
    assert sorted(frame_files(tmp_path)) == [1, 2]
    read_frame(frame_path(tmp_path, 2))  # intact


@pytest.mark.parametrize("cadence", [1, 2])
def test_cancel_then_resume_gives_the_uninterrupted_frames(
    tiny_models: Path, tmp_path: Path, cadence: int
) -> None:
    job = tiny_job(tiny_models, diffusion_cadence=str(cadence), max_frames="6")
    render(job, tmp_path / "whole")
    cancel = threading.Event()
    events: list[str] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append(kind)
        if kind == "frame" and fields["index"] >= 2:
            cancel.set()

    interrupted = render(job, tmp_path / "resumed", emit=emit, cancel=cancel)
    assert interrupted.cancelled and events[-1] == "cancelled"
    assert 0 < len(frame_files(tmp_path / "resumed")) < 6
    resumed = render(job, tmp_path / "resumed", resume=True)
    assert not resumed.cancelled
    assert frame_bytes(tmp_path / "resumed") == frame_bytes(tmp_path / "whole")


def test_a_truncated_frame_is_detected_redone_and_reported(
    tiny_models: Path, tmp_path: Path
) -> None:
    job = tiny_job(tiny_models, diffusion_cadence="2")
    render(job, tmp_path)
    whole = frame_bytes(tmp_path)
    last = frame_path(tmp_path, 5)
    last.write_bytes(last.read_bytes()[:100])
    warnings: list[str] = []

    def emit(kind: str, **fields: Any) -> None:
        if kind == "warning":
            warnings.append(fields["message"])

    result = render(job, tmp_path, resume=True, emit=emit)
    assert result.written == [5]
    assert any("frame 5" in w for w in warnings)
    assert frame_bytes(tmp_path) == whole


def test_a_different_job_in_the_same_folder_is_refused(tiny_models: Path, tmp_path: Path) -> None:
    render(tiny_job(tiny_models, max_frames="2"), tmp_path)
    with pytest.raises(DeforumInputError, match="different job"):
        render(tiny_job(tiny_models, max_frames="3"), tmp_path, resume=True)
    with pytest.raises(DeforumInputError, match="--resume"):
        render(tiny_job(tiny_models, max_frames="2"), tmp_path)
    assert sorted(frame_files(tmp_path)) == [1, 2]


def test_motion_preview_runs_without_a_model(tmp_path: Path) -> None:
    job = apply_overrides(
        Job(),
        {"W": "64", "H": "48", "max_frames": "3", "depth_source": "flat", "make_video": "false"},
    )
    job = dataclasses.replace(job, model=dataclasses.replace(job.model, id="no/such-model"))
    result = render(job, tmp_path, preview=True)
    assert result.diffusion_calls == 0
    assert sorted(frame_files(tmp_path)) == [1, 2, 3]
    assert run_json(tmp_path)["preview"] is True


def test_force_grayscale_greys_every_frame_after_the_first(tmp_path: Path) -> None:
    settings = {"W": "64", "H": "48", "max_frames": "3", "depth_source": "flat", "noise": "0"}
    for grey in (False, True):
        job = apply_overrides(
            Job(), {**settings, "make_video": "false", "color_force_grayscale": str(grey)}
        )
        out = tmp_path / str(grey)
        render(job, out, preview=True)  # warped, matched, then grey (before diffusion)
        images = [read_frame(frame_path(out, n)).astype(int) for n in (2, 3)]
        channels_equal = [bool((im[..., 0] == im[..., 1]).all()) for im in images]
        assert channels_equal == [grey, grey]


# --- colour coherence (deforum-conventions.md, loop step 3) -------------------------------


def lab_stats(image: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Per-channel mean and spread of a frame in LAB: its colour distribution in six numbers."""
    import cv2

    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    return np.concatenate([lab.mean(0), lab.std(0)])


def frames_of(out: Path) -> list[np.ndarray[Any, Any]]:
    return [read_frame(path) for path in frame_files(out).values()]


def test_each_diffused_frame_keeps_the_previous_frames_colours_unless_legacy(
    tiny_models: Path, tmp_path: Path
) -> None:
    drift = {}
    for legacy in ("false", "true"):
        settings = {"legacy_colormatch": legacy, "strength_schedule": "0: (0.3)"}
        job = tiny_job(tiny_models, diffusion_cadence="1", max_frames="4", **settings)
        render(job, tmp_path / legacy)
        stats = [lab_stats(frame) for frame in frames_of(tmp_path / legacy)]
        drift[legacy] = max(np.abs(b - a).max() for a, b in itertools.pairwise(stats))
    assert drift["false"] < 0.5  # matched after diffusion too: the distribution holds
    assert drift["true"] > 3.0  # legacy matches before noise only: diffusion moves colours


def test_off_legacy_the_generated_frame_is_matched_to_frame_0_again(
    tiny_models: Path, tmp_path: Path
) -> None:
    # Strength 0 on frame 0 makes legacy's sample frame 0 too: the inputs are the same.
    settings = {
        "diffusion_cadence": "1",
        "max_frames": "2",
        "strength_schedule": "0: (0), 1: (0.3)",
    }
    render(tiny_job(tiny_models, legacy_colormatch="true", **settings), tmp_path / "legacy")
    render(tiny_job(tiny_models, legacy_colormatch="false", **settings), tmp_path / "default")
    legacy, default = frames_of(tmp_path / "legacy"), frames_of(tmp_path / "default")
    np.testing.assert_array_equal(default[0], legacy[0])
    np.testing.assert_array_equal(default[1], match_colors(legacy[1], legacy[0], "LAB"))
    assert not np.array_equal(default[1], legacy[1])


@pytest.mark.parametrize("legacy", ["false", "true"])
def test_resume_matches_to_the_same_colour_sample(
    tiny_models: Path, tmp_path: Path, legacy: str
) -> None:
    # With an init image Deforum's sample is the first warped key frame, never written.
    rng = np.random.default_rng(5)
    init = tmp_path / "init.png"
    write_png_atomic(init, rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    job = tiny_job(
        tiny_models,
        use_init="true",
        init_image=str(init),
        legacy_colormatch=legacy,
        diffusion_cadence="2",
        max_frames="6",
    )
    render(job, tmp_path / "whole")
    cancel = threading.Event()

    def emit(kind: str, **fields: Any) -> None:
        if kind == "frame" and fields["index"] >= 2:
            cancel.set()

    assert render(job, tmp_path / "resumed", emit=emit, cancel=cancel).cancelled
    render(job, tmp_path / "resumed", resume=True)
    assert frame_bytes(tmp_path / "resumed") == frame_bytes(tmp_path / "whole")


def test_image_coherence_matches_the_frames_to_the_image(tmp_path: Path) -> None:
    reference = tmp_path / "palette.png"
    write_png_atomic(reference, np.full((16, 16, 3), (200, 60, 40), np.uint8))
    job = apply_overrides(
        Job(),
        {
            "W": "64",
            "H": "64",
            "max_frames": "3",
            "depth_source": "flat",
            "make_video": "false",
            "diffusion_cadence": "1",
            "noise_schedule": "0: (0)",
            "amount_schedule": "0: (0)",
            "color_coherence": "Image",
            "color_coherence_image_path": str(reference),
        },
    )
    render(job, tmp_path / "out", preview=True)
    for frame in frames_of(tmp_path / "out")[1:]:
        np.testing.assert_allclose(frame.reshape(-1, 3).mean(0), (200, 60, 40), atol=3)


def test_a_job_schedule_read_deforums_way_is_reported_as_a_warning(
    tiny_models: Path, tmp_path: Path
) -> None:
    job = tiny_job(tiny_models, translation_z="0: (1), 10: (5)")
    events: list[tuple[str, dict[str, Any]]] = []
    render(job, tmp_path, preview=True, emit=lambda kind, **f: events.append((kind, f)))
    warnings = [f["message"] for kind, f in events if kind == "warning"]
    assert any(
        m.startswith("params.translation_z") and "10" in m and "dropped" in m for m in warnings
    ), warnings
    assert job.series("translation_z") == [1.0] * 5  # no ramp towards the dropped key
