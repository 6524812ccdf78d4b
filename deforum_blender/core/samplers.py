"""Sampler names as Deforum and Automatic1111 users write them: the one list both sides read.

The Blender layer builds its sampler menu from ``SAMPLER_NAMES``; the engine maps the
same names to diffusers schedulers (``engine/samplers.py``). Pure Python: no torch here.
"""

from __future__ import annotations

from .errors import DeforumInputError

# Canonical names, in the order A1111 lists them; the first is Deforum's default.
SAMPLER_NAMES: tuple[str, ...] = (
    "Euler a",
    "Euler",
    "LMS",
    "LMS Karras",
    "Heun",
    "DPM2",
    "DPM2 Karras",
    "DPM2 a",
    "DPM2 a Karras",
    "DPM++ 2M",
    "DPM++ 2M Karras",
    "DPM++ 2M SDE",
    "DPM++ 2M SDE Karras",
    "DPM++ SDE Karras",
    "DDIM",
    "PLMS",
    "UniPC",
    "LCM",
    "TCD",
)

DEFAULT_SAMPLER = SAMPLER_NAMES[0]

# Other spellings found in settings files: A1111's k-diffusion aliases, the old Deforum
# notebook's names (klms, euler_ancestral, …) and the webui's lower-case internal names.
SAMPLER_ALIASES: dict[str, str] = {
    "k_euler_a": "Euler a",
    "k_euler_ancestral": "Euler a",
    "euler_ancestral": "Euler a",
    "euler_a": "Euler a",
    "k_euler": "Euler",
    "klms": "LMS",
    "k_lms": "LMS",
    "lms": "LMS",
    "k_lms_ka": "LMS Karras",
    "k_heun": "Heun",
    "heun": "Heun",
    "k_dpm_2": "DPM2",
    "dpm2": "DPM2",
    "k_dpm_2_ka": "DPM2 Karras",
    "k_dpm_2_a": "DPM2 a",
    "dpm2_ancestral": "DPM2 a",
    "k_dpm_2_a_ka": "DPM2 a Karras",
    "k_dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m": "DPM++ 2M",
    "k_dpmpp_2m_ka": "DPM++ 2M Karras",
    "k_dpmpp_2m_sde": "DPM++ 2M SDE",
    "k_dpmpp_2m_sde_ka": "DPM++ 2M SDE Karras",
    "k_dpmpp_sde_ka": "DPM++ SDE Karras",
    "ddim": "DDIM",
    "plms": "PLMS",
    "unipc": "UniPC",
    "lcm": "LCM",
    "tcd": "TCD",
}


def _key(name: str) -> str:
    """Case- and spacing-insensitive lookup key: ``"  euler   A "`` → ``"euler a"``."""
    return " ".join(name.split()).lower()


_LOOKUP: dict[str, str] = {
    **{_key(name): name for name in SAMPLER_NAMES},
    **{_key(alias): name for alias, name in SAMPLER_ALIASES.items()},
}


def canonical_sampler(name: str, field: str = "sampler") -> str:
    """The canonical name for ``name`` (any case, A1111 aliases accepted).

    An unknown name raises DeforumInputError naming the field and listing the known names.
    """
    found = _LOOKUP.get(_key(str(name)))
    if found is None:
        known = ", ".join(SAMPLER_NAMES)
        raise DeforumInputError(
            f"{field}: unknown sampler {name!r}; use one of: {known} "
            f"(A1111 aliases such as 'k_euler_a' work too)"
        )
    return found
