"""The Draft preset: what it changes in a job, and that it says so."""

from __future__ import annotations

import dataclasses

from deforum_blender.core.draft import draft_message, drafted
from deforum_blender.core.job import Job
from deforum_blender.core.job_fields import DEFAULT_TINY_VAE, DRAFT_MODEL
from deforum_blender.core.overrides import apply_overrides


def _job(**settings: str) -> Job:
    return apply_overrides(Job(), {"sampler": "DPM++ 2M Karras", **settings})


def test_a_job_without_draft_is_rendered_as_it_is() -> None:
    job = _job()
    assert drafted(job) == (job, [])


def test_draft_renders_the_turbo_model_with_the_tiny_vae_two_steps_and_no_guidance() -> None:
    job = _job(draft="true", sampler_schedule='0: ("DDIM")', checkpoint_schedule='0: ("a/b")')
    draft, changes = drafted(job)
    assert draft.model.draft and draft.model.id == DRAFT_MODEL
    assert draft.model.vae == "tiny" and draft.model.tiny_vae == DEFAULT_TINY_VAE
    assert draft.model.checkpoint_schedule is None and draft.sampler_schedule is None
    assert draft.series("steps") == [2.0] * job.max_frames
    assert draft.series("cfg_scale") == [0.0] * job.max_frames
    assert draft.sampler == "Euler a"
    assert draft.frame_models() == [DRAFT_MODEL] * job.max_frames
    said = draft_message(changes)
    for text in (
        f"model: {DRAFT_MODEL} (was 'stable-diffusion-v1-5/stable-diffusion-v1-5')",
        f"vae: tiny ({DEFAULT_TINY_VAE}) (was 'full')",
        "steps: 2 (one sampler step per frame at strength > 0.5)",
        "cfg_scale: 0 (no guidance, no negative pass)",
        "sampler: Euler a (was 'DPM++ 2M Karras')",
        "sampler_schedule: none",
        "checkpoint_schedule: none",
        "turn Draft off for the final render",
    ):
        assert text in said
    assert Job.from_dict(draft.to_dict()) == draft


def test_draft_names_only_what_it_changed_and_keeps_the_hash_of_its_own_model() -> None:
    job = _job(draft="true", draft_model="/models/turbo.safetensors", vae="tiny", steps="2")
    job = dataclasses.replace(
        job, model=dataclasses.replace(job.model, id="/models/turbo.safetensors", sha256="ab")
    )
    draft, changes = drafted(job)
    assert draft.model.sha256 == "ab"
    assert [line.split(":")[0] for line in changes] == ["cfg_scale", "sampler"]


def test_draft_and_the_tiny_vae_survive_a_deforum_settings_file() -> None:
    import json

    from deforum_blender.core.deforum_settings import export_settings, import_settings

    job = _job(draft="true", draft_model="/models/turbo", vae="tiny", tiny_vae="/models/taesd")
    again, _ = import_settings(json.loads(json.dumps(export_settings(job))))
    assert again.model == job.model
