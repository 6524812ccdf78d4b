"""Deforum users' own settings files (Colab era to today's webui) import as Deforum reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.cli import main
from deforum_blender.core.camera import CameraData, CameraTrack, RenderSize
from deforum_blender.core.deforum_settings import (
    EXTRA_KEY,
    WEBUI_SAMPLER_INDEX,
    SettingsFileError,
    export_settings,
    import_settings,
)
from deforum_blender.core.job import Job

DATA = Path(__file__).parent / "data"
DEFAULT = DATA / "deforum_default_settings.txt"
SIMPLE = DATA / "deforum_simple_settings.txt"
COLAB = DATA / "colab_3d_settings.txt"


def webui_file(**changes: Any) -> dict[str, Any]:
    """The webui's own defaults file (its full key set) with some values changed."""
    data: dict[str, Any] = json.loads(DEFAULT.read_text(encoding="utf-8"))
    data.pop("sd_model_name")  # a webui checkpoint name: warned about, not under test here
    data.update(changes)
    return data


def test_the_webuis_own_files_import_with_no_error_and_only_meaningful_warnings() -> None:
    _, default_warnings = import_settings(DEFAULT)
    assert [w.split(":")[0] for w in default_warnings] == ["sd_model_name"]
    assert import_settings(SIMPLE)[1] == []
    assert import_settings(webui_file())[1] == []


# -- 1. a setting is checked only in the modes that read it ------------------------------


def test_a_2d_only_zoom_of_zero_in_a_3d_file_is_accepted() -> None:
    job, _ = import_settings(webui_file(animation_mode="3D", zoom="0: (0)", angle="0: (1e9)"))
    assert job.params["zoom"] == "0: (0)"


def test_a_3d_only_fov_out_of_range_in_a_2d_file_is_accepted() -> None:
    job, _ = import_settings(webui_file(animation_mode="2D", fov_schedule="0: (0)"))
    assert job.series("fov")[0] == 0.0


def test_zoom_zero_in_a_2d_file_is_refused_saying_that_1_means_no_zoom() -> None:
    with pytest.raises(SettingsFileError) as caught:
        import_settings(webui_file(animation_mode="2D", zoom="0: (0)"))
    assert str(caught.value).startswith("zoom: 0 at frame 0 is below 1e-06")
    assert "1 means no zoom" in str(caught.value)


# -- 2. Colab-era and old files -----------------------------------------------------------


def test_a_colab_file_reads_animation_prompts_scale_fov_planes_and_its_big_seed() -> None:
    job, warnings = import_settings(COLAB)
    assert warnings == []
    assert job.prompts.keyframes["20"] == "a beautiful banana, trending on Artstation"
    assert len(job.prompts.keyframes) == 4  # animation_prompts, not the still prompts list
    assert job.series("cfg_scale") == [7.0] * 50
    assert (job.params["fov"], job.params["near"], job.params["far"]) == (40.0, 200.0, 10000.0)
    assert job.seeds.seed == 2375621453  # above 2**31-1: kept whole
    assert (job.sampler, job.coherence.color_coherence) == ("Euler a", "LAB")
    assert (job.animation_mode, job.max_frames, job.cadence.diffusion_cadence) == ("3D", 50, 1)
    assert job.coherence.legacy_colormatch  # the file lacks the key: Deforum's loader turns it on


def test_animation_prompts_win_over_a_prompts_object_too() -> None:
    job, _ = import_settings({"prompts": {"0": "still"}, "animation_prompts": {"0": "moving"}})
    assert job.prompts.keyframes == {"0": "moving"}


def test_width_and_height_are_w_and_h_and_a_string_scale_is_a_number() -> None:
    job, warnings = import_settings(
        {"prompts": {"0": "a"}, "width": 640, "height": 384, "scale": "9.5"}
    )
    assert (job.W, job.H, job.params["cfg_scale"], warnings) == (640, 384, 9.5, [])


@pytest.mark.parametrize(
    ("index", "sampler"), [(0, "Euler a"), (7, "DPM++ 2M"), (15, "DPM++ 2M Karras"), (17, "DDIM")]
)
def test_a_numeric_sampler_is_an_index_into_the_webuis_old_list(index: int, sampler: str) -> None:
    job, warnings = import_settings({"prompts": {"0": "a"}, "sampler": index})
    assert WEBUI_SAMPLER_INDEX[index] == sampler
    assert (job.sampler, warnings) == (sampler, [])


def test_a_sampler_index_past_the_list_warns_and_takes_the_default() -> None:
    job, warnings = import_settings({"prompts": {"0": "a"}, "sampler": 42})
    assert job.sampler == "Euler a"
    assert warnings == [
        "sampler: index 42 is not in the webui's sampler list (0 to 17); using 'Euler a'"
    ]


def test_a_border_other_than_wrap_replicates_with_a_warning_in_2d() -> None:
    job, warnings = import_settings(webui_file(animation_mode="2D", border="warp"))
    assert job.motion.border == "replicate"
    assert warnings == ["border: 'warp' is not 'wrap', so the edge is replicated"]
    assert import_settings(webui_file(animation_mode="2D", border="wrap"))[0].motion.border == (
        "wrap"
    )


def test_deforums_upgrade_rules_rename_old_values() -> None:
    job, warnings = import_settings(
        webui_file(
            color_coherence="Match Frame 0 RGB",
            optical_flow_cadence=False,
            hybrid_composite=False,
            optical_flow_redo_generation=False,
            flip_2d_perspective=False,
        )
    )
    assert (job.coherence.color_coherence, job.cadence.optical_flow_cadence) == ("RGB", "None")
    assert warnings == []
    _, warnings = import_settings(webui_file(hybrid_composite=True))
    assert warnings == ["hybrid_composite = true is not supported; ignored"]


# -- 3. use_init without an image ---------------------------------------------------------


def test_use_init_with_an_empty_init_image_skips_the_init_with_a_warning() -> None:
    job, warnings = import_settings(webui_file(use_init=True, init_image=""))
    assert not job.init.use_init
    assert warnings == ["use_init is on but init_image is empty; the init image is skipped"]


# -- 6. a refused file: every problem and every warning at once -------------------------------

BROKEN = {
    "prompts": {"0": "a"},
    "animation_mode": "2D",
    "strength_schedule": "0: (0,65)",
    "noise_schedule": "0: (2)",
    "zoom": "0: (0)",
    "W": "wide",
    "sampler": 99,
}


def test_a_refused_file_names_every_problem_and_every_warning() -> None:
    with pytest.raises(SettingsFileError) as caught:
        import_settings(BROKEN)
    error = caught.value
    assert [p.split(":")[0] for p in error.problems] == [
        "strength_schedule",
        "W",
        "zoom",
        "noise_schedule",
    ]
    assert error.warnings == [
        "sampler: index 99 is not in the webui's sampler list (0 to 17); using 'Euler a'"
    ]
    lines = str(error).splitlines()
    assert lines[0] == "settings file refused (4 problems):"
    assert lines[-1].startswith("  warning: sampler: index 99")
    assert len(lines) == 6


def test_the_cli_prints_every_problem_of_a_refused_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken_settings.txt"
    path.write_text(json.dumps(BROKEN), encoding="utf-8")
    out = str(tmp_path / "x")
    for command in ("import-settings", "render"):
        assert main([command, str(path), "--out" if command == "render" else "-o", out]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: settings file refused (4 problems):")
        for key in ("strength_schedule", "noise_schedule", "zoom", "W", "warning: sampler"):
            assert f"\n  {key}" in err, (command, key)
    assert not (tmp_path / "x").exists()


# -- 11. Interpolation mode ---------------------------------------------------------------


def test_a_webui_interpolation_file_keeps_max_frames_and_the_prompts_own_keyframes() -> None:
    prompts = {"0": "a", "10": "b", "20": "c"}
    job, warnings = import_settings(
        webui_file(animation_mode="Interpolation", max_frames=30, prompts=prompts)
    )
    assert (job.max_frames, warnings) == (30, [])
    assert job.interpolate.interpolate_key_frames and job.prompts.blend


def test_a_colab_interpolation_file_keeps_its_own_spacing() -> None:
    job, _ = import_settings(
        {
            "animation_mode": "Interpolation",
            "max_frames": 100,
            "animation_prompts": {"0": "a", "10": "b", "20": "c"},
            "interpolate_key_frames": False,
            "interpolate_x_frames": 4,
        }
    )
    assert job.max_frames == 11 and not job.interpolate.interpolate_key_frames


# -- 12. keys that change the picture -----------------------------------------------------


def test_mask_settings_we_lack_warn_only_while_a_mask_is_in_use() -> None:
    odd = {"fill": 2, "full_res_mask": True, "mask_schedule": '0: ("{init_mask}")'}
    assert import_settings(webui_file(**odd))[1] == []
    _, warnings = import_settings(webui_file(use_mask=True, mask_file="mask.png", **odd))
    assert warnings == [
        "fill = 2 is not supported with a mask; ignored",
        "full_res_mask = true is not supported with a mask; ignored",
        'mask_schedule = "0: (\\"{init_mask}\\")" is not supported with a mask; ignored',
    ]
    plain = {"fill": 1, "full_res_mask": False}
    assert import_settings(webui_file(use_mask=True, mask_file="m.png", **plain))[1] == []


def test_midas_weight_warns_only_for_the_old_combined_depth_algorithms_in_3d() -> None:
    old = {"depth_algorithm": "Midas+AdaBins (old)", "midas_weight": 0.3}
    job, warnings = import_settings(webui_file(animation_mode="3D", **old))
    assert job.depth.depth_model == "Intel/dpt-hybrid-midas"
    assert warnings == [
        "midas_weight = 0.3: depth_algorithm 'Midas+AdaBins (old)' blends AdaBins in by 0.7; "
        "AdaBins is not supported, so Midas-3-Hybrid is used alone"
    ]
    assert import_settings(webui_file(animation_mode="2D", **old))[1] == []
    assert import_settings(webui_file(animation_mode="3D", midas_weight=0.3))[1] == []


def test_depth_algorithm_names_match_without_case() -> None:
    job, warnings = import_settings(webui_file(depth_algorithm="Depth-Anything-V2-small"))
    assert job.depth.depth_model == "depth-anything/Depth-Anything-V2-Small-hf"
    assert warnings == []


def test_legacy_colormatch_is_read_as_deforums_loader_reads_it() -> None:
    assert not import_settings(webui_file())[0].coherence.legacy_colormatch  # the file says off
    lacking = webui_file()
    del lacking["legacy_colormatch"]
    assert import_settings(lacking)[0].coherence.legacy_colormatch  # a file without the key
    job, _ = import_settings(webui_file(color_coherence_video_every_N_frames=5))
    assert job.coherence.color_coherence_video_every_N_frames == 5


def test_exports_write_legacy_colormatch_so_it_comes_back_as_it_was() -> None:
    for legacy in (False, True):
        data = Job().to_dict()
        data["coherence"].update(legacy_colormatch=legacy, color_coherence_video_every_N_frames=3)
        exported = export_settings(Job.from_dict(data))
        assert exported["legacy_colormatch"] is legacy
        again, _ = import_settings(json.loads(json.dumps(exported)))
        assert again.coherence == Job.from_dict(data).coherence


# -- 13. big seeds ------------------------------------------------------------------------


def test_seeds_above_2_31_survive_import_and_export() -> None:
    job, warnings = import_settings(webui_file(seed=4294967295))
    assert (job.seeds.seed, warnings) == (4294967295, [])
    assert import_settings(export_settings(job))[0].seeds.seed == 4294967295


# -- 14. the exact camera track and edited schedules --------------------------------------


def exported_camera_job() -> dict[str, Any]:
    frames = 4
    matrices = np.stack([np.eye(4) for _ in range(frames)])
    matrices[:, 2, 3] = [0.0, -0.1, -0.2, -0.3]
    track = CameraTrack(
        frames=list(range(1, frames + 1)),
        matrices=matrices,
        cameras=[CameraData()] * frames,
        size=RenderSize(64, 64),
    )
    data = Job().to_dict()
    data.update(last_frame=frames, animation_mode="3D")
    data["motion"]["camera_track"] = track.to_dict()
    exported: dict[str, Any] = json.loads(json.dumps(export_settings(Job.from_dict(data))))
    return exported


def test_an_unedited_export_keeps_the_exact_camera_track() -> None:
    job, warnings = import_settings(exported_camera_job())
    assert job.motion.camera_track is not None and warnings == []


def test_an_edited_motion_schedule_drops_the_exact_camera_track_with_a_warning() -> None:
    exported = exported_camera_job()
    exported["rotation_3d_y"] = "0: (0.5)"
    exported["translation_x"] = "0: (1)"
    job, warnings = import_settings(exported)
    assert job.motion.camera_track is None
    assert job.series("rotation_3d_y") == [0.5] * 4
    assert warnings == [
        f"{EXTRA_KEY}: the exact camera track was dropped because translation_x, rotation_3d_y "
        "changed after export; the file's motion schedules are used"
    ]


def test_an_edited_strength_keeps_the_exact_camera_track() -> None:
    exported = exported_camera_job()
    exported["strength_schedule"] = "0: (0.4)"
    assert import_settings(exported)[0].motion.camera_track is not None


def test_what_the_schedule_reader_warns_about_is_passed_on_naming_the_key() -> None:
    import inspect

    from deforum_blender.core.schedules import evaluate_schedule

    if "warnings" not in inspect.signature(evaluate_schedule).parameters:
        pytest.skip("this schedule reader does not warn")
    _, warnings = import_settings(
        webui_file(max_frames=10, strength_schedule="0: (0.5), 20: (0.9)")
    )
    assert len(warnings) == 1 and warnings[0].startswith("strength_schedule: ")
    assert "20" in warnings[0]


def test_the_old_aspect_formula_uses_the_frames_own_w_over_h() -> None:
    job, warnings = import_settings(
        webui_file(animation_mode="3D", W=768, H=512, aspect_ratio_use_old_formula=True)
    )
    assert warnings == []
    assert job.series("aspect_ratio") == [1.5] * job.max_frames
    new, _ = import_settings(webui_file(animation_mode="3D", W=768, H=512))
    assert new.series("aspect_ratio") == [1.0] * new.max_frames


def test_clip_skip_is_read_only_while_its_scheduling_is_on() -> None:
    on, _ = import_settings(webui_file(enable_clipskip_scheduling=True, clipskip_schedule="0: (2)"))
    off, _ = import_settings(webui_file(clipskip_schedule="0: (2)"))
    assert on.series("clip_skip") == [2.0] * on.max_frames
    assert off.series("clip_skip") == [1.0] * off.max_frames
