"""Random-weight models of the real architectures, built from configs for the GPU scripts.

No weights can be downloaded on the device machine, so the timing models are the real
networks' configs with random weights (the same FLOPs and memory), saved in diffusers or
transformers layout and loaded back through the engine's own loaders. ``scale`` divides
every width (8: a toy of the same graph that runs on a CPU for ``--quick``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from deforum_blender.engine.tiny_models import byte_level_clip_tokenizer, sd_pipeline

#: SD-Turbo's UNet (an SD 2.1 UNet at 512 px): diffusers' ``attention_head_dim`` is the
#: number of heads per block here, as in SD 2.x's own config.
SD21_UNET = {
    "sample_size": 64,
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "cross_attention_dim": 1024,
    "attention_head_dim": (5, 10, 20, 20),
    "use_linear_projection": True,
    "norm_num_groups": 32,
}
#: SD 1.5's UNet.
SD15_UNET = {
    "sample_size": 64,
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
#: OpenCLIP ViT-H/14's text tower as SD 2.x ships it: 23 of its 24 layers (the penultimate
#: layer's output is what SD 2.x conditions on), GELU.
OPENCLIP_H_TEXT = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_attention_heads": 16,
    "num_hidden_layers": 23,
    "hidden_act": "gelu",
}
#: CLIP ViT-L/14's text tower (SD 1.x).
CLIP_L_TEXT = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "hidden_act": "quick_gelu",
}
#: Stable Diffusion's KL autoencoder.
SD_VAE = {
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "norm_num_groups": 32,
}
#: Depth Anything V2 Small: a DINOv2-small backbone (384 wide, 12 layers, 6 heads, patch 14)
#: and its DPT-style neck and head; the processor resizes to 518 px, as the released one does.
DEPTH_WIDTH, DEPTH_LAYERS, DEPTH_HEADS, DEPTH_SIDE = 384, 12, 6, 518
DEPTH_NECK, DEPTH_FUSION, DEPTH_HEAD = (48, 96, 192, 384), 64, 32


def _scaled(config: dict[str, Any], scale: int, keys: tuple[str, ...]) -> dict[str, Any]:
    """``config`` with the widths named by ``keys`` divided by ``scale``."""
    out = dict(config)
    for key in keys:
        value = out[key]
        out[key] = tuple(v // scale for v in value) if isinstance(value, tuple) else value // scale
    return out


def _text_encoder(config: dict[str, Any], tokenizer: Any, scale: int) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    sizes = _scaled(config, scale, ("hidden_size", "intermediate_size"))
    if scale > 1:  # the toy: few layers, heads of 16 or more channels
        sizes.update(num_hidden_layers=2, num_attention_heads=max(1, sizes["hidden_size"] // 32))
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **sizes,
        )
    )


def _unet(config: dict[str, Any], scale: int) -> Any:
    from diffusers import UNet2DConditionModel

    sizes = _scaled(config, scale, ("block_out_channels", "cross_attention_dim", "norm_num_groups"))
    return UNet2DConditionModel(**sizes)


def _kl_vae(scale: int) -> Any:
    from diffusers import AutoencoderKL

    sizes = _scaled(SD_VAE, scale, ("block_out_channels", "norm_num_groups"))
    return AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        sample_size=512,
        **sizes,
    )


def _tiny_vae(scale: int) -> Any:
    """``AutoencoderTiny`` with TAESD's config (diffusers' defaults are TAESD's)."""
    from diffusers import AutoencoderTiny

    width = 64 // scale
    return AutoencoderTiny(
        encoder_block_out_channels=(width,) * 4, decoder_block_out_channels=(width,) * 4
    )


def _save(pipe: Any, folder: Path, device: str) -> Path:
    import torch

    pipe.to(torch.float16 if device != "cpu" else torch.float32)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_sd15_sized(folder: Path, device: str, quick: bool) -> Path:
    """An SD 1.5-sized pipeline with random weights, saved in diffusers layout (fp16 on GPU)."""
    import torch

    scale = 8 if quick else 1
    tokenizer = byte_level_clip_tokenizer()
    torch.manual_seed(0)
    with torch.device(device):
        unet = _unet(SD15_UNET, scale)
        vae = _kl_vae(scale)
        text_encoder = _text_encoder(CLIP_L_TEXT, tokenizer, scale)
    pipe = sd_pipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer)
    return _save(pipe, folder, device)


def build_turbo_sized(folder: Path, device: str, quick: bool) -> dict[str, Path]:
    """SD-Turbo-sized pipelines with random weights, saved in diffusers layout: ``full`` (its
    KL VAE), ``tiny_vae`` (an ``AutoencoderTiny`` alone, for the ``vae: tiny`` setting) and
    ``tiny`` (a pipeline whose VAE is that ``AutoencoderTiny``; links to ``full``'s parts)."""
    import torch
    from diffusers import EulerDiscreteScheduler

    scale = 8 if quick else 1
    tokenizer = byte_level_clip_tokenizer()
    torch.manual_seed(1)
    with torch.device(device):
        unet = _unet(SD21_UNET, scale)
        text_encoder = _text_encoder(OPENCLIP_H_TEXT, tokenizer, scale)
        vae = _kl_vae(scale)
        tiny_vae = _tiny_vae(scale)
    pipe = sd_pipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer)
    # SD-Turbo's scheduler: Euler with "trailing" timesteps (a one-step call starts at t=999).
    pipe.scheduler = EulerDiscreteScheduler.from_config(
        pipe.scheduler.config, timestep_spacing="trailing"
    )
    full = _save(pipe, folder / "full", device)
    tiny_vae.to(torch.float16 if device != "cpu" else torch.float32)
    tiny_vae.save_pretrained(folder / "tiny_vae", safe_serialization=True)
    # The tiny-VAE pipeline: its own model_index.json, links to the rest and to the tiny VAE.
    tiny = folder / "tiny"
    tiny.mkdir(parents=True, exist_ok=True)
    for part in full.iterdir():
        if part.name != "model_index.json":
            source = folder / "tiny_vae" if part.name == "vae" else part
            os.symlink(source.resolve(), tiny / part.name, target_is_directory=source.is_dir())
    index = json.loads((full / "model_index.json").read_text(encoding="utf-8"))
    index["vae"] = ["diffusers", "AutoencoderTiny"]
    (tiny / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    return {"full": full, "tiny": tiny, "tiny_vae": folder / "tiny_vae"}


def _depth_model(scale: int) -> Any:
    """Depth Anything V2 Small's network (``scale`` 8: four layers, an eighth of the widths)."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    quick = scale > 1
    layers, hidden = (4, DEPTH_WIDTH // scale) if quick else (DEPTH_LAYERS, DEPTH_WIDTH)
    backbone: dict[str, Any] = {  # a dict: out_features is a keyword transformers takes
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": 2 if quick else DEPTH_HEADS,
        "patch_size": 14,
        "image_size": DEPTH_SIDE,
        "out_features": [f"stage{i}" for i in range(layers - 3, layers + 1)],
        "reshape_hidden_states": False,
    }
    config = DepthAnythingConfig(
        backbone_config=Dinov2Config(**backbone),
        patch_size=14,
        reassemble_hidden_size=hidden,
        neck_hidden_sizes=[n // scale for n in DEPTH_NECK],
        fusion_hidden_size=DEPTH_FUSION // scale,
        head_hidden_size=DEPTH_HEAD // scale,
        depth_estimation_type="relative",
    )
    return DepthAnythingForDepthEstimation(config)


def build_depth_anything_small(folder: Path, device: str, quick: bool) -> Path:
    """A Depth Anything V2 Small-sized depth model (random weights) with its processor, in
    transformers layout, float32 as the released checkpoint is."""
    import torch
    from transformers import DPTImageProcessor

    torch.manual_seed(2)
    with torch.device(device):
        model = _depth_model(8 if quick else 1)
    side = 28 if quick else DEPTH_SIDE
    processor = DPTImageProcessor(
        do_resize=True,
        size={"height": side, "width": side},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,  # bicubic, as the released processor
        do_normalize=True,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    model.save_pretrained(folder, safe_serialization=True)  # float32, built so
    processor.save_pretrained(folder)
    return folder


def networks(scale: int = 1) -> dict[str, Any]:
    """Every network the scripts build, by name, without saving (on ``torch.device("meta")``
    they cost nothing: the tests count their parameters)."""
    tokenizer = byte_level_clip_tokenizer()
    return {
        "sd21_unet": _unet(SD21_UNET, scale),
        "sd15_unet": _unet(SD15_UNET, scale),
        "openclip_h_text": _text_encoder(OPENCLIP_H_TEXT, tokenizer, scale),
        "clip_l_text": _text_encoder(CLIP_L_TEXT, tokenizer, scale),
        "kl_vae": _kl_vae(scale),
        "taesd": _tiny_vae(scale),
        "depth_anything_v2_small": _depth_model(scale),
    }
