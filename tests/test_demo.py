"""``make demo``'s scene (``scripts/demo_scene.py``), built in a fresh ``bpy`` and read back
as the add-on reads it; the demo's choice of model (``scripts/demo.py``); and the whole demo,
shortened to three frames, for its ControlNet contact sheet.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.output_layout import controlnet_input_path
from tests.helpers import ROOT, run_python

pytestmark = pytest.mark.slow

# argv: the demo's scene module, a model path, where to save the .blend. Prints what a render
# would take from the scene.
BUILD = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("demo_scene", sys.argv[1])
demo = importlib.util.module_from_spec(spec)
sys.modules["demo_scene"] = demo
spec.loader.exec_module(demo)
from deforum_blender.blender.animation_data import fcurves
from deforum_blender.blender.scene_job import job_from_scene
from deforum_blender.blender.scene_problems import scene_problems

import bpy
scene = demo.build_scene(sys.argv[2], demo.TINY, frames=24)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[3])  # as the demo does: "//render/" needs it
camera = scene.camera
curves = fcurves(camera) + fcurves(camera.data)
warnings = []
job = job_from_scene(scene, warnings=warnings)
track = job.motion.camera_track
print(json.dumps({
    "curves": {f"{c.data_path}[{c.array_index}]": [
        [k.interpolation, k.handle_left_type, k.co[0]] for k in c.keyframe_points
    ] for c in curves},
    "markers": sorted([m.frame, m.name] for m in scene.timeline_markers),
    "problems": [p.message for p in scene_problems(scene)],
    "warnings": warnings,
    "mode": job.animation_mode,
    "size": [job.W, job.H],
    "frames": [job.first_frame, job.last_frame],
    "prompts": job.prompts.keyframes,
    "strength": job.params["strength"],
    "track_frames": track["frames"],
    "lens": [round(c["lens"], 3) for c in track["cameras"]],
    "objects": sorted({o.name.split()[0] for o in scene.objects}),
}))
"""


@pytest.fixture(scope="module")
def demo_scene(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What the demo scene holds, as printed by a fresh interpreter that built it."""
    blend = tmp_path_factory.mktemp("demo") / "demo.blend"
    result = run_python(BUILD, str(ROOT / "scripts" / "demo_scene.py"), "/models/none", str(blend))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_demo_scene_renders_without_problems(demo_scene: dict) -> None:
    assert demo_scene["problems"] == []
    assert demo_scene["warnings"] == []
    assert demo_scene["mode"] == "3D"
    assert demo_scene["size"] == [128, 96]
    assert demo_scene["frames"] == [1, 24]


def test_demo_camera_flight_is_eased_bezier_with_a_lens_change(demo_scene: dict) -> None:
    curves = demo_scene["curves"]
    assert {"location[0]", "location[1]", "location[2]", "lens[0]"} <= set(curves)
    for keys in curves.values():
        assert [frame for _, _, frame in keys] == [1.0, 12.0, 24.0]
        assert all(kind == "BEZIER" and handle == "AUTO_CLAMPED" for kind, handle, _ in keys)


def test_demo_has_two_prompts_on_timeline_markers(demo_scene: dict) -> None:
    assert [frame for frame, _ in demo_scene["markers"]] == [1, 13]
    prompts = demo_scene["prompts"]  # keyed from frame 0 = Frame Start, as in Deforum
    assert sorted(prompts, key=int) == ["0", "12"]
    assert "valley" in prompts["0"] and "canyon" in prompts["12"]


def test_demo_strength_follows_its_fcurve(demo_scene: dict) -> None:
    strength = demo_scene["strength"]
    assert isinstance(strength, list) and len(strength) == 24
    assert strength[0] == pytest.approx(0.65) and strength[12] == pytest.approx(0.45)
    assert strength[23] == pytest.approx(0.6)


def test_demo_camera_track_zooms_from_24_to_35_mm(demo_scene: dict) -> None:
    assert demo_scene["track_frames"] == list(range(1, 25))
    lens = demo_scene["lens"]
    assert lens[0] == 24.0 and lens[-1] == 35.0
    assert lens == sorted(lens) and len(set(lens)) > 10  # eased, not two values


def test_demo_landscape_has_rocks_trees_and_pillars(demo_scene: dict) -> None:
    expected = {"Camera", "Pillar", "Pine", "Rock", "Sun", "Trunk", "Valley"}
    assert set(demo_scene["objects"]) == expected


def load_demo() -> Any:
    """``scripts/demo.py`` as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_demo_model_comes_from_deforum_model_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    demo = load_demo()
    monkeypatch.setenv("DEFORUM_MODEL", str(tmp_path))
    choice = demo.choose_model(None)
    assert choice.model == str(tmp_path) and not choice.tiny
    other = tmp_path / "other"
    other.mkdir()
    assert demo.choose_model(str(other)).model == str(other)  # --model wins over both


def test_demo_stops_at_once_for_a_hub_model_it_cannot_get(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from huggingface_hub import constants

    demo = load_demo()
    monkeypatch.setenv("DEFORUM_MODEL", "some-org/some-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    with pytest.raises(SystemExit, match=r"DEFORUM_MODEL=some-org/some-model: not in the"):
        demo.choose_model(None)


def test_demo_offline_with_an_empty_cache_says_so_and_uses_the_tiny_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from huggingface_hub import constants

    demo = load_demo()
    monkeypatch.delenv("DEFORUM_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    choice = demo.choose_model(None)
    assert choice.tiny and choice.model is None
    assert "not in the Hugging Face cache" in choice.reason and "\n" not in choice.reason
    assert demo.quality_for(choice) == demo.TINY


def test_demo_controlnet_option_names_the_scene_modules() -> None:
    demo = load_demo()
    assert demo.parse_controlnets(["scene_normal=some/model"]) == {"scene_normal": "some/model"}
    with pytest.raises(SystemExit, match=r"'depth=x'.*scene_depth, scene_normal"):
        demo.parse_controlnets(["depth=x"])


DEMO_FRAMES = 3


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Path:
    """The output folder of ``scripts/demo.py --frames 3``, offline: the tiny model."""
    out = tmp_path_factory.mktemp("demo_run")
    shutil.copytree(tiny_models, out / "tiny_models")  # the demo makes them when missing
    env = {
        **os.environ,
        "PYTHONPATH": "",  # the demo puts this checkout on sys.path itself
        "DEFORUM_WORKER_PYTHON": sys.executable,
        "DEFORUM_MODEL": "",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(tmp_path_factory.mktemp("empty_hf_cache")),
    }
    command = [sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(out)]
    command += ["--frames", str(DEMO_FRAMES)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=out, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def read_bgr(path: Path) -> Any:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return image


def test_demo_renders_with_controlnet_units_fed_by_the_scene_passes(demo_out: Path) -> None:
    job = json.loads((demo_out / "render" / "job.json").read_text())
    units = [(job[g]["enabled"], job[g]["module"]) for g in ("cn_1", "cn_2")]
    assert units == [(True, "scene_depth"), (True, "scene_normal")]
    assert job["output"]["save_controlnet_inputs"] is True
    preview = json.loads((demo_out / "preview" / "job.json").read_text())
    assert not preview["cn_1"]["enabled"] and not preview["cn_2"]["enabled"]
    assert (demo_out / "controlnet_contact_sheet.png").is_file()


def test_demo_controlnet_sheet_tiles_are_the_saved_control_images(demo_out: Path) -> None:
    import cv2

    render = demo_out / "render"
    sheet = read_bgr(demo_out / "controlnet_contact_sheet.png")
    places = {}
    for unit in (1, 2):
        for frame in range(1, DEMO_FRAMES + 1):
            control = read_bgr(controlnet_input_path(render, unit, frame))
            assert control.std() > 0, (unit, frame)  # a blank tile would match anywhere
            match = cv2.matchTemplate(sheet, control, cv2.TM_SQDIFF)
            _, _, (x, y), _ = cv2.minMaxLoc(match)
            tile = sheet[y : y + control.shape[0], x : x + control.shape[1]]
            assert np.array_equal(tile, control), (unit, frame)  # pixel for pixel
            places[unit, frame] = (x, y)
    # A row per unit, a column per frame.
    assert places[1, 1][1] < places[2, 1][1] and places[1, 1][0] == places[2, 1][0]
    assert places[1, 1][0] < places[1, 2][0] < places[1, 3][0]
