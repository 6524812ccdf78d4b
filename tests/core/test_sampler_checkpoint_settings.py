"""Deforum's sampler_schedule and checkpoint_schedule: the Job's fields, import and export."""

from __future__ import annotations

import pytest

from deforum_blender.core.deforum_settings import (
    SettingsFileError,
    export_settings,
    import_settings,
)
from deforum_blender.core.job import Job, JobError

SAMPLERS = '0: ("Euler a"), 3: ("DDIM")'
MODELS = '0: ("/models/a.safetensors"), 2: ("org/model")'


def job_with(**fields: object) -> Job:
    return Job.from_dict({"version": 1, "last_frame": 5, **fields})


def test_the_schedules_give_a_sampler_and_a_model_per_frame() -> None:
    job = job_with(sampler_schedule=SAMPLERS, model={"checkpoint_schedule": MODELS})
    assert job.frame_samplers() == ["Euler a"] * 3 + ["DDIM"] * 2
    assert job.frame_models() == ["/models/a.safetensors"] * 2 + ["org/model"] * 3
    plain = job_with()
    assert plain.frame_samplers() == ["Euler a"] * 5
    assert plain.frame_models() == [plain.model.id] * 5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sampler_schedule": '0: ("Eulr a")'}, "sampler_schedule: unknown sampler 'Eulr a'"),
        ({"sampler_schedule": '0: ("DDIM"'}, "sampler_schedule: .* never closed"),
        ({"model": {"checkpoint_schedule": '0: ("")'}}, "model.checkpoint_schedule: .*names no"),
    ],
)
def test_a_bad_schedule_names_its_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(JobError, match=message):
        job_with(**fields)


def test_deforum_files_are_read_only_where_the_switches_are_on() -> None:
    base = {"prompts": {"0": "a cat"}, "sampler_schedule": SAMPLERS, "checkpoint_schedule": MODELS}
    off, warnings = import_settings(base)
    assert off.sampler_schedule is None and off.model.checkpoint_schedule is None
    assert warnings == []
    on, _ = import_settings(
        {**base, "enable_sampler_scheduling": True, "enable_checkpoint_scheduling": True}
    )
    assert on.sampler_schedule == SAMPLERS
    assert on.model.checkpoint_schedule == MODELS


def test_export_then_import_keeps_the_schedules() -> None:
    job = job_with(sampler_schedule=SAMPLERS, model={"checkpoint_schedule": MODELS})
    settings = export_settings(job)
    assert settings["enable_sampler_scheduling"] is True
    assert settings["checkpoint_schedule"] == MODELS
    back = import_settings(settings)[0]
    assert (back.sampler_schedule, back.model.checkpoint_schedule) == (SAMPLERS, MODELS)
    plain = export_settings(job_with())
    assert plain["enable_sampler_scheduling"] is False
    assert plain["enable_checkpoint_scheduling"] is False


def test_webui_checkpoint_names_are_warned_about_and_bad_samplers_refused() -> None:
    _, warnings = import_settings(
        {
            "prompts": {"0": "a cat"},
            "enable_checkpoint_scheduling": True,
            "checkpoint_schedule": '0: ("model1.ckpt"), 100: ("model2.safetensors")',
        }
    )
    assert [w.split(" names")[0] for w in warnings] == [
        "checkpoint_schedule: 'model1.ckpt'",
        "checkpoint_schedule: 'model2.safetensors'",
    ]
    with pytest.raises(SettingsFileError, match="sampler_schedule: unknown sampler 'Nope'"):
        import_settings(
            {
                "prompts": {"0": "a cat"},
                "enable_sampler_scheduling": True,
                "sampler_schedule": '0: ("Nope")',
            }
        )
