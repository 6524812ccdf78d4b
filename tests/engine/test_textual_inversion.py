"""Textual inversion embeddings named in prompts: loaded once from embeddings_dir (tiny model)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.engine import diffusion
from deforum_blender.engine.diffusion import Diffuser, ModelOptions, load_diffuser
from deforum_blender.engine.textual_inversion import expand_embedding_ids, named_in

LOADS: list[str] = []


@pytest.fixture(scope="module")
def embeddings_dir(tiny_models: Path) -> Path:
    """make-tiny-models writes ``embeddings/tinyword.safetensors`` beside the tiny pipeline."""
    assert (tiny_models / "embeddings" / "tinyword.safetensors").is_file()
    return tiny_models / "embeddings"


def fresh_diffuser(tiny_models: Path) -> Diffuser:
    """A diffuser whose tokenizer has no embedding yet (embeddings stay in a loaded model)."""
    diffusion.clear_model_cache()
    return load_diffuser(str(tiny_models / "sd"), ModelOptions(device="cpu"))


@pytest.fixture(scope="module")
def diffuser(tiny_models: Path, embeddings_dir: Path) -> Iterator[Diffuser]:
    """A diffuser reading embeddings_dir, its embedding loads counted in ``LOADS``."""
    loaded = fresh_diffuser(tiny_models)
    loaded.embeddings_dir = str(embeddings_dir)
    pipe = loaded.embeddings.pipe
    real_load = pipe.load_textual_inversion

    def counted(*args: Any, **kwargs: Any) -> Any:
        LOADS.append(kwargs["token"])
        return real_load(*args, **kwargs)

    pipe.load_textual_inversion = counted
    yield loaded
    diffusion.clear_model_cache()


def embeds(diffuser: Diffuser, prompt: str) -> Any:
    return diffuser.encode_prompt(prompt, "")["prompt_embeds"]


def test_a_prompt_naming_the_embedding_reads_its_vectors(
    tiny_models: Path, diffuser: Diffuser
) -> None:
    without = fresh_diffuser(tiny_models)
    plain = embeds(without, "a tinyword cat")  # the word as ordinary text
    diffusion.clear_model_cache()
    assert not diffuser.embeddings.loaded
    with_embedding = embeds(diffuser, "a tinyword cat")
    assert list(diffuser.embeddings.loaded) == ["tinyword"]
    assert not bool((with_embedding == plain).all())


def test_the_webui_encoding_reads_every_vector_of_the_embedding(diffuser: Diffuser) -> None:
    """(tinyword:1.0) goes the webui's way, tinyword diffusers' way: the same embeddings
    only when both spell out the embedding's two tokens."""
    tokenizer = diffuser.txt2img_pipe.tokenizer
    embeds(diffuser, "a tinyword cat")
    ids = tokenizer("tinyword", add_special_tokens=False)["input_ids"]
    assert len(expand_embedding_ids(tokenizer, ids)) == 2
    plain = embeds(diffuser, "a tinyword cat")
    weighted = embeds(diffuser, "a (tinyword:1.0) cat")
    assert bool((weighted - plain).abs().max() < 1e-5)


def test_an_embedding_is_loaded_once_however_often_it_is_named(diffuser: Diffuser) -> None:
    for prompt in ("tinyword", "a (tinyword:1.3) cat", "tinyword, tinyword"):
        embeds(diffuser, prompt)
    assert LOADS == ["tinyword"]


def test_only_whole_words_name_an_embedding() -> None:
    names = ["tinyword", "bad-hands"]
    assert named_in(["a tinywords cat", "xbad-hands"], names) == []
    assert named_in(["(tinyword:1.2), bad-hands"], names) == names


def test_a_pickle_embedding_is_refused_without_allow_pickle(
    tiny_models: Path, embeddings_dir: Path, tmp_path: Path
) -> None:
    shutil.copy(embeddings_dir / "tinyword.safetensors", tmp_path / "picklish.pt")
    loaded = fresh_diffuser(tiny_models)
    loaded.embeddings_dir = str(tmp_path)
    try:
        with pytest.raises(DeforumInputError, match=r"picklish\.pt.*allow_pickle"):
            embeds(loaded, "a picklish cat")
        assert embeds(loaded, "a cat") is not None  # a prompt not naming it is fine
    finally:
        diffusion.clear_model_cache()


def test_a_missing_embeddings_folder_names_the_setting(tiny_models: Path, tmp_path: Path) -> None:
    loaded = fresh_diffuser(tiny_models)
    loaded.embeddings_dir = str(tmp_path / "nowhere")
    try:
        with pytest.raises(DeforumInputError, match=r"embeddings_dir: .*nowhere.* not a folder"):
            embeds(loaded, "a cat")
    finally:
        diffusion.clear_model_cache()


def test_a_webui_pickle_embedding_loads_when_pickles_are_allowed(
    tiny_models: Path, tmp_path: Path
) -> None:
    import torch

    vectors = torch.randn(3, 32, generator=torch.Generator().manual_seed(5))
    torch.save({"string_to_param": {"*": vectors}, "name": "other"}, tmp_path / "webuiword.pt")
    loaded = fresh_diffuser(tiny_models)
    loaded.embeddings_dir, loaded.allow_pickle_embeddings = str(tmp_path), True
    try:
        embeds(loaded, "a webuiword cat")
        tokenizer = loaded.txt2img_pipe.tokenizer
        ids = tokenizer("webuiword", add_special_tokens=False)["input_ids"]
        weights = loaded.txt2img_pipe.text_encoder.get_input_embeddings().weight
        assert bool((weights[expand_embedding_ids(tokenizer, ids)] == vectors).all())
    finally:
        diffusion.clear_model_cache()
