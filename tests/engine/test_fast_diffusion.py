"""The diffusion call without overhead: cached schedules and prompts, frames as tensors, the
tiny VAE and one-step schedules, on the tiny model on the CPU (fp32)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.engine.diffusion import (
    Diffuser,
    ModelOptions,
    _diffusers_strength,
    _seeded_generator,
    load_diffuser,
    load_tiny_vae,
    planned_steps,
)
from deforum_blender.engine.samplers import make_scheduler


@pytest.fixture(scope="module")
def diffuser(tiny_models: Path) -> Diffuser:
    return load_diffuser(str(tiny_models / "sd"), ModelOptions(device="cpu"))


@pytest.fixture(scope="module")
def frame(diffuser: Diffuser) -> np.ndarray:
    return diffuser.txt2img("a red hill", "", 1, 2, 7.0, 64, 64, "Euler a")


class _FreshSchedulers:
    """What every call did before the cache: a new scheduler, its timesteps computed anew."""

    def __init__(self, diffuser: Diffuser) -> None:
        self.config = diffuser.txt2img_pipe.scheduler.config

    def get(self, name: str, noise_multiplier: float = 1.0) -> Any:
        scheduler = make_scheduler(name, self.config)
        add_noise = scheduler.add_noise

        def scaled(original: Any, noise: Any, timesteps: Any) -> Any:
            return add_noise(original, noise * noise_multiplier, timesteps)

        if noise_multiplier != 1.0:
            scheduler.add_noise = scaled
        return scheduler


def _before_this_change(
    diffuser: Diffuser, image: np.ndarray, prompt: str, seed: int, steps: int, denoise: float
) -> np.ndarray:
    """img2img as the engine called diffusers before: a PIL image, the prompt as text, a
    fresh scheduler and diffusers' float numpy output rounded to uint8."""
    from PIL import Image

    pipe = diffuser.img2img_pipe
    pipe.scheduler = make_scheduler("Euler a", diffuser.txt2img_pipe.scheduler.config)
    result = pipe(
        prompt=prompt,
        negative_prompt=None,
        image=Image.fromarray(image),
        strength=_diffusers_strength(steps, planned_steps(steps, denoise)),
        num_inference_steps=steps,
        guidance_scale=7.0,
        generator=_seeded_generator(seed),
        output_type="np",
    )
    array = np.asarray(result.images[0], dtype=np.float32)
    return np.asarray(np.clip(np.rint(array * 255.0), 0, 255), dtype=np.uint8)


# --- the same frames, less work --------------------------------------------------------------


def test_a_numpy_frame_comes_out_bitwise_as_diffusers_own_text_and_pil_path_made_it(
    diffuser: Diffuser, frame: np.ndarray
) -> None:
    # A frame in a planar memory layout (as diffusers' numpy output is) counts as its values.
    planar = np.ascontiguousarray(frame.transpose(2, 0, 1)).transpose(1, 2, 0)
    for image in (frame, planar):
        ours = diffuser.img2img(image, "a hill", "", 4, 4, 7.0, 0.35, "Euler a")
        np.testing.assert_array_equal(
            ours, _before_this_change(diffuser, frame, "a hill", 4, 4, 0.35)
        )


# Samplers with each kind of state: single-step, multistep history, derivatives, second order.
@pytest.mark.parametrize("sampler", ["Euler a", "DPM++ 2M Karras", "LMS", "Heun", "PLMS", "UniPC"])
def test_the_scheduler_cache_gives_bitwise_the_frames_of_fresh_schedulers(
    diffuser: Diffuser, frame: np.ndarray, sampler: str
) -> None:
    calls = [(4, 7.0, 0.35, 1.05), (6, 0.0, 0.5, 1.0), (4, 7.0, 0.35, 1.05)]

    def run() -> list[np.ndarray]:
        return [
            diffuser.img2img(frame, "a hill", "", 9, steps, cfg, d, sampler, noise_multiplier=m)
            for steps, cfg, d, m in calls
        ] + [diffuser.txt2img("a hill", "", 9, 3, 7.0, 64, 64, sampler)]

    cached = run()
    cache = diffuser._schedulers
    diffuser._schedulers = _FreshSchedulers(diffuser)  # type: ignore[assignment]
    try:
        fresh = run()
    finally:
        diffuser._schedulers = cache
    for ours, theirs in zip(cached, fresh, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert cache.get(sampler) is cache.get(sampler), "one scheduler per sampler"


def test_a_prompt_is_encoded_once_for_many_frames(diffuser: Diffuser, frame: np.ndarray) -> None:
    encoder = diffuser.txt2img_pipe.text_encoder
    seen: list[int] = []
    hook = encoder.register_forward_hook(lambda *args: seen.append(1))
    try:
        for seed in range(3):
            diffuser.img2img(frame, "a once encoded hill", "fog", seed, 4, 7.0, 0.35, "Euler a")
    finally:
        hook.remove()
    assert len(seen) == 2  # the prompt and its negative, on the first frame only


def test_cfg_zero_runs_no_negative_pass(diffuser: Diffuser, frame: np.ndarray) -> None:
    batches: list[int] = []
    unet = diffuser.txt2img_pipe.unet
    hook = unet.register_forward_hook(lambda module, args, out: batches.append(args[0].shape[0]))
    try:
        diffuser.img2img(frame, "a hill", "", 4, 2, 0.0, 0.35, "Euler a")
        diffuser.img2img(frame, "a hill", "", 4, 2, 7.0, 0.35, "Euler a")
    finally:
        hook.remove()
    assert batches == [1, 2]


# --- frames as tensors -----------------------------------------------------------------------


def test_a_tensor_frame_gives_the_numpy_frame_within_one_grey_level_and_stays_a_tensor(
    diffuser: Diffuser, frame: np.ndarray
) -> None:
    import torch

    as_array = diffuser.img2img(frame, "a hill", "", 4, 4, 7.0, 0.35, "Euler a")
    as_tensor = diffuser.img2img(torch.from_numpy(frame), "a hill", "", 4, 4, 7.0, 0.35, "Euler a")
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.dtype == torch.uint8
    assert tuple(as_tensor.shape) == (64, 64, 3) and as_tensor.device.type == "cpu"
    difference = np.abs(as_tensor.numpy().astype(int) - as_array.astype(int))
    assert difference.max() <= 1
    unchanged = diffuser.img2img(torch.from_numpy(frame), "a", "", 4, 4, 7.0, 0.0, "Euler a")
    assert isinstance(unchanged, torch.Tensor) and torch.equal(unchanged, torch.from_numpy(frame))


def test_a_frame_that_is_not_uint8_rgb_is_refused(diffuser: Diffuser) -> None:
    import torch

    images: list[Any] = [
        np.zeros((64, 64, 3), np.float32),
        torch.zeros(64, 64, 4, dtype=torch.uint8),
    ]
    for image in images:
        with pytest.raises(ValueError, match="uint8 H×W×3"):
            diffuser.img2img(image, "a", "", 1, 4, 7.0, 0.5, "Euler")


# --- one step ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def turbo_like(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with SD-Turbo's schedule: timesteps spaced from the end ("trailing")."""
    folder = tmp_path_factory.mktemp("turbo") / "sd"
    shutil.copytree(tiny_models / "sd", folder)
    config_path = folder / "scheduler" / "scheduler_config.json"
    config = json.loads(config_path.read_text())
    config["timestep_spacing"] = "trailing"
    config_path.write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("sampler", ["Euler a", "Euler", "LCM"])
def test_a_one_step_frame_starts_half_way_down_a_trailing_two_step_schedule(
    turbo_like: Path, tiny_models: Path, sampler: str
) -> None:
    options = ModelOptions(device="cpu", tiny_vae=str(tiny_models / "taesd"))
    turbo = load_diffuser(str(turbo_like), options)
    first = turbo.txt2img("a hill", "", 3, 1, 0.0, 64, 64, sampler)
    steps: list[tuple[int, int]] = []
    out = turbo.img2img(
        first,
        "a hill",
        "",
        4,
        2,
        0.0,
        0.35,
        sampler,
        lambda done, total: steps.append((done, total)),
    )
    assert steps == [(1, 1)] and out.shape == (64, 64, 3)
    scheduler = turbo.img2img_pipe.scheduler
    assert scheduler.begin_index == 1
    assert [int(t) for t in scheduler.timesteps][-1] == 499 or sampler == "LCM"
    assert not np.array_equal(out, first)


# --- the tiny VAE -----------------------------------------------------------------------------


def test_the_tiny_vae_is_saved_as_taesd_is_published_and_round_trips_a_frame(
    tiny_models: Path, frame: np.ndarray
) -> None:
    import torch

    folder = tiny_models / "taesd"
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "diffusion_pytorch_model.safetensors",
    ]
    vae = load_tiny_vae(str(folder), torch.float32)
    assert type(vae).__name__ == "AutoencoderTiny"
    pixels = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    with torch.no_grad():
        latents = vae.encode(pixels).latents
        decoded = vae.decode(latents).sample
    assert tuple(latents.shape) == (1, 4, 8, 8) and tuple(decoded.shape) == (1, 3, 64, 64)
    assert torch.isfinite(decoded).all()


def test_vae_tiny_replaces_the_models_vae_for_both_pipelines(
    tiny_models: Path, diffuser: Diffuser, frame: np.ndarray
) -> None:
    import torch

    tiny = load_diffuser(
        str(tiny_models / "sd"), ModelOptions(device="cpu", tiny_vae=str(tiny_models / "taesd"))
    )
    assert tiny is not diffuser
    for pipe in (tiny.txt2img_pipe, tiny.img2img_pipe):
        assert type(pipe.vae).__name__ == "AutoencoderTiny"
    assert type(diffuser.img2img_pipe.vae).__name__ == "AutoencoderKL"
    out = tiny.img2img(frame, "a hill", "", 4, 4, 7.0, 0.35, "Euler a")
    assert out.shape == (64, 64, 3) and not np.array_equal(
        out, diffuser.img2img(frame, "a hill", "", 4, 4, 7.0, 0.35, "Euler a")
    )
    on_device = tiny.img2img(torch.from_numpy(frame), "a hill", "", 4, 4, 7.0, 0.35, "Euler a")
    assert np.abs(on_device.numpy().astype(int) - out.astype(int)).max() <= 1


def test_a_tiny_vae_that_is_missing_or_not_a_vae_says_so(tiny_models: Path, tmp_path: Path) -> None:
    import torch

    with pytest.raises(DeforumInputError, match="tiny_vae: no such folder"):
        load_tiny_vae(str(tmp_path / "nowhere"), torch.float32)
    with pytest.raises(DeforumInputError, match=r"tiny_vae: folder .* has no config.json"):
        load_tiny_vae(str(tmp_path), torch.float32)
    with pytest.raises(DeforumInputError, match=r"tiny_vae: .* is not an AutoencoderTiny"):
        load_tiny_vae(str(tiny_models / "sd" / "vae"), torch.float32)


def test_lcm_lora_is_a_lora_in_the_prompt_with_the_lcm_sampler_at_one_step(
    turbo_like: Path, tiny_models: Path
) -> None:
    lcm = load_diffuser(str(turbo_like), ModelOptions(device="cpu"))
    first = lcm.txt2img("a hill", "", 3, 1, 1.0, 64, 64, "LCM")
    lcm.lora_dir = str(tiny_models / "lora")
    steps: list[int] = []
    try:
        with_lora = lcm.img2img(
            first, "a hill <lora:tiny:1>", "", 4, 2, 1.0, 0.35, "LCM", lambda d, t: steps.append(t)
        )
        without = lcm.img2img(first, "a hill", "", 4, 2, 1.0, 0.35, "LCM")
    finally:
        lcm.lora_dir = None
    assert steps == [1] and lcm.loras.weights == {"tiny": 0.0}
    assert not np.array_equal(with_lora, without)


def test_the_default_tiny_vae_becomes_the_sdxl_one_for_sdxl_models() -> None:
    from deforum_blender.core.job_fields import DEFAULT_TINY_VAE, TINY_VAE_XL
    from deforum_blender.engine.diffusion import tiny_vae_for

    class StableDiffusionXLPipeline:
        pass

    class StableDiffusionPipeline:
        pass

    assert tiny_vae_for(DEFAULT_TINY_VAE, StableDiffusionXLPipeline()) == TINY_VAE_XL
    assert tiny_vae_for(DEFAULT_TINY_VAE, StableDiffusionPipeline()) == DEFAULT_TINY_VAE
    assert tiny_vae_for(" /my/taesd ", StableDiffusionXLPipeline()) == "/my/taesd"
