"""The Job: one versioned, JSON-serialisable description of a whole render.

The Blender side builds it from the scene, the CLI reads it from ``job.json`` or from a
Deforum settings file, the worker renders it. ``Job.from_dict`` is strict: unknown keys
are errors with a "did you mean" hint, and every bad field is reported at once in one
:class:`JobError`. Frame indices (prompt keys, schedule frames, per-frame lists) count
from ``first_frame``: index 0 is Blender frame ``first_frame``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import controlnet
from . import job_fields as jf
from .atomic import write_text
from .camera import DEFAULT_TRANSLATION_SCALE
from .errors import DeforumInputError
from .job_fields import FieldSpec, Param
from .prompts import FramePrompt, keyframes, prompts_for_frames
from .samplers import canonical_sampler
from .seeds import SEED_BEHAVIORS, SEED_RANGE, resolve_master_seed

JOB_VERSION = 1


class JobError(DeforumInputError):
    """A job with one or more bad fields; ``problems`` has one line per field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        super().__init__(f"invalid job ({count}): " + "; ".join(problems))


def _spec(default: Any, kind: str, **rules: Any) -> Any:
    """A dataclass field carrying its FieldSpec: the settings registry's entry for it."""
    return field(default=default, metadata={"spec": FieldSpec(kind, **rules)})


def _deforum(default: Any, kind: str, **rules: Any) -> Any:
    """A field read and written 1:1 under the Deforum settings key of the same name."""
    return _spec(default, kind, copied=True, **rules)


@dataclass(frozen=True)
class Model:
    """Which Stable Diffusion model: a Hugging Face id, a local folder or a checkpoint file."""

    id: str = _spec(
        jf.DEFAULT_MODEL,
        "str",
        key="model",
        deforum_key="sd_model_name",
        label="Model",
        tooltip="Stable Diffusion model: a Hugging Face id, a diffusers folder or a "
        ".safetensors checkpoint file",
    )
    allow_pickle: bool = _spec(  # .ckpt/.pt files run code when loaded
        False,
        "bool",
        label="Allow Pickle Checkpoints",
        tooltip="Allow .ckpt/.pt checkpoints, which can run code when loaded: only for files "
        "you trust",
    )
    sha256: str | None = _spec(
        None,
        "optional_str",
        key="model_sha256",
        label="Model SHA-256",
        tooltip="The expected sha256 of a single-file checkpoint, checked before loading "
        "(empty: not checked)",
    )
    # GPU memory savers (diffusers): slower, but let big models fit on small cards.
    attention_slicing: bool = _spec(
        False,
        "bool",
        label="Attention Slicing",
        tooltip="Compute attention in slices: less GPU memory, a little slower",
    )
    vae_tiling: bool = _spec(
        False,
        "bool",
        label="VAE Tiling",
        tooltip="Decode and encode images in tiles: large frames on small GPUs",
    )
    cpu_offload: bool = _spec(
        False,
        "bool",
        label="CPU Offload",
        tooltip="Keep model parts in system memory until they run: least GPU memory, slower",
    )
    # torch.compile (CUDA graphs on CUDA): the UNet, ControlNets, VAE and depth model.
    compile: str = _spec(
        "auto",
        "choice",
        choices=jf.COMPILE_MODES,
        label="Compile",
        tooltip="Compile the UNet, VAE and depth model (torch.compile, CUDA graphs): faster "
        "frames after a slower first one. Auto: on for CUDA, off on the CPU",
        doc="`auto`: on when the device is CUDA, off on the CPU and MPS. `on`: compile the "
        "UNet (and ControlNets), the VAE's encoder and decoder and the depth model with "
        "`torch.compile` (mode `reduce-overhead`, CUDA graphs, on CUDA); the first frames "
        "take longer, once per size in a process (run.json `compile_s`), and a part that "
        "fails to compile runs eager with a warning. `off`: eager PyTorch",
    )
    # Draft: look at a shot quickly before the final render (core/draft.py says what changes).
    draft: bool = _spec(
        False,
        "bool",
        label="Draft",
        tooltip="Render a quick draft: the Draft Model (a one-step turbo model), the tiny VAE, "
        "2 steps (one per frame above strength 0.5), CFG scale 0 and Euler a; off for the "
        "final render",
        doc="Render a quick draft of the shot: the Draft Model, VAE `tiny`, steps 2 (Deforum "
        "counts `int(steps × (1 − strength)) + 1`: one sampler step on every frame whose "
        "strength is above 0.5), CFG scale 0 (turbo models are trained without guidance, "
        "and it skips the negative prompt's pass), sampler Euler a, no checkpoint or "
        "sampler schedule. The render says what it changed",
    )
    draft_model: str = _spec(
        jf.DRAFT_MODEL,
        "str",
        label="Draft Model",
        tooltip="The model a Draft renders with: a few-step model such as SD-Turbo (Hugging "
        "Face id, diffusers folder or .safetensors file)",
    )
    # The tiny autoencoder decodes (and encodes) in a fraction of the full VAE's time.
    vae: str = _spec(
        "full",
        "choice",
        choices=jf.VAES,
        label="VAE",
        tooltip="Full: the model's own VAE. Tiny: the tiny autoencoder (TAESD), much faster, "
        "a little less detailed: for drafts",
        doc="`full`: the model's own VAE. `tiny`: the tiny autoencoder named by Tiny VAE "
        "(diffusers' `AutoencoderTiny`), which encodes and decodes in a small fraction of the "
        "full VAE's time with slightly softer detail: for drafts",
    )
    tiny_vae: str = _spec(
        jf.DEFAULT_TINY_VAE,
        "str",
        label="Tiny VAE",
        tooltip="The tiny autoencoder for VAE Tiny: a Hugging Face id or a diffusers folder "
        f"(config.json + safetensors); {jf.DEFAULT_TINY_VAE} is replaced by "
        f"{jf.TINY_VAE_XL} for SDXL models",
    )
    # Where a prompt's <lora:NAME:WEIGHT> finds NAME.safetensors.
    lora_dir: str | None = _spec(
        None,
        "optional_str",
        path="DIR_PATH",
        label="LoRA Folder",
        tooltip="Folder of LoRA .safetensors files that prompts name as <lora:NAME:WEIGHT>",
        doc="Folder of LoRA `.safetensors` files that prompts name as `<lora:NAME:WEIGHT>`: "
        "each is loaded once and weighted per frame",
        deforum_doc="— (the webui's LoRA folder)",
    )
    # Where a prompt's NAME finds the textual inversion embedding NAME.safetensors.
    embeddings_dir: str | None = _spec(
        None,
        "optional_str",
        path="DIR_PATH",
        label="Embeddings Folder",
        tooltip="Folder of textual inversion embeddings (.safetensors) that prompts name by "
        "their file name",
        doc="Folder of textual inversion embeddings: a prompt that says `NAME` as a word loads "
        "`NAME.safetensors` from it once (`.pt`/`.bin` only with Allow Pickle Checkpoints)",
        deforum_doc="— (the webui's embeddings folder)",
    )
    # Deforum's checkpoint_schedule (None: off): the model per frame, '0: ("A"), 30: ("B")'.
    checkpoint_schedule: str | None = _spec(
        None,
        "optional_str",
        deforum_key="checkpoint_schedule",
        label="Checkpoint Schedule",
        tooltip='The model per frame, e.g. 0: ("/models/a.safetensors"), 30: ("org/model"); '
        "empty: Model on every frame",
        doc="The model per frame as Deforum's string schedule, each a path or Hugging Face id "
        "(a webui checkpoint name is refused): the worker switches between frames, loading "
        "each model once and keeping it",
        deforum_doc="`checkpoint_schedule` (read when `enable_checkpoint_scheduling` is on)",
    )


@dataclass(frozen=True)
class Prompts:
    """Frame-keyed prompts (Deforum's ``prompts``) and the global parts wrapped around them."""

    keyframes: dict[str, str] = field(
        default_factory=lambda: {"0": "a beautiful landscape"},
        metadata={"spec": FieldSpec("prompts", key="prompts", deforum_key="prompts")},
    )
    positive_prompts: str = _spec(
        "",
        "str",
        deforum_key="positive_prompts",
        label="Positive Prompts",
        tooltip="Put before every prompt (Deforum's positive_prompts)",
    )
    negative_prompts: str = _spec(
        "",
        "str",
        deforum_key="negative_prompts",
        label="Negative Prompts",
        tooltip="Put after every negative prompt (Deforum's negative_prompts)",
    )
    blend: bool = _spec(
        False,
        "bool",
        key="blend_prompts",
        label="Blend Prompts",
        tooltip="Between two prompts, mix them with weights that follow the frame",
        deforum_doc="— (Deforum blends only in Interpolation mode)",
    )


@dataclass(frozen=True)
class Seeds:
    """Master seed (−1: pick one and record it) and how it advances per diffused frame."""

    seed: int = _spec(
        -1,
        "int",
        minimum=-1,
        maximum=SEED_RANGE - 1,
        deforum_key="seed",
        label="Seed",
        tooltip="Master seed (−1: pick one and record it). With Seed Behavior 'Schedule' its "
        "keyframes give each frame's seed",
        deforum_doc="`seed` (and `seed_schedule`)",
    )
    seed_behavior: str = _deforum(
        "iter",
        "choice",
        choices=SEED_BEHAVIORS,
        label="Seed Behavior",
        tooltip="How the seed changes from one diffused frame to the next",
    )
    seed_iter_N: int = _deforum(
        1,
        "int",
        minimum=1,
        label="Seed Iter N",
        tooltip="With Seed Behavior 'Iter': how many diffused frames share a seed",
    )


@dataclass(frozen=True)
class Motion:
    """The 2D border mode and, when the camera drives the motion, its per-frame track."""

    border: str = _deforum(
        "replicate",
        "choice",
        choices=jf.BORDERS,
        label="Border",
        tooltip="2D mode: what fills the frame where the warp moves the image away",
        doc="2D mode: what fills the frame where the warp moves the image away: the edge "
        "pixels repeated, or the image wrapped round from the opposite side (Deforum's wrap). "
        "The 2D warp samples bilinearly, as Deforum's does",
    )
    camera_track: dict[str, Any] | None = _spec(None, "track")  # noqa: RUF009
    # Deforum translation units per scene unit: the camera track in Deforum's units, as
    # the settings file the render writes and an export give it (Blender measures it).
    translation_scale: float = _spec(
        DEFAULT_TRANSLATION_SCALE,
        "float",
        minimum=1e-6,
        label="Translation Scale",
        tooltip="Deforum translation units per Blender unit, for showing and exporting the "
        "camera motion in Deforum's units; 0 = automatic: 200 ÷ the median distance to "
        "what the camera sees at the current frame (50 when it sees nothing)",
        # Blender's 0 means "measure it": the scene reader puts the measured scale here.
        blender_min=0.0,
        blender_default=0.0,
        soft_max=500.0,
        doc="Deforum translation units per Blender unit, for showing and exporting the camera "
        "motion in Deforum's units; 200 ÷ your subject's distance feels the same in Deforum; "
        "0 works that out: 200 ÷ the median distance to what the scene camera sees on the "
        "first frame, or 50 (a subject 4 units away) when it sees nothing. Export, "
        "`--export-deforum` and a render's `deforum_settings.txt` all use this scale, and an "
        "import measures it again in the same way, so a file brought back through the webui "
        "puts the camera where it was. (The Motion panel's figures measure at the current "
        "frame.) See [conventions](conventions.md#deforums-units-settings-files)",
        deforum_doc="— (scales `translation_x/y/z` on export)",
    )


@dataclass(frozen=True)
class Depth:
    """Where depth comes from and how the 3D warp samples."""

    depth_source: str = _spec(
        "estimated",
        "choice",
        choices=jf.DEPTH_SOURCES,
        label="Depth Source",
        tooltip="Where each frame's depth for the 3D warp comes from",
        blender_default="scene",  # a Blender scene has its own exact depth
        deforum_doc="`use_depth_warping` (Flat = off); Scene is ours",
    )
    depth_model: str = _spec(
        jf.DEFAULT_DEPTH_MODEL,
        "str",
        label="Depth Model",
        tooltip="Depth-estimation model (Hugging Face id or folder) for Estimated depth",
        deforum_doc="`depth_algorithm`",
    )
    padding_mode: str = _deforum(
        "border",
        "choice",
        choices=jf.PADDING_MODES,
        label="Padding Mode",
        tooltip="What the 3D warp samples outside the previous frame (padding_mode)",
    )
    sampling_mode: str = _deforum(
        "bicubic",
        "choice",
        choices=jf.SAMPLING_MODES,
        label="Sampling Mode",
        tooltip="How the 3D warp resamples the previous frame (sampling_mode)",
    )
    # depth_source 'files': a folder of per-frame depth maps named as save_depth_maps names them.
    depth_path: str | None = _spec(
        None,
        "optional_str",
        path="DIR_PATH",
        label="Depth Folder",
        tooltip="Folder of per-frame depth maps (depth_NNNNN.npy or 16-bit PNG, relative "
        "inverse depth) for Depth Source 'Files'",
        doc="Folder of per-frame depth maps (`depth_NNNNN.npy` or 16-bit PNG, relative inverse "
        "depth, as a depth model predicts) for Depth Source 'Files'; empty: the output "
        "folder's `depth/`. They are normalised exactly like a model's prediction, so they "
        "stand in for the model. Every frame but the last needs one; a gap is refused before "
        "the first frame, naming the frame and the path expected",
        deforum_doc="— (ours)",
    )


@dataclass(frozen=True)
class Coherence:
    """Colour matching and the kind of noise added before diffusion."""

    color_coherence: str = _deforum(
        "LAB",
        "choice",
        choices=jf.COLOR_COHERENCE,
        old_values=(
            ("Match Frame 0 HSV", "HSV"),
            ("Match Frame 0 LAB", "LAB"),
            ("Match Frame 0 RGB", "RGB"),
        ),
        label="Color Coherence",
        tooltip="Keep colours from drifting by matching each frame to a reference",
    )
    color_coherence_image_path: str = _deforum(
        "",
        "str",
        path="FILE_PATH",
        label="Color Coherence Image",
        tooltip="Image whose colours every frame is matched to (Color Coherence 'Image')",
    )
    legacy_colormatch: bool = _deforum(
        False,
        "bool",
        label="Legacy Color Match",
        tooltip="Match colours before noise only (Deforum's old behaviour); off: match before "
        "noise and again after diffusion (Deforum's default)",
        doc="Off (Deforum's default): each key frame is matched to the colour sample before "
        "noise and again after diffusion; the sample is frame 0 as written (with an init "
        "image: the first warped key frame). On: matched before noise only, to the first "
        "warped key frame (frame 0 itself at strength 0 on frame 0). This is what Deforum's "
        "loop does; it never rolls the sample on to later frames",
        deforum_doc="`legacy_colormatch` (a file without the key reads as on, as Deforum's "
        "loader does)",
    )
    color_coherence_video_every_N_frames: int = _deforum(
        1,
        "int",
        minimum=1,
        label="Video Colour Every N Frames",
        tooltip="Color Coherence 'Video Input': take a new colour sample every N frames",
        doc="Color Coherence 'Video Input': take a new colour sample from the video only on "
        "diffused frames whose index is a multiple of N (Deforum's `frame_idx % N == 0`); "
        "frames between keep the last sample",
    )
    color_force_grayscale: bool = _deforum(
        False,
        "bool",
        label="Force Grayscale",
        tooltip="Turn the frames grey: the warped frame before diffusion and the tweens",
        doc="Turn the frames grey: the warped frame before diffusion and the tweens, as "
        "Deforum does (a diffused key frame shown without cadence keeps its colour)",
    )
    noise_type: str = _deforum(
        "perlin",
        "choice",
        choices=jf.NOISE_TYPES,
        label="Noise Type",
        tooltip="Kind of noise added before diffusion",
    )
    perlin_octaves: int = _deforum(
        4,
        "int",
        minimum=1,
        maximum=8,
        label="Perlin Octaves",
        tooltip="Octaves of the Perlin noise: more adds finer detail",
    )
    perlin_persistence: float = _deforum(
        0.5,
        "float",
        minimum=0.0,
        maximum=1.0,
        label="Perlin Persistence",
        tooltip="How much each finer octave of Perlin noise contributes",
        subtype="FACTOR",
    )


@dataclass(frozen=True)
class Cadence:
    """Diffuse every N-th frame and tween the others."""

    diffusion_cadence: int = _deforum(
        2,
        "int",
        minimum=1,
        maximum=50,
        label="Cadence",
        tooltip="Diffuse every N-th frame and tween the frames between (Deforum's "
        "diffusion_cadence); 1 diffuses every frame",
    )
    optical_flow_cadence: str = _deforum(
        "None",
        "choice",
        choices=jf.OPTICAL_FLOW_CADENCE,
        old_values=((False, "None"), (True, "DIS Fine")),
        label="Optical Flow Cadence",
        tooltip="How the frames between diffused frames are tweened",
    )


@dataclass(frozen=True)
class Init:
    """An init image for the first frame and an optional inpainting mask."""

    use_init: bool = _deforum(
        False,
        "bool",
        label="Use Init",
        tooltip="Start the first frame from an init image instead of noise",
    )
    init_image: str | None = _deforum(
        None,
        "optional_str",
        path="FILE_PATH",
        label="Init Image",
        tooltip="Image the first frame starts from",
    )
    strength: float = _deforum(
        0.8,
        "float",
        minimum=0.0,
        maximum=1.0,
        key="init_strength",
        label="Init Strength",
        tooltip="Share of the init image kept in the first frame (Deforum's strength): "
        "0 ignores it, 1 keeps it unchanged",
        subtype="FACTOR",
    )
    use_mask: bool = _deforum(
        False,
        "bool",
        label="Use Mask",
        tooltip="Diffuse only where the mask is white (inpainting)",
    )
    mask_file: str | None = _deforum(
        None,
        "optional_str",
        path="FILE_PATH",
        label="Mask File",
        tooltip="Black-and-white mask image: white areas are diffused",
    )
    invert_mask: bool = _deforum(
        False, "bool", label="Invert Mask", tooltip="Diffuse where the mask is black instead"
    )
    mask_contrast_adjust: float = _deforum(
        1.0,
        "float",
        minimum=0.0,
        label="Mask Contrast",
        tooltip="Contrast applied to the mask before use",
        soft_max=4.0,
    )
    mask_brightness_adjust: float = _deforum(
        1.0,
        "float",
        minimum=0.0,
        label="Mask Brightness",
        tooltip="Brightness applied to the mask before use",
        soft_max=4.0,
    )
    overlay_mask: bool = _deforum(
        True,
        "bool",
        label="Overlay Mask",
        tooltip="Paste the unmasked part of the input back over the diffused frame",
    )
    mask_overlay_blur: int = _deforum(
        4,
        "int",
        minimum=0,
        label="Mask Overlay Blur",
        tooltip="Blur (pixels) of the mask's edge when overlaying",
        soft_max=64,
    )


@dataclass(frozen=True)
class VideoInput:
    """Video Input mode: the video whose frames are the init images."""

    video_init_path: str | None = _deforum(
        None,
        "optional_str",
        path="FILE_PATH",
        label="Video Init",
        tooltip="Video whose frames are the init images (Animation Mode 'Video Input')",
        doc="Video whose frames are the init images (Animation Mode 'Video Input'). When it "
        'gives fewer frames than max_frames, its frames are rendered, with a warning ("the '
        'video has N frames; rendering N of M"), as Deforum does',
    )
    extract_nth_frame: int = _deforum(
        1, "int", minimum=1, label="Extract Nth Frame", tooltip="Use every N-th frame of the video"
    )
    extract_from_frame: int = _deforum(
        0,
        "int",
        minimum=0,
        label="Extract From Frame",
        tooltip="First video frame used (counted from 0)",
    )
    extract_to_frame: int = _deforum(
        -1,
        "int",
        minimum=-1,
        label="Extract To Frame",
        tooltip="Last video frame used; −1 for the end of the video",
    )
    use_mask_video: bool = _deforum(
        False,
        "bool",
        label="Use Mask Video",
        tooltip="Mask each frame with the matching frame of a mask video",
        doc="Mask each frame with the matching frame of a mask video (white: diffuse, black: "
        "keep), in Video Input, 2D and 3D modes; in 2D/3D it replaces mask_file (Deforum's "
        "default mask_schedule `{video_mask}`); ignored, with a warning, in None and "
        "Interpolation",
    )
    video_mask_path: str | None = _deforum(
        None,
        "optional_str",
        path="FILE_PATH",
        label="Mask Video",
        tooltip="Video of black-and-white masks, one per frame",
    )


@dataclass(frozen=True)
class Stills:
    """None mode: stills, not an animation (``n_batch`` 0: one still per frame of the range,
    prompts from the prompt schedule; N ≥ 1: Deforum's N images of each prompt in key order)."""

    n_batch: int = _spec(
        0,
        "int",
        minimum=0,
        maximum=10000,
        deforum_key="n_batch",
        label="Images per Prompt",
        blender_unbounded=True,
        tooltip="Animation Mode 'None': this many stills of each prompt, in order (0: one "
        "still per frame of the range, with the prompt of that frame)",
        soft_max=100,
        deforum_doc="`n_batch` (0 is ours: one still per frame)",
    )


@dataclass(frozen=True)
class Interpolate:
    """Interpolation mode: morphs between the prompts (embeddings) and their seeds (noise).

    ``interpolate_key_frames`` on: the prompts sit at their own keyframes; off: every
    prompt is ``interpolate_x_frames + 1`` frames after the previous one, in key order.
    """

    interpolate_key_frames: bool = _deforum(
        False,
        "bool",
        label="Interpolate Key Frames",
        tooltip="Interpolation: each prompt sits at its own frame (off: every prompt comes "
        "Interpolate X Frames + 1 frames after the previous one)",
    )
    interpolate_x_frames: int = _deforum(
        4,
        "int",
        minimum=0,
        maximum=10000,
        label="Interpolate X Frames",
        blender_unbounded=True,
        tooltip="Interpolation: frames between two prompts when not at their own frames",
        soft_max=100,
    )


@dataclass(frozen=True)
class SceneGuide:
    """Scene-guided rendering: Blender's render of each frame blended in (``scene_blend``).

    ``scene_blend_max_depth`` > 0 blends only where the scene's Z pass is nearer than it
    (scene units); 0 blends everywhere.
    """

    scene_blend_max_depth: float = _spec(
        0.0,
        "float",
        minimum=0.0,
        label="Scene Blend Max Depth",
        tooltip="Blend the scene render only where the scene is nearer than this distance "
        "(0: everywhere)",
        subtype="DISTANCE",
        soft_max=1000.0,
    )


@dataclass(frozen=True)
class Output:
    """What is written besides the frames."""

    make_video: bool = _spec(
        True,
        "bool",
        deforum_key="skip_video_creation",  # inverted
        label="Make Video",
        tooltip="Stitch the frames into video.mp4 when the render finishes",
        deforum_doc="`skip_video_creation` (inverted)",
    )
    save_depth_maps: bool = _deforum(
        False,
        "bool",
        label="Save Depth Maps",
        tooltip="Also write each frame's depth as a 16-bit PNG (depth/depth_NNNNN.png)",
    )
    # Each ControlNet unit's control image per diffused frame, in <out>/controlnet.
    save_controlnet_inputs: bool = _spec(
        False,
        "bool",
        label="Save ControlNet Inputs",
        tooltip="Also write each ControlNet unit's control image per diffused frame "
        "(controlnet/cn<N>_<NNNNN>.png)",
    )


# Deforum's Output tab after the frames (engine/finish.py runs them; docs/settings.md).
INTERPOLATION_ENGINES = ("None", "RIFE v4.6", "FILM")
UPSCALE_FACTORS = ("x2", "x3", "x4")
SOUNDTRACKS = ("None", "File", "Init Video")


@dataclass(frozen=True)
class Finish:
    """After the frames: interpolation, upscaling and the soundtrack (Deforum's keys).

    Without a network's weights file, interpolation uses the optical-flow fallback.
    """

    frame_interpolation_engine: str = _deforum(
        "None",
        "choice",
        choices=INTERPOLATION_ENGINES,
        label="Frame Interpolation",
        tooltip="After the frames, add in-between frames into interpolated/ (None: off); "
        "without an Interpolation Model's weights an optical-flow fallback makes them",
    )
    frame_interpolation_x_amount: int = _deforum(
        2,
        "int",
        minimum=2,
        maximum=10,
        label="Interpolation Amount",
        tooltip="Frame interpolation: the frame count's multiplier ((n − 1) × x + 1 frames); "
        "the video's frame rate grows by it unless Slow Motion is on",
    )
    frame_interpolation_slow_mo_enabled: bool = _deforum(
        False,
        "bool",
        label="Slow Motion",
        tooltip="Frame interpolation keeps the frame rate, so the video plays slower",
    )
    frame_interpolation_slow_mo_amount: int = _deforum(
        2,
        "int",
        minimum=2,
        maximum=10,
        label="Slow Motion Amount",
        tooltip="Slow motion: how many times slower the video plays",
    )
    frame_interpolation_keep_imgs: bool = _deforum(
        False,
        "bool",
        label="Keep Interpolated Frames",
        tooltip="Keep interpolated/ after the video is made (off: removed once the video "
        "holds them)",
    )
    frame_interpolation_use_upscaled: bool = _deforum(
        False,
        "bool",
        label="Interpolate Upscaled Frames",
        tooltip="Interpolate the upscaled frames instead of the rendered ones (when "
        "upscaling is on)",
    )
    # Ours: the interpolation network's weights file (none: the optical-flow fallback).
    interpolation_model: str | None = _spec(
        None,
        "optional_str",
        path="FILE_PATH",
        label="Interpolation Model",
        tooltip="The interpolation network's weights file; empty: the optical-flow "
        "fallback (OpenCV DIS)",
    )
    r_upscale_video: bool = _deforum(
        False,
        "bool",
        label="Upscale",
        tooltip="After the frames, upscale them into upscaled/ with the Upscale Model",
    )
    # A weights file (.pth/.safetensors) that spandrel loads; Deforum's names need the file.
    r_upscale_model: str = _deforum(
        "realesr-animevideov3",
        "str",
        path="FILE_PATH",
        label="Upscale Model",
        tooltip="The upscaler's weights file (.pth or .safetensors: ESRGAN, Real-ESRGAN, "
        "SwinIR, …); Deforum's model names need the downloaded file",
    )
    r_upscale_factor: str = _deforum(
        "x2",
        "choice",
        choices=UPSCALE_FACTORS,
        label="Upscale Factor",
        tooltip="How many times larger the upscaled frames are",
    )
    r_upscale_keep_imgs: bool = _deforum(
        True,
        "bool",
        label="Keep Upscaled Frames",
        tooltip="Keep upscaled/ after the video is made (off: removed once the video holds them)",
    )
    add_soundtrack: str = _deforum(
        "None",
        "choice",
        choices=SOUNDTRACKS,
        label="Soundtrack",
        tooltip="Sound muxed into video.mp4: none, the Soundtrack File, or the Video "
        "Input's own sound (the video's length wins)",
    )
    soundtrack_path: str = _deforum(
        "",
        "str",
        path="FILE_PATH",
        label="Soundtrack File",
        tooltip="The sound file for Soundtrack 'File'",
    )


@dataclass(frozen=True)
class ControlNetUnit:
    """One ControlNet unit (Deforum's ``cn_N_*``); each of ``cn_1`` … ``cn_5`` is one.

    ``weight``, ``guidance_start`` and ``guidance_end`` are Deforum schedule strings read
    per frame; a weight of 0 on a frame leaves the unit out of that frame.
    """

    enabled: bool = False
    module: str = "none"
    model: str = ""
    weight: str = "0:(1)"
    guidance_start: str = "0:(0.0)"
    guidance_end: str = "0:(1.0)"
    control_mode: str = "Balanced"
    resize_mode: str = "Inner Fit (Scale to Fit)"
    processor_res: int = 64
    threshold_a: float = 64.0
    threshold_b: float = 64.0
    vid_path: str = ""
    loopback_mode: bool = False


def _unit_class(n: int) -> type[ControlNetUnit]:
    """The unit ``cn_<n>``: its fields carry the registry specs of Deforum's ``cn_<n>_*``."""

    def spec(name: str, kind: str, **rules: Any) -> tuple[str, Any, Any]:
        key = f"cn_{n}_{name}"
        default = next(f.default for f in dataclasses.fields(ControlNetUnit) if f.name == name)
        label, tooltip = controlnet.unit_label(n, name), controlnet.UNIT_LABELS[name][1]
        rules = {"key": key, "deforum_key": key, "label": label, "tooltip": tooltip, **rules}
        return name, Any, _spec(default, kind, **rules)

    fields = [
        spec("enabled", "bool"),
        spec("module", "str"),
        spec("model", "str"),
        spec("weight", "str", blender_default=""),  # empty: Blender's animatable Weight
        spec("guidance_start", "str"),
        spec("guidance_end", "str"),
        spec("control_mode", "choice", choices=controlnet.CONTROL_MODES),
        spec("resize_mode", "choice", choices=controlnet.RESIZE_MODES),
        spec("processor_res", "int", minimum=8, maximum=8192),
        spec("threshold_a", "float"),
        spec("threshold_b", "float"),
        spec("vid_path", "str", path="FILE_PATH"),
        spec("loopback_mode", "bool"),
    ]
    made: type[ControlNetUnit] = dataclasses.make_dataclass(
        f"ControlNetUnit{n}", fields, bases=(ControlNetUnit,), frozen=True
    )
    made.__doc__ = f"ControlNet unit {n} (Deforum's cn_{n}_*)."
    return made


CONTROLNET_UNITS: tuple[type[ControlNetUnit], ...] = tuple(
    _unit_class(n) for n in range(1, controlnet.UNIT_COUNT + 1)
)


def _default_params() -> dict[str, Param]:
    return {name: spec.default for name, spec in jf.PARAMS.items()}


@dataclass(frozen=True)
class Job:
    """A whole render. Build it with :meth:`from_dict` (validated) or ``Job()`` (defaults)."""

    version: int = _spec(JOB_VERSION, "int")
    W: int = _spec(512, "int", minimum=8, maximum=8192, multiple_of=8, deforum_key="W")
    H: int = _spec(512, "int", minimum=8, maximum=8192, multiple_of=8, deforum_key="H")
    first_frame: int = _spec(1, "int")
    last_frame: int = _spec(120, "int")
    # At most Blender's own frame rate limit: ffmpeg cannot parse rates far above it.
    fps: float = _spec(
        15.0,
        "float",
        minimum=0.001,
        maximum=32767,
        deforum_key="fps",
        label="FPS",
        blender_unbounded=True,
        tooltip="Frames per second of the video when not using the scene's frame rate",
        soft_max=120.0,
    )
    animation_mode: str = _spec(
        "3D",
        "choice",
        choices=jf.ANIMATION_MODES,
        deforum_key="animation_mode",
        label="Animation Mode",
        tooltip="How each frame moves from the previous one (Deforum's animation_mode)",
    )
    sampler: str = _spec(
        "Euler a",
        "sampler",
        deforum_key="sampler",
        label="Sampler",
        tooltip="The diffusion sampler, by its Automatic1111 name",
    )
    # Deforum's sampler_schedule (None: off): the sampler per frame, '0: ("Euler a")'.
    sampler_schedule: str | None = _spec(
        None,
        "optional_str",
        deforum_key="sampler_schedule",
        label="Sampler Schedule",
        tooltip='The sampler per frame, e.g. 0: ("Euler a"), 30: ("DDIM"); empty: Sampler on '
        "every frame",
        doc="The sampler per frame as Deforum's string schedule (A1111 names); empty: "
        "Sampler on every frame",
        deforum_doc="`sampler_schedule` (read when `enable_sampler_scheduling` is on)",
    )
    device: str = _spec(
        "auto",
        "choice",
        choices=jf.DEVICES,
        label="Device",
        tooltip="Where the worker runs the model",
    )
    tiling: bool = _deforum(
        False,
        "bool",
        label="Tiling",
        tooltip="Make images that tile seamlessly: the model's convolutions wrap around the "
        "edges (Automatic1111's Tiling)",
    )
    model: Model = field(default_factory=Model)
    params: dict[str, Param] = field(default_factory=_default_params)
    interpolation: dict[str, str] = field(default_factory=dict)  # param -> linear|cubic|step
    prompts: Prompts = field(default_factory=Prompts)
    seeds: Seeds = field(default_factory=Seeds)
    motion: Motion = field(default_factory=Motion)
    depth: Depth = field(default_factory=Depth)
    coherence: Coherence = field(default_factory=Coherence)
    cadence: Cadence = field(default_factory=Cadence)
    init: Init = field(default_factory=Init)
    video_input: VideoInput = field(default_factory=VideoInput)
    stills: Stills = field(default_factory=Stills)
    interpolate: Interpolate = field(default_factory=Interpolate)
    scene_guide: SceneGuide = field(default_factory=SceneGuide)
    output: Output = field(default_factory=Output)
    finish: Finish = field(default_factory=Finish)
    cn_1: ControlNetUnit = field(default_factory=CONTROLNET_UNITS[0])
    cn_2: ControlNetUnit = field(default_factory=CONTROLNET_UNITS[1])
    cn_3: ControlNetUnit = field(default_factory=CONTROLNET_UNITS[2])
    cn_4: ControlNetUnit = field(default_factory=CONTROLNET_UNITS[3])
    cn_5: ControlNetUnit = field(default_factory=CONTROLNET_UNITS[4])

    @property
    def max_frames(self) -> int:
        """Number of frames in the range (Deforum's ``max_frames``)."""
        return self.last_frame - self.first_frame + 1

    def series(
        self, name: str, *, seed: int | None = None, warnings: list[str] | None = None
    ) -> list[float]:
        """The per-frame values of parameter ``name``, one per frame of the range.

        ``seed`` is the ``s`` of schedule expressions; the job's master seed by default.
        Where Deforum's reading differs from the text's look, a line goes to ``warnings``.
        """
        if name not in jf.PARAMS:
            raise DeforumInputError(f"params: no parameter {name!r}{did_you_mean(name, jf.PARAMS)}")
        return _resolve_param(
            self.params[name],
            self.max_frames,
            self.seeds.seed if seed is None else seed,
            f"params.{name}",
            self.interpolation.get(name, "linear"),
            warnings,
        )

    def schedule_warnings(self, *, seed: int | None = None) -> list[str]:
        """What Deforum's reading of the job's schedule strings drops or fills, one line each."""
        warnings: list[str] = []
        for name, value in self.params.items():
            if isinstance(value, str):
                self.series(name, seed=seed, warnings=warnings)
        return warnings

    def frame_samplers(self, *, seed: int | None = None) -> list[str]:
        """The sampler of every frame: ``sampler_schedule``'s when set, else ``sampler``."""
        if self.sampler_schedule is None:
            return [self.sampler] * self.max_frames
        values = self._string_schedule(self.sampler_schedule, "sampler_schedule", seed)
        names = {v: canonical_sampler(v, field="sampler_schedule") for v in set(values)}
        return [names[value] for value in values]

    def frame_models(self, *, seed: int | None = None) -> list[str]:
        """The model of every frame: ``model.checkpoint_schedule``'s when set, else ``model.id``."""
        if self.model.checkpoint_schedule is None:
            return [self.model.id] * self.max_frames
        path = "model.checkpoint_schedule"
        values = self._string_schedule(self.model.checkpoint_schedule, path, seed)
        if any(not value.strip() for value in values):
            raise DeforumInputError(
                f"{path}: a keyframe names no model; write a path or Hugging Face id in each, "
                'e.g. 0: ("/models/a.safetensors"), 30: ("org/model")'
            )
        return [value.strip() for value in values]

    def _string_schedule(self, text: str, path: str, seed: int | None) -> list[str]:
        from .schedules import evaluate_string_schedule

        seed = self.seeds.seed if seed is None else seed
        return evaluate_string_schedule(text, self.max_frames, field=path, seed=seed)

    def frame_prompts(self, *, seed: int | None = None) -> list[FramePrompt]:
        """The prompt of every frame, with the global parts and the optional blend."""
        return prompts_for_frames(
            self.prompts.keyframes,
            self.max_frames,
            seed=self.seeds.seed if seed is None else seed,
            positive=self.prompts.positive_prompts,
            negative=self.prompts.negative_prompts,
            blend=self.prompts.blend,
        )

    def with_resolved_seed(self) -> Job:
        """This job with seed −1 replaced by a freshly picked seed (record it)."""
        seeds = dataclasses.replace(self.seeds, seed=resolve_master_seed(self.seeds.seed))
        return dataclasses.replace(self, seeds=seeds)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; ``Job.from_dict(job.to_dict()) == job``."""
        data: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if dataclasses.is_dataclass(value):
                data[item.name] = {
                    sub.name: _copy(getattr(value, sub.name)) for sub in dataclasses.fields(value)
                }
            else:
                data[item.name] = _copy(value)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """A validated Job; raises JobError listing every problem at once."""
        return _Reader().job(data)


# -- reading and checking -----------------------------------------------------------------

GROUPS: dict[str, type[Any]] = {
    "model": Model,
    "prompts": Prompts,
    "seeds": Seeds,
    "motion": Motion,
    "depth": Depth,
    "coherence": Coherence,
    "cadence": Cadence,
    "init": Init,
    "video_input": VideoInput,
    "stills": Stills,
    "interpolate": Interpolate,
    "scene_guide": SceneGuide,
    "output": Output,
    "finish": Finish,
    **dict(zip(controlnet.UNIT_GROUPS, CONTROLNET_UNITS, strict=True)),
}
TOP_FIELDS = [item.name for item in dataclasses.fields(Job) if "spec" in item.metadata]


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return json.loads(json.dumps(value))  # deep copy of plain JSON data
    return value


def did_you_mean(name: str, candidates: Any) -> str:
    """``"; did you mean 'x'?"`` for the closest candidates, or an empty string."""
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _resolve_param(
    value: Param, frames: int, seed: int, path: str, mode: str, warnings: list[str] | None = None
) -> list[float]:
    if isinstance(value, str):
        from .schedules import evaluate_schedule

        return evaluate_schedule(
            value, frames, seed, field=path, interpolation=mode, warnings=warnings
        )
    if isinstance(value, list):
        return [float(v) for v in value]
    return [float(value)] * frames


# The animation modes whose render reads a per-frame parameter (others read it in every
# mode): from the parameter table.
USED_IN_MODES: dict[str, tuple[str, ...]] = {
    name: spec.modes for name, spec in jf.PARAMS.items() if spec.modes
}
# Said after a range error, where the number's meaning is not obvious.
RANGE_HINTS = {"zoom": " (1 means no zoom; 1.01 zooms in by 1% per frame)"}


class _Reader:
    """Checks a job dict field by field, collecting every problem before failing."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def bad(self, message: str) -> None:
        self.problems.append(message)

    def value(self, path: str, value: Any, spec: FieldSpec) -> Any:
        """The checked (and normalised) value, or None after recording a problem."""
        kind = spec.kind
        if kind == "optional_str" and value is None:
            return None
        if kind in ("str", "optional_str", "choice", "sampler") and not isinstance(value, str):
            self.bad(f"{path}: {value!r} is not text; write it in quotes")
            return None
        if kind == "bool":
            if not isinstance(value, bool):
                self.bad(f"{path}: {value!r} is not true or false")
                return None
            return value
        if kind == "choice":
            if value not in spec.choices:
                folded = {c.lower(): c for c in spec.choices}
                hint = (
                    f"; did you mean {folded[value.lower()]!r}?" if value.lower() in folded else ""
                )
                self.bad(
                    f"{path}: {value!r} is not allowed; use one of "
                    f"{', '.join(repr(c) for c in spec.choices)}{hint}"
                )
                return None
            return value
        if kind == "sampler":
            try:
                return canonical_sampler(value, field=path)
            except DeforumInputError as error:
                self.bad(str(error))
                return None
        if kind == "prompts":
            return self.prompt_map(path, value)
        if kind == "track":
            return self.track(path, value)
        if kind in ("int", "float"):
            return self.numeric(path, value, spec)
        return value

    def numeric(self, path: str, value: Any, spec: FieldSpec) -> float | int | None:
        number = _number(value)
        if number is None:
            self.bad(f"{path}: {value!r} is not a number")
            return None
        if spec.kind == "int" and not number.is_integer():
            self.bad(f"{path}: {value!r} is not a whole number; use {round(number)}")
            return None
        result: float | int = int(number) if spec.kind == "int" else number
        if spec.minimum is not None and number < spec.minimum:
            self.bad(f"{path}: {value!r} is below {spec.minimum:g}; use {spec.minimum:g} or more")
            return None
        if spec.maximum is not None and number > spec.maximum:
            self.bad(f"{path}: {value!r} is above {spec.maximum:g}; use {spec.maximum:g} or less")
            return None
        if spec.multiple_of and int(number) % spec.multiple_of:
            step = spec.multiple_of
            fix = max(step, round(number / step) * step)
            self.bad(f"{path}: {value!r} is not a multiple of {step}; use {fix}")
            return None
        return result

    def prompt_map(self, path: str, value: Any) -> dict[str, str] | None:
        if not isinstance(value, dict):
            self.bad(
                f'{path}: {value!r} is not an object of frame -> prompt, e.g. {{"0": "a cat"}}'
            )
            return None
        return {str(k): v for k, v in value.items()}  # keys checked once the frames are known

    def track(self, path: str, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.bad(f"{path}: {type(value).__name__} is not a camera track object (or null)")
            return None
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as error:
            self.bad(f"{path}: not plain JSON data ({error})")
            return None
        return _copy(value)  # type: ignore[no-any-return]

    def unknown_keys(self, path: str, data: Mapping[str, Any], known: list[str]) -> None:
        for key in data:
            if key in known:
                continue
            hint = did_you_mean(key, known)
            if not path and (key in jf.PARAMS or key in jf.PARAM_BY_DEFORUM_KEY):
                hint = "; per-frame values go in 'params'"  # sure, so before a look-alike
            elif not hint and not path:
                homes = [g for g, cls in GROUPS.items() if key in _field_names(cls)]
                if homes:
                    hint = f"; it belongs in {homes[0]!r}: {{{json.dumps(key)}: …}}"
            where = f"{path}." if path else ""
            self.bad(f"{where}{key}: unknown key{hint}")

    def fields(self, path: str, cls: type[Any], data: Any) -> dict[str, Any]:
        """Checked keyword arguments for dataclass ``cls`` (defaults for missing keys)."""
        if not isinstance(data, Mapping):
            self.bad(f"{path}: {data!r} is not an object")
            return {}
        names = _field_names(cls)
        self.unknown_keys(path, data, names)
        kwargs: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            if item.name not in data:
                continue
            checked = self.value(f"{path}.{item.name}", data[item.name], item.metadata["spec"])
            if checked is not None or data[item.name] is None:
                kwargs[item.name] = checked
        return kwargs

    def job(self, data: Mapping[str, Any]) -> Job:
        if not isinstance(data, Mapping):
            raise JobError([f"job: {type(data).__name__} is not a JSON object"])
        self.unknown_keys("", data, [item.name for item in dataclasses.fields(Job)])
        version = data.get("version")
        if version is None:
            self.bad(f'version: missing; add "version": {JOB_VERSION}')
        elif _number(version) != JOB_VERSION:
            newer = _number(version) is not None and float(version) > JOB_VERSION
            why = "written by a newer deforum_blender; update it" if newer else "unknown"
            self.bad(f"version: {version!r} is {why}; this version reads version {JOB_VERSION}")

        top: dict[str, Any] = {}
        for name in TOP_FIELDS:
            if name in data and name != "version":
                checked = self.value(name, data[name], field_spec(Job, name))
                if checked is not None:
                    top[name] = checked
        groups = {
            name: cls(**self.fields(name, cls, data.get(name, {}))) for name, cls in GROUPS.items()
        }
        job = Job(**top, **groups)  # provisional: defaults where a field was bad
        from .schedules import MAX_FRAMES

        # Checked before anything is built per frame: a huge count must fail at once.
        frames_ok = 1 <= job.max_frames <= MAX_FRAMES
        if job.max_frames < 1:
            self.bad(
                f"last_frame: {job.last_frame} is before first_frame {job.first_frame}; "
                "use a last_frame at or after first_frame"
            )
        elif not frames_ok:
            self.bad(
                f"max_frames: {job.max_frames} frames (first_frame {job.first_frame} to "
                f"last_frame {job.last_frame}) is more than {MAX_FRAMES}; render fewer frames"
            )
        params = self.params(data.get("params", {}), job, frames_ok)
        interpolation = self.interpolation(data.get("interpolation", {}))
        job = dataclasses.replace(job, params=params, interpolation=interpolation)
        if frames_ok:
            self.cross_checks(job)
        if self.problems:
            raise JobError(self.problems)
        return job

    def params(self, data: Any, job: Job, frames_ok: bool) -> dict[str, Param]:
        params = _default_params()
        if not isinstance(data, Mapping):
            self.bad(f"params: {data!r} is not an object of name -> value")
            return params
        for key in data:
            if key not in jf.PARAMS:
                known = jf.PARAM_BY_DEFORUM_KEY.get(key)
                hint = f"; use {known!r}" if known else did_you_mean(key, jf.PARAMS)
                self.bad(f"params.{key}: unknown parameter{hint}")
        for name, spec in jf.PARAMS.items():
            if name not in data:
                continue
            raw = data[name]
            path = f"params.{name}"
            value: Param
            if isinstance(raw, str):
                value = raw
            elif isinstance(raw, list):
                numbers = [_number(v) for v in raw]
                if any(n is None for n in numbers):
                    index = numbers.index(None)
                    self.bad(f"{path}: item {index} ({raw[index]!r}) is not a finite number")
                    continue
                value = [n for n in numbers if n is not None]
                if frames_ok and len(value) != job.max_frames:
                    self.bad(
                        f"{path}: {len(value)} values for {job.max_frames} frames; give one "
                        "value per frame, a constant or a schedule string"
                    )
                    continue
            else:
                number = _number(raw)
                if number is None:
                    self.bad(f"{path}: {raw!r} is not a number, list or schedule string")
                    continue
                value = number
            params[name] = value
            if frames_ok:
                self.param_range(name, spec, value, job)
        return params

    def param_range(self, name: str, spec: jf.ParamSpec, value: Param, job: Job) -> None:
        path = f"params.{name}"
        try:
            series = _resolve_param(value, job.max_frames, job.seeds.seed, path, "linear")
        except DeforumInputError as error:
            self.bad(str(error))
            return
        if job.animation_mode not in USED_IN_MODES.get(name, jf.ANIMATION_MODES):
            return  # a mode that never reads it: Deforum files keep 2D values in 3D and back
        for frame, number in enumerate(series):
            if math.isnan(number):
                problem = "is not a number (NaN)"
            elif spec.minimum is not None and number < spec.minimum:
                problem = f"is below {spec.minimum:g}"
            elif spec.maximum is not None and number > spec.maximum:
                problem = f"is above {spec.maximum:g}"
            else:
                continue
            low = "any value" if spec.minimum is None else f"{spec.minimum:g}"
            high = "any value" if spec.maximum is None else f"{spec.maximum:g}"
            hint = RANGE_HINTS.get(name, "")
            self.bad(
                f"{path}: {number:g} at frame {frame} {problem} ({spec.meaning}); "
                f"use values from {low} to {high}{hint}"
            )
            return

    def interpolation(self, data: Any) -> dict[str, str]:
        from .schedules import INTERPOLATIONS

        if not isinstance(data, Mapping):
            self.bad(f"interpolation: {data!r} is not an object of parameter -> mode")
            return {}
        result: dict[str, str] = {}
        for name, mode in data.items():
            if name not in jf.PARAMS:
                self.bad(f"interpolation.{name}: unknown parameter{did_you_mean(name, jf.PARAMS)}")
            elif mode not in INTERPOLATIONS:
                self.bad(
                    f"interpolation.{name}: {mode!r} is not a mode; use one of "
                    f"{', '.join(INTERPOLATIONS)}"
                )
            else:
                result[name] = mode
        return result

    def cross_checks(self, job: Job) -> None:
        """Rules between fields: a switch that is on needs the file it names."""
        try:
            keyframes(job.prompts.keyframes, job.max_frames, job.seeds.seed)
        except DeforumInputError as error:
            self.bad(str(error).replace("prompts", "prompts.keyframes", 1))
        needs = [
            (job.init.use_init, job.init.init_image, "init.init_image", "init.use_init"),
            (job.init.use_mask, job.init.mask_file, "init.mask_file", "init.use_mask"),
            (
                job.coherence.color_coherence == "Image",
                job.coherence.color_coherence_image_path,
                "coherence.color_coherence_image_path",
                "coherence.color_coherence 'Image'",
            ),
            (
                job.animation_mode == "Video Input",
                job.video_input.video_init_path,
                "video_input.video_init_path",
                "animation_mode 'Video Input'",
            ),
            (
                job.coherence.color_coherence == "Video Input",
                job.video_input.video_init_path,
                "video_input.video_init_path",
                "coherence.color_coherence 'Video Input'",
            ),
            (
                job.video_input.use_mask_video,
                job.video_input.video_mask_path,
                "video_input.video_mask_path",
                "video_input.use_mask_video",
            ),
        ]
        for switched_on, path_value, path, switch in needs:
            if switched_on and not path_value:
                self.bad(f"{path}: empty while {switch} is on; give a file or turn it off")
        for per_frame in (job.frame_samplers, job.frame_models):
            try:
                per_frame()
            except DeforumInputError as error:
                self.bad(str(error))
        for group in controlnet.UNIT_GROUPS:
            unit = getattr(job, group)
            for problem in controlnet.unit_problems(group, unit, job.max_frames, job.seeds.seed):
                self.bad(problem)
        video = job.video_input
        if video.extract_to_frame != -1 and video.extract_to_frame < video.extract_from_frame:
            self.bad(
                f"video_input.extract_to_frame: {video.extract_to_frame} is before "
                f"extract_from_frame {video.extract_from_frame}; use -1 for the end"
            )


def _field_names(cls: type[Any]) -> list[str]:
    return [item.name for item in dataclasses.fields(cls)]


def field_spec(cls: type[Any], name: str) -> FieldSpec:
    """The FieldSpec of field ``name`` of dataclass ``cls`` (a Job group or the Job)."""
    spec: FieldSpec = next(f for f in dataclasses.fields(cls) if f.name == name).metadata["spec"]
    return spec


# -- files --------------------------------------------------------------------------------


def read_json_file(path: Path, what: str) -> Any:
    """Parsed JSON from ``path``; a clear DeforumInputError for a missing or broken file."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DeforumInputError(f"{what}: no such file {str(path)!r}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DeforumInputError(f"{what}: cannot read {str(path)!r} ({error})") from None
    return parse_json_text(text, f"{what} {str(path)!r}")


def parse_json_text(text: str, what: str) -> Any:
    """Parsed JSON; broken JSON names the line and column (and a trailing comma)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise DeforumInputError(f"{what}: the JSON is nested too deeply to read") from None
    except json.JSONDecodeError as error:
        before = text[: error.pos].rstrip()
        hint = "; remove the trailing comma" if before.endswith(",") else ""
        raise DeforumInputError(
            f"{what}: not valid JSON at line {error.lineno}, column {error.colno}: "
            f"{error.msg}{hint}"
        ) from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise DeforumInputError(f"{what}: not valid JSON: {str(error).split(';')[0]}") from None


def load_job(path: str | os.PathLike[str]) -> Job:
    """Read and validate a job JSON file."""
    return Job.from_dict(read_json_file(Path(path), "job"))


def save_job(job: Job, path: str | os.PathLike[str]) -> None:
    """Write ``job`` as JSON, atomically (a temporary file beside it, then a rename)."""
    write_text(path, json.dumps(job.to_dict(), indent=2) + "\n")
