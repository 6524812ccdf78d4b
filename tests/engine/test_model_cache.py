"""core.model_cache (what Blender's process lists, without huggingface_hub) agrees with
engine.models (``models list``, through huggingface_hub) on the same cache and folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.model_cache import hub_cache_dir, local_models, remove_cached
from tests.engine.test_models import CONTROLNET, controlnet_files, safetensors_bytes
from tests.fake_hub import serving_hub

ONE_FILE = "fakeorg/one-file"


def _models_folder(root: Path) -> Path:
    sd = root / "models" / "my-sd"
    (sd / "unet").mkdir(parents=True)
    (sd / "model_index.json").write_text(
        json.dumps({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet"]})
    )
    (sd / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(safetensors_bytes(["w"]))
    lora = root / "models" / "loras" / "style.safetensors"
    lora.parent.mkdir()
    lora.write_bytes(safetensors_bytes(["unet.down.lora_A.weight"]))
    return root / "models"


def _pulled_cache(root: Path) -> Path:
    """A cache holding a whole ControlNet and a one-file model cut short by a crash."""
    from deforum_blender.engine.models import pull_model

    cache = root / "cache"
    with serving_hub() as hub:
        hub.add_repo(CONTROLNET, controlnet_files())
        one_file = safetensors_bytes(["model.diffusion_model.out.0.weight"])
        hub.add_repo(ONE_FILE, {"model.safetensors": one_file, "config.json": b"{}"})
        pull_model(CONTROLNET, cache_dir=cache, endpoint=hub.url)
        pulled = pull_model(ONE_FILE, cache_dir=cache, endpoint=hub.url)
    weights = pulled.path / "model.safetensors"
    blob = weights.resolve()
    weights.unlink()
    blob.rename(blob.with_name(blob.name + ".0123abcd.incomplete"))
    return cache


def test_blender_lists_what_models_list_lists(tmp_path: Path) -> None:
    from deforum_blender.engine.models import list_models

    cache, folder = _pulled_cache(tmp_path), _models_folder(tmp_path)
    engine = list_models([folder], cache_dir=cache)
    core, problems = local_models([folder], cache_dir=cache)
    assert problems == []
    fields = ("name", "kind", "size", "source", "path", "missing")
    assert [[getattr(m, f) for f in fields] for m in core] == [
        [getattr(m, f) for f in fields] for m in engine
    ]
    by_name = {m.name: m for m in core}
    assert by_name[CONTROLNET].kind == "controlnet" and by_name[CONTROLNET].complete
    assert not by_name[ONE_FILE].complete  # a partial pull is never offered as a model
    assert {m.source for m in core} == {"hf-cache", "folder"}


def test_a_missing_model_folder_is_a_problem_line_not_an_error(tmp_path: Path) -> None:
    found, problems = local_models([tmp_path / "gone"], cache_dir=tmp_path / "no-cache")
    assert found == []
    (line,) = problems
    assert "gone" in line and "fix or remove it" in line


def test_the_cache_folder_follows_huggingface_hubs_variables() -> None:
    from huggingface_hub import constants

    assert hub_cache_dir({"HF_HUB_CACHE": "/a/b", "HF_HOME": "/c"}) == Path("/a/b")
    assert hub_cache_dir({"HF_HOME": "/c"}) == Path("/c/hub")
    assert hub_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/huggingface/hub")
    assert hub_cache_dir() == Path(constants.HF_HUB_CACHE)  # this process's own answer


def test_removing_a_cached_model_frees_its_blobs(tmp_path: Path) -> None:
    cache = _pulled_cache(tmp_path)
    blobs = cache / f"models--{CONTROLNET.replace('/', '--')}" / "blobs"
    size = sum(p.stat().st_size for p in blobs.iterdir())
    assert remove_cached(CONTROLNET, cache) == size
    assert [m.name for m in local_models(cache_dir=cache)[0]] == [ONE_FILE]
    with pytest.raises(DeforumInputError, match="'fakeorg/nope' is not in the Hugging Face"):
        remove_cached("fakeorg/nope", cache)
    assert os.path.isdir(cache)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1_234_567, "1.2 MB"),
        (5e9, "5.0 GB"),
        (3e12, "3.0 TB"),
    ],
)
def test_sizes_read_in_decimal_units_as_the_hub_shows_them(size: float, text: str) -> None:
    from deforum_blender.core.model_cache import human_size

    assert human_size(size) == text
