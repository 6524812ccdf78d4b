"""Interpolation mode: smooth morphs between keyframed prompts and between their seeds.

Where each prompt sits and which two prompts a frame morphs between is
``core/prompt_layout.py``. Each prompt is encoded once; a frame between prompts a and b
at weight w is text-to-image from the embeddings ``(1 − w)·E_a + w·E_b`` (positive and
negative alike, Deforum's linear mix) and the initial noise ``slerp(N_a, N_b, w)`` of the
two prompts' seeds (spherical, so the noise keeps the norm a sampler expects). A frame on
a prompt's position is exactly the text-to-image of that prompt and seed.

Seeds: the prompts, in key order, get seeds by the seed behaviour as consecutive diffused
frames would (``iter``: s, s+1, …; ``fixed``: one seed, so only the text morphs). A frame's
recorded seed is its starting prompt's, which also seeds the sampler's own noise
(ancestral samplers); a deterministic sampler (Euler, DDIM, DPM++ 2M) morphs smoothest.
"""

from __future__ import annotations

from typing import Any

from ..core.job import Job
from ..core.prompt_layout import MorphStep, morph_plan, morph_prompts
from ..core.prompts import FramePrompt
from ..core.seeds import seeds_for_frames
from .diffusion import Diffuser, StepCallback
from .prompt_encoding import mix_embeddings


def slerp(a: Any, b: Any, weight: float, dot_threshold: float = 0.9995) -> Any:
    """Spherical interpolation of two tensors (linear when they are nearly parallel)."""
    import torch

    if weight <= 0.0:
        return a.clone()
    if weight >= 1.0:
        return b.clone()
    a64, b64 = a.double(), b.double()
    cosine = torch.sum(a64 * b64) / (torch.linalg.vector_norm(a64) * torch.linalg.vector_norm(b64))
    if abs(float(cosine)) > dot_threshold:
        mixed = (1.0 - weight) * a64 + weight * b64
    else:
        theta = torch.arccos(cosine.clamp(-1.0, 1.0))
        sin_theta = torch.sin(theta)
        mixed = (torch.sin((1.0 - weight) * theta) / sin_theta) * a64 + (
            torch.sin(weight * theta) / sin_theta
        ) * b64
    return mixed.to(a.dtype)


class PromptMorph:
    """The morph plan of one job, and the embeddings and noise of each of its frames."""

    def __init__(self, job: Job, seed: int) -> None:
        self.job = job
        morph = job.interpolate
        self.positions, self.prompts = morph_prompts(
            job.prompts.keyframes,
            job.max_frames,
            on_key_frames=morph.interpolate_key_frames,
            x_frames=morph.interpolate_x_frames,
            seed=seed,
            positive=job.prompts.positive_prompts,
            negative=job.prompts.negative_prompts,
        )
        self.plan: list[MorphStep] = morph_plan(self.positions, job.max_frames)
        schedule = None
        if job.seeds.seed_behavior == "schedule":
            series = job.series("seed", seed=seed)
            schedule = [series[min(max(p, 0), job.max_frames - 1)] for p in self.positions]
        # The prompts count as consecutive diffused frames 0, 1, 2, … for the seed rules.
        self.prompt_seeds = seeds_for_frames(
            list(range(len(self.positions))),
            seed=seed,
            behavior=job.seeds.seed_behavior,
            iter_n=job.seeds.seed_iter_N,
            schedule=schedule,
        )
        self._embeddings: dict[int, dict[str, Any]] = {}
        self._noise: dict[int, Any] = {}

    def frame_seeds(self) -> dict[int, int]:
        """The recorded seed of every frame index: its starting prompt's seed."""
        return {index: self.prompt_seeds[step.start] for index, step in enumerate(self.plan)}

    def frame_prompt(self, index: int) -> FramePrompt:
        """The prompt a frame starts from (for records)."""
        return self.prompts[self.plan[index].start]

    def embeddings(self, diffuser: Diffuser, index: int) -> dict[str, Any]:
        """The mixed text embeddings of frame index ``index``."""
        step = self.plan[index]
        start = self._encoded(diffuser, step.start)
        if step.weight == 0.0:
            return start
        end = self._encoded(diffuser, step.end)
        w = step.weight
        if any(start[name].shape != end[name].shape for name in start):
            # Prompts of different lengths (chunks of 75 tokens): padded as the webui pads.
            return mix_embeddings([(start, 1.0 - w), (end, w)], diffuser.encode_prompt("", ""))
        return {name: start[name] + (end[name] - start[name]) * w for name in start}

    def _encoded(self, diffuser: Diffuser, k: int) -> dict[str, Any]:
        if k not in self._embeddings:
            prompt = self.prompts[k]
            self._embeddings[k] = diffuser.encode_prompt(prompt.positive, prompt.negative)
        return self._embeddings[k]

    def noise(self, diffuser: Diffuser, index: int) -> Any:
        """The initial noise of frame index ``index``: its two prompts' seeds, slerped."""
        step = self.plan[index]
        start = self._seed_noise(diffuser, step.start)
        if step.weight == 0.0:
            return start
        return slerp(start, self._seed_noise(diffuser, step.end), step.weight)

    def _seed_noise(self, diffuser: Diffuser, k: int) -> Any:
        if k not in self._noise:
            self._noise[k] = diffuser.initial_noise(self.prompt_seeds[k], self.job.W, self.job.H)
            # Only the two prompts around the current frame are needed at a time.
            for old in [key for key in self._noise if key < k - 1]:
                del self._noise[old]
        return self._noise[k]

    def generate(
        self,
        diffuser: Diffuser,
        index: int,
        steps: int,
        cfg: float,
        step_callback: StepCallback | None = None,
        sampler: str | None = None,
    ) -> Any:
        """The frame: text-to-image from its mixed embeddings and slerped noise (with
        ``sampler``, the job's by default)."""
        return diffuser.txt2img_from_embeddings(
            self.embeddings(diffuser, index),
            self.noise(diffuser, index),
            self.prompt_seeds[self.plan[index].start],
            steps,
            cfg,
            self.job.W,
            self.job.H,
            sampler or self.job.sampler,
            step_callback=step_callback,
        )
