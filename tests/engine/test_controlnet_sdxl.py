"""The SDXL ControlNet path: a tiny SDXL pipeline and a tiny SDXL ControlNet, built here.

diffusers picks the SDXL ControlNet pipelines (img2img, and text-to-image for a first
frame) from the loaded SDXL components; a unit must change the frames, a weight of 0
must leave them as without the unit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.engine.frames import read_frame
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import build_tiny_controlnet, build_tiny_sdxl, tiny_job
from tests.helpers import run_json

pytestmark = pytest.mark.slow

SEED = 11


@pytest.fixture(scope="module")
def sdxl_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_sdxl")
    build_tiny_sdxl(folder / "sdxl", SEED)
    build_tiny_controlnet(folder / "sdxl", folder / "controlnet", SEED + 3)
    return folder


def edges(folder: Path) -> Path:
    import cv2

    image = np.zeros((64, 64, 3), dtype=np.uint8)
    image[12:40, 20:52] = 255
    path = folder / "edges.png"
    cv2.imwrite(str(path), image)
    return path


def sdxl_render(models: Path, tiny: Path, out: Path, **unit: str) -> list[np.ndarray[Any, Any]]:
    settings = {"max_frames": "3", "diffusion_cadence": "1", **unit}
    job = tiny_job(tiny, **settings)
    job = type(job).from_dict({**job.to_dict(), "model": {"id": str(models / "sdxl")}})
    render(job, out)
    assert run_json(out)["architecture"] == "StableDiffusionXLPipeline"
    return [read_frame(p) for p in sorted((out / "frames").glob("frame_*.png"))]


def test_an_sdxl_controlnet_unit_guides_the_frames_and_weight_0_leaves_them(
    sdxl_models: Path, tiny_models: Path, tmp_path: Path
) -> None:
    unit = {
        "cn_1_enabled": "true",
        "cn_1_module": "canny",
        "cn_1_vid_path": str(edges(tmp_path)),
        "cn_1_model": str(sdxl_models / "controlnet"),
        "cn_1_threshold_a": "100",
        "cn_1_threshold_b": "200",
    }
    plain = sdxl_render(sdxl_models, tiny_models, tmp_path / "plain")
    zero = sdxl_render(sdxl_models, tiny_models, tmp_path / "zero", **unit, cn_1_weight="0:(0)")
    one = sdxl_render(sdxl_models, tiny_models, tmp_path / "one", **unit)
    assert len(plain) == len(zero) == len(one) == 3
    for a, b in zip(plain, zero, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    # Every frame, the text-to-image first one included, changes under the unit.
    for a, b in zip(plain, one, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() > 1
    assert sorted(run_json(tmp_path / "one")["controlnet"]["cn_1"]["frames"]) == ["1", "2", "3"]
