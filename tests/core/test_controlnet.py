"""ControlNet units in the Job, settings files and --set (no models needed)."""

from __future__ import annotations

import pytest

from deforum_blender.core.controlnet import detector_fix, model_from_webui, model_to_webui
from deforum_blender.core.deforum_settings import export_settings, import_settings
from deforum_blender.core.job import Job, JobError
from deforum_blender.core.overrides import apply_overrides
from deforum_blender.core.scene_inputs import scene_depth_frames, scene_render_frames


def test_a_webui_model_name_maps_to_its_hugging_face_id_and_back() -> None:
    hub, warning = model_from_webui("control_v11f1p_sd15_depth [cfd03158]")
    assert (hub, warning) == ("lllyasviel/control_v11f1p_sd15_depth", None)
    assert model_to_webui(hub) == "control_v11f1p_sd15_depth"
    assert model_from_webui("None") == ("", None)


def test_an_unknown_webui_model_name_is_kept_with_a_warning() -> None:
    name, warning = model_from_webui("my_controlnet [0123abcd]")
    assert name == "my_controlnet"
    assert warning is not None and "cannot name on Hugging Face" in warning


def test_a_settings_file_unit_with_a_weight_schedule_imports_and_exports_the_same() -> None:
    settings = export_settings(Job())
    settings.update(
        cn_2_enabled=True,
        cn_2_module="canny",
        cn_2_vid_path="edges.png",
        cn_2_weight="0:(1), 2:(0)",
        cn_2_model="control_v11p_sd15_canny [d14c016b]",
    )
    job, warnings = import_settings(settings)
    assert not [w for w in warnings if w.startswith("cn_")]
    assert job.cn_2.enabled and job.cn_2.weight == "0:(1), 2:(0)"
    assert job.cn_2.model == "lllyasviel/control_v11p_sd15_canny"
    again, _ = import_settings(export_settings(job))
    assert again.cn_2 == job.cn_2


def test_set_reaches_a_unit_and_a_bad_weight_names_the_unit() -> None:
    job = apply_overrides(
        Job(), {"cn_3_enabled": "true", "cn_3_module": "scene_depth", "cn_3_model": "cn"}
    )
    assert job.cn_3.enabled and job.cn_3.module == "scene_depth"
    with pytest.raises(JobError, match=r"cn_3\.model: empty while cn_3\.enabled is on"):
        apply_overrides(Job(), {"cn_3_enabled": "true", "cn_3_module": "scene_depth"})
    data = Job().to_dict()
    data["cn_1"]["weight"] = "0:(1"
    with pytest.raises(JobError, match=r"cn_1\.weight"):
        Job.from_dict(data)


def test_a_scene_unit_asks_blender_for_every_frames_pass() -> None:
    job = apply_overrides(
        Job(),
        {
            "cn_1_enabled": "true",
            "cn_1_module": "scene_canny",
            "cn_1_model": "cn",
            "max_frames": "4",
        },
    )
    assert scene_render_frames(job) == [1, 2, 3, 4]
    depth = apply_overrides(
        Job(),
        {
            "cn_2_enabled": "true",
            "cn_2_module": "scene_depth",
            "cn_2_model": "cn",
            "max_frames": "3",
        },
    )
    assert scene_depth_frames(depth) == [1, 2, 3]


def test_units_with_webui_detectors_are_refused_together_each_with_its_fix() -> None:
    with pytest.raises(JobError) as refused:
        apply_overrides(
            Job(),
            {
                "cn_1_enabled": "true",
                "cn_1_module": "openpose_full",
                "cn_1_model": "cn",
                "cn_3_enabled": "true",
                "cn_3_module": "normal_bae",
                "cn_3_model": "cn",
                "cn_4_enabled": "true",
                "cn_4_module": "softedge_hed",
                "cn_4_model": "cn",
            },
        )
    problems = [p for p in refused.value.problems if ".module" in p]
    assert [p.split(":")[0] for p in problems] == ["cn_1.module", "cn_3.module", "cn_4.module"]
    assert all("controlnet_aux" in p and p.endswith("or turn the unit off") for p in problems)
    assert "pose image made beforehand as cn_1_vid_path with module none" in problems[0]
    assert "use scene_normal" in problems[1]
    assert "use scene_canny" in problems[2] and "canny on cn_4_vid_path" in problems[2]


@pytest.mark.parametrize(
    ("module", "fix"),
    [
        ("depth_zoe", "use scene_depth"),
        ("lineart_anime", "use scene_canny"),
        ("mlsd", "use scene_canny"),
        ("dw_openpose_full", "pose a rig in Blender"),
        ("seg_ofade20k", "segmentation map made beforehand"),
        ("shuffle", "control image made beforehand"),
    ],
)
def test_each_detector_family_names_what_to_use_instead(module: str, fix: str) -> None:
    assert fix in detector_fix("cn_2", module)


def test_sampled_weights_become_the_schedule_that_reproduces_them() -> None:
    from deforum_blender.core.controlnet import weight_schedule
    from deforum_blender.core.schedules import evaluate_schedule

    assert weight_schedule([1.0, 1.0, 1.0]) == "0:(1)"  # a constant as Job() writes it
    eased = [1.0, 0.9, 0.6, 0.25, 0.0, 0.0, 0.5]
    text = weight_schedule(eased)
    assert evaluate_schedule(text, len(eased)) == pytest.approx(eased, abs=1e-12)
    assert weight_schedule([0.0, 0.25, 0.5, 0.75, 1.0]) == "0: (0), 4: (1)"  # a ramp: two keys
