"""Sampler names: one table, any case, A1111 aliases, and an error that lists the known names."""

from __future__ import annotations

import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.samplers import (
    DEFAULT_SAMPLER,
    SAMPLER_ALIASES,
    SAMPLER_NAMES,
    canonical_sampler,
)


def test_every_canonical_name_maps_to_itself_in_any_case() -> None:
    for name in SAMPLER_NAMES:
        assert canonical_sampler(name) == name
        assert canonical_sampler(name.upper()) == name
        assert canonical_sampler(f"  {name.lower()}  ") == name


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("k_euler_a", "Euler a"),
        ("KLMS", "LMS"),
        ("k_dpmpp_2m_ka", "DPM++ 2M Karras"),
        ("k_dpmpp_sde_ka", "DPM++ SDE Karras"),
        ("euler_ancestral", "Euler a"),
        ("dpm2_ancestral", "DPM2 a"),
    ],
)
def test_a1111_and_notebook_aliases_find_the_canonical_name(alias: str, name: str) -> None:
    assert canonical_sampler(alias) == name


def test_aliases_only_point_at_known_names_and_default_is_euler_a() -> None:
    assert set(SAMPLER_ALIASES.values()) <= set(SAMPLER_NAMES)
    assert DEFAULT_SAMPLER == "Euler a"
    for required in ("Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM++ 2M"):
        assert required in SAMPLER_NAMES
    for required in ("DPM++ 2M Karras", "DPM++ SDE Karras", "DDIM", "UniPC", "LCM"):
        assert required in SAMPLER_NAMES


def test_unknown_sampler_names_the_field_and_lists_the_known_ones() -> None:
    with pytest.raises(DeforumInputError) as caught:
        canonical_sampler("Eulr a", field="sampler_schedule")
    message = str(caught.value)
    assert message.startswith("sampler_schedule: unknown sampler 'Eulr a'")
    for name in SAMPLER_NAMES:
        assert name in message
