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
    # Trajectory consistency distillation: the sampler of Hyper-SD's and TCD's few-step LoRAs.
    "TCD": ("TCDScheduler", {}),
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


_CONTAINERS = (list, dict)
# Instance attributes a run installs on the scheduler itself: never part of its state.
_INSTALLED = ("set_timesteps", "add_noise")


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A scheduler's per-run state with fresh copies of its lists and dicts (the multistep
    solvers shift their history in place); its tensors are replaced, never mutated."""
    return {
        name: type(value)(value) if isinstance(value, _CONTAINERS) else value
        for name, value in state.items()
        if name not in _INSTALLED
    }


class SchedulerCache:
    """One scheduler per sampler, with its timesteps computed once per distinct call.

    diffusers calls ``set_timesteps`` on every generation; it rebuilds the sigmas with numpy
    and copies them to the device. Here the first call with given arguments runs it and keeps
    the resulting state; a later call with the same arguments puts that state back, which is
    what a fresh scheduler would compute (tests check that frames come out bitwise equal).
    """

    def __init__(self, base_config: Any) -> None:
        self._base_config = base_config
        self._schedulers: dict[str, Any] = {}
        self._states: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, name: str, noise_multiplier: float = 1.0) -> Any:
        """The scheduler for sampler ``name``, ready for one run; ``noise_multiplier`` scales
        the noise its ``add_noise`` is given (img2img's initial noise)."""
        canonical = canonical_sampler(name)
        scheduler = self._schedulers.get(canonical)
        if scheduler is None:
            scheduler = make_scheduler(canonical, self._base_config)
            scheduler.set_timesteps = self._cached_set_timesteps(canonical, scheduler)
            self._schedulers[canonical] = scheduler
        if noise_multiplier == 1.0:
            vars(scheduler).pop("add_noise", None)
        else:
            add_noise = type(scheduler).add_noise.__get__(scheduler)

            def scaled_add_noise(original: Any, noise: Any, timesteps: Any) -> Any:
                return add_noise(original, noise * noise_multiplier, timesteps)

            scheduler.add_noise = scaled_add_noise
        return scheduler

    def _cached_set_timesteps(self, name: str, scheduler: Any) -> Any:
        compute = type(scheduler).set_timesteps.__get__(scheduler)

        def set_timesteps(*args: Any, **kwargs: Any) -> None:
            key = (name, repr((args, sorted(kwargs.items()))))
            state = self._states.get(key)
            if state is None:
                compute(*args, **kwargs)
                self._states[key] = _copy_state(vars(scheduler))
                return
            installed = {k: v for k, v in vars(scheduler).items() if k in _INSTALLED}
            vars(scheduler).clear()
            vars(scheduler).update(_copy_state(state), **installed)

        return set_timesteps
