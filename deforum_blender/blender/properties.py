"""The Deforum settings of a scene (``scene.deforum``), saved with the .blend.

Names follow Deforum's settings keys where one exists (DESIGN.md §4). Enum items, defaults
and ranges come from the core tables (``core/job_fields.py``, ``core/samplers.py``, the
``Job`` dataclass defaults), so the panel, the reader and the CLI agree.

Per-frame values (strength, noise, CFG, …: :data:`ANIMATED`) are animatable properties:
the artist keyframes them with Blender's easing and ``blender/scene_job.py`` samples the
F-curves per frame. Each has a sibling ``<name>_schedule`` text property; when it is not
empty, the Deforum schedule string in it overrides the property and its keyframes.

Prompts are :class:`DeforumPrompt` items; each labels its frame with a timeline marker,
and the marker's frame is the prompt's frame (move the marker, the prompt moves).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import bpy

from ..core import job_fields as jf
from ..core.job import Job
from ..core.samplers import DEFAULT_SAMPLER, SAMPLER_NAMES
from ..core.seeds import SEED_BEHAVIORS, SEED_RANGE

# Paths may start with "//" (the .blend's folder); Blender 4.5+ asks for this option.
_PATH_OPTIONS: Any = {"PATH_SUPPORTS_BLEND_RELATIVE"}

# The Job's own defaults are the settings' defaults: one source of truth.
_JOB = Job()
#: The largest value a Blender IntProperty holds (signed 32-bit).
INT_PROPERTY_MAX = 2**31 - 1


def _enum_items(
    values: Iterable[str], descriptions: Mapping[str, str], names: Mapping[str, str] | None = None
) -> tuple[tuple[str, str, str], ...]:
    """EnumProperty items whose identifiers are the core's values, so they map 1:1 to the Job."""
    return tuple(
        (value, (names or {}).get(value, value), descriptions.get(value, value)) for value in values
    )


ANIMATION_MODE_ITEMS = _enum_items(
    jf.ANIMATION_MODES,
    {
        "None": "No motion: every frame is diffused on its own",
        "2D": "Deforum's 2D warp (zoom, rotation, pan) of each frame",
        "3D": "The scene camera's motion warps each frame through depth",
        "Video Input": "The frames of a video are the init images",
        "Interpolation": "Frames blend from one prompt to the next, without motion",
    },
)
DEVICE_ITEMS = _enum_items(
    jf.DEVICES,
    {
        "auto": "CUDA when the worker finds a GPU, otherwise the CPU",
        "cpu": "Always the CPU (slow, but works everywhere)",
        "cuda": "An NVIDIA GPU through CUDA",
    },
    {"auto": "Auto", "cpu": "CPU", "cuda": "CUDA"},
)
SAMPLER_ITEMS = _enum_items(SAMPLER_NAMES, {name: f"The {name} sampler" for name in SAMPLER_NAMES})
SEED_BEHAVIOR_ITEMS = _enum_items(
    SEED_BEHAVIORS,
    {
        "iter": "Add 1 to the seed every Seed Iter N diffused frames",
        "fixed": "The same seed on every frame",
        "random": "A random seed per frame (reproducible from the master seed)",
        "ladder": "Seed steps +2, −1, +2, −1, …",
        "alternate": "Seed steps +1, −1, +1, …",
        "schedule": "The seed of each frame from Seed's keyframes or its schedule",
    },
    {name: name.capitalize() for name in SEED_BEHAVIORS},
)
BORDER_ITEMS = _enum_items(
    jf.BORDERS,
    {
        "replicate": "2D mode: repeat the edge pixels where the warp leaves the image",
        "wrap": "2D mode: wrap around to the opposite edge",
    },
    {"replicate": "Replicate", "wrap": "Wrap"},
)
DEPTH_SOURCE_ITEMS = _enum_items(
    jf.DEPTH_SOURCES,
    {
        "scene": "Blender renders the scene's own depth (Z pass): exact and metric",
        "estimated": "A depth-estimation model guesses depth from each frame",
        "flat": "A constant depth: the warp moves the image as a flat card",
        "files": "Per-frame depth maps from a folder (Depth Folder), as a depth model predicts",
    },
    {"scene": "Scene", "estimated": "Estimated", "flat": "Flat", "files": "Files"},
)
PADDING_MODE_ITEMS = _enum_items(
    jf.PADDING_MODES,
    {
        "border": "Repeat the edge pixels where the warp looks outside the frame",
        "reflection": "Mirror the frame at its edges",
        "zeros": "Black outside the frame",
    },
    {"border": "Border", "reflection": "Reflection", "zeros": "Zeros"},
)
SAMPLING_MODE_ITEMS = _enum_items(
    jf.SAMPLING_MODES,
    {
        "bicubic": "Sharpest resampling of the warped frame",
        "bilinear": "Smooth resampling",
        "nearest": "Nearest pixel, no filtering",
    },
    {"bicubic": "Bicubic", "bilinear": "Bilinear", "nearest": "Nearest"},
)
COLOR_COHERENCE_ITEMS = _enum_items(
    jf.COLOR_COHERENCE,
    {
        "None": "No colour matching: colours may drift over the animation",
        "LAB": "Match each frame's colours to the first frame in LAB space",
        "HSV": "Match colours in HSV space",
        "RGB": "Match colours in RGB space",
        "Video Input": "Match colours to the video input's frames",
        "Image": "Match colours to the Color Coherence Image",
    },
)
NOISE_TYPE_ITEMS = _enum_items(
    jf.NOISE_TYPES,
    {"uniform": "Uniform random noise", "perlin": "Perlin noise (smoother, Deforum's default)"},
    {"uniform": "Uniform", "perlin": "Perlin"},
)
OPTICAL_FLOW_CADENCE_ITEMS = _enum_items(
    jf.OPTICAL_FLOW_CADENCE,
    {
        "None": "Cross-fade the warped frames between diffused frames",
        "DIS Medium": "Tween with OpenCV DIS optical flow (medium preset)",
        "DIS Fine": "Tween with OpenCV DIS optical flow (fine preset)",
        "Farneback": "Tween with OpenCV Farneback optical flow",
    },
)


@dataclass(frozen=True)
class Animated:
    """One per-frame Job parameter shown as an animatable property (``jf.PARAMS[name]``)."""

    name: str
    label: str
    description: str
    integer: bool = False
    subtype: str = "NONE"
    soft_max: float | None = None


# The per-frame parameters that the artist keyframes; ``seed`` is handled on its own
# (it is also the master seed). Range limits come from jf.PARAMS.
ANIMATED: tuple[Animated, ...] = (
    Animated(
        "strength",
        "Strength",
        "Share of the previous frame kept in the next (Deforum's strength_schedule): "
        "0 makes a new image, 1 keeps it unchanged; the diffusion denoise is 1 − strength",
        subtype="FACTOR",
    ),
    Animated(
        "noise",
        "Noise",
        "Noise added to the warped frame before diffusion (noise_schedule)",
        subtype="FACTOR",
    ),
    Animated(
        "contrast",
        "Contrast",
        "Contrast factor applied to the warped frame before diffusion (contrast_schedule); "
        "1 leaves it unchanged",
        soft_max=2.0,
    ),
    Animated(
        "cfg_scale",
        "CFG Scale",
        "How closely the image follows the prompt: classifier-free guidance scale "
        "(cfg_scale_schedule)",
        soft_max=30.0,
    ),
    Animated(
        "steps",
        "Steps",
        "Sampler steps (steps_schedule); only about steps × (1 − strength) of them run "
        "on each frame after the first",
        integer=True,
        soft_max=150.0,
    ),
    Animated(
        "clip_skip",
        "CLIP Skip",
        "Text encoder layers skipped from the end (clipskip_schedule): 1 uses the last layer, "
        "2 the one before it",
        integer=True,
    ),
    Animated(
        "noise_multiplier",
        "Noise Multiplier",
        "Multiplier of the initial latent noise (noise_multiplier_schedule)",
        soft_max=2.0,
    ),
    Animated(
        "antiblur_amount",
        "Anti-Blur Amount",
        "Strength of the unsharp mask that counters blur building up over frames "
        "(amount_schedule); 0 turns it off",
        soft_max=2.0,
    ),
    Animated(
        "antiblur_kernel",
        "Anti-Blur Kernel",
        "Kernel size of the anti-blur unsharp mask in pixels (kernel_schedule)",
        integer=True,
    ),
    Animated(
        "antiblur_sigma",
        "Anti-Blur Sigma",
        "Gaussian sigma of the anti-blur unsharp mask (sigma_schedule)",
        soft_max=5.0,
    ),
    Animated(
        "antiblur_threshold",
        "Anti-Blur Threshold",
        "Differences smaller than this are not sharpened (threshold_schedule)",
        soft_max=1.0,
    ),
    Animated(
        "cadence_flow_factor",
        "Cadence Flow Factor",
        "Scale of the optical flow used to tween between diffused frames "
        "(cadence_flow_factor_schedule)",
        soft_max=2.0,
    ),
    Animated(
        "scene_blend",
        "Scene Blend",
        "Share of Blender's own render of the frame mixed into the warped previous frame "
        "before diffusion: 0 none, 1 the render only",
        subtype="FACTOR",
    ),
)
ANIMATED_BY_NAME: dict[str, Animated] = {item.name: item for item in ANIMATED}
# Every property that holds a per-frame Job parameter (``seed`` included) and so has a
# ``<name>_schedule`` sibling.
PER_FRAME_NAMES: tuple[str, ...] = (*ANIMATED_BY_NAME, "seed")


def schedule_property_name(name: str) -> str:
    """The text property holding the Deforum schedule that overrides property ``name``."""
    return f"{name}_schedule"


def _deforum_key(name: str) -> str:
    return jf.PARAMS[name].deforum_key or schedule_property_name(name)


def _animated_property(item: Animated) -> Any:
    spec = jf.PARAMS[item.name]
    limits: dict[str, Any] = {}
    if spec.minimum is not None:
        limits["min"] = spec.minimum if not item.integer else int(spec.minimum)
    if spec.maximum is not None:
        limits["max"] = spec.maximum if not item.integer else int(spec.maximum)
    if item.soft_max is not None:
        limits["soft_max"] = item.soft_max if not item.integer else int(item.soft_max)
    default = spec.default if isinstance(spec.default, float) else 0.0
    common = {"name": item.label, "description": item.description, **limits}
    if item.integer:
        return bpy.props.IntProperty(default=round(default), **common)
    return bpy.props.FloatProperty(
        default=default, subtype=cast(Any, item.subtype), precision=3, **common
    )


def _schedule_property(name: str, label: str) -> Any:
    return bpy.props.StringProperty(
        name=f"{label} Schedule",
        description=(
            f"A Deforum schedule for {label} ({_deforum_key(name)}), e.g. "
            "'0: (0.65), 30: (0.5)', frames counted from Frame Start = 0 as in Deforum. "
            "When set it overrides the value and its keyframes; leave empty to use them"
        ),
        default="",
    )


def deforum_settings(scene: bpy.types.Scene) -> Any:
    """``scene.deforum`` (typed ``Any``: the type stubs do not know the add-on's pointer)."""
    return cast(Any, scene).deforum


# -- prompts ------------------------------------------------------------------------------

MARKER_PREFIX = "P"
_MARKER_TEXT_LENGTH = 20


def marker_label(number: int, text: str) -> str:
    """Marker name for prompt ``number``: short, unique by its number, e.g. ``P3 a red fox``."""
    words = " ".join(text.split())
    if len(words) > _MARKER_TEXT_LENGTH:
        words = words[: _MARKER_TEXT_LENGTH - 1].rstrip() + "…"
    return f"{MARKER_PREFIX}{number} {words}".rstrip()


def prompt_marker(prompt: Any) -> Any:
    """The timeline marker labelling ``prompt``, or None when it was deleted or renamed."""
    if not prompt.marker:
        return None
    return prompt.id_data.timeline_markers.get(prompt.marker)


def _get_frame(self: Any) -> int:
    # The marker is the truth while it exists: moving it in the timeline moves the prompt.
    marker = prompt_marker(self)
    return int(marker.frame) if marker is not None else int(self.stored_frame)


def _set_frame(self: Any, value: int) -> None:
    self.stored_frame = value
    marker = prompt_marker(self)
    if marker is not None:
        marker.frame = value


def _rename_marker(self: Any, _context: Any) -> None:
    marker = prompt_marker(self)
    if marker is not None:
        marker.name = marker_label(self.number, self.prompt)
        self.marker = marker.name


class DeforumPrompt(bpy.types.PropertyGroup):
    """One entry of the prompt list: from its frame on, this prompt is diffused."""

    prompt: bpy.props.StringProperty(
        name="Prompt",
        description=(
            "What the frames show from this prompt's frame on; `expressions` in backticks "
            "are evaluated per frame, as in Deforum"
        ),
        default="",
        update=_rename_marker,
    )
    negative_prompt: bpy.props.StringProperty(
        name="Negative Prompt",
        description="What the frames should not show (Deforum's part after --neg)",
        default="",
    )
    frame: bpy.props.IntProperty(
        name="Frame",
        description=(
            "Blender frame where this prompt starts: the frame of its timeline marker "
            "(moving the marker moves the prompt)"
        ),
        get=_get_frame,
        set=_set_frame,
    )
    stored_frame: bpy.props.IntProperty(
        name="Stored Frame",
        description="The prompt's frame when its marker is gone (kept in sync with the marker)",
        default=1,
        options={"HIDDEN"},
    )
    marker: bpy.props.StringProperty(
        name="Marker",
        description="Name of the timeline marker that labels this prompt",
        default="",
    )
    number: bpy.props.IntProperty(
        name="Number",
        description="The prompt's number, shown in its marker's name",
        default=0,
        min=0,
        options={"HIDDEN"},
    )


# -- settings ------------------------------------------------------------------------------


class DeforumSettings(bpy.types.PropertyGroup):
    """Every Deforum setting of a scene; per-frame ones are animatable (see ANIMATED)."""

    # Model and output.
    animation_mode: bpy.props.EnumProperty(
        name="Animation Mode",
        description="How each frame moves from the previous one (Deforum's animation_mode)",
        items=ANIMATION_MODE_ITEMS,
        default=_JOB.animation_mode,
    )
    model: bpy.props.StringProperty(
        name="Model",
        description=(
            "Stable Diffusion model: a Hugging Face id, a diffusers folder or a "
            ".safetensors checkpoint file"
        ),
        default=_JOB.model.id,
    )
    model_sha256: bpy.props.StringProperty(
        name="Model SHA-256",
        description=(
            "The expected sha256 of a single-file checkpoint, checked before loading "
            "(empty: not checked)"
        ),
        default="",
    )
    allow_pickle: bpy.props.BoolProperty(
        name="Allow Pickle Checkpoints",
        description=(
            "Allow .ckpt/.pt checkpoints, which can run code when loaded: only for files you trust"
        ),
        default=_JOB.model.allow_pickle,
    )
    attention_slicing: bpy.props.BoolProperty(
        name="Attention Slicing",
        description="Compute attention in slices: less GPU memory, a little slower",
        default=_JOB.model.attention_slicing,
    )
    vae_tiling: bpy.props.BoolProperty(
        name="VAE Tiling",
        description="Decode and encode images in tiles: large frames on small GPUs",
        default=_JOB.model.vae_tiling,
    )
    cpu_offload: bpy.props.BoolProperty(
        name="CPU Offload",
        description="Keep model parts in system memory until they run: least GPU memory, slower",
        default=_JOB.model.cpu_offload,
    )
    lora_dir: bpy.props.StringProperty(
        name="LoRA Folder",
        description="Folder of LoRA .safetensors files that prompts name as <lora:NAME:WEIGHT>",
        default="",
        subtype="DIR_PATH",
        options=_PATH_OPTIONS,
    )
    device: bpy.props.EnumProperty(
        name="Device",
        description="Where the worker runs the model",
        items=DEVICE_ITEMS,
        default=_JOB.device,
    )
    output_dir: bpy.props.StringProperty(
        name="Output Folder",
        description=(
            "Folder for the frames, job.json and the video; // is the .blend file's folder"
        ),
        default="//deforum/",
        subtype="DIR_PATH",
        options=_PATH_OPTIONS,
    )
    use_scene_fps: bpy.props.BoolProperty(
        name="Scene Frame Rate",
        description="Make the video at the scene's frame rate (Output > Frame Rate)",
        default=True,
    )
    fps: bpy.props.FloatProperty(
        name="FPS",
        description="Frames per second of the video when not using the scene's frame rate",
        default=_JOB.fps,
        min=0.001,
        soft_max=120.0,
    )
    make_video: bpy.props.BoolProperty(
        name="Make Video",
        description="Stitch the frames into video.mp4 when the render finishes",
        default=_JOB.output.make_video,
    )
    save_depth_maps: bpy.props.BoolProperty(
        name="Save Depth Maps",
        description="Also write each frame's depth as a 16-bit PNG (depth/depth_NNNNN.png)",
        default=_JOB.output.save_depth_maps,
    )

    # Prompts.
    prompts: bpy.props.CollectionProperty(
        type=DeforumPrompt,
        name="Prompts",
        description="Prompts keyed to frames (Deforum's prompts), labelled by timeline markers",
    )
    prompt_index: bpy.props.IntProperty(
        name="Active Prompt",
        description="The prompt selected in the list",
        default=0,
        min=0,
    )
    positive_prompts: bpy.props.StringProperty(
        name="Positive Prompts",
        description="Put before every prompt (Deforum's positive_prompts)",
        default=_JOB.prompts.positive_prompts,
    )
    negative_prompts: bpy.props.StringProperty(
        name="Negative Prompts",
        description="Put after every negative prompt (Deforum's negative_prompts)",
        default=_JOB.prompts.negative_prompts,
    )
    blend_prompts: bpy.props.BoolProperty(
        name="Blend Prompts",
        description="Between two prompts, mix them with weights that follow the frame",
        default=_JOB.prompts.blend,
    )

    # Seeds and sampler.
    seed: bpy.props.IntProperty(
        name="Seed",
        description=(
            "Master seed (−1: pick one and record it). With Seed Behavior 'Schedule' its "
            "keyframes give each frame's seed"
        ),
        default=_JOB.seeds.seed,
        min=-1,
        # An IntProperty holds a signed 32-bit value; larger seeds live in seed_text.
        max=min(SEED_RANGE - 1, INT_PROPERTY_MAX),
    )
    seed_text: bpy.props.StringProperty(
        name="Full Seed",
        description=(
            "The master seed as text, for seeds above 2147483647 (Deforum's go up to "
            "4294967295), which Seed cannot hold; when set it replaces Seed. Clear it to "
            "use Seed again"
        ),
        default="",
    )
    seed_behavior: bpy.props.EnumProperty(
        name="Seed Behavior",
        description="How the seed changes from one diffused frame to the next",
        items=SEED_BEHAVIOR_ITEMS,
        default=_JOB.seeds.seed_behavior,
    )
    seed_iter_N: bpy.props.IntProperty(
        name="Seed Iter N",
        description="With Seed Behavior 'Iter': how many diffused frames share a seed",
        default=_JOB.seeds.seed_iter_N,
        min=1,
    )
    sampler: bpy.props.EnumProperty(
        name="Sampler",
        description="The diffusion sampler, by its Automatic1111 name",
        items=SAMPLER_ITEMS,
        default=DEFAULT_SAMPLER,
    )

    show_schedules: bpy.props.BoolProperty(
        name="Schedules",
        description=(
            "Show a Deforum schedule field under every per-frame value (a schedule that "
            "is set is always shown)"
        ),
        default=False,
    )

    # Motion.
    border: bpy.props.EnumProperty(
        name="Border",
        description="2D mode: what fills the frame where the warp moves the image away",
        items=BORDER_ITEMS,
        default=_JOB.motion.border,
    )
    translation_scale: bpy.props.FloatProperty(
        name="Translation Scale",
        description=(
            "Deforum translation units per Blender unit, for showing and exporting the "
            "camera motion in Deforum's units; 0 = automatic: 200 ÷ the median distance to "
            "what the camera sees at the current frame (50 when it sees nothing)"
        ),
        default=0.0,
        min=0.0,
        soft_max=500.0,
    )

    # Depth.
    depth_source: bpy.props.EnumProperty(
        name="Depth Source",
        description="Where each frame's depth for the 3D warp comes from",
        items=DEPTH_SOURCE_ITEMS,
        default="scene",
    )
    depth_path: bpy.props.StringProperty(
        name="Depth Folder",
        description=(
            "Folder of per-frame depth maps (depth_NNNNN.npy or 16-bit PNG, relative inverse "
            "depth) for Depth Source 'Files'"
        ),
        default="",
        subtype="DIR_PATH",
        options=_PATH_OPTIONS,
    )
    depth_model: bpy.props.StringProperty(
        name="Depth Model",
        description="Depth-estimation model (Hugging Face id or folder) for Estimated depth",
        default=_JOB.depth.depth_model,
    )
    padding_mode: bpy.props.EnumProperty(
        name="Padding Mode",
        description="What the 3D warp samples outside the previous frame (padding_mode)",
        items=PADDING_MODE_ITEMS,
        default=_JOB.depth.padding_mode,
    )
    sampling_mode: bpy.props.EnumProperty(
        name="Sampling Mode",
        description="How the 3D warp resamples the previous frame (sampling_mode)",
        items=SAMPLING_MODE_ITEMS,
        default=_JOB.depth.sampling_mode,
    )

    # Coherence and cadence.
    color_coherence: bpy.props.EnumProperty(
        name="Color Coherence",
        description="Keep colours from drifting by matching each frame to a reference",
        items=COLOR_COHERENCE_ITEMS,
        default=_JOB.coherence.color_coherence,
    )
    color_coherence_image_path: bpy.props.StringProperty(
        name="Color Coherence Image",
        description="Image whose colours every frame is matched to (Color Coherence 'Image')",
        default=_JOB.coherence.color_coherence_image_path,
        subtype="FILE_PATH",
        options=_PATH_OPTIONS,
    )
    legacy_colormatch: bpy.props.BoolProperty(
        name="Legacy Color Match",
        description=(
            "Match colours before noise only (Deforum's old behaviour); off: match before noise "
            "and again after diffusion (Deforum's default)"
        ),
        default=_JOB.coherence.legacy_colormatch,
    )
    color_coherence_video_every_N_frames: bpy.props.IntProperty(
        name="Video Colour Every N Frames",
        description="Color Coherence 'Video Input': take a new colour sample every N frames",
        default=_JOB.coherence.color_coherence_video_every_N_frames,
        min=1,
    )
    color_force_grayscale: bpy.props.BoolProperty(
        name="Force Grayscale",
        description="Turn the frames grey: the warped frame before diffusion and the tweens",
        default=_JOB.coherence.color_force_grayscale,
    )
    noise_type: bpy.props.EnumProperty(
        name="Noise Type",
        description="Kind of noise added before diffusion",
        items=NOISE_TYPE_ITEMS,
        default=_JOB.coherence.noise_type,
    )
    perlin_octaves: bpy.props.IntProperty(
        name="Perlin Octaves",
        description="Octaves of the Perlin noise: more adds finer detail",
        default=_JOB.coherence.perlin_octaves,
        min=1,
        max=8,
    )
    perlin_persistence: bpy.props.FloatProperty(
        name="Perlin Persistence",
        description="How much each finer octave of Perlin noise contributes",
        default=_JOB.coherence.perlin_persistence,
        min=0.0,
        max=1.0,
        subtype="FACTOR",
    )
    diffusion_cadence: bpy.props.IntProperty(
        name="Cadence",
        description=(
            "Diffuse every N-th frame and tween the frames between (Deforum's "
            "diffusion_cadence); 1 diffuses every frame"
        ),
        default=_JOB.cadence.diffusion_cadence,
        min=1,
        max=50,
    )
    optical_flow_cadence: bpy.props.EnumProperty(
        name="Optical Flow Cadence",
        description="How the frames between diffused frames are tweened",
        items=OPTICAL_FLOW_CADENCE_ITEMS,
        default=_JOB.cadence.optical_flow_cadence,
    )

    # Init and mask.
    use_init: bpy.props.BoolProperty(
        name="Use Init",
        description="Start the first frame from an init image instead of noise",
        default=_JOB.init.use_init,
    )
    init_image: bpy.props.StringProperty(
        name="Init Image",
        description="Image the first frame starts from",
        default="",
        subtype="FILE_PATH",
        options=_PATH_OPTIONS,
    )
    init_strength: bpy.props.FloatProperty(
        name="Init Strength",
        description=(
            "Share of the init image kept in the first frame (Deforum's strength): "
            "0 ignores it, 1 keeps it unchanged"
        ),
        default=_JOB.init.strength,
        min=0.0,
        max=1.0,
        subtype="FACTOR",
    )
    use_mask: bpy.props.BoolProperty(
        name="Use Mask",
        description="Diffuse only where the mask is white (inpainting)",
        default=_JOB.init.use_mask,
    )
    mask_file: bpy.props.StringProperty(
        name="Mask File",
        description="Black-and-white mask image: white areas are diffused",
        default="",
        subtype="FILE_PATH",
        options=_PATH_OPTIONS,
    )
    invert_mask: bpy.props.BoolProperty(
        name="Invert Mask",
        description="Diffuse where the mask is black instead",
        default=_JOB.init.invert_mask,
    )
    mask_contrast_adjust: bpy.props.FloatProperty(
        name="Mask Contrast",
        description="Contrast applied to the mask before use",
        default=_JOB.init.mask_contrast_adjust,
        min=0.0,
        soft_max=4.0,
    )
    mask_brightness_adjust: bpy.props.FloatProperty(
        name="Mask Brightness",
        description="Brightness applied to the mask before use",
        default=_JOB.init.mask_brightness_adjust,
        min=0.0,
        soft_max=4.0,
    )
    overlay_mask: bpy.props.BoolProperty(
        name="Overlay Mask",
        description="Paste the unmasked part of the input back over the diffused frame",
        default=_JOB.init.overlay_mask,
    )
    mask_overlay_blur: bpy.props.IntProperty(
        name="Mask Overlay Blur",
        description="Blur (pixels) of the mask's edge when overlaying",
        default=_JOB.init.mask_overlay_blur,
        min=0,
        soft_max=64,
    )

    # Video input.
    video_init_path: bpy.props.StringProperty(
        name="Video Init",
        description="Video whose frames are the init images (Animation Mode 'Video Input')",
        default="",
        subtype="FILE_PATH",
        options=_PATH_OPTIONS,
    )
    extract_nth_frame: bpy.props.IntProperty(
        name="Extract Nth Frame",
        description="Use every N-th frame of the video",
        default=_JOB.video_input.extract_nth_frame,
        min=1,
    )
    extract_from_frame: bpy.props.IntProperty(
        name="Extract From Frame",
        description="First video frame used (counted from 0)",
        default=_JOB.video_input.extract_from_frame,
        min=0,
    )
    extract_to_frame: bpy.props.IntProperty(
        name="Extract To Frame",
        description="Last video frame used; −1 for the end of the video",
        default=_JOB.video_input.extract_to_frame,
        min=-1,
    )
    use_mask_video: bpy.props.BoolProperty(
        name="Use Mask Video",
        description="Mask each frame with the matching frame of a mask video",
        default=_JOB.video_input.use_mask_video,
    )
    video_mask_path: bpy.props.StringProperty(
        name="Mask Video",
        description="Video of black-and-white masks, one per frame",
        default="",
        subtype="FILE_PATH",
        options=_PATH_OPTIONS,
    )

    # Stills (Animation Mode 'None'), Interpolation, the scene guide.
    n_batch: bpy.props.IntProperty(
        name="Images per Prompt",
        description=(
            "Animation Mode 'None': this many stills of each prompt, in order (0: one still "
            "per frame of the range, with the prompt of that frame)"
        ),
        default=_JOB.stills.n_batch,
        min=0,
        soft_max=100,
    )
    interpolate_key_frames: bpy.props.BoolProperty(
        name="Interpolate Key Frames",
        description=(
            "Interpolation: each prompt sits at its own frame (off: every prompt comes "
            "Interpolate X Frames + 1 frames after the previous one)"
        ),
        default=_JOB.interpolate.interpolate_key_frames,
    )
    interpolate_x_frames: bpy.props.IntProperty(
        name="Interpolate X Frames",
        description="Interpolation: frames between two prompts when not at their own frames",
        default=_JOB.interpolate.interpolate_x_frames,
        min=0,
        soft_max=100,
    )
    scene_blend_max_depth: bpy.props.FloatProperty(
        name="Scene Blend Max Depth",
        description=(
            "Blend the scene render only where the scene is nearer than this distance "
            "(0: everywhere)"
        ),
        default=_JOB.scene_guide.scene_blend_max_depth,
        min=0.0,
        soft_max=1000.0,
        subtype="DISTANCE",
    )


# The per-frame properties and their schedule siblings are made from the ANIMATED table.
for _item in ANIMATED:
    DeforumSettings.__annotations__[_item.name] = _animated_property(_item)
for _name in PER_FRAME_NAMES:
    _label = ANIMATED_BY_NAME[_name].label if _name in ANIMATED_BY_NAME else _name.capitalize()
    DeforumSettings.__annotations__[schedule_property_name(_name)] = _schedule_property(
        _name, _label
    )

_CLASSES = (DeforumPrompt, DeforumSettings)


def register() -> None:
    """Register the PropertyGroups, then ``Scene.deforum`` that holds them."""
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    # Through Any: the type stubs know neither the attribute nor the deferred property.
    scene_type: Any = bpy.types.Scene
    pointer: Any = bpy.props.PointerProperty
    scene_type.deforum = pointer(
        type=DeforumSettings, name="Deforum", description="Deforum settings of this scene"
    )


def unregister() -> None:
    """Remove ``Scene.deforum``, then the PropertyGroups."""
    scene_type: Any = bpy.types.Scene
    del scene_type.deforum
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
