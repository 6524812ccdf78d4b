"""Deforum/A1111 sampler names → diffusers schedulers, as one table.

The names themselves live in ``core/samplers.py`` so the Blender menu and the engine agree.
Each entry is a diffusers scheduler class name plus config overrides applied on top of the
model's own scheduler config (which keeps the model's betas and timestep spacing, e.g. the
"trailing" spacing of SD-Turbo).
"""

from __future__ import annotations

from typing import Any

from ..core.samplers import SAMPLER_NAMES, canonical_sampler

# A1111 "Karras" variants = the same solver with Karras sigmas; "a" = ancestral.
# DPM++ SDE Karras: A1111's is a single-step SDE solver (diffusers' DPMSolverSDEScheduler,
# which needs the extra torchsde package); the multistep SDE variant below is the closest
# scheduler that ships with diffusers alone, and it draws its noise from our seeded generator.
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {}),
    "LMS Karras": ("LMSDiscreteScheduler", {"use_karras_sigmas": True}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "DPM2": ("KDPM2DiscreteScheduler", {}),
    "DPM2 Karras": ("KDPM2DiscreteScheduler", {"use_karras_sigmas": True}),
    "DPM2 a": ("KDPM2AncestralDiscreteScheduler", {}),
    "DPM2 a Karras": ("KDPM2AncestralDiscreteScheduler", {"use_karras_sigmas": True}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "DPM++ 2M Karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True},
    ),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    "DPM++ 2M SDE Karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True},
    ),
    "DPM++ SDE Karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True},
    ),
    "DDIM": ("DDIMScheduler", {}),
    "PLMS": ("PNDMScheduler", {"skip_prk_steps": True}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "LCM": ("LCMScheduler", {}),
}

assert set(SCHEDULERS) == set(SAMPLER_NAMES), "core and engine sampler tables disagree"


def make_scheduler(name: str, base_config: Any) -> Any:
    """A fresh diffusers scheduler for sampler ``name`` built on the model's scheduler config.

    Fresh per call, because schedulers hold per-run state (step index, solver history).
    Raises DeforumInputError for an unknown name, listing the known ones.
    """
    import diffusers

    class_name, overrides = SCHEDULERS[canonical_sampler(name)]
    scheduler_class = getattr(diffusers, class_name)
    return scheduler_class.from_config(base_config, **overrides)
