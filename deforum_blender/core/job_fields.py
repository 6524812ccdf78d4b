"""The tables behind the Job: per-frame parameters, allowed values and field rules.

Names follow Deforum's where it has one. A per-frame parameter is stored as a number
(constant), a list of per-frame numbers, or a Deforum schedule string; its Deforum
settings key is usually ``<name>_schedule``.
"""

from __future__ import annotations

from dataclasses import dataclass

Param = float | str | list[float]
"""A per-frame value: a constant, a per-frame series, or a Deforum schedule string."""

ANIMATION_MODES = ("None", "2D", "3D", "Video Input", "Interpolation")
DEVICES = ("auto", "cpu", "cuda")
BORDERS = ("replicate", "wrap")
DEPTH_SOURCES = ("scene", "estimated", "flat", "files")
PADDING_MODES = ("border", "reflection", "zeros")
SAMPLING_MODES = ("bicubic", "bilinear", "nearest")
COLOR_COHERENCE = ("None", "LAB", "HSV", "RGB", "Video Input", "Image")
NOISE_TYPES = ("uniform", "perlin")
OPTICAL_FLOW_CADENCE = ("None", "DIS Medium", "DIS Fine", "Farneback")

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
VAES = ("full", "tiny")
# torch.compile of the fixed-shape model parts: auto = on for CUDA, off on the CPU and MPS.
COMPILE_MODES = ("auto", "on", "off")
# The Draft preset's model: SD-Turbo, distilled to make an image in one to four steps.
DRAFT_MODEL = "stabilityai/sd-turbo"
# TAESD, the tiny autoencoder for SD 1.x/2.x latents; SDXL's latents need its XL sibling.
DEFAULT_TINY_VAE = "madebyollin/taesd"
TINY_VAE_XL = "madebyollin/taesdxl"
DEFAULT_DEPTH_MODEL = "Intel/dpt-hybrid-midas"
DEFAULT_ZOOM = "0: (1.0025+0.002*sin(1.25*3.14*t/30))"
DEFAULT_SEED_SCHEDULE = '0:(s), 1:(-1), "max_f-2":(-1), "max_f-1":(s)'


@dataclass(frozen=True)
class ParamSpec:
    """One per-frame parameter: its Deforum key, default and allowed range."""

    deforum_key: str | None
    default: Param
    minimum: float | None = None
    maximum: float | None = None
    meaning: str = ""
    # The animation modes whose render reads it (empty: every mode). Its range is checked
    # only there: None, Interpolation and Video Input read no motion.
    modes: tuple[str, ...] = ()
    # Shown in Blender as an animatable property (and in docs/settings.md) when it has a label.
    label: str = ""
    tooltip: str = ""
    integer: bool = False
    subtype: str = "NONE"  # Blender's number subtype: FACTOR, DISTANCE, …
    soft_max: float | None = None
    deforum_doc: str = ""  # docs/settings.md's Deforum-key column, where the key alone is not all


_2D = ("2D",)
_3D = ("3D",)
_MOTION = ("2D", "3D")

# Ordered as Deforum's settings files list them.
PARAMS: dict[str, ParamSpec] = {
    # 2D motion (translation_x/y are used by 3D too), per-frame deltas.
    "angle": ParamSpec("angle", 0.0, meaning="2D rotation, degrees per frame", modes=_2D),
    "zoom": ParamSpec("zoom", DEFAULT_ZOOM, 1e-6, meaning="2D zoom factor per frame", modes=_2D),
    "translation_x": ParamSpec("translation_x", 0.0, meaning="x motion per frame", modes=_MOTION),
    "translation_y": ParamSpec("translation_y", 0.0, meaning="y motion per frame", modes=_MOTION),
    "translation_z": ParamSpec("translation_z", 1.75, meaning="3D z motion per frame", modes=_3D),
    "transform_center_x": ParamSpec(
        "transform_center_x", 0.5, meaning="2D centre, 0..1", modes=_2D
    ),
    "transform_center_y": ParamSpec(
        "transform_center_y", 0.5, meaning="2D centre, 0..1", modes=_2D
    ),
    "rotation_3d_x": ParamSpec(
        "rotation_3d_x", 0.0, meaning="3D rotation, degrees per frame", modes=_3D
    ),
    "rotation_3d_y": ParamSpec(
        "rotation_3d_y", 0.0, meaning="3D rotation, degrees per frame", modes=_3D
    ),
    "rotation_3d_z": ParamSpec(
        "rotation_3d_z", 0.0, meaning="3D rotation, degrees per frame", modes=_3D
    ),
    # Generation.
    "noise": ParamSpec(
        "noise_schedule",
        0.065,
        0.0,
        1.0,
        "noise added before diffusion",
        label="Noise",
        tooltip="Noise added to the warped frame before diffusion (noise_schedule)",
        subtype="FACTOR",
    ),
    "strength": ParamSpec(
        "strength_schedule",
        0.65,
        0.0,
        1.0,
        "share of the previous frame kept (denoise = 1 − it)",
        label="Strength",
        tooltip="Share of the previous frame kept in the next (Deforum's strength_schedule): "
        "0 makes a new image, 1 keeps it unchanged; the diffusion denoise is 1 − strength",
        subtype="FACTOR",
    ),
    "contrast": ParamSpec(
        "contrast_schedule",
        1.0,
        0.0,
        meaning="contrast factor",
        label="Contrast",
        tooltip="Contrast factor applied to the warped frame before diffusion "
        "(contrast_schedule); 1 leaves it unchanged",
        soft_max=2.0,
    ),
    "cfg_scale": ParamSpec(
        "cfg_scale_schedule",
        7.0,
        0.0,
        meaning="prompt guidance scale",
        label="CFG Scale",
        tooltip="How closely the image follows the prompt: classifier-free guidance scale "
        "(cfg_scale_schedule)",
        soft_max=30.0,
    ),
    "steps": ParamSpec(
        "steps_schedule",
        25.0,
        1.0,
        1000.0,
        "sampler steps",
        label="Steps",
        tooltip="Sampler steps (steps_schedule); only about steps × (1 − strength) of them run "
        "on each frame after the first",
        integer=True,
        soft_max=150.0,
    ),
    "clip_skip": ParamSpec(
        "clipskip_schedule",
        1.0,
        1.0,
        12.0,
        "CLIP skip: 2 reads the second-last layer",
        label="CLIP Skip",
        deforum_doc="`clipskip_schedule` (read when `enable_clipskip_scheduling` is on, else 1)",
        tooltip="Text encoder layers skipped from the end (clipskip_schedule): 1 uses the last "
        "layer, 2 the one before it",
        integer=True,
    ),
    "fov": ParamSpec(
        "fov_schedule", 70.0, 1.0, 179.0, "3D vertical field of view, degrees", modes=_3D
    ),
    "aspect_ratio": ParamSpec(
        "aspect_ratio_schedule",
        1.0,
        1e-6,
        meaning="3D warp's aspect ratio (Deforum's camera)",
        modes=_3D,
    ),
    "near": ParamSpec("near_schedule", 200.0, 1e-6, meaning="3D near plane", modes=_3D),
    "far": ParamSpec("far_schedule", 10000.0, 1e-6, meaning="3D far plane", modes=_3D),
    "seed": ParamSpec("seed_schedule", DEFAULT_SEED_SCHEDULE, meaning="seed per frame"),
    "noise_multiplier": ParamSpec(
        "noise_multiplier_schedule",
        1.05,
        0.0,
        meaning="initial noise multiplier",
        label="Noise Multiplier",
        tooltip="Multiplier of the initial latent noise (noise_multiplier_schedule)",
        soft_max=2.0,
    ),
    # Anti-blur (unsharp mask).
    "antiblur_amount": ParamSpec(
        "amount_schedule",
        0.1,
        0.0,
        meaning="anti-blur amount",
        label="Anti-Blur Amount",
        tooltip="Strength of the unsharp mask that counters blur building up over frames "
        "(amount_schedule); 0 turns it off",
        soft_max=2.0,
    ),
    "antiblur_kernel": ParamSpec(
        "kernel_schedule",
        5.0,
        0.0,
        99.0,
        "anti-blur kernel size",
        label="Anti-Blur Kernel",
        tooltip="Kernel size of the anti-blur unsharp mask in pixels (kernel_schedule)",
        integer=True,
    ),
    "antiblur_sigma": ParamSpec(
        "sigma_schedule",
        1.0,
        0.0,
        meaning="anti-blur sigma",
        label="Anti-Blur Sigma",
        tooltip="Gaussian sigma of the anti-blur unsharp mask (sigma_schedule)",
        soft_max=5.0,
    ),
    "antiblur_threshold": ParamSpec(
        "threshold_schedule",
        0.0,
        0.0,
        meaning="anti-blur threshold",
        label="Anti-Blur Threshold",
        tooltip="Differences smaller than this are not sharpened (threshold_schedule)",
        soft_max=1.0,
    ),
    # Cadence.
    "cadence_flow_factor": ParamSpec(
        "cadence_flow_factor_schedule",
        1.0,
        0.0,
        meaning="optical-flow cadence factor",
        label="Cadence Flow Factor",
        tooltip="Scale of the optical flow used to tween between diffused frames "
        "(cadence_flow_factor_schedule)",
        soft_max=2.0,
    ),
    # Ours: how much of Blender's own render of the frame is mixed into the warped
    # previous frame before diffusion (0 = none, 1 = the render only).
    "scene_blend": ParamSpec(
        None,
        0.0,
        0.0,
        1.0,
        "share of the scene render mixed in",
        label="Scene Blend",
        tooltip="Share of Blender's own render of the frame mixed into the warped previous "
        "frame before diffusion: 0 none, 1 the render only",
        subtype="FACTOR",
    ),
}

PARAM_BY_DEFORUM_KEY: dict[str, str] = {
    spec.deforum_key: name for name, spec in PARAMS.items() if spec.deforum_key
}


@dataclass(frozen=True)
class FieldSpec:
    """One plain Job field: how it is checked, and its names outside the Job.

    ``core/settings_registry.py`` lists every field with its spec; Deforum import and
    export, ``--set`` and the Blender layer read their tables from there.
    """

    kind: str  # int | float | bool | str | optional_str | choice | sampler | prompts | track
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    multiple_of: int | None = None
    # The key in a Deforum settings file; ``copied``: read and written 1:1 under the
    # field's own name (then ``deforum_key`` may stay None).
    deforum_key: str | None = None
    copied: bool = False
    # Our flat name (``--set`` and ``scene.deforum``) when the field's name is unclear alone.
    key: str = ""
    # "FILE_PATH" or "DIR_PATH": a path (Blender makes it absolute; "//" is the .blend's folder).
    path: str = ""
    # Deforum's older values of this key and what they mean today.
    old_values: tuple[tuple[object, object], ...] = ()
    # Blender's property (``scene.deforum.<key>``) and docs/settings.md: its label and
    # tooltip; no label: no property (the scene gives it, e.g. W, H and the frame range).
    label: str = ""
    tooltip: str = ""
    # Blender-only details: the number subtype (FACTOR, DISTANCE), the slider's soft limit,
    # a lower limit or default that differs from the Job's (0 there meaning "automatic").
    subtype: str = ""
    soft_max: float | None = None
    blender_min: float | None = None
    blender_default: object = None
    # No maximum on the Blender property: a bigger value reaches the Job, which refuses it
    # with a message, instead of Blender clamping it silently.
    blender_unbounded: bool = False
    # docs/settings.md: a longer text than the tooltip, and the Deforum-key column's text
    # where the key alone does not tell (inverted, read from another key, ours).
    doc: str = ""
    deforum_doc: str = ""
