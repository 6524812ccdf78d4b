"""Models through diffusers with the tiny SD model: load, share, seed, step, sample, refuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.samplers import SAMPLER_NAMES
from deforum_blender.engine.diffusion import (
    Cancelled,
    Diffuser,
    ModelOptions,
    checkpoint_architecture,
    file_sha256,
    load_diffuser,
    planned_steps,
    resolve_device,
    resolve_source,
)
from tests.helpers import run_python

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def diffuser(tiny_models: Path) -> Diffuser:
    return load_diffuser(str(tiny_models / "sd"), ModelOptions(device="cpu"))


@pytest.fixture(scope="module")
def first_frame(diffuser: Diffuser) -> np.ndarray:
    return diffuser.txt2img("a red hill", "", 1, 2, 7.0, 64, 64, "Euler a")


def _safetensors(path: Path, names: list[str]) -> Path:
    import torch
    from safetensors.torch import save_file

    save_file({name: torch.zeros(2) for name in names}, str(path))
    return path


# --- text to image and image to image ---------------------------------------------------------


def test_txt2img_is_a_64px_uint8_frame_decided_by_the_seed(diffuser: Diffuser) -> None:
    first = diffuser.txt2img("a red hill", "blurry", 11, 2, 7.0, 64, 64, "Euler a")
    again = diffuser.txt2img("a red hill", "blurry", 11, 2, 7.0, 64, 64, "Euler a")
    other_seed = diffuser.txt2img("a red hill", "blurry", 12, 2, 7.0, 64, 64, "Euler a")
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other_seed)
    wide = diffuser.txt2img("a red hill", "", 11, 1, 7.0, 96, 64, "Euler")
    assert wide.shape == (64, 96, 3)


def test_img2img_is_deterministic_and_the_prompt_matters(
    diffuser: Diffuser, first_frame: np.ndarray
) -> None:
    def run(prompt: str, seed: int) -> np.ndarray:
        return diffuser.img2img(first_frame, prompt, "", seed, 4, 7.0, 0.5, "Euler a")

    np.testing.assert_array_equal(run("a red hill", 5), run("a red hill", 5))
    assert not np.array_equal(run("a red hill", 5), run("a red hill", 6))
    assert not np.array_equal(run("a red hill", 5), run("the sea at night", 5))


def test_noise_multiplier_scales_only_the_initial_img2img_noise(
    diffuser: Diffuser, first_frame: np.ndarray
) -> None:
    def run(multiplier: float) -> np.ndarray:
        return diffuser.img2img(
            first_frame, "a red hill", "", 5, 4, 7.0, 0.5, "Euler", noise_multiplier=multiplier
        )

    plain = diffuser.img2img(first_frame, "a red hill", "", 5, 4, 7.0, 0.5, "Euler")
    np.testing.assert_array_equal(run(1.0), plain)
    assert not np.array_equal(run(1.5), plain)
    np.testing.assert_array_equal(run(1.5), run(1.5))
    # The multiplier lives on the call's own scheduler: the next call is unaffected.
    np.testing.assert_array_equal(
        diffuser.img2img(first_frame, "a red hill", "", 5, 4, 7.0, 0.5, "Euler"), plain
    )


@pytest.mark.parametrize(
    ("steps", "denoise", "expected"),
    [(25, 0.35, 9), (25, 0.4, 11), (10, 1.0, 10), (25, 0.04, 2), (20, 0.5, 11), (7, 0.3, 3)],
)
def test_img2img_runs_a1111s_int_of_steps_times_denoise_plus_one_sampler_steps(
    diffuser: Diffuser, first_frame: np.ndarray, steps: int, denoise: float, expected: int
) -> None:
    calls: list[tuple[int, int]] = []
    diffuser.img2img(
        first_frame,
        "a hill",
        "",
        3,
        steps,
        7.0,
        denoise,
        "Euler",
        step_callback=lambda done, total: calls.append((done, total)),
    )
    assert planned_steps(steps, denoise) == expected
    assert calls == [(i, expected) for i in range(1, expected + 1)]


def test_denoise_zero_runs_no_diffusion_and_returns_the_frame(
    diffuser: Diffuser, first_frame: np.ndarray
) -> None:
    calls: list[int] = []
    out = diffuser.img2img(
        first_frame, "a hill", "", 3, 25, 7.0, 0.0, "Euler", lambda done, total: calls.append(done)
    )
    np.testing.assert_array_equal(out, first_frame)
    assert out is not first_frame and calls == []


def test_planned_steps_count_as_a1111_and_name_bad_values() -> None:
    assert planned_steps(25, 1 - 0.65) == 9  # int(8.75) + 1
    assert planned_steps(25, 1 - 0.6) == 11  # a whole product still gets the extra step
    assert planned_steps(30, 1 - 0.65) == 11  # int(10.5) + 1
    assert planned_steps(25, 1 - 0.8) == 5  # 1 − 0.8 is 0.19999…: A1111's float, not 6
    assert planned_steps(25, 1.0) == 25  # min(d, 0.999): never more than steps
    assert planned_steps(1, 0.01) == 1
    with pytest.raises(DeforumInputError, match="strength"):
        planned_steps(25, 1.2)
    with pytest.raises(DeforumInputError, match="steps"):
        planned_steps(0, 0.5)


def test_a_step_callback_can_cancel_after_the_current_step(
    diffuser: Diffuser, first_frame: np.ndarray
) -> None:
    seen: list[int] = []

    def cancel_at_two(done: int, total: int) -> None:
        seen.append(done)
        if done == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        diffuser.img2img(first_frame, "a hill", "", 1, 10, 7.0, 1.0, "Euler", cancel_at_two)
    assert seen == [1, 2]
    with pytest.raises(Cancelled):
        diffuser.txt2img("a hill", "", 1, 10, 7.0, 64, 64, "Euler", cancel_at_two)
    # The model is still usable afterwards.
    assert diffuser.txt2img("a hill", "", 1, 1, 7.0, 64, 64, "Euler").shape == (64, 64, 3)


def test_sizes_that_are_not_multiples_of_8_name_the_field(
    diffuser: Diffuser, first_frame: np.ndarray
) -> None:
    with pytest.raises(DeforumInputError, match="W: 60 is not a multiple of 8"):
        diffuser.txt2img("a", "", 1, 1, 7.0, 60, 64, "Euler")
    with pytest.raises(DeforumInputError, match="H: 63"):
        diffuser.img2img(first_frame[:63], "a", "", 1, 2, 7.0, 0.5, "Euler")


def test_tiling_makes_the_unet_and_vae_wrap_around_the_edges(diffuser: Diffuser) -> None:
    import torch

    pipe = diffuser.txt2img_pipe
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    factor = pipe.vae_scale_factor

    def shifted_by_decoding(tiling: bool) -> float:
        """How far decoding a rolled latent is from rolling the decoded image."""
        diffuser.set_tiling(tiling)
        with torch.no_grad():
            image = pipe.vae.decode(latents).sample
            rolled = pipe.vae.decode(torch.roll(latents, 3, dims=3)).sample
        return float((rolled - torch.roll(image, 3 * factor, dims=3)).abs().max())

    def unet_shift(tiling: bool) -> float:
        diffuser.set_tiling(tiling)
        text = torch.zeros(1, 4, pipe.text_encoder.config.hidden_size)
        with torch.no_grad():
            out = pipe.unet(latents, 10, encoder_hidden_states=text).sample
            rolled = pipe.unet(torch.roll(latents, 4, dims=2), 10, encoder_hidden_states=text)
        return float((rolled.sample - torch.roll(out, 4, dims=2)).abs().max())

    try:
        assert shifted_by_decoding(True) < 1e-4 and unet_shift(True) < 1e-4
        assert shifted_by_decoding(False) > 1e-2 and unet_shift(False) > 1e-2
    finally:
        diffuser.set_tiling(False)


# --- loading and sharing -------------------------------------------------------------------


def test_img2img_shares_every_component_with_txt2img(diffuser: Diffuser) -> None:
    text, image = diffuser.txt2img_pipe, diffuser.img2img_pipe
    assert type(text).__name__ == "StableDiffusionPipeline"
    assert type(image).__name__ == "StableDiffusionImg2ImgPipeline"
    for name in ("unet", "vae", "text_encoder", "tokenizer"):
        assert getattr(image, name) is getattr(text, name)
    assert diffuser.device == "cpu" and str(diffuser.dtype) == "torch.float32"
    assert getattr(text, "safety_checker", None) is None


def test_a_second_load_of_the_same_model_is_the_same_object(
    tiny_models: Path, diffuser: Diffuser
) -> None:
    same = load_diffuser(str(tiny_models / "sd" / "."), ModelOptions(device="cpu"))
    assert same is diffuser
    sliced = load_diffuser(
        str(tiny_models / "sd"), ModelOptions(device="cpu", attention_slicing=True)
    )
    assert sliced is not diffuser
    assert sliced.txt2img_pipe.unet is not diffuser.txt2img_pipe.unet
    assert (
        load_diffuser(str(tiny_models / "sd"), ModelOptions(device="cpu", attention_slicing=True))
        is sliced
    )


def test_auto_device_is_cuda_only_when_torch_sees_a_gpu() -> None:
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("CPU") == "cpu"
    with pytest.raises(DeforumInputError, match="device: unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeforumInputError, match="sees no CUDA GPU"):
            resolve_device("cuda")


def test_auto_device_reads_a_cpu_build_of_torch_from_its_version_without_importing_it() -> None:
    from importlib import metadata

    code = (
        "import sys\n"
        "from deforum_blender.engine.diffusion import cpu_only_torch, resolve_device\n"
        "print(cpu_only_torch(), resolve_device('auto'), 'torch' in sys.modules)\n"
    )
    cpu_build = metadata.version("torch").endswith("+cpu")
    done = run_python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    only, device, imported = done.stdout.split()
    assert only == str(cpu_build) and imported == str(not cpu_build)
    assert device == "cpu" or not cpu_build


# --- samplers ----------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
def test_every_sampler_runs_one_img2img_step_on_the_tiny_model(
    diffuser: Diffuser, first_frame: np.ndarray, sampler: str
) -> None:
    from deforum_blender.engine.samplers import SCHEDULERS

    calls: list[int] = []
    out = diffuser.img2img(
        first_frame, "a hill", "", 4, 4, 7.0, 0.2, sampler, lambda done, total: calls.append(total)
    )
    assert out.shape == first_frame.shape and out.dtype == np.uint8
    assert not np.array_equal(out, first_frame)
    assert type(diffuser.img2img_pipe.scheduler).__name__ == SCHEDULERS[sampler][0]
    for key, value in SCHEDULERS[sampler][1].items():
        assert diffuser.img2img_pipe.scheduler.config[key] == value
    # int(0.2 × 4) + 1 = one sampler step; PLMS repeats its first timestep to warm up its
    # multistep history.
    assert calls[-1] == (2 if sampler == "PLMS" else 1)


def test_sampler_names_are_case_insensitive_and_keep_the_models_betas(diffuser: Diffuser) -> None:
    diffuser.txt2img("a", "", 1, 1, 7.0, 64, 64, "k_dpmpp_2m_ka")
    scheduler = diffuser.txt2img_pipe.scheduler
    assert type(scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert scheduler.config.use_karras_sigmas is True
    assert scheduler.config.beta_schedule == "scaled_linear"
    assert scheduler.config.beta_end == pytest.approx(0.012)


def test_an_unknown_sampler_lists_the_known_ones(diffuser: Diffuser) -> None:
    with pytest.raises(DeforumInputError) as caught:
        diffuser.txt2img("a", "", 1, 1, 7.0, 64, 64, "Euler b")
    assert "sampler: unknown sampler 'Euler b'" in str(caught.value)
    assert "DPM++ 2M Karras" in str(caught.value) and "UniPC" in str(caught.value)


# --- sources, refusals and checks ----------------------------------------------------------


def test_pickle_checkpoints_are_refused_unless_allowed(tmp_path: Path) -> None:
    import torch

    checkpoint = tmp_path / "model.ckpt"
    torch.save(
        {"state_dict": {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1)}},
        checkpoint,
    )
    with pytest.raises(DeforumInputError) as caught:
        load_diffuser(str(checkpoint))
    assert "model.ckpt" in str(caught.value) and "allow_pickle" in str(caught.value)
    assert "arbitrary code" in str(caught.value)
    assert resolve_source(str(checkpoint), allow_pickle=True).kind == "single_file"
    # Allowed pickles are still read with torch's weights-only loader.
    assert checkpoint_architecture(checkpoint) == "sd"


def test_single_file_checkpoints_are_told_apart_by_their_weights(tmp_path: Path) -> None:
    sd = _safetensors(tmp_path / "sd15.safetensors", ["model.diffusion_model.out.0.weight"])
    sdxl = _safetensors(
        tmp_path / "sdxl.safetensors",
        ["model.diffusion_model.out.0.weight", "conditioner.embedders.1.model.ln_final.weight"],
    )
    lora = _safetensors(tmp_path / "lora.safetensors", ["lora_unet_down_blocks_0.alpha"])
    assert resolve_source(str(sd)).kind == "single_file"
    assert checkpoint_architecture(sd) == "sd"
    assert checkpoint_architecture(sdxl) == "sdxl"
    with pytest.raises(DeforumInputError, match="not a full Stable Diffusion checkpoint"):
        load_diffuser(str(lora), ModelOptions(device="cpu"))
    not_safetensors = tmp_path / "broken.safetensors"
    not_safetensors.write_bytes(b"not a checkpoint")
    with pytest.raises(DeforumInputError, match="not a readable checkpoint"):
        load_diffuser(str(not_safetensors), ModelOptions(device="cpu"))


def test_a_wrong_sha256_stops_the_load_with_both_hashes(tmp_path: Path) -> None:
    checkpoint = _safetensors(
        tmp_path / "model.safetensors", ["model.diffusion_model.out.0.weight"]
    )
    actual = file_sha256(checkpoint)
    wrong = "0" * 64
    with pytest.raises(DeforumInputError) as caught:
        load_diffuser(str(checkpoint), ModelOptions(device="cpu", sha256=wrong))
    message = str(caught.value)
    assert message.startswith("model_sha256:") and actual in message and wrong in message


def test_a_hash_check_needs_a_single_file(tiny_models: Path) -> None:
    with pytest.raises(DeforumInputError, match="needs a single-file checkpoint"):
        load_diffuser(str(tiny_models / "sd"), ModelOptions(device="cpu", sha256="ab" * 32))


def test_missing_paths_and_non_pipeline_folders_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(DeforumInputError, match="no such file or folder"):
        resolve_source(str(tmp_path / "models" / "nothing.safetensors"))
    with pytest.raises(DeforumInputError, match=r"no model_index\.json"):
        resolve_source(str(tmp_path))
    (tmp_path / "model.gguf").write_bytes(b"x")
    with pytest.raises(DeforumInputError, match="not a checkpoint this loader reads"):
        resolve_source(str(tmp_path / "model.gguf"))
    assert resolve_source("stabilityai/sd-turbo").kind == "hub"


_OFFLINE_SCRIPT = """
import sys
from deforum_blender.core.errors import DeforumInputError
from deforum_blender.engine.diffusion import ModelOptions, load_diffuser
try:
    load_diffuser(sys.argv[1], ModelOptions(device="cpu", sha256=sys.argv[2] or None))
except DeforumInputError as error:
    print(error)
    raise SystemExit(2)
raise SystemExit(0)
"""


def test_a_missing_hub_model_offline_says_which_id_where_and_how_to_get_it(tmp_path: Path) -> None:
    home = tmp_path / "hf_home"
    home.mkdir()
    result = run_python(
        _OFFLINE_SCRIPT,
        "nobody-here/no-such-model",
        "",
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(home)},
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    message = result.stdout.strip()
    assert "'nobody-here/no-such-model'" in message
    assert str(home) in message  # the cache it looked in
    assert "HF_HUB_OFFLINE=1" in message
    assert "hf download nobody-here/no-such-model" in message


def test_a_single_file_checkpoint_offline_without_configs_explains_the_fix(tmp_path: Path) -> None:
    # diffusers has no diffusers→original converter to build a loadable tiny checkpoint from,
    # so this pins the failure path: offline, no cached configs → a message with the fix.
    checkpoint = _safetensors(
        tmp_path / "model.safetensors", ["model.diffusion_model.out.0.weight"]
    )
    home = tmp_path / "hf_home"
    home.mkdir()
    result = run_python(
        _OFFLINE_SCRIPT,
        str(checkpoint),
        file_sha256(checkpoint),
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(home)},
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    message = result.stdout.strip()
    assert "single-file checkpoint" in message and "model.safetensors" in message
    assert "single_file_config" in message
