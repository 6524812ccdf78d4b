"""scene.deforum: registration, tooltips, core tables, prompts on markers, save and reopen (bpy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

import deforum_blender  # noqa: E402
from deforum_blender.blender import properties  # noqa: E402
from deforum_blender.blender.prompts import add_prompt, remove_prompt  # noqa: E402
from deforum_blender.blender.scene_job import copied_fields  # noqa: E402
from deforum_blender.core import job_fields as jf  # noqa: E402
from deforum_blender.core.job import Job  # noqa: E402
from deforum_blender.core.samplers import SAMPLER_NAMES  # noqa: E402
from deforum_blender.core.seeds import SEED_BEHAVIORS  # noqa: E402

INTERNAL = {"rna_type", "name"}


@pytest.fixture
def scene(registered_scene: Any) -> Any:
    """A fresh empty scene with the add-on registered (unregistered afterwards)."""
    return registered_scene


def rna(owner: Any) -> Any:
    return owner.bl_rna.properties


def test_settings_register_and_unregister_cleanly() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    for _ in range(2):  # a second round proves unregister left nothing behind
        deforum_blender.register()
        assert bpy.context.scene.deforum.animation_mode == Job().animation_mode
        assert properties.DeforumSettings.is_registered
        assert _operator_exists("prompt_add")
        deforum_blender.unregister()
        assert not hasattr(bpy.types.Scene, "deforum")
        assert not properties.DeforumSettings.is_registered
        assert not properties.DeforumPrompt.is_registered
        assert not _operator_exists("prompt_add")


def _operator_exists(name: str) -> bool:
    try:
        getattr(bpy.ops.deforum, name).get_rna_type()
    except KeyError:
        return False
    return True


def test_every_property_has_a_name_and_a_tooltip(scene: Any) -> None:
    for owner in (scene.deforum, scene.deforum.prompts.add()):
        for prop in rna(owner):
            if prop.identifier in INTERNAL:
                continue
            assert prop.name, prop.identifier
            assert len(prop.description) > 10, prop.identifier


def test_defaults_are_the_jobs_defaults(scene: Any) -> None:
    settings, job = scene.deforum, Job()
    assert settings.diffusion_cadence == job.cadence.diffusion_cadence
    assert settings.color_coherence == job.coherence.color_coherence
    assert settings.init_strength == pytest.approx(job.init.strength)
    assert settings.strength == pytest.approx(jf.PARAMS["strength"].default)
    assert settings.steps == 25
    assert settings.sampler == job.sampler
    assert settings.output_dir == "//deforum/"


def test_sampler_menu_is_the_core_sampler_list(scene: Any) -> None:
    items = [item.identifier for item in rna(scene.deforum)["sampler"].enum_items]
    assert items == list(SAMPLER_NAMES)


@pytest.mark.parametrize(
    ("name", "choices"),
    [
        ("animation_mode", jf.ANIMATION_MODES),
        ("device", jf.DEVICES),
        ("border", jf.BORDERS),
        ("depth_source", jf.DEPTH_SOURCES),
        ("padding_mode", jf.PADDING_MODES),
        ("sampling_mode", jf.SAMPLING_MODES),
        ("color_coherence", jf.COLOR_COHERENCE),
        ("noise_type", jf.NOISE_TYPES),
        ("optical_flow_cadence", jf.OPTICAL_FLOW_CADENCE),
        ("seed_behavior", SEED_BEHAVIORS),
    ],
)
def test_menus_hold_exactly_the_jobs_choices(scene: Any, name: str, choices: tuple[str]) -> None:
    assert [item.identifier for item in rna(scene.deforum)[name].enum_items] == list(choices)


def test_every_copied_job_field_has_its_property(scene: Any) -> None:
    names = set(rna(scene.deforum).keys())
    missing = [setting.path for setting in copied_fields() if setting.key not in names]
    assert missing == []


def test_per_frame_values_are_animatable_and_have_a_schedule_field(scene: Any) -> None:
    props = rna(scene.deforum)
    for name in properties.PER_FRAME_NAMES:
        assert props[name].is_animatable, name
        assert name in jf.PARAMS
        schedule = props[properties.schedule_property_name(name)]
        assert schedule.type == "STRING"
        assert "schedule" in schedule.description.lower()
    # Keyframing works through the ordinary API.
    assert scene.deforum.keyframe_insert("noise", frame=3)


def test_properties_carry_the_right_units(scene: Any) -> None:
    props = rna(scene.deforum)
    expected = {
        "output_dir": "DIR_PATH",
        "init_image": "FILE_PATH",
        "mask_file": "FILE_PATH",
        "video_init_path": "FILE_PATH",
        "video_mask_path": "FILE_PATH",
        "color_coherence_image_path": "FILE_PATH",
        "strength": "FACTOR",
        "noise": "FACTOR",
        "scene_blend": "FACTOR",
        "init_strength": "FACTOR",
    }
    assert {name: props[name].subtype for name in expected} == expected


def test_ranges_follow_the_core_parameter_limits(scene: Any) -> None:
    props = rna(scene.deforum)
    assert (props["strength"].hard_min, props["strength"].hard_max) == (0.0, 1.0)
    assert (props["steps"].hard_min, props["steps"].hard_max) == (1, 1000)
    assert props["seed"].hard_min == -1


def test_adding_a_prompt_marks_the_current_frame(scene: Any) -> None:
    scene.frame_set(12)
    assert bpy.ops.deforum.prompt_add(prompt="a lighthouse in a storm at night") == {"FINISHED"}
    item = scene.deforum.prompts[0]
    assert item.frame == 12
    marker = scene.timeline_markers[item.marker]
    assert marker.frame == 12
    assert marker.name.startswith("P1 a lighthouse")
    assert len(marker.name) <= 24  # a label, not the text


def test_moving_the_marker_moves_the_prompt_and_back(scene: Any) -> None:
    item = add_prompt(scene, 5, "a fox")
    scene.timeline_markers[item.marker].frame = 40
    assert item.frame == 40
    item.frame = 7
    assert scene.timeline_markers[item.marker].frame == 7


def test_editing_the_text_relabels_the_marker(scene: Any) -> None:
    item = add_prompt(scene, 1, "a fox")
    item.prompt = "a wolf"
    assert [m.name for m in scene.timeline_markers] == ["P1 a wolf"]
    assert item.marker == "P1 a wolf"


def test_markers_of_two_prompts_with_the_same_text_stay_apart(scene: Any) -> None:
    first = add_prompt(scene, 1, "a fox")
    second = add_prompt(scene, 9, "a fox")
    assert first.marker != second.marker
    assert (first.frame, second.frame) == (1, 9)


def test_removing_a_prompt_removes_its_marker(scene: Any) -> None:
    add_prompt(scene, 1, "a fox")
    add_prompt(scene, 9, "a wolf")
    scene.deforum.prompt_index = 0
    assert bpy.ops.deforum.prompt_remove() == {"FINISHED"}
    assert [p.prompt for p in scene.deforum.prompts] == ["a wolf"]
    assert [m.name for m in scene.timeline_markers] == ["P2 a wolf"]
    remove_prompt(scene, 0)
    assert len(scene.timeline_markers) == 0
    assert bpy.ops.deforum.prompt_remove.poll() is False


def test_settings_and_prompts_survive_save_and_reopen(scene: Any, tmp_path: Path) -> None:
    settings = scene.deforum
    settings.sampler = "DPM++ 2M Karras"
    settings.animation_mode = "Video Input"
    settings.noise_schedule = "0: (0.04), 10: (0.08)"
    settings.seed = 1234
    settings.init_image = "//init.png"
    settings.strength = 0.4
    settings.keyframe_insert("strength", frame=1)
    settings.strength = 0.8
    settings.keyframe_insert("strength", frame=20)
    item = add_prompt(scene, 8, "a fox", "blurry")
    scene.timeline_markers[item.marker].frame = 11
    path = tmp_path / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert len(bpy.context.scene.deforum.prompts) == 0
    bpy.ops.wm.open_mainfile(filepath=str(path))
    settings = bpy.context.scene.deforum
    assert settings.sampler == "DPM++ 2M Karras"
    assert settings.animation_mode == "Video Input"
    assert settings.noise_schedule == "0: (0.04), 10: (0.08)"
    assert settings.seed == 1234
    assert settings.init_image == "//init.png"
    reopened = bpy.context.scene
    reopened.frame_set(20)
    assert reopened.deforum.strength == pytest.approx(0.8)
    prompt = settings.prompts[0]
    assert (prompt.prompt, prompt.negative_prompt, prompt.frame) == ("a fox", "blurry", 11)
    # Saving remembered the marker's frame, so the prompt keeps it without the marker.
    reopened.timeline_markers.remove(reopened.timeline_markers[prompt.marker])
    assert prompt.frame == 11


def _blender_limits(spec: Any, integer: bool) -> tuple[Any, Any]:
    """The hard min and max a property made from ``spec`` should have."""
    low = spec.blender_min if spec.blender_min is not None else spec.minimum
    high = None if spec.blender_unbounded else spec.maximum
    if integer and high is not None:
        high = min(high, properties.INT_PROPERTY_MAX)
    return low, high


def test_plain_properties_are_made_from_the_registry(scene: Any) -> None:
    props = rna(scene.deforum)
    assert properties.PLAIN_SETTINGS  # every labelled setting of the registry
    for setting in properties.PLAIN_SETTINGS:
        prop, spec = props[setting.key], setting.spec
        assert (prop.name, prop.description) == (spec.label, spec.tooltip), setting.key
        default = properties.blender_default(setting)
        if spec.kind in ("choice", "sampler"):
            identifiers = [item.identifier for item in prop.enum_items]
            assert identifiers == list(spec.choices or SAMPLER_NAMES), setting.key
            assert prop.default == default, setting.key
        elif spec.kind in ("int", "float"):
            assert prop.default == pytest.approx(default), setting.key
            low, high = _blender_limits(spec, spec.kind == "int")
            assert low is None or prop.hard_min == pytest.approx(low), setting.key
            assert high is None or prop.hard_max == pytest.approx(high), setting.key
            if high is None:
                assert prop.hard_max >= properties.INT_PROPERTY_MAX, setting.key
            if spec.soft_max is not None:
                assert prop.soft_max == pytest.approx(spec.soft_max), setting.key
        else:
            assert prop.default == default, setting.key
        assert prop.subtype == (spec.path or spec.subtype or "NONE"), setting.key


def test_animated_properties_are_made_from_the_parameter_table(scene: Any) -> None:
    props = rna(scene.deforum)
    labelled = [name for name, spec in jf.PARAMS.items() if spec.label]
    assert [item.name for item in properties.ANIMATED] == labelled
    for name in labelled:
        spec = jf.PARAMS[name]
        prop = props[name]
        assert (prop.name, prop.description) == (spec.label, spec.tooltip)
        assert prop.type == ("INT" if spec.integer else "FLOAT")
        assert prop.subtype == spec.subtype


def test_menu_items_keep_their_own_names_and_tooltips(scene: Any) -> None:
    item = rna(scene.deforum)["depth_source"].enum_items["scene"]
    assert (item.name, item.description) == (
        "Scene",
        "Blender renders the scene's own depth (Z pass): exact and metric",
    )
    assert scene.deforum.depth_source == "scene"  # Blender's default, not the Job's
    assert scene.deforum.translation_scale == 0.0  # 0: measured from the scene
