"""The Draft preset: a quick look at a shot before the final render.

A job with ``model.draft`` on renders with a few-step turbo model, the tiny VAE, one sampler
step per frame and no guidance; :func:`drafted` gives that job and says what it changed.
Strength keeps Deforum's meaning: a frame runs ``int(steps × (1 − strength)) + 1`` steps.
"""

from __future__ import annotations

import dataclasses

from .job import Job

DRAFT_SAMPLER = "Euler a"
# Two steps, so that a frame after the first runs one sampler step from the middle of the
# schedule (at strength above 0.5); with one step every frame would start from pure noise.
DRAFT_STEPS = 2.0
# Turbo models are distilled without guidance; at CFG ≤ 1 the negative prompt's UNet pass
# is skipped too.
DRAFT_CFG = 0.0


def drafted(job: Job) -> tuple[Job, list[str]]:
    """``job`` as its Draft renders it, and one line per setting the preset changed; the job
    itself and no lines when ``model.draft`` is off."""
    if not job.model.draft:
        return job, []
    model = dataclasses.replace(
        job.model,
        id=job.model.draft_model,
        vae="tiny",
        checkpoint_schedule=None,
        sha256=job.model.sha256 if job.model.draft_model == job.model.id else None,
    )
    params = {**job.params, "steps": DRAFT_STEPS, "cfg_scale": DRAFT_CFG}
    draft = dataclasses.replace(
        job, model=model, params=params, sampler=DRAFT_SAMPLER, sampler_schedule=None
    )
    return draft, _changes(job, draft)


def _changes(before: Job, after: Job) -> list[str]:
    """What differs between the job and its draft, as ``name: new (was old)`` lines."""
    rows = (  # (name, old value, new value, how the new one reads)
        ("model", before.model.id, after.model.id, after.model.id),
        ("vae", before.model.vae, after.model.vae, f"tiny ({after.model.tiny_vae})"),
        ("checkpoint_schedule", before.model.checkpoint_schedule, None, "none"),
        ("model_sha256", before.model.sha256, after.model.sha256, "not checked"),
        (
            "steps",
            before.params["steps"],
            DRAFT_STEPS,
            "2 (one sampler step per frame at strength > 0.5)",
        ),
        ("cfg_scale", before.params["cfg_scale"], DRAFT_CFG, "0 (no guidance, no negative pass)"),
        ("sampler", before.sampler, DRAFT_SAMPLER, DRAFT_SAMPLER),
        ("sampler_schedule", before.sampler_schedule, None, "none"),
    )
    return [f"{name}: {shown} (was {old!r})" for name, old, new, shown in rows if old != new]


def draft_message(changes: list[str]) -> str:
    """One line for the user: what the Draft changed, and how to get the final render."""
    return "Draft: " + "; ".join(changes) + "; turn Draft off for the final render"
