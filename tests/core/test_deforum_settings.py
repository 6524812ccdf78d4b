"""sd-webui-deforum settings files: import (tolerant), export (same values), round trips, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deforum_blender.cli import main
from deforum_blender.core.camera import CameraData, CameraTrack, RenderSize, deforum_motion
from deforum_blender.core.deforum_settings import (
    EXTRA_KEY,
    SettingsFileError,
    deforum_reads_the_same,
    export_losses,
    export_settings,
    import_settings,
    load_job_or_settings,
)
from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.job import Job, load_job, save_job
from deforum_blender.core.job_fields import PARAMS
from deforum_blender.core.schedules import evaluate_schedule

DATA = Path(__file__).parent / "data"
DEFAULT = DATA / "deforum_default_settings.txt"
SIMPLE = DATA / "deforum_simple_settings.txt"


def close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9) for x, y in zip(a, b, strict=True)
    )


def test_deforums_default_settings_file_imports_with_its_values() -> None:
    job, warnings = import_settings(DEFAULT)
    assert (job.W, job.H, job.animation_mode, job.max_frames, job.fps) == (512, 512, "3D", 120, 15)
    assert job.first_frame == 1 and job.last_frame == 120
    assert job.seeds.seed == -1 and job.seeds.seed_behavior == "iter"
    assert job.sampler == "Euler a" and job.params["steps"] == 25.0
    assert job.params["noise_multiplier"] == "0: (1.05)"  # its scheduling switch is on
    assert job.series("strength") == [0.65] * 120
    assert job.series("translation_z") == [1.75] * 120
    assert job.prompts.negative_prompts == "nsfw, nude"
    assert job.frame_prompts()[60].negative == "photo, realistic  nsfw, nude nsfw, nude"
    assert job.depth.depth_source == "estimated"
    assert job.depth.depth_model == "Intel/dpt-hybrid-midas"
    assert job.cadence.diffusion_cadence == 2
    assert job.model.id == "revAnimated_v122.safetensors"
    assert len(warnings) == 1 and warnings[0].startswith("sd_model_name:")


def test_deforums_simple_settings_file_imports_old_prompt_keys_and_zoe_depth() -> None:
    job, warnings = import_settings(SIMPLE)
    assert warnings == []
    assert (job.animation_mode, job.max_frames, job.seeds.seed) == ("2D", 5, 1)
    assert job.params["steps"] == 1.0  # steps scheduling off: the plain "steps" key
    assert job.params["noise_multiplier"] == 1.0  # multiplier scheduling off
    assert job.depth.depth_model == "Intel/zoedepth-nyu-kitti"
    assert job.depth.padding_mode == "reflection"
    assert job.init.init_image is None  # "None" as text means none
    assert job.frame_prompts()[0].positive.startswith("tiny cute swamp bunny")


@pytest.mark.parametrize("path", [DEFAULT, SIMPLE], ids=["default", "simple"])
def test_import_export_import_gives_the_same_job(path: Path) -> None:
    job, _ = import_settings(path)
    exported = json.loads(json.dumps(export_settings(job)))
    again, _ = import_settings(exported)
    assert again == job


@pytest.mark.parametrize("path", [DEFAULT, SIMPLE], ids=["default", "simple"])
def test_export_keeps_schedules_deforum_reads_the_same_as_written(path: Path) -> None:
    original = json.loads(path.read_text(encoding="utf-8"))
    exported = export_settings(import_settings(path)[0])
    for spec in PARAMS.values():
        key = spec.deforum_key
        # Switched off by their enable_… key in these files: exported as the value used.
        off = ("steps_schedule", "noise_multiplier_schedule", "clipskip_schedule")
        if key and key not in off:
            assert exported[key] == original[key], key
    assert exported["prompts"] == original["prompts"]
    assert exported["max_frames"] == original["max_frames"]


def test_export_writes_lists_and_eased_curves_as_plain_fixed_point_keyframes() -> None:
    data = Job().to_dict()
    data["last_frame"] = data["first_frame"] + 9
    data["params"]["noise"] = [1e-5 * i for i in range(10)]
    data["params"]["zoom"] = "0: (1), 9: (1.5)"
    data["params"]["strength"] = "0: (1e-3), 9: (0.5)"  # Deforum would step "1e-3"
    data["interpolation"] = {"zoom": "cubic"}
    job = Job.from_dict(data)
    exported = export_settings(job)
    assert exported["noise_schedule"] == "0: (0), 9: (0.00009)"
    for key, name in (("zoom", "zoom"), ("strength_schedule", "strength")):
        assert "e" not in exported[key]
        assert close(evaluate_schedule(exported[key], 10), job.series(name))
    assert exported["zoom"].count(":") > 2  # the eased curve, written keyframe by keyframe


def test_deforum_reads_the_same_refuses_what_deforum_reads_differently() -> None:
    assert deforum_reads_the_same("0: (1.0025+0.002*sin(1.25*3.14*t/30))", 100, 0)
    assert deforum_reads_the_same('0:(s), 1:(-1), "max_f-2":(-1), "max_f-1":(s)', 100, 0)
    assert deforum_reads_the_same("0:-58, 57:2.67", 100, 0)
    assert not deforum_reads_the_same("0: (1e-3), 10: (1)", 100, 0)  # Deforum steps 1e-3
    assert not deforum_reads_the_same("0: (5.), 10: (1)", 100, 0)
    assert not deforum_reads_the_same("0: (0), 200: (1)", 100, 0)  # Deforum drops frame 200
    assert not deforum_reads_the_same("0: (min(1, t/10))", 100, 0)  # Deforum splits the comma
    assert not deforum_reads_the_same("0: (pi*t)", 100, 0)  # numexpr has no pi
    assert not deforum_reads_the_same("0: (t//2)", 100, 0)


def test_a_camera_track_exports_as_deforum_3d_motion() -> None:
    frames = 4
    matrices = np.stack([np.eye(4) for _ in range(frames)])
    matrices[:, 2, 3] = [0.0, -0.1, -0.2, -0.3]  # the camera moves forward (−Z, its view)
    track = CameraTrack(
        frames=list(range(1, frames + 1)),
        matrices=matrices,
        cameras=[CameraData()] * frames,
        size=RenderSize(64, 64),
    )
    data = Job().to_dict()
    data.update(last_frame=frames, animation_mode="3D")
    data["motion"]["camera_track"] = track.to_dict()
    job = Job.from_dict(data)
    exported = export_settings(job)
    expected = deforum_motion(track)
    for key in ("translation_z", "rotation_3d_x", "fov_schedule"):
        assert close(evaluate_schedule(exported[key], frames), expected[key])
    assert evaluate_schedule(exported["translation_z"], frames)[2] > 0  # forward is +z
    again, _ = import_settings(json.loads(json.dumps(exported)))
    assert again.motion.camera_track == job.motion.camera_track


def test_what_deforum_has_no_key_for_travels_under_one_extra_key() -> None:
    data = Job().to_dict()
    data.update(first_frame=101, last_frame=110, device="cpu")
    data["depth"]["depth_source"] = "scene"
    data["params"]["scene_blend"] = 0.25
    data["prompts"]["blend"] = True
    job = Job.from_dict(data)
    exported = export_settings(job)
    assert exported[EXTRA_KEY]["first_frame"] == 101
    again, _ = import_settings(json.loads(json.dumps(exported)))
    assert again.first_frame == 101 and again.last_frame == 110
    assert (again.device, again.depth.depth_source) == ("cpu", "scene")
    assert again.params["scene_blend"] == 0.25 and again.prompts.blend
    losses = export_losses(job)
    assert any(loss.startswith("depth_source 'scene'") for loss in losses)
    assert any(loss.startswith("prompt blending") for loss in losses)


def test_deprecated_keys_and_values_that_deforum_still_accepts_are_upgraded() -> None:
    job, warnings = import_settings(
        {
            "animation_prompts": {"0": "a cat", "max_f": "a dog"},
            "animation_prompts_negative": "blurry",
            "use_zoe_depth": True,
            "color_coherence": "Match Frame 0 HSV",
            "optical_flow_cadence": True,
            "sampler": "klms",
            "seed_enable_extras": False,
            "W": 500,
            "max_frames": "10",
            "diffusion_cadence": "3",
            "histogram_matching": False,
            "init_image": "",
        }
    )
    assert job.prompts.keyframes == {"0": "a cat", "max_f": "a dog"}
    assert job.prompts.negative_prompts == "blurry"
    assert job.depth.depth_model == "Intel/zoedepth-nyu-kitti"
    assert job.coherence.color_coherence == "HSV"
    assert job.cadence.optical_flow_cadence == "DIS Fine"
    assert job.cadence.diffusion_cadence == 3 and job.max_frames == 10
    assert job.sampler == "LMS"
    assert job.animation_mode == "2D"  # Deforum's default for a missing key
    assert job.W == 496
    assert warnings == ["W: 500 rounded down to 496, as Deforum does"]


def test_unsupported_settings_warn_only_when_they_would_change_the_render() -> None:
    _, warnings = import_settings(
        {
            "prompts": {"0": "a cat"},
            "enable_perspective_flip": True,
            "tiling": False,
            "cn_1_enabled": True,
            "cn_2_enabled": False,
            "hybrid_comp_alpha_schedule": "0:(0.5)",
            "optical_flow_cadence": "RAFT",
            "depth_algorithm": "AdaBins",
            "sampler": "DPM fast",
            "strenght_schedule": "0: (0.5)",
        }
    )
    assert "enable_perspective_flip = true is not supported; ignored" in warnings
    assert "cn_1_enabled = true without cn_1_model; the unit is kept but switched off" in warnings
    assert "optical_flow_cadence: 'RAFT' is not supported; using 'DIS Fine'" in warnings
    assert any(w.startswith("depth_algorithm: 'AdaBins' is not supported") for w in warnings)
    assert any(w.startswith("sampler: 'DPM fast' is not supported") for w in warnings)
    assert (
        "strenght_schedule: not a setting this importer knows "
        "(did you mean 'strength_schedule'?); ignored"
    ) in warnings
    assert len(warnings) == 6


def test_tiling_imports_and_exports_under_deforums_key_without_a_warning() -> None:
    job, warnings = import_settings({"prompts": {"0": "a cat"}, "tiling": True})
    assert job.tiling is True and warnings == []
    assert export_settings(job)["tiling"] is True
    assert export_settings(Job())["tiling"] is False


def test_broken_json_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken_settings.txt"
    path.write_text('{\n    "W": 512,\n    "H": 512,\n}\n', encoding="utf-8")
    with pytest.raises(DeforumInputError, match=r"line 4, column 1.*remove the trailing comma"):
        import_settings(path)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DeforumInputError, match="holds a list, not a Deforum settings object"):
        import_settings(path)


def test_a_broken_schedule_fails_naming_the_deforum_key() -> None:
    with pytest.raises(SettingsFileError) as caught:
        import_settings({"prompts": {"0": "a"}, "strength_schedule": "0: (0,65)"})
    assert caught.value.problems == [str(caught.value)]
    assert str(caught.value).startswith('strength_schedule: schedule "0: (0,65)"')
    assert "0.65" in str(caught.value)


@st.composite
def series_or_schedules(draw: st.DrawFn) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A frame count, some params as lists, numbers or schedules, and interpolation modes."""
    frames = draw(st.integers(1, 24))
    number = st.floats(-1000, 1000, allow_nan=False, allow_infinity=False)
    keyframe = st.tuples(st.integers(-5, frames + 5), number)
    schedule = st.lists(keyframe, min_size=1, max_size=5).map(
        lambda kfs: ", ".join(f"{k}: ({v!r})" for k, v in kfs)
    )
    expression = st.sampled_from(["0: (sin(t/3))", "0: (1), 3: (t*0.5+s)", "0: (min(1, t/4))"])
    value = st.one_of(
        st.lists(number, min_size=frames, max_size=frames), number, schedule, expression
    )
    names = ["angle", "translation_x", "rotation_3d_y", "transform_center_x", "antiblur_sigma"]
    params = {name: draw(value) for name in draw(st.lists(st.sampled_from(names), unique=True))}
    modes = st.sampled_from(["linear", "cubic", "step"])
    interpolation = draw(st.dictionaries(st.sampled_from(names), modes))
    return frames, params, interpolation


@settings(max_examples=60, deadline=None)
@given(series_or_schedules(), st.integers(0, 2**32 - 1))
def test_every_schedule_the_exporter_writes_reimports_to_the_same_series(
    case: tuple[int, dict[str, Any], dict[str, str]], seed: int
) -> None:
    frames, params, interpolation = case
    data = Job().to_dict()
    data["last_frame"] = data["first_frame"] + frames - 1
    data["seeds"]["seed"] = seed
    if "antiblur_sigma" in params:  # keep it in its range: sigma is never negative
        value = params["antiblur_sigma"]
        params["antiblur_sigma"] = [abs(v) for v in value] if isinstance(value, list) else 1.0
    data["params"].update(params)
    data["interpolation"] = interpolation
    try:
        job = Job.from_dict(data)
    except DeforumInputError:
        return  # e.g. transform_center or a cubic overshoot out of range: not an export case
    again, _ = import_settings(json.loads(json.dumps(export_settings(job))))
    for name in PARAMS:
        assert close(again.series(name), job.series(name)), name


def test_cli_imports_and_exports_settings_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_path = tmp_path / "job.json"
    settings_path = tmp_path / "out_settings.txt"
    assert main(["import-settings", str(DEFAULT), "-o", str(job_path), "--set", "W=64"]) == 0
    assert "warning: sd_model_name" in capsys.readouterr().err
    job = load_job(job_path)
    assert job.W == 64
    assert main(["export-settings", str(job_path), "-o", str(settings_path)]) == 0
    assert import_settings(settings_path)[0] == job


def test_cli_reports_bad_input_in_one_line_with_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.txt"
    broken.write_text('{"prompts": {"0": "a"}, "strength_schedule": "0: (0,65)"}', encoding="utf-8")
    assert main(["import-settings", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "strength_schedule" in err
    assert main(["export-settings", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_job_file_or_a_deforum_file_is_told_apart_by_its_keys(tmp_path: Path) -> None:
    job, warnings = load_job_or_settings(SIMPLE)
    assert job == import_settings(SIMPLE)[0] and warnings == []
    path = tmp_path / "job.json"
    save_job(job, path)
    assert load_job_or_settings(path) == (job, [])
