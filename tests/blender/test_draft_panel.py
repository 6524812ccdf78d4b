"""The Draft toggle and the VAE choice in the Model & Output panel, and on to the job."""

from __future__ import annotations

from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

from deforum_blender.blender import panels  # noqa: E402
from deforum_blender.blender.scene_job import job_from_scene  # noqa: E402
from tests.helpers import draw  # noqa: E402


def _rows(scene: Any) -> dict[str, Any]:
    record = draw(panels.DEFORUM_PT_model, scene)
    return {name: row for data, name, row in record["props"] if data == scene.deforum}


def test_draft_greys_out_the_model_and_brings_in_the_draft_model_and_tiny_vae(
    registered_scene: Any,
) -> None:
    settings = registered_scene.deforum
    rows = _rows(registered_scene)
    assert rows["model"].active and not rows["draft_model"].active
    assert not rows["tiny_vae"].active
    settings.draft = True
    rows = _rows(registered_scene)
    assert not rows["model"].active and rows["draft_model"].active and rows["tiny_vae"].active
    settings.draft = False
    settings.vae = "tiny"
    assert _rows(registered_scene)["tiny_vae"].active


def test_the_draft_and_vae_settings_reach_the_job(registered_scene: Any) -> None:
    registered_scene.frame_start, registered_scene.frame_end = 1, 4
    registered_scene.render.resolution_x = registered_scene.render.resolution_y = 64
    settings = registered_scene.deforum
    settings.animation_mode = "None"  # needs neither camera nor prompts
    settings.draft = True
    settings.draft_model = "/models/turbo"
    settings.vae = "tiny"
    settings.tiny_vae = "/models/taesd"
    model = job_from_scene(registered_scene, need_prompts=False).model
    assert model.draft and model.draft_model == "/models/turbo"
    assert (model.vae, model.tiny_vae) == ("tiny", "/models/taesd")
