"""The tiny models are deterministic and run through the real diffusers/transformers paths."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import ROOT


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_cli_writes_both_models_byte_identical_to_a_second_run(
    tiny_models: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deforum_blender", "make-tiny-models", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    first, second = _digests(tiny_models), _digests(tmp_path)
    assert any(name.endswith(".safetensors") for name in first)
    assert "sd/model_index.json" in first and "depth/config.json" in first
    assert first == second


@pytest.fixture(scope="module")
def gradient_image() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64]
    return np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)


def test_tiny_sd_runs_one_64px_img2img_step_on_cpu(
    tiny_models: Path, gradient_image: np.ndarray
) -> None:
    import torch
    from diffusers import AutoPipelineForImage2Image
    from PIL import Image

    pipe = AutoPipelineForImage2Image.from_pretrained(tiny_models / "sd")
    pipe.set_progress_bar_config(disable=True)
    image = Image.fromarray(gradient_image)

    def run(seed: int) -> np.ndarray:
        result = pipe(
            "a red hill",
            image=image,
            strength=0.5,
            num_inference_steps=2,
            generator=torch.Generator("cpu").manual_seed(seed),
            output_type="np",
        )
        return np.asarray(result.images[0])

    first, again, other = run(1), run(1), run(2)
    assert first.shape == (64, 64, 3)
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert pipe.tokenizer.model_max_length == 77
    assert pipe.vae_scale_factor == 8


def test_tiny_depth_model_estimates_depth_at_the_image_size(
    tiny_models: Path, gradient_image: np.ndarray
) -> None:
    from PIL import Image
    from transformers import pipeline

    estimator = pipeline("depth-estimation", model=str(tiny_models / "depth"), device="cpu")
    result = estimator(Image.fromarray(gradient_image))
    depth = result["predicted_depth"].detach().cpu().numpy()
    assert depth.shape[-2:] == (64, 64)
    assert np.isfinite(depth).all()
    assert depth.std() > 0
