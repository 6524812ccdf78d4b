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
from deforum_blender.engine.tiny_models import byte_level_clip_tokenizer, tiny_job
from tests.helpers import run_json

pytestmark = pytest.mark.slow

SEED = 11
TEXT_WIDTH = 32  # each of SDXL's two text encoders; the UNet sees both: 64


def build_tiny_sdxl(folder: Path) -> Path:
    """Write a tiny SDXL pipeline (two CLIP encoders, text-time embedding) to ``folder``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = byte_level_clip_tokenizer()
    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + TEXT_WIDTH,  # time ids + pooled text
        cross_attention_dim=2 * TEXT_WIDTH,
        norm_num_groups=8,
    )
    torch.manual_seed(SEED + 1)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=64,
    )
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=TEXT_WIDTH,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        projection_dim=TEXT_WIDTH,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(SEED + 2)
    text_encoder = CLIPTextModel(config)
    text_encoder_2 = CLIPTextModelWithProjection(config)
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_tiny_sdxl_controlnet(sdxl: Path, folder: Path) -> Path:
    """Write a random-weight ControlNet made from the tiny SDXL UNet (as tiny_models does)."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(sdxl / "unet")
    torch.manual_seed(SEED + 3)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 8, 8))
    with torch.no_grad():  # from_unet zeroes these: random ones make the unit visible
        for block in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
            torch.nn.init.normal_(block.weight, std=0.5)
    controlnet.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def sdxl_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_sdxl")
    build_tiny_sdxl(folder / "sdxl")
    build_tiny_sdxl_controlnet(folder / "sdxl", folder / "controlnet")
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
