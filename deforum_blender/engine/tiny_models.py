"""Tiny random-weight models for tests and the offline demo, built from configs.

``DIR/sd`` is a Stable Diffusion 1.x pipeline in diffusers layout (UNet, VAE with
SD's 8× latent factor, CLIP text encoder, a locally built CLIP tokenizer, the
"Euler a" scheduler); ``DIR/depth`` is a DPT depth-estimation model in
transformers layout; ``DIR/upscaler`` holds Real-ESRGAN-style ×2 and ×4 upscalers as
single ``.safetensors`` files (spandrel loads them as it loads the published ones).
Weights come from a fixed seed, so every run writes
byte-identical files, and both load through the standard ``from_pretrained`` paths.
:func:`tiny_job` is the small job that tests, ``bench`` and ``scripts/gpu_check.py`` run
on them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..core.job import Job
from ..core.overrides import apply_overrides

SEED = 20261126
TEXT_WIDTH = 32
# CLIP's byte-level BPE with no merges: every byte is a token, alone or ending a word.
_SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")
#: The tiny job, as ``--set`` takes it: 64×64, 5 frames of 3D motion, 4 steps, flat depth.
TINY_JOB_SETTINGS = {
    "W": "64",
    "H": "64",
    "max_frames": "5",
    "seed": "1234",
    "steps_schedule": "0: (4)",
    "depth_source": "flat",
    "translation_z": "0: (2)",
    "rotation_3d_y": "0: (0.5)",
    "make_video": "false",
}

#: The tiny upscalers in ``DIR/upscaler``, by scale, named as Real-ESRGAN's releases.
TINY_UPSCALERS = {
    2: "tiny-RealESRGAN_x2plus.safetensors",
    4: "tiny-RealESRGAN_x4plus.safetensors",
}


def _byte_alphabet() -> list[str]:
    """The printable stand-ins CLIP's byte-level BPE uses for the 256 byte values."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for byte in range(256):
        if byte in printable:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def byte_level_clip_tokenizer() -> Any:
    """A CLIP tokenizer built locally: byte-level vocabulary, no merges, 77 tokens."""
    from transformers import CLIPTokenizer

    alphabet = _byte_alphabet()
    tokens = alphabet + [c + "</w>" for c in alphabet] + list(_SPECIAL_TOKENS)
    return CLIPTokenizer(
        vocab={token: index for index, token in enumerate(tokens)},
        merges=[],
        model_max_length=77,
    )


def _euler_a() -> Any:
    """Stable Diffusion's "Euler a" scheduler (SD 1.x and SDXL share its betas)."""
    from diffusers import EulerAncestralDiscreteScheduler

    return EulerAncestralDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
    )


def _tiny_kl_vae() -> Any:
    """A tiny AutoencoderKL with SD's 8× latent factor and 4 latent channels."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
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


def _tiny_text_config(tokenizer: Any, **extra: Any) -> Any:
    """A two-layer CLIP text tower :data:`TEXT_WIDTH` wide for the byte-level tokenizer."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=TEXT_WIDTH,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


def sd_pipeline(*, unet: Any, vae: Any, text_encoder: Any, tokenizer: Any) -> Any:
    """A Stable Diffusion 1.x pipeline from its parts, with SD's "Euler a" scheduler."""
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=_euler_a(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_tiny_sd(folder: Path) -> Path:
    """Write a tiny Stable Diffusion 1.x pipeline (64×64 img2img in well under a second)."""
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    tokenizer = byte_level_clip_tokenizer()
    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    torch.manual_seed(SEED + 1)
    vae = _tiny_kl_vae()
    torch.manual_seed(SEED + 2)
    text_encoder = CLIPTextModel(_tiny_text_config(tokenizer))
    pipe = sd_pipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_tiny_sdxl(folder: Path, seed: int = SEED) -> Path:
    """Write a tiny SDXL pipeline (two CLIP encoders, text-time embedding) to ``folder``."""
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = byte_level_clip_tokenizer()
    torch.manual_seed(seed)
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
    torch.manual_seed(seed + 1)
    vae = _tiny_kl_vae()
    config = _tiny_text_config(tokenizer, projection_dim=TEXT_WIDTH)
    torch.manual_seed(seed + 2)
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(config),
        text_encoder_2=CLIPTextModelWithProjection(config),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=_euler_a(),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_tiny_depth(folder: Path) -> Path:
    """Write a tiny DPT depth-estimation model with its image processor."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    torch.manual_seed(SEED + 3)
    config = DPTConfig(
        image_size=32,
        patch_size=16,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=16,
        reassemble_factors=[4, 2, 1, 0.5],
        head_in_index=-1,
        is_hybrid=False,
    )
    model = DPTForDepthEstimation(config)
    processor = DPTImageProcessor(
        do_resize=True,
        size={"height": 32, "width": 32},
        keep_aspect_ratio=False,
        ensure_multiple_of=16,
    )
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder


def build_tiny_controlnet(sd: Path, folder: Path, seed: int = SEED + 4) -> Path:
    """Write a tiny random-weight ControlNet matching the tiny UNet in ``sd`` (SD or SDXL)."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(sd / "unet")
    torch.manual_seed(seed)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 8, 8))
    # from_unet zeroes the output convolutions (a fresh ControlNet changes nothing); random
    # ones make the tiny unit's effect visible in tests.
    with torch.no_grad():
        for block in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
            torch.nn.init.normal_(block.weight, std=0.5)
    controlnet.save_pretrained(folder, safe_serialization=True)
    return folder


def build_tiny_taesd(folder: Path) -> Path:
    """Write a tiny random-weight ``AutoencoderTiny`` for the tiny UNet's latents, saved as
    madebyollin/taesd is published (config.json and diffusion_pytorch_model.safetensors)."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(SEED + 5)
    vae = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),  # four blocks: SD's 8× latent factor
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    )
    vae.save_pretrained(folder, safe_serialization=True)
    return folder


def make_tiny_models(out_dir: Path) -> dict[str, Path]:
    """Write ``out_dir/sd``, ``out_dir/depth``, ``out_dir/lora/tiny.safetensors`` (a LoRA
    for the tiny UNet), ``out_dir/embeddings/tinyword.safetensors`` (a two-vector
    textual inversion embedding), ``out_dir/controlnet`` (a ControlNet for the tiny
    UNet), ``out_dir/taesd`` (a tiny AutoencoderTiny), ``out_dir/upscaler`` (tiny ×2 and ×4
    Real-ESRGANs, :data:`TINY_UPSCALERS`) and ``out_dir/interpolator/flownet.safetensors``
    (a tiny RIFE v4.6); returns their paths."""
    from .lora import build_tiny_lora
    from .rife import build_tiny_rife
    from .textual_inversion import build_tiny_embedding
    from .upscale import build_tiny_esrgan

    sd = build_tiny_sd(out_dir / "sd")
    return {
        "sd": sd,
        "depth": build_tiny_depth(out_dir / "depth"),
        **{
            f"upscaler_x{scale}": build_tiny_esrgan(out_dir / "upscaler" / name, scale)
            for scale, name in TINY_UPSCALERS.items()
        },
        "lora": build_tiny_lora(sd, out_dir / "lora" / "tiny.safetensors"),
        "controlnet": build_tiny_controlnet(sd, out_dir / "controlnet"),
        "tiny_vae": build_tiny_taesd(out_dir / "taesd"),
        "embedding": build_tiny_embedding(
            out_dir / "embeddings" / "tinyword.safetensors", TEXT_WIDTH
        ),
        # RIFE v4.6 with 8 channels a block, saved under flownet.pkl's key names.
        "interpolator": build_tiny_rife(out_dir / "interpolator" / "flownet.safetensors", SEED + 8),
    }


def tiny_job(models: Path, device: str = "cpu", **settings: str) -> Job:
    """The tiny job on the tiny models in ``models`` (``make_tiny_models``' folder), with
    ``settings`` (``--set`` keys and values) over :data:`TINY_JOB_SETTINGS`: fast on one
    CPU core."""
    base = {**TINY_JOB_SETTINGS, "depth_model": str(Path(models) / "depth")}
    job = apply_overrides(Job(), {**base, **settings})
    model = dataclasses.replace(job.model, id=str(Path(models) / "sd"))
    return dataclasses.replace(job, device=device, model=model)
