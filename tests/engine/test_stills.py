"""Stills (animation mode None): n_batch images per prompt, with the seed behaviours."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from deforum_blender.core.deforum_settings import export_losses, export_settings, import_settings
from deforum_blender.core.job import Job
from deforum_blender.core.output_layout import frame_files
from deforum_blender.core.seeds import seeds_for_frames
from deforum_blender.engine import diffusion
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import tiny_job
from tests.helpers import frame_bytes, run_json

PROMPTS = {"0": "a red cube", "7": "a blue sphere"}


def stills_job(models: Path, **settings: str) -> Job:
    job = tiny_job(models, animation_mode="None", **settings)
    return dataclasses.replace(job, prompts=dataclasses.replace(job.prompts, keyframes=PROMPTS))


@pytest.fixture
def prompts_seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(prompt, seed) of every text-to-image call."""
    seen: list[tuple[str, int]] = []
    real = diffusion.Diffuser.txt2img

    def record(
        self: diffusion.Diffuser, prompt: str, negative: str, seed: int, *a: Any, **k: Any
    ) -> Any:
        seen.append((prompt, seed))
        return real(self, prompt, negative, seed, *a, **k)

    monkeypatch.setattr(diffusion.Diffuser, "txt2img", record)
    return seen


@pytest.mark.parametrize("behavior", ["iter", "fixed", "ladder"])
def test_n_batch_renders_that_many_stills_of_each_prompt_in_key_order(
    tiny_models: Path, tmp_path: Path, prompts_seen: list[tuple[str, int]], behavior: str
) -> None:
    job = stills_job(tiny_models, n_batch="2", max_frames="4", seed_behavior=behavior)
    render(job, tmp_path)
    assert sorted(frame_files(tmp_path)) == [1, 2, 3, 4]
    expected_seeds = seeds_for_frames(range(4), seed=1234, behavior=behavior)  # type: ignore[arg-type]
    prompts = ["a red cube", "a red cube", "a blue sphere", "a blue sphere"]
    assert prompts_seen == [(p, expected_seeds[i]) for i, p in enumerate(prompts)]
    assert run_json(tmp_path)["seeds"] == {str(i + 1): s for i, s in expected_seeds.items()}
    if behavior != "fixed":
        assert len(set(frame_bytes(tmp_path).values())) == 4


def test_n_batch_zero_makes_one_still_per_frame_with_the_prompt_schedule(
    tiny_models: Path, tmp_path: Path, prompts_seen: list[tuple[str, int]]
) -> None:
    job = stills_job(tiny_models, max_frames="9", steps_schedule="0: (1)")
    assert job.stills.n_batch == 0
    render(job, tmp_path)
    assert [p for p, _ in prompts_seen] == ["a red cube"] * 7 + ["a blue sphere"] * 2
    assert sorted(frame_files(tmp_path)) == list(range(1, 10))


def test_a_range_that_does_not_fit_n_batch_warns_and_the_range_wins(
    tiny_models: Path, tmp_path: Path, prompts_seen: list[tuple[str, int]]
) -> None:
    warnings: list[str] = []

    def emit(kind: str, **fields: Any) -> None:
        if kind == "warning":
            warnings.append(fields["message"])

    render(stills_job(tiny_models, n_batch="1", max_frames="3"), tmp_path, emit=emit)
    assert [p for p, _ in prompts_seen] == ["a red cube", "a blue sphere", "a blue sphere"]
    assert any("n_batch 1 × 2 prompts = 2 stills" in w for w in warnings)


def test_deforum_stills_settings_set_the_count_and_come_back() -> None:
    prompts = {"0": "a", "1": "b", "2": "c"}
    job, _ = import_settings({"animation_mode": "None", "prompts": prompts, "n_batch": 3})
    assert (job.stills.n_batch, job.max_frames) == (3, 9)
    again, _ = import_settings(export_settings(job))
    assert again == job
    ours = Job().__class__.from_dict({**job.to_dict(), "stills": {"n_batch": 0}})
    assert export_settings(ours)["n_batch"] == 1
    assert any("n_batch 0" in line for line in export_losses(ours))
    assert import_settings(export_settings(ours))[0].stills.n_batch == 0
