"""Prompt weights, BREAK and long prompts encoded as the webui encodes them (tiny model)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from deforum_blender.core.job import Job
from deforum_blender.core.output_layout import frame_files
from deforum_blender.core.overrides import apply_overrides
from deforum_blender.engine.diffusion import Diffuser, ModelOptions, load_diffuser
from deforum_blender.engine.frames import read_frame
from deforum_blender.engine.prompt_encoding import CHUNK, encode_text, prompt_chunks
from deforum_blender.engine.render import render


@pytest.fixture(scope="module")
def diffuser(tiny_models: Path) -> Diffuser:
    return load_diffuser(str(tiny_models / "sd"), ModelOptions(device="cpu"))


def tokenizer_of(diffuser: Diffuser) -> Any:
    return diffuser.txt2img_pipe.tokenizer


def test_a_plain_prompt_is_one_chunk_wrapped_in_start_and_end_tokens(diffuser: Diffuser) -> None:
    tokenizer = tokenizer_of(diffuser)
    [(tokens, weights)] = prompt_chunks(tokenizer, "a cat")
    words = tokenizer("a cat", add_special_tokens=False)["input_ids"]
    assert len(tokens) == CHUNK + 2
    assert tokens[: len(words) + 2] == [tokenizer.bos_token_id, *words, tokenizer.eos_token_id]
    assert set(tokens[len(words) + 2 :]) == {tokenizer.pad_token_id}
    assert weights == [1.0] * (CHUNK + 2)


def test_weights_follow_their_tokens(diffuser: Diffuser) -> None:
    tokenizer = tokenizer_of(diffuser)
    [(_, weights)] = prompt_chunks(tokenizer, "a (cat:1.5)")
    a = len(tokenizer("a ", add_special_tokens=False)["input_ids"])
    cat = len(tokenizer("cat", add_special_tokens=False)["input_ids"])
    assert weights[1 : 1 + a] == [1.0] * a
    assert weights[1 + a : 1 + a + cat] == [1.5] * cat
    assert weights[1 + a + cat] == 1.0  # the end token


def test_break_and_long_prompts_start_new_chunks(diffuser: Diffuser) -> None:
    tokenizer = tokenizer_of(diffuser)
    assert len(prompt_chunks(tokenizer, "a cat BREAK a dog")) == 2
    long = " ".join(["cat"] * 40)  # far more than 75 tokens with this tokenizer
    count = len(tokenizer(long, add_special_tokens=False)["input_ids"])
    assert len(prompt_chunks(tokenizer, long)) == -(-count // CHUNK)


def test_a_full_chunk_moves_the_words_after_a_near_comma_to_the_next(
    diffuser: Diffuser,
) -> None:
    tokenizer = tokenizer_of(diffuser)
    head = "x" * 69  # 69 tokens, then a comma at position 69 and seven more tokens
    chunks = prompt_chunks(tokenizer, head + ",abcdefg")
    comma = tokenizer.get_vocab()[",</w>"]
    first, second = chunks[0][0], chunks[1][0]
    assert first[70] == comma and first[71] == tokenizer.eos_token_id  # cut after the comma
    letters = tokenizer("abcdefg", add_special_tokens=False)["input_ids"]
    assert second[1 : 1 + len(letters)] == letters


def test_unweighted_chunks_give_diffusers_own_embeddings(diffuser: Diffuser) -> None:
    pipe = diffuser.txt2img_pipe
    with torch.no_grad():
        ours = encode_text(pipe.text_encoder, pipe.tokenizer, "a cat on a hill", "cpu")
        theirs = pipe.encode_prompt("a cat on a hill", "cpu", 1, False)[0]
    torch.testing.assert_close(ours, theirs)


def test_weighting_scales_tokens_and_restores_the_chunks_mean(diffuser: Diffuser) -> None:
    pipe = diffuser.txt2img_pipe
    encoder = copy.deepcopy(pipe.text_encoder)
    # Real CLIP's final layer norm has a bias, so its embeddings' mean is not zero.
    torch.nn.init.constant_(encoder.final_layer_norm.bias, 0.3)
    with torch.no_grad():
        plain = encode_text(encoder, pipe.tokenizer, "a cat", "cpu")
        weighted = encode_text(encoder, pipe.tokenizer, "a (cat:1.5)", "cpu")
        a = len(pipe.tokenizer("a ", add_special_tokens=False)["input_ids"])
        cat = len(pipe.tokenizer("cat", add_special_tokens=False)["input_ids"])
        raw = encoder(torch.tensor([prompt_chunks(pipe.tokenizer, "a cat")[0][0]]))[0]
    torch.testing.assert_close(weighted.mean(), plain.mean())
    # The webui's "Original" emphasis: tokens × weight, then the chunk's mean restored.
    scale = torch.ones(CHUNK + 2)
    scale[1 + a : 1 + a + cat] = 1.5
    scaled = raw * scale.reshape(1, -1, 1)
    torch.testing.assert_close(weighted, scaled * (raw.mean() / scaled.mean()))


def test_a_layer_normed_encoder_without_bias_gives_finite_weighted_embeddings(
    diffuser: Diffuser,
) -> None:
    pipe = diffuser.txt2img_pipe  # the tiny encoder: mean about zero
    with torch.no_grad():
        weighted = encode_text(pipe.text_encoder, pipe.tokenizer, "a (cat:1.8) [hill]", "cpu")
    assert torch.isfinite(weighted).all()


def test_a_shorter_negative_is_padded_to_the_prompts_chunks(diffuser: Diffuser) -> None:
    long = " ".join(["cat"] * 40)
    embeddings = diffuser.encode_prompt(long, "blurry")
    positive, negative = embeddings["prompt_embeds"], embeddings["negative_prompt_embeds"]
    assert positive.shape == negative.shape and positive.shape[1] % (CHUNK + 2) == 0
    assert positive.shape[1] > CHUNK + 2


def test_plain_prompts_keep_the_pipelines_own_text_path(diffuser: Diffuser) -> None:
    assert diffuser.text_inputs("a cat", "") == {"prompt": "a cat", "negative_prompt": None}
    assert "prompt_embeds" in diffuser.text_inputs("a (cat:1.2)", "")


def test_a_weighted_prompt_changes_the_image_and_is_deterministic(diffuser: Diffuser) -> None:
    image = np.full((64, 64, 3), 128, np.uint8)

    def run(prompt: str) -> Any:
        return diffuser.img2img(image, prompt, "", 7, 4, 7.0, 0.75, "Euler a")

    weighted = run("a (cat:1.8) [on a hill]")
    assert np.array_equal(weighted, run("a (cat:1.8) [on a hill]"))
    assert not np.array_equal(weighted, run("a cat on a hill"))


def test_a_blend_at_the_ends_is_each_prompt(diffuser: Diffuser) -> None:
    first = diffuser.encode_prompt("a cat", "")
    mixed = diffuser.blend([("a cat", "", 1.0), ("a dog BREAK at dusk", "", 0.0)])
    assert mixed["prompt_embeds"].shape[1] == 2 * (CHUNK + 2)  # padded to the longer prompt
    torch.testing.assert_close(mixed["prompt_embeds"][:, : CHUNK + 2], first["prompt_embeds"])


def prompt_job(models: Path, **settings: str) -> Job:
    """A 64×64, 5-frame None-mode job (one still per frame) on the tiny model."""
    base = {"W": "64", "H": "64", "max_frames": "5", "seed": "5", "animation_mode": "None"}
    base |= {"steps_schedule": "0: (3)", "make_video": "false", "seed_behavior": "fixed"}
    job = apply_overrides(Job(), {**base, **settings})
    return dataclasses.replace(
        job, device="cpu", model=dataclasses.replace(job.model, id=str(models / "sd"))
    )


def test_blend_prompts_mixes_the_neighbouring_prompts_between_keyframes(
    tiny_models: Path, tmp_path: Path
) -> None:
    prompts = '{"0": "a red cat", "4": "a (blue:1.4) dog BREAK at night"}'
    plain = prompt_job(tiny_models, prompts=prompts)
    blended = dataclasses.replace(plain, prompts=dataclasses.replace(plain.prompts, blend=True))
    render(plain, tmp_path / "plain")
    render(blended, tmp_path / "blend")
    a, b = frame_files(tmp_path / "plain"), frame_files(tmp_path / "blend")
    same = [np.array_equal(read_frame(a[f]), read_frame(b[f])) for f in sorted(a)]
    # On the keyframes the blend is the prompt itself; between them it is a mix.
    assert same == [True, False, False, False, True]


def test_and_in_a_prompt_is_read_as_text_with_a_warning(tiny_models: Path, tmp_path: Path) -> None:
    job = prompt_job(tiny_models, prompts='{"0": "a cat AND a dog"}', max_frames="1")
    events: list[tuple[str, dict[str, Any]]] = []
    render(job, tmp_path, emit=lambda kind, **f: events.append((kind, f)))
    warnings = [f["message"] for kind, f in events if kind == "warning"]
    assert any("AND (composable diffusion) from frame 1" in m for m in warnings), warnings


def test_interpolation_morphs_between_prompts_of_different_lengths(
    tiny_models: Path, tmp_path: Path
) -> None:
    prompts = '{"0": "a cat", "2": "a (dog:1.3) BREAK at night"}'
    job = prompt_job(tiny_models, prompts=prompts, animation_mode="Interpolation", max_frames="3")
    render(job, tmp_path)
    assert sorted(frame_files(tmp_path)) == [1, 2, 3]


def test_clip_skip_2_reads_the_second_last_layer_through_the_final_norm(
    diffuser: Diffuser,
) -> None:
    pipe = diffuser.txt2img_pipe
    with torch.no_grad():
        skipped = diffuser.encode_prompt("a cat", "", clip_skip=2)["prompt_embeds"]
        ids = torch.tensor([prompt_chunks(pipe.tokenizer, "a cat")[0][0]])
        hidden = pipe.text_encoder(ids, output_hidden_states=True).hidden_states[-2]
        expected = pipe.text_encoder.final_layer_norm(hidden)
        last = diffuser.encode_prompt("a cat", "")["prompt_embeds"]
    torch.testing.assert_close(skipped, expected)
    assert not torch.allclose(skipped, last)


WEBUI_PROMPTS = [
    "masterpiece, (best quality:1.2), a (red:1.3) fox in [snow], ((detailed fur))",
    "portrait of a woman, (freckles:0.8), (((cinematic lighting))), <lora:other:0>",
    "landscape BREAK (sunset sky:1.1), [[fog]] at dawn",
]


@pytest.mark.parametrize("prompt", WEBUI_PROMPTS)
def test_webui_style_prompts_reach_the_tokenizer_without_their_syntax(
    diffuser: Diffuser, prompt: str
) -> None:
    pipe = diffuser.txt2img_pipe
    real_tokenizer = pipe.tokenizer
    seen: list[str] = []

    def tokenizer(texts: Any, **kwargs: Any) -> Any:
        seen.extend([texts] if isinstance(texts, str) else texts)
        return real_tokenizer(texts, **kwargs)

    for name in ("get_vocab", "bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(tokenizer, name, getattr(real_tokenizer, name))
    pipe.tokenizer = tokenizer
    try:
        # <lora:other:0>: a LoRA at weight 0 is never loaded, but its tag is still removed.
        diffuser.text_inputs(prompt, "(blurry:1.4), [lowres]")
    finally:
        pipe.tokenizer = real_tokenizer
    assert seen, "the prompt was encoded through the webui path"
    for text in seen:
        assert not any(mark in text for mark in ("(", ")", "[", "]", "<lora", ":1.")), text
