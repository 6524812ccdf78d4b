"""The Job: strict, complete validation, exact JSON round trips, series and --set overrides."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from deforum_blender.core import job_fields
from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.job import (
    GROUPS,
    JOB_VERSION,
    Job,
    JobError,
    load_job,
    save_job,
)
from deforum_blender.core.overrides import KEYS, apply_overrides, parse_set_arguments
from deforum_blender.core.schedules import ScheduleError


def small(**changes: Any) -> dict[str, Any]:
    """A valid 5-frame job dict with ``changes`` merged in at the top level."""
    data = Job().to_dict()
    data["last_frame"] = data["first_frame"] + 4
    data.update(changes)
    return data


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(JobError) as caught:
        Job.from_dict(data)
    return caught.value.problems


def test_the_default_job_round_trips_through_json_exactly() -> None:
    job = Job()
    again = Job.from_dict(json.loads(json.dumps(job.to_dict())))
    assert again == job
    assert again.to_dict() == job.to_dict()
    assert job.to_dict()["version"] == JOB_VERSION == 1


def test_a_job_with_every_kind_of_param_round_trips_exactly() -> None:
    data = small()
    data["params"].update(
        strength=[0.5, 0.55, 0.6, 0.65, 0.7],
        noise=0.02,
        zoom="0: (1), 4: (1.1)",
        cfg_scale=7,  # a JSON integer is read as a float
    )
    data["interpolation"] = {"zoom": "cubic"}
    data["motion"]["camera_track"] = {"frames": [1, 2], "anything": [1.5, None]}
    data["prompts"]["keyframes"] = {"0": "a cat --neg dog", "max_f": "a bird"}
    job = Job.from_dict(data)
    assert job.params["cfg_scale"] == 7.0 and isinstance(job.params["cfg_scale"], float)
    assert Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job


def test_series_resolves_constants_lists_and_schedules_with_the_interpolation_mode() -> None:
    data = small()
    data["params"].update(noise=0.02, strength=[0.1, 0.2, 0.3, 0.4, 0.5], zoom="0: (1), 4: (2)")
    linear = Job.from_dict(data)
    assert linear.series("noise") == [0.02] * 5
    assert linear.series("strength") == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert linear.series("zoom") == [1.0, 1.25, 1.5, 1.75, 2.0]
    data["interpolation"] = {"zoom": "step"}
    assert Job.from_dict(data).series("zoom") == [1.0, 1.0, 1.0, 1.0, 2.0]


def test_series_uses_the_job_seed_for_s_in_expressions() -> None:
    data = small()
    data["params"]["seed"] = "0: (s)"
    data["seeds"]["seed"] = 77
    job = Job.from_dict(data)
    assert job.series("seed") == [77.0] * 5
    assert job.series("seed", seed=5) == [5.0] * 5


def test_an_unknown_key_is_an_error_with_a_did_you_mean_hint() -> None:
    data = small()
    data["animaton_mode"] = "2D"
    data["depth"]["padding"] = "zeros"
    data["params"]["strenght"] = 0.5
    found = problems_of(data)
    assert "animaton_mode: unknown key; did you mean 'animation_mode'?" in found
    assert "depth.padding: unknown key; did you mean 'padding_mode'?" in found
    assert "params.strenght: unknown parameter; did you mean 'strength'?" in found


def test_a_key_in_the_wrong_place_says_where_it_belongs() -> None:
    found = problems_of(small(seed_behavior="fixed", strength_schedule="0: (0.5)"))
    assert "seed_behavior: unknown key; it belongs in 'seeds': {\"seed_behavior\": …}" in found
    assert "strength_schedule: unknown key; per-frame values go in 'params'" in found
    data = small()
    data["params"]["strength_schedule"] = "0: (0.5)"
    assert "params.strength_schedule: unknown parameter; use 'strength'" in problems_of(data)


def test_every_bad_field_is_reported_at_once_naming_value_and_fix() -> None:
    data = small(W=500, H=-8, animation_mode="3d", sampler="Euler_b", fps="15")
    data["cadence"]["diffusion_cadence"] = 0
    data["coherence"]["noise_type"] = 3
    data["params"]["strength"] = [0.5, 0.5]
    data["params"]["steps"] = "0: (25), 3: (0)"
    data["init"]["use_mask"] = "yes"
    found = problems_of(data)
    assert "W: 500 is not a multiple of 8; use 496" in found
    assert "H: -8 is below 8; use 8 or more" in found
    assert any(p.startswith("animation_mode: '3d' is not allowed") and "'3D'?" in p for p in found)
    assert any(p.startswith("sampler: unknown sampler 'Euler_b'") for p in found)
    assert "fps: '15' is not a number" in found
    assert "cadence.diffusion_cadence: 0 is below 1; use 1 or more" in found
    assert "coherence.noise_type: 3 is not text; write it in quotes" in found
    assert any(p.startswith("params.strength: 2 values for 5 frames") for p in found)
    assert any(
        p.startswith("params.steps: 0 at frame 3 is below 1") and "use values from 1 to 1000" in p
        for p in found
    )
    assert "init.use_mask: 'yes' is not true or false" in found
    assert len(found) == 10


def test_job_error_is_one_line_and_a_deforum_input_error() -> None:
    with pytest.raises(DeforumInputError) as caught:
        Job.from_dict(small(W=500, H=500))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("invalid job (2 problems): W: 500")


def test_a_broken_schedule_names_the_param_and_the_fix() -> None:
    data = small()
    data["params"]["zoom"] = "0: (1,02)"
    (problem,) = problems_of(data)
    assert problem.startswith("params.zoom:") and "write 1.02" in problem


def test_version_is_required_and_a_newer_one_is_refused() -> None:
    data = small()
    del data["version"]
    assert problems_of(data) == ['version: missing; add "version": 1']
    assert problems_of(small(version=2)) == [
        "version: 2 is written by a newer deforum_blender; update it; this version reads version 1"
    ]


def test_switches_that_need_a_file_say_so() -> None:
    data = small(animation_mode="Video Input")
    data["init"]["use_init"] = True
    data["coherence"]["color_coherence"] = "Image"
    found = problems_of(data)
    assert "init.init_image: empty while init.use_init is on; give a file or turn it off" in found
    assert any(p.startswith("coherence.color_coherence_image_path: empty") for p in found)
    assert any(p.startswith("video_input.video_init_path: empty") for p in found)


def test_a_frame_range_backwards_and_bad_prompt_keys_are_reported() -> None:
    assert problems_of(small(first_frame=10, last_frame=3)) == [
        "last_frame: 3 is before first_frame 10; use a last_frame at or after first_frame"
    ]
    data = small()
    data["prompts"]["keyframes"] = {"half": "a cat"}
    (problem,) = problems_of(data)
    assert problem.startswith("prompts.keyframes: key 'half' is neither a frame number")


def test_max_frames_and_frame_prompts_follow_the_range() -> None:
    data = small(first_frame=10, last_frame=13)
    data["prompts"] = {
        "keyframes": {"0": "a cat", "2": "a dog --neg blur"},
        "positive_prompts": "art",
        "negative_prompts": "text",
        "blend": False,
    }
    job = Job.from_dict(data)
    assert job.max_frames == 4
    frames = job.frame_prompts()
    assert [p.positive for p in frames] == ["art a cat", "art a cat", "art a dog", "art a dog"]
    assert frames[2].negative == "blur text"


def test_with_resolved_seed_picks_a_seed_only_for_minus_one() -> None:
    assert Job().seeds.seed == -1
    assert 0 <= Job().with_resolved_seed().seeds.seed < 2**32
    fixed = Job.from_dict({**small(), "seeds": {"seed": 5}})
    assert fixed.with_resolved_seed() == fixed


def test_save_and_load_round_trip_and_broken_json_names_line_and_column(tmp_path: Path) -> None:
    job = Job.from_dict(small(W=64, H=64))
    path = tmp_path / "job.json"
    save_job(job, path)
    assert load_job(path) == job
    assert not list(tmp_path.glob(".*.tmp"))
    path.write_text('{\n  "version": 1,\n  "W": 64,\n}\n', encoding="utf-8")
    with pytest.raises(DeforumInputError, match=r"line 4, column 1: .*remove the trailing comma"):
        load_job(path)
    with pytest.raises(DeforumInputError, match="no such file"):
        load_job(tmp_path / "missing.json")


def test_groups_and_the_param_table_cover_the_whole_job() -> None:
    assert set(GROUPS) <= {f.name for f in dataclasses.fields(Job)}
    assert set(Job().params) == set(job_fields.PARAMS)
    for cls in GROUPS.values():
        assert all("spec" in f.metadata for f in dataclasses.fields(cls))


# -- --set KEY=VALUE ----------------------------------------------------------------------


def test_overrides_take_deforum_keys_and_values_as_deforum_users_write_them() -> None:
    job = apply_overrides(
        Job(),
        {
            "W": "64",
            "strength_schedule": "0: (0.5)",
            "color_coherence": "None",
            "max_frames": "10",
            "use_init": "True",
            "init_image": "start.png",
            "noise": "0.02",
            "translation_z": "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]",
            "depth.padding_mode": "zeros",
            "interpolation.zoom": "cubic",
            "prompts": '{"0": "a cat"}',
        },
    )
    assert job.W == 64
    assert job.params["strength"] == "0: (0.5)"
    assert job.coherence.color_coherence == "None"
    assert job.max_frames == 10 and job.last_frame == job.first_frame + 9
    assert job.init.use_init is True and job.init.init_image == "start.png"
    assert job.params["noise"] == 0.02
    assert job.series("translation_z") == [float(v) for v in range(1, 11)]
    assert job.depth.padding_mode == "zeros"
    assert job.interpolation == {"zoom": "cubic"}
    assert job.prompts.keyframes == {"0": "a cat"}


def test_a_short_name_that_is_also_a_deforum_key_keeps_deforums_meaning() -> None:
    job = apply_overrides(Job(), {"strength": "0.3", "seed": "9"})
    assert job.init.strength == 0.3  # Deforum's strength: the init image's
    assert job.params["strength"] == Job().params["strength"]
    assert job.seeds.seed == 9


def test_an_unknown_override_suggests_the_closest_keys_and_all_problems_come_at_once() -> None:
    with pytest.raises(JobError) as caught:
        apply_overrides(
            Job(), {"strenght_schedule": "0: (0.5)", "W": "63", "noise": "0,5", "fps": "x"}
        )
    found = caught.value.problems
    assert found[0].startswith(
        "--set strenght_schedule: unknown key; did you mean 'strength_schedule' or"
    )
    assert "--set noise=0,5: decimal comma: write 0.5" in found
    assert any(p.startswith("--set fps=x:") for p in found)
    assert "W: 63 is not a multiple of 8; use 64" in found
    assert "strength_schedule" in KEYS and "max_frames" in KEYS


def test_set_arguments_split_on_the_first_equals_sign() -> None:
    assert parse_set_arguments(["a=b=c", "W=64"]) == {"a": "b=c", "W": "64"}
    with pytest.raises(DeforumInputError, match="write KEY=VALUE"):
        parse_set_arguments(["W"])


def test_a_schedule_error_is_a_deforum_input_error() -> None:
    assert issubclass(ScheduleError, DeforumInputError)
    assert issubclass(JobError, DeforumInputError)


def test_motion_ranges_are_checked_only_in_the_modes_that_read_them() -> None:
    data = Job().to_dict()
    data["params"].update(zoom=0.0, fov=0.0)
    data["animation_mode"] = "None"
    assert Job.from_dict(data).params["zoom"] == 0.0  # stills read no motion
    data["animation_mode"] = "3D"
    with pytest.raises(JobError) as caught:
        Job.from_dict(data)
    assert [p.split(":")[0] for p in caught.value.problems] == ["params.fov"]
    data["animation_mode"] = "2D"
    with pytest.raises(JobError) as caught:
        Job.from_dict(data)
    assert [p.split(":")[0] for p in caught.value.problems] == ["params.zoom"]
    assert "(1 means no zoom" in caught.value.problems[0]


def test_a_broken_schedule_is_an_error_even_in_a_mode_that_does_not_read_it() -> None:
    data = Job().to_dict()
    data.update(animation_mode="3D")
    data["params"]["zoom"] = "0: (1"
    with pytest.raises(JobError, match=r"params\.zoom"):
        Job.from_dict(data)
