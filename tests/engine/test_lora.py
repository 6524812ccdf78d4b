"""LoRAs named in prompts: loaded once from the LoRA folder, weighted per call (tiny model)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.job import Job
from deforum_blender.core.output_layout import frame_files
from deforum_blender.core.overrides import apply_overrides
from deforum_blender.engine import diffusion
from deforum_blender.engine.diffusion import Diffuser, ModelOptions, load_diffuser
from deforum_blender.engine.frames import read_frame
from deforum_blender.engine.render import render

IMAGE = np.full((64, 64, 3), 128, np.uint8)


@pytest.fixture(scope="module")
def lora_dir(tiny_models: Path) -> Path:
    """make-tiny-models writes ``lora/tiny.safetensors`` beside the tiny pipeline."""
    assert (tiny_models / "lora" / "tiny.safetensors").is_file()
    return tiny_models / "lora"


@pytest.fixture(scope="module")
def diffuser(tiny_models: Path, lora_dir: Path) -> Iterator[Diffuser]:
    """A diffuser of its own, whose LoRA loads are counted in ``loads`` (LoRAs stay in a
    loaded model, so the model cache is cleared after)."""
    diffusion.clear_model_cache()
    loaded = load_diffuser(str(tiny_models / "sd"), ModelOptions(device="cpu"))
    loaded.lora_dir = str(lora_dir)
    pipe = loaded.loras.pipe
    real_load = pipe.load_lora_weights

    def counted(*args: Any, **kwargs: Any) -> Any:
        LOADS.append(kwargs["adapter_name"])
        return real_load(*args, **kwargs)

    pipe.load_lora_weights = counted
    yield loaded
    diffusion.clear_model_cache()


LOADS: list[str] = []


def image_for(diffuser: Diffuser, prompt: str) -> Any:
    return diffuser.img2img(IMAGE, prompt, "", 3, 4, 7.0, 0.75, "Euler a")


def test_a_lora_at_weight_0_changes_nothing_and_at_weight_1_changes_the_frame(
    diffuser: Diffuser,
) -> None:
    plain = image_for(diffuser, "a cat")
    assert np.array_equal(image_for(diffuser, "a cat <lora:tiny:0>"), plain)
    with_lora = image_for(diffuser, "a cat <lora:tiny:1>")
    assert not np.array_equal(with_lora, plain)
    assert np.array_equal(image_for(diffuser, "a cat"), plain)  # switched off again
    assert np.array_equal(image_for(diffuser, "a cat <lora:tiny:1>"), with_lora)


def test_a_lora_is_loaded_once_however_often_it_is_named(diffuser: Diffuser) -> None:
    for weight in (0.2, 0.5, 1.0, 0.0):
        image_for(diffuser, f"a cat <lora:tiny:{weight}>")
    assert LOADS == ["tiny"]


def test_an_unknown_lora_names_the_folder_and_its_loras(diffuser: Diffuser) -> None:
    with pytest.raises(DeforumInputError, match=r"no cats\.safetensors .*LoRAs there: tiny"):
        image_for(diffuser, "a cat <lora:cats:1>")


def test_a_lora_without_a_folder_says_which_setting_to_set(diffuser: Diffuser) -> None:
    folder, diffuser.lora_dir = diffuser.lora_dir, None
    try:
        with pytest.raises(DeforumInputError, match="lora_dir"):
            image_for(diffuser, "a cat <lora:other:1>")
    finally:
        diffuser.lora_dir = folder


def test_a_prompt_schedule_switching_a_lora_on_changes_the_frames_from_the_switch(
    tiny_models: Path, lora_dir: Path, tmp_path: Path
) -> None:
    switched = '{"0": "a cat <lora:tiny:0.0>", "2": "a cat <lora:tiny:1.0>"}'
    base = {"W": "64", "H": "64", "max_frames": "5", "seed": "5", "animation_mode": "None"}
    base |= {"steps_schedule": "0: (3)", "make_video": "false", "seed_behavior": "fixed"}
    base |= {"lora_dir": str(lora_dir), "model": str(tiny_models / "sd"), "device": "cpu"}
    render(apply_overrides(Job(), {**base, "prompts": switched}), tmp_path / "lora")
    render(apply_overrides(Job(), {**base, "prompts": '{"0": "a cat"}'}), tmp_path / "plain")
    with_lora, plain = frame_files(tmp_path / "lora"), frame_files(tmp_path / "plain")
    same = [np.array_equal(read_frame(with_lora[f]), read_frame(plain[f])) for f in sorted(plain)]
    assert same == [True, True, False, False, False]


def test_run_json_records_how_each_prompt_was_read_and_job_json_keeps_the_text(
    tiny_models: Path, lora_dir: Path, tmp_path: Path
) -> None:
    prompts = '{"0": "a (cat:1.3) <lora:tiny:0.5>", "1": "a dog"}'
    base = {"W": "64", "H": "64", "max_frames": "2", "seed": "5", "animation_mode": "None"}
    base |= {"steps_schedule": "0: (2)", "make_video": "false", "prompts": prompts}
    base |= {"lora_dir": str(lora_dir), "model": str(tiny_models / "sd"), "device": "cpu"}
    render(apply_overrides(Job(), base), tmp_path)
    run = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert run["prompts_read"] == {
        "1": {
            "positive": [["a ", 1.0], ["cat", 1.3], [" ", 1.0]],
            "negative": [["", 1.0]],
            "loras": {"tiny": 0.5},
        }
    }  # frame 2's plain prompt is left out
    job = json.loads((tmp_path / "job.json").read_text(encoding="utf-8"))
    assert job["prompts"]["keyframes"]["0"] == "a (cat:1.3) <lora:tiny:0.5>"
