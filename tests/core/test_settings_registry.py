"""The settings registry: one entry per Job field, and the tables derived from it."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from deforum_blender.core import settings_registry as registry
from deforum_blender.core.deforum_settings import (
    DEFORUM_DEFAULTS,
    READ,
    export_settings,
    import_settings,
)
from deforum_blender.core.job import GROUPS, Job
from deforum_blender.core.overrides import TARGETS, apply_overrides


def test_every_plain_job_field_is_in_the_registry_once() -> None:
    fields = {f"{g}.{f.name}" for g, cls in GROUPS.items() for f in dataclasses.fields(cls)}
    top = {f.name for f in dataclasses.fields(Job) if "spec" in f.metadata} - {"version"}
    assert set(registry.BY_PATH) == fields | top
    assert len(registry.BY_KEY) == len(registry.SETTINGS)  # flat names are unique


def test_init_strength_and_model_sha256_are_set_keys_on_the_cli() -> None:
    job = apply_overrides(Job(), {"init_strength": "0.3", "model_sha256": "ab12"})
    assert job.init.strength == 0.3
    assert job.model.sha256 == "ab12"
    assert apply_overrides(Job(), {"strength": "0.4"}).init.strength == 0.4  # Deforum's key


def test_every_flat_name_is_a_set_key_for_its_field() -> None:
    for setting in registry.SETTINGS:
        assert TARGETS[setting.key] == (setting.group or None, setting.name), setting.key


# Files that a switch turned on needs (use_init, use_mask, use_mask_video).
FILES_FOR_SWITCHES = (
    ("init", "init_image"),
    ("init", "mask_file"),
    ("video_input", "video_mask_path"),
)


def _other_value(setting: registry.Setting) -> Any:
    """A valid value of ``setting`` that is not its default."""
    spec, default = setting.spec, setting.default
    if spec.kind == "bool":
        return not default
    if spec.kind == "choice":
        return next(choice for choice in spec.choices if choice != default)
    if spec.kind == "int":
        return int(default) + 1 if spec.maximum is None or default < spec.maximum else default - 1
    if spec.kind == "float":
        return default / 2 if default else 0.5
    return "some/file.png"


@pytest.mark.parametrize("setting", registry.COPIED, ids=lambda s: s.path)
def test_every_copied_setting_is_exported_and_imported_under_its_deforum_key(
    setting: registry.Setting,
) -> None:
    value = _other_value(setting)
    data = Job().to_dict()
    for group, name in FILES_FOR_SWITCHES:
        data[group][name] = "in.png"
    (data[setting.group] if setting.group else data)[setting.name] = value
    exported = json.loads(json.dumps(export_settings(Job.from_dict(data))))
    assert exported[setting.deforum_key] == value
    assert setting.deforum_key in READ and setting.deforum_key in DEFORUM_DEFAULTS
    job, warnings = import_settings(exported)
    assert setting.value(job) == value
    assert [w for w in warnings if w.startswith(f"{setting.deforum_key} ")] == []  # supported


@pytest.mark.parametrize(
    "setting",
    [s for s in registry.SETTINGS if s.deforum_key is None and s.spec.kind != "track"],
    ids=lambda s: s.path,
)
def test_every_setting_without_a_deforum_key_comes_back_from_an_exported_file(
    setting: registry.Setting,
) -> None:
    value = _other_value(setting)
    data = Job().to_dict()
    (data[setting.group] if setting.group else data)[setting.name] = value
    exported = json.loads(json.dumps(export_settings(Job.from_dict(data))))
    job, _ = import_settings(exported)
    assert setting.value(job) == value


@pytest.mark.parametrize("setting", registry.SETTINGS, ids=lambda s: s.path)
def test_a_setting_shown_in_blender_has_a_tooltip_and_a_valid_blender_default(
    setting: registry.Setting,
) -> None:
    spec = setting.spec
    if not spec.label:
        assert not (spec.tooltip or spec.blender_default is not None), "a tooltip needs a label"
        return
    assert len(spec.tooltip) > 10 and not spec.tooltip.endswith(".")
    if spec.blender_default is not None and spec.kind == "choice":
        assert spec.blender_default in spec.choices
    if spec.soft_max is not None and spec.maximum is not None and not spec.blender_unbounded:
        assert spec.soft_max <= spec.maximum


def test_labels_are_unique() -> None:
    labels = [s.spec.label for s in registry.SETTINGS if s.spec.label]
    assert len(labels) == len(set(labels))
