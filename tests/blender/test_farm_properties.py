"""The farm settings of ``scene.deforum``: segments from marker camera cuts, variants."""

from __future__ import annotations

import json
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

from deforum_blender.blender.camera_track import read_camera_track  # noqa: E402


def camera(scene: Any, name: str) -> Any:
    obj = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    scene.collection.objects.link(obj)
    return obj


def bind(scene: Any, frame: int, obj: Any) -> None:
    scene.timeline_markers.new(f"F_{frame:02d}", frame=frame).camera = obj


@pytest.fixture
def scene(registered_scene: Any) -> Any:
    """Frames 1-20 with cameras A, B, C and no markers yet."""
    scene = registered_scene
    scene.frame_start, scene.frame_end = 1, 20
    scene.camera = camera(scene, "A")
    camera(scene, "B")
    camera(scene, "C")
    return scene


def test_a_shot_without_bound_markers_is_one_segment(scene: Any) -> None:
    scene.timeline_markers.new("prompt", frame=8)  # a marker without a camera is no cut
    assert scene.deforum.farm_segments == "1-20"


def test_segments_are_cut_where_the_camera_track_switches_cameras(scene: Any) -> None:
    objects = bpy.data.objects
    bind(scene, 5, objects["B"])  # before frame 5 Blender shows the earliest marker's camera
    bind(scene, 9, objects["B"])  # the same camera again: no cut
    bind(scene, 14, objects["C"])
    bind(scene, 30, objects["A"])  # after the range
    objects["C"].hide_render = True  # Blender skips it: still B from 14 on
    bind(scene, 17, objects["A"])
    assert read_camera_track(scene).cuts == [17]
    assert scene.deforum.farm_segments == "1-16,17-20"


def test_variants_come_from_the_seed_list_or_count_and_the_prompt_sets(scene: Any) -> None:
    settings = scene.deforum
    settings.seed, settings.farm_seed_count = 40, 2
    settings.positive_prompts = "detailed"
    assert [v["set"] for v in json.loads(settings.farm_variants)] == [["seed=40"], ["seed=41"]]
    settings.seed_text = "4000000000"  # the full seed wins over Seed
    assert json.loads(settings.farm_variants)[1]["name"] == "seed_4000000001"
    settings.farm_seeds = "3"
    bpy.ops.deforum.farm_prompt_set_add()
    item = settings.farm_prompt_sets[0]
    item.name, item.positive, item.negative = "oil", "oil painting of", "photo"
    (variant,) = json.loads(settings.farm_variants)
    assert variant == {
        "name": "seed_3-oil",
        "set": ["seed=3", "positive_prompts=oil painting of detailed", "negative_prompts=photo"],
    }
    bpy.ops.deforum.farm_prompt_set_remove()
    assert len(settings.farm_prompt_sets) == 0


def test_wrong_variants_carry_the_reason_for_the_job_type(scene: Any) -> None:
    scene.deforum.farm_seeds = "1, two"
    reason = json.loads(scene.deforum.farm_variants)["error"]
    assert reason.startswith("Farm Seeds: 'two' in '1, two' is not a seed")
