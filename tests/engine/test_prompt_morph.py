"""Interpolation mode: text embeddings and initial noise morph between keyframed prompts."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from deforum_blender.core.deforum_settings import import_settings
from deforum_blender.core.job import Job
from deforum_blender.core.output_layout import frame_files, frame_path
from deforum_blender.core.prompt_layout import morph_plan, morph_positions
from deforum_blender.engine import diffusion
from deforum_blender.engine.diffusion import ModelOptions, load_diffuser
from deforum_blender.engine.frames import read_frame
from deforum_blender.engine.prompt_morph import slerp
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import tiny_job
from tests.helpers import run_json

Recorded = list[tuple[dict[str, Any], Any]]


def morph_job(models: Path, prompts: dict[str, str], **settings: str) -> Job:
    job = tiny_job(
        models,
        animation_mode="Interpolation",
        sampler="Euler",
        steps_schedule="0: (3)",
        **settings,
    )
    return dataclasses.replace(job, prompts=dataclasses.replace(job.prompts, keyframes=prompts))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    """The embeddings and initial noise of every morph frame, as the pipeline gets them."""
    calls: Recorded = []
    real = diffusion.Diffuser.txt2img_from_embeddings

    def record(
        self: diffusion.Diffuser, embeddings: dict[str, Any], latents: Any, *a: Any, **k: Any
    ) -> Any:
        calls.append(({n: t.clone() for n, t in embeddings.items()}, latents.clone()))
        return real(self, embeddings, latents, *a, **k)

    monkeypatch.setattr(diffusion.Diffuser, "txt2img_from_embeddings", record)
    return calls


def cosine_distance(a: Any, b: Any) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    return float(1.0 - torch.dot(a, b) / (a.norm() * b.norm()))


def test_text_embeddings_move_monotonically_from_one_prompt_to_the_other(
    tiny_models: Path, tmp_path: Path, recorded: Recorded
) -> None:
    job = morph_job(
        tiny_models,
        {"0": "a red cube", "5": "a blue sphere on the beach"},
        interpolate_key_frames="true",
        max_frames="6",
    )
    render(job, tmp_path)
    assert sorted(frame_files(tmp_path)) == [1, 2, 3, 4, 5, 6]
    diffuser = load_diffuser(job.model.id, ModelOptions(device="cpu"))
    first = diffuser.encode_prompt("a red cube", "")["prompt_embeds"]
    last = diffuser.encode_prompt("a blue sphere on the beach", "")["prompt_embeds"]
    used = [embeddings["prompt_embeds"] for embeddings, _ in recorded]
    distances = [cosine_distance(e, first) for e in used]
    assert distances[0] == pytest.approx(0.0, abs=1e-6)
    assert all(b > a for a, b in itertools.pairwise(distances))
    torch.testing.assert_close(used[-1], last)
    torch.testing.assert_close(used[2], first + (last - first) * 0.4)
    assert (
        len(set(np.asarray(read_frame(p)).tobytes() for p in frame_files(tmp_path).values())) == 6
    )


def test_initial_noise_slerps_between_the_two_prompts_seeds(
    tiny_models: Path, tmp_path: Path, recorded: Recorded
) -> None:
    job = morph_job(
        tiny_models, {"0": "a red cube", "4": "a blue sphere"}, interpolate_key_frames="true"
    )
    render(job, tmp_path)
    diffuser = load_diffuser(job.model.id, ModelOptions(device="cpu"))
    start, end = diffuser.initial_noise(1234, 64, 64), diffuser.initial_noise(1235, 64, 64)
    noise = [latents for _, latents in recorded]
    torch.testing.assert_close(noise[0], start, rtol=0, atol=0)
    torch.testing.assert_close(noise[4], end, rtol=0, atol=0)
    torch.testing.assert_close(noise[2], slerp(start, end, 0.5))
    # Spherical, not linear: the middle keeps the norm of the ends (a linear mix of two
    # independent noises would shrink it by about 1/sqrt(2)).
    assert float(noise[2].norm()) == pytest.approx(float(start.norm()), rel=0.05)
    seeds = run_json(tmp_path)["seeds"]
    assert [seeds[str(f)] for f in (1, 2, 4, 5)] == [1234, 1234, 1234, 1235]


def test_a_frame_on_a_prompt_is_its_plain_text_to_image_and_a_morph_step_is_not(
    tiny_models: Path, tmp_path: Path
) -> None:
    job = morph_job(tiny_models, {"0": "a red cube", "1": "a blue sphere"}, max_frames="2")
    render(job, tmp_path)
    diffuser = load_diffuser(job.model.id, ModelOptions(device="cpu"))
    for frame, prompt, seed in ((1, "a red cube", 1234), (2, "a blue sphere", 1235)):
        # interpolate_x_frames 4 puts "a blue sphere" at index 5: frame 2 is a morph step
        image = read_frame(frame_path(tmp_path, frame))
        plain = diffuser.txt2img(prompt, "", seed, 3, 7.0, 64, 64, "Euler")
        assert np.array_equal(image, plain) == (frame == 1)


def test_interpolate_x_frames_spaces_the_prompts_evenly_in_key_order() -> None:
    positions = morph_positions([0, 10, 30], on_key_frames=False, x_frames=2)
    assert positions == [0, 3, 6]
    plan = morph_plan(positions, 8)
    assert [(s.start, s.end, round(s.weight, 3)) for s in plan] == [
        (0, 0, 0.0),
        (0, 1, 0.333),
        (0, 1, 0.667),
        (1, 1, 0.0),
        (1, 2, 0.333),
        (1, 2, 0.667),
        (2, 2, 0.0),
        (2, 2, 0.0),  # after the last prompt it holds
    ]
    assert morph_positions([2, 9], on_key_frames=True, x_frames=2) == [2, 9]
    assert [s.start for s in morph_plan([2, 9], 3)] == [0, 0, 0]


def test_slerp_keeps_the_ends_and_the_norm() -> None:
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)
    middle = slerp(a, b, 0.5)
    torch.testing.assert_close(middle, torch.tensor([0.5**0.5, 0.5**0.5]))
    torch.testing.assert_close(slerp(a, a * 2, 0.5), a * 1.5)  # parallel: linear


def test_deforum_interpolation_settings_set_the_frame_range() -> None:
    prompts = {"0": "a", "10": "b", "20": "c"}
    spaced, _ = import_settings(
        {"animation_mode": "Interpolation", "prompts": prompts, "interpolate_x_frames": 3}
    )
    assert (spaced.max_frames, spaced.interpolate.interpolate_x_frames) == (9, 3)
    keyed, _ = import_settings(
        {"animation_mode": "Interpolation", "prompts": prompts, "interpolate_key_frames": True}
    )
    assert keyed.max_frames == 21 and keyed.interpolate.interpolate_key_frames
