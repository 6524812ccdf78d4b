"""ControlNet units in the render loop, with the tiny SD model and the tiny ControlNet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.deforum_settings import export_settings, import_settings
from deforum_blender.core.job import Job, save_job
from deforum_blender.core.output_layout import controlnet_input_path, scene_depth_dir
from deforum_blender.engine.controlnet import FrameControl, load_controlnet
from deforum_blender.engine.diffusion import load_diffuser
from deforum_blender.engine.frames import read_frame
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import tiny_job
from tests.helpers import ROOT, run_json

FRAMES = "3"


def edge_image(folder: Path) -> Path:
    """A 64×64 PNG with a bright square: canny finds its edges."""
    import cv2

    image = np.zeros((64, 64, 3), dtype=np.uint8)
    image[16:48, 16:48] = 255
    path = folder / "edges.png"
    cv2.imwrite(str(path), image)
    return path


def unit_job(models: Path, image: Path, **settings: str) -> Job:
    unit = {
        "max_frames": FRAMES,
        "cn_1_enabled": "true",
        "cn_1_module": "canny",
        "cn_1_vid_path": str(image),
        "cn_1_model": str(models / "controlnet"),
        "cn_1_threshold_a": "100",
        "cn_1_threshold_b": "200",
    }
    return tiny_job(models, **{**unit, **settings})


def frames(out: Path) -> list[np.ndarray[Any, Any]]:
    return [read_frame(p) for p in sorted((out / "frames").glob("frame_*.png"))]


def test_weight_0_renders_as_without_the_unit_and_weight_1_differs(
    tiny_models: Path, tmp_path: Path
) -> None:
    image = edge_image(tmp_path)
    render(tiny_job(tiny_models, max_frames=FRAMES), tmp_path / "plain")
    render(unit_job(tiny_models, image, cn_1_weight="0:(0)"), tmp_path / "zero")
    render(unit_job(tiny_models, image, cn_1_weight="0:(1)"), tmp_path / "one")
    plain, zero, one = (frames(tmp_path / n) for n in ("plain", "zero", "one"))
    assert len(plain) == len(zero) == len(one) == int(FRAMES)
    for a, b in zip(plain, zero, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    differences = [
        np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(plain, one, strict=True)
    ]
    assert max(differences) > 1


def acting_steps(models: Path, start: float, end: float) -> int:
    """Sampler steps on which the ControlNet is called with a non-zero scale."""
    diffuser = load_diffuser(str(models / "sd"), None)
    model = load_controlnet(str(models / "controlnet"), "cn_1_model", "cpu", diffuser.dtype)
    calls: list[float] = []
    original = model.forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(float(kwargs.get("conditioning_scale", 1.0)))
        return original(*args, **kwargs)

    model.forward = counting
    try:
        control = FrameControl(
            [model], [np.full((64, 64, 3), 128, np.uint8)], [1.0], [start], [end], False
        )
        image = np.full((64, 64, 3), 100, np.uint8)
        diffuser.img2img(image, "a cat", "", 1, 8, 7.0, 1.0, "Euler", control=control)
    finally:
        del model.forward
    return sum(1 for scale in calls if scale != 0.0)


def test_guidance_start_and_end_set_how_many_steps_the_controlnet_acts(tiny_models: Path) -> None:
    everywhere = acting_steps(tiny_models, 0.0, 1.0)
    assert everywhere == 8
    assert acting_steps(tiny_models, 0.5, 1.0) < everywhere
    assert acting_steps(tiny_models, 0.0, 0.25) < acting_steps(tiny_models, 0.0, 0.75)


def test_the_cli_takes_a_unit_through_set(tiny_models: Path, tmp_path: Path) -> None:
    job_file = tmp_path / "job.json"
    save_job(tiny_job(tiny_models, max_frames="2"), job_file)
    image = edge_image(tmp_path)
    sets = {
        "cn_1_enabled": "true",
        "cn_1_module": "canny",
        "cn_1_vid_path": str(image),
        "cn_1_model": str(tiny_models / "controlnet"),
        "save_controlnet_inputs": "true",
    }
    args = [f"--set={key}={value}" for key, value in sets.items()]
    out = tmp_path / "out"
    command = [sys.executable, "-m", "deforum_blender", "render", str(job_file), "--out", str(out)]
    result = subprocess.run(
        [*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(frames(out)) == 2
    assert json.loads((out / "job.json").read_text())["cn_1"]["enabled"] is True
    assert controlnet_input_path(out, 1, 1).is_file()


def test_an_openpose_unit_imports_with_one_warning_and_renders_without_it(
    tiny_models: Path, tmp_path: Path
) -> None:
    settings = export_settings(tiny_job(tiny_models, max_frames="2"))
    settings.update(
        cn_1_enabled=True,
        cn_1_module="openpose",
        cn_1_model="control_v11p_sd15_openpose [cab727d4]",
    )
    job, warnings = import_settings(settings)
    assert [w for w in warnings if w.startswith("cn_1")] == [
        "cn_1_module: 'openpose' needs the controlnet_aux detector and its weights "
        "(lllyasviel/Annotators), which this engine does not run; pose a rig in Blender and "
        "give its render, or a pose image made beforehand as cn_1_vid_path with module none; "
        "the unit is kept but switched off"
    ]
    assert job.cn_1.model == "lllyasviel/control_v11p_sd15_openpose"
    render(job, tmp_path / "out")
    assert len(frames(tmp_path / "out")) == 2


def test_save_controlnet_inputs_writes_each_units_image_per_diffused_frame(
    tiny_models: Path, tmp_path: Path
) -> None:
    image = edge_image(tmp_path)
    job = unit_job(tiny_models, image, save_controlnet_inputs="true")
    out = tmp_path / "out"
    render(job, out)
    diffused = sorted(int(frame) for frame in run_json(out)["seeds"])
    assert sorted(out.joinpath("controlnet").iterdir()) == [
        controlnet_input_path(out, 1, frame) for frame in diffused
    ]
    for frame in diffused:
        saved = read_frame(controlnet_input_path(out, 1, frame))
        assert saved.shape == (64, 64, 3)
        assert set(np.unique(saved)) <= {0, 255}  # canny's edges
        assert saved.max() == 255


def test_run_json_records_what_each_unit_used_on_each_diffused_frame(
    tiny_models: Path, tmp_path: Path
) -> None:
    image = edge_image(tmp_path)
    job = unit_job(
        tiny_models,
        image,
        diffusion_cadence="1",
        cn_1_weight="0:(1), 1:(0), 2:(0.5)",
        cn_1_guidance_end="0:(0.75)",
        cn_2_enabled="true",
        cn_2_module="tile",
        cn_2_loopback_mode="true",
        cn_2_model=str(tiny_models / "controlnet"),
        cn_2_control_mode="My prompt is more important",
    )
    out = tmp_path / "out"
    render(job, out)
    record = run_json(out)["controlnet"]
    assert sorted(record) == ["cn_1", "cn_2"]
    first = record["cn_1"]
    assert (first["model"], first["module"]) == (str(tiny_models / "controlnet"), "canny")
    assert first["input"] == f"vid_path: {image}"
    assert first["frames"] == {  # frame 2 has weight 0: the unit left it out
        "1": {"weight": 1.0, "guidance": [0.0, 0.75]},
        "3": {"weight": 0.5, "guidance": [0.0, 0.75]},
    }
    second = record["cn_2"]
    assert second["input"] == "loopback: the frame's init"
    assert second["control_mode"] == "My prompt is more important"
    assert sorted(second["frames"]) == ["2", "3"]  # frame 1 has no init to loop back


def test_scene_depth_control_images_follow_the_inverse_z_pass(
    tiny_models: Path, tmp_path: Path
) -> None:
    from scipy.stats import spearmanr

    out = tmp_path / "out"
    folder = scene_depth_dir(out)
    folder.mkdir(parents=True)
    y, x = np.mgrid[0:64, 0:64]
    depths = {}
    for frame in range(1, int(FRAMES) + 1):
        z = (2.0 + x * 0.05 + np.sin(y / 9.0 + frame) + frame * 0.1).astype(np.float32)
        np.save(folder / f"depth_{frame:05d}.npy", z)
        depths[frame] = z
    job = tiny_job(
        tiny_models,
        max_frames=FRAMES,
        cn_1_enabled="true",
        cn_1_module="scene_depth",
        cn_1_model=str(tiny_models / "controlnet"),
        save_controlnet_inputs="true",
    )
    render(job, out)
    assert run_json(out)["controlnet"]["cn_1"]["input"] == "scene: scene_depth/"
    for frame in sorted(int(frame) for frame in run_json(out)["seeds"]):
        z = depths[frame]
        control = read_frame(controlnet_input_path(out, 1, frame))[..., 0].astype(float)
        assert control.max() == 255 and control.min() == 0  # normalised per frame
        correlation = spearmanr(control.ravel(), (1.0 / z).ravel()).statistic
        assert correlation >= 0.95


def test_an_unknown_module_is_refused_naming_what_is_missing(
    tiny_models: Path, tmp_path: Path
) -> None:
    from deforum_blender.core.errors import DeforumInputError

    with pytest.raises(DeforumInputError, match=r"cn_1\.module: 'hed' needs the controlnet_aux"):
        unit_job(tiny_models, edge_image(tmp_path), cn_1_module="hed")


def test_the_check_names_every_units_missing_input_at_once(tmp_path: Path) -> None:
    from deforum_blender.core.errors import DeforumInputError
    from deforum_blender.core.overrides import apply_overrides
    from deforum_blender.engine.controlnet import ControlNets

    job = apply_overrides(
        Job(),
        {
            "max_frames": "2",
            **{f"cn_1_{k}": v for k, v in (("enabled", "true"), ("module", "scene_depth"))},
            **{f"cn_2_{k}": v for k, v in (("enabled", "true"), ("module", "scene_normal"))},
            "cn_1_model": "cn",
            "cn_2_model": "cn",
        },
    )
    units = ControlNets(job, tmp_path, 2, 0)
    with pytest.raises(DeforumInputError) as refused:
        units.check([0, 1])
    lines = str(refused.value).splitlines()
    assert lines[0] == "ControlNet units (2 problems):"
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["cn_1_module", "cn_2_module"]
    assert "'scene_depth' reads" in lines[1] and "'scene_normal' reads" in lines[2]
