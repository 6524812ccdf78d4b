"""Panel draw code, run against a recording layout (Blender cannot open a window here).

The stand-in layout records every ``prop``/``operator``/``template_list`` call and checks
each keyword against the real ``UILayout`` function's parameters, so a typo in a property
name, a keyword or an icon fails here as it would in Blender's UI.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

from deforum_blender.blender import panels  # noqa: E402
from deforum_blender.blender.camera_track import read_camera_track  # noqa: E402
from deforum_blender.blender.prompts import DEFORUM_UL_prompts, add_prompt  # noqa: E402
from deforum_blender.core.camera import deforum_motion  # noqa: E402
from tests.helpers import RecordingLayout, draw  # noqa: E402


@pytest.fixture
def scene(registered_scene: Any) -> Any:
    """Registered add-on, a dollying perspective camera over frames 1-10, one prompt."""
    scene = registered_scene
    scene.frame_start, scene.frame_end = 1, 10
    scene.render.resolution_x, scene.render.resolution_y = 64, 48
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    camera.location = (0.0, -10.0, 1.0)
    camera.rotation_euler = (math.radians(90), 0.0, 0.0)
    camera.keyframe_insert("location", frame=1)
    camera.keyframe_insert("rotation_euler", frame=1)
    camera.location = (1.0, -6.0, 1.5)
    camera.rotation_euler = (math.radians(80), 0.0, math.radians(10))
    camera.keyframe_insert("location", frame=10)
    camera.keyframe_insert("rotation_euler", frame=10)
    add_prompt(scene, 1, "a forest")
    return scene


def drawn_names(record: dict[str, list[Any]], owner: Any) -> set[str]:
    return {name for data, name, _ in record.get("props", []) if data == owner}


# Setting states that between them show every conditional part of every panel.
STATES: list[dict[str, Any]] = [
    {},
    {
        "show_schedules": True,
        "color_coherence": "Image",
        "animation_mode": "2D",
        "seed_behavior": "schedule",
    },
    {"animation_mode": "Video Input", "use_init": True, "use_mask": True},
    # Every ControlNet unit on (their details are drawn only then).
    {f"cn_{n}_enabled": True for n in range(1, 6)},
]


@pytest.mark.parametrize("state", STATES)
def test_every_drawn_property_exists_on_its_data(scene: Any, state: dict[str, Any]) -> None:
    for key, value in state.items():
        setattr(scene.deforum, key, value)
    for panel in panels.PANELS:
        record = draw(panel, scene)
        for data, name, _ in record.get("props", []):
            assert name in data.bl_rna.properties, f"{panel.__name__}: {name}"


def test_every_setting_is_drawn_in_some_panel(scene: Any) -> None:
    drawn: set[str] = set()
    for state in STATES:
        for key, value in state.items():
            setattr(scene.deforum, key, value)
        for panel in panels.PANELS:
            drawn |= drawn_names(draw(panel, scene), scene.deforum)
    settings = {p.identifier for p in scene.deforum.bl_rna.properties} - {"rna_type", "name"}
    assert settings - drawn == set()


def test_sub_panels_hang_under_the_deforum_panel_in_the_output_tab() -> None:
    main, *subs = panels.PANELS
    assert main.bl_label == "Deforum" and main.bl_context == "output"
    assert [p.bl_label for p in subs] == [
        "Model & Output",
        "Prompts",
        "Motion",
        "Depth",
        "Diffusion",
        "Coherence & Cadence",
        "Init & Mask",
        "Video Input",
        "ControlNet",
        "Interpolation, Upscaling & Soundtrack",
        "Render Farm",
    ]
    assert all(p.bl_parent_id == "DEFORUM_PT_main" for p in subs)
    assert all(p.bl_space_type == "PROPERTIES" for p in panels.PANELS)


def test_the_prompt_list_draws_its_items(scene: Any) -> None:
    record = draw(panels.DEFORUM_PT_prompts, scene)
    assert record["lists"] == ["DEFORUM_UL_prompts"]
    assert {"deforum.prompt_add", "deforum.prompt_remove"} <= set(record["operators"])
    item_record: dict[str, list[Any]] = {}
    item = scene.deforum.prompts[0]
    DEFORUM_UL_prompts.draw_item(
        SimpleNamespace(), None, RecordingLayout(item_record), scene.deforum, item, 0, None, ""
    )
    assert drawn_names(item_record, item) == {"frame", "prompt"}


def test_an_orthographic_camera_shows_in_red_with_its_fix(scene: Any) -> None:
    scene.camera.data.type = "ORTHO"
    record = draw(panels.DEFORUM_PT_main, scene)
    assert any("orthographic" in label for label in record["labels"])
    assert "type" in drawn_names(record, scene.camera.data)
    assert any(box.alert for box in record["containers"])


def test_a_bad_schedule_is_drawn_in_red(scene: Any) -> None:
    scene.deforum.strength_schedule = "0: (0.5"
    record = draw(panels.DEFORUM_PT_diffusion, scene)
    rows = [row for data, name, row in record["props"] if name == "strength_schedule"]
    assert rows and all(row.alert for row in rows)
    value_rows = [row for data, name, row in record["props"] if name == "strength"]
    assert not value_rows[0].active  # the schedule overrides the value
    main = draw(panels.DEFORUM_PT_main, scene)
    assert "strength_schedule" in drawn_names(main, scene.deforum)


def test_no_prompts_offers_the_add_button(scene: Any) -> None:
    scene.deforum.prompts.clear()
    record = draw(panels.DEFORUM_PT_main, scene)
    assert "deforum.prompt_add" in record["operators"]


def test_motion_shows_this_frames_camera_motion_in_deforum_units(scene: Any) -> None:
    expected = deforum_motion(read_camera_track(scene, 1, 10))
    scene.frame_set(4)
    scene.frame_set(5)  # the frame-change handler remembered frame 4's pose
    labels = draw(panels.DEFORUM_PT_motion, scene)["labels"]
    for key, title in panels._MOTION_LABELS:
        assert f"{title}: {expected[key][4]:.4f}" in labels
    assert f"FOV (vertical): {expected['fov_schedule'][4]:.3f}°" in labels


def test_motion_after_an_edit_waits_for_the_frames_to_be_stepped(scene: Any) -> None:
    scene.frame_set(4)
    scene.frame_set(5)
    scene.camera.location.x += 1.0
    bpy.context.view_layer.update()  # an edit: the remembered poses are stale
    labels = draw(panels.DEFORUM_PT_motion, scene)["labels"]
    assert any("Step back a frame" in label for label in labels)
    scene.frame_set(1)
    labels = draw(panels.DEFORUM_PT_motion, scene)["labels"]
    assert any("No motion into this frame" in label for label in labels)


def test_the_prompt_list_is_shown_in_frame_order(scene: Any) -> None:
    add_prompt(scene, 9, "late")
    add_prompt(scene, 4, "middle")
    stand_in = SimpleNamespace(filter_name="", bitflag_filter_item=1 << 30)
    flags, order = DEFORUM_UL_prompts.filter_items(stand_in, None, scene.deforum, "prompts")
    shown = sorted(range(len(order)), key=lambda i: order[i])
    assert [scene.deforum.prompts[i].prompt for i in shown] == ["a forest", "middle", "late"]
    stand_in.filter_name = "MID"
    flags, _ = DEFORUM_UL_prompts.filter_items(stand_in, None, scene.deforum, "prompts")
    assert [bool(flag) for flag in flags] == [False, False, True]


def test_the_depth_folder_is_active_only_for_depth_source_files(scene: Any) -> None:
    for source, active in (("files", True), ("estimated", False)):
        scene.deforum.depth_source = source
        record = draw(panels.DEFORUM_PT_depth, scene)
        (row,) = [row for data, name, row in record["props"] if name == "depth_path"]
        assert row.active is active


def test_a_full_seed_greys_out_seed_and_shows_itself(scene: Any) -> None:
    scene.deforum.seed_text = "4294967000"
    record = draw(panels.DEFORUM_PT_diffusion, scene)
    rows = {name: row for data, name, row in record["props"] if data == scene.deforum}
    assert "seed_text" in rows and not rows["seed"].active


def test_a_controlnet_units_details_are_drawn_only_while_it_is_on(scene: Any) -> None:
    scene.deforum.cn_2_enabled = True
    drawn = drawn_names(draw(panels.DEFORUM_PT_controlnet, scene), scene.deforum)
    assert {f"cn_{n}_enabled" for n in range(1, 6)} <= drawn
    assert {"cn_2_model", "cn_2_weight", "cn_2_vid_path", "cn_2_guidance_end"} <= drawn
    assert not any(
        name.startswith(("cn_1_", "cn_3_")) for name in drawn - {"cn_1_enabled", "cn_3_enabled"}
    )


def test_a_scene_module_greys_out_the_image_path(scene: Any) -> None:
    scene.deforum.cn_1_enabled = True
    for module, active in (("scene_depth", False), ("canny", True)):
        scene.deforum.cn_1_module = module
        record = draw(panels.DEFORUM_PT_controlnet, scene)
        (row,) = [row for data, name, row in record["props"] if name == "cn_1_vid_path"]
        assert row.active is active


def test_a_controlnet_unit_without_a_model_or_camera_shows_its_fix(
    scene: Any, tmp_path: Any
) -> None:
    settings = scene.deforum
    settings.cn_1_enabled = True
    settings.cn_1_module = "scene_depth"
    scene.camera = None
    record = draw(panels.DEFORUM_PT_main, scene)
    assert any("ControlNet 1 is on but has no model" in label for label in record["labels"])
    assert any(
        "scene_depth renders the scene, which has no camera" in label for label in record["labels"]
    )
    assert {"cn_1_model"} <= drawn_names(record, settings)
    assert "camera" in drawn_names(record, scene)
    settings.cn_1_model = str(tmp_path / "missing")
    settings.cn_1_module = "canny"
    settings.cn_1_vid_path = str(tmp_path / "gone.mp4")
    labels = draw(panels.DEFORUM_PT_main, scene)["labels"]
    assert any("ControlNet 1: model" in label and "is not there" in label for label in labels)
    assert any("ControlNet 1: image" in label and "is not there" in label for label in labels)
    settings.cn_1_model = "lllyasviel/control_v11p_sd15_canny"  # a hub id: not a local path
    settings.cn_1_loopback_mode = True  # the image comes from the frame's init
    labels = draw(panels.DEFORUM_PT_main, scene)["labels"]
    assert not any("ControlNet" in label for label in labels)
