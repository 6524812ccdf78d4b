"""docs/settings.md's setting tables, written from the settings registry.

Run ``python scripts/settings_doc.py`` after changing a setting; ``--check`` fails when
the page is stale. Only the part between :data:`BEGIN` and :data:`END` is written; the
rest of the page is prose kept by hand.
"""

from __future__ import annotations

from typing import Any

from . import controlnet
from . import job_fields as jf
from .samplers import SAMPLER_NAMES
from .settings_registry import BY_KEY, SETTINGS, Setting

BEGIN = "<!-- settings tables: written by scripts/settings_doc.py from the registry -->"
END = "<!-- end of the settings tables -->"
HEADER = (
    "| Setting | `scene.deforum.` | Deforum key | Default | What it does |\n|---|---|---|---|---|"
)

# Blender-only properties (no Job field): label, Deforum-key column, default, text.
BLENDER_ONLY: dict[str, tuple[str, str, str, str]] = {
    "output_dir": (
        "Output Folder",
        "—",
        "`//deforum/`",
        "Folder for the frames, job.json and the video; // is the .blend file's folder.",
    ),
    "use_scene_fps": (
        "Scene Frame Rate",
        "—",
        "on",
        "Make the video at the scene's frame rate (Output > Frame Rate).",
    ),
    "prompts": (
        "Prompts",
        "`prompts`",
        "—",
        "Prompts keyed to frames (Deforum's prompts), labelled by timeline markers.",
    ),
    "show_schedules": (
        "Schedules",
        "— (display only)",
        "off",
        "Show a Deforum schedule field under every per-frame value (a schedule that is set "
        "is always shown).",
    ),
    "seed_text": (
        "Full Seed",
        "`seed` (when above 2147483647)",
        "empty",
        "The master seed as text, for seeds above 2147483647 (A1111 and Deforum write seeds "
        "up to 4294967295), which Seed cannot hold; when set it replaces Seed, and an import "
        "fills it (and clears it for smaller seeds). Clear it to use Seed again. Shown under "
        "Seed when set or when Schedules are shown.",
    ),
}


def _unit_keys() -> tuple[str, ...]:
    """Unit 1's rows in the panel's order: its animatable Weight before its Weight Schedule."""
    keys = []
    for name in controlnet.UNIT_LABELS:
        if name == "weight":
            keys.append(controlnet.weight_property(1))
        keys.append(f"cn_1_{name}")
    return tuple(keys)


# The panel's sub-panels and the order of their rows; a labelled setting not listed here
# goes at the end of its Job group's section (SECTION_OF_GROUP).
SECTIONS: dict[str, tuple[str, ...]] = {
    "Model & Output": (
        "animation_mode", "n_batch", "interpolate_key_frames", "interpolate_x_frames",
        "draft", "draft_model", "model", "model_sha256", "allow_pickle", "vae", "tiny_vae",
        "attention_slicing", "vae_tiling",
        "cpu_offload", "lora_dir", "device", "compile", "output_dir", "use_scene_fps", "fps",
        "make_video", "save_depth_maps",
    ),
    "Prompts": ("prompts", "positive_prompts", "negative_prompts", "blend_prompts"),
    "Motion": ("border", "translation_scale"),
    "Depth": ("depth_source", "depth_model", "depth_path", "padding_mode", "sampling_mode"),
    "Diffusion": (
        "show_schedules", "sampler", "tiling", "steps", "cfg_scale", "strength", "noise",
        "clip_skip", "noise_multiplier", "seed", "seed_text", "seed_behavior", "seed_iter_N",
    ),
    "Coherence & Cadence": (
        "color_coherence", "color_coherence_image_path", "legacy_colormatch",
        "color_coherence_video_every_N_frames", "contrast", "color_force_grayscale",
        "noise_type", "perlin_octaves", "perlin_persistence", "antiblur_amount",
        "antiblur_kernel", "antiblur_sigma", "antiblur_threshold", "diffusion_cadence",
        "optical_flow_cadence", "cadence_flow_factor", "scene_blend", "scene_blend_max_depth",
    ),
    "Init & Mask": (
        "use_init", "init_image", "init_strength", "use_mask", "mask_file", "invert_mask",
        "mask_contrast_adjust", "mask_brightness_adjust", "overlay_mask", "mask_overlay_blur",
    ),
    "Video Input": (
        "video_init_path", "extract_nth_frame", "extract_from_frame", "extract_to_frame",
        "use_mask_video", "video_mask_path",
    ),
    # One row per unit field (cn_1's standing for all five units), see _unit_row.
    "ControlNet": (*_unit_keys(), "save_controlnet_inputs"),
    "Interpolation, Upscaling & Soundtrack": (
        "frame_interpolation_engine", "interpolation_model", "frame_interpolation_x_amount",
        "frame_interpolation_slow_mo_enabled", "frame_interpolation_slow_mo_amount",
        "frame_interpolation_use_upscaled", "frame_interpolation_keep_imgs",
        "r_upscale_video", "r_upscale_model", "r_upscale_factor", "r_upscale_keep_imgs",
        "add_soundtrack", "soundtrack_path",
    ),
}  # fmt: skip
SECTION_OF_GROUP: dict[str, str] = {
    "": "Model & Output",
    "model": "Model & Output",
    "output": "Model & Output",
    "stills": "Model & Output",
    "interpolate": "Model & Output",
    "prompts": "Prompts",
    "seeds": "Diffusion",
    "motion": "Motion",
    "depth": "Depth",
    "coherence": "Coherence & Cadence",
    "cadence": "Coherence & Cadence",
    "scene_guide": "Coherence & Cadence",
    "init": "Init & Mask",
    "video_input": "Video Input",
    "finish": "Interpolation, Upscaling & Soundtrack",
    **{group: "ControlNet" for group in controlnet.UNIT_GROUPS},
}


def _shown(value: Any) -> str:
    """A default as the tables show it: on/off, empty, `paths/ids` in code, numbers short."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None or value == "":
        return "empty"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return f"`{text}`" if "/" in text else text


def _sentence(text: str) -> str:
    return text if text.endswith(".") else f"{text}."


def _animatable(name: str) -> str:
    return f" Animatable; schedule field `{name}_schedule`." if name in jf.PARAMS else ""


def _setting_row(setting: Setting) -> str:
    spec = setting.spec
    key = setting.key
    deforum = spec.deforum_doc or (f"`{setting.deforum_key}`" if setting.deforum_key else "—")
    default = spec.blender_default if spec.blender_default is not None else setting.default
    text = _sentence(spec.doc or spec.tooltip)
    choices = spec.choices or (SAMPLER_NAMES if spec.kind == "sampler" else ())
    if choices:
        text += f" ({' / '.join(choices)})"
    return f"| {spec.label} | `{key}` | {deforum} | {_shown(default)} | {text}{_animatable(key)} |"


def _param_row(name: str) -> str:
    spec = jf.PARAMS[name]
    deforum = spec.deforum_doc or (f"`{spec.deforum_key}`" if spec.deforum_key else "—")
    text = _sentence(spec.tooltip) + _animatable(name)
    return f"| {spec.label} | `{name}` | {deforum} | {_shown(spec.default)} | {text} |"


def _unit_row(setting: Setting) -> str:
    """Unit 1's field as the row of that field in every unit: ``cn_1_weight`` … ``cn_5_weight``."""
    name = setting.name
    keys = ", ".join(f"`{group}_{name}`" for group in controlnet.UNIT_GROUPS)
    row = _setting_row(setting).split(" | ")
    row[0] = f"| {controlnet.UNIT_LABELS[name][0]}"
    row[1] = keys
    row[2] = "the same"
    return " | ".join(row)


def _unit_weight_row() -> str:
    """The units' animatable Weight (Blender only; it reaches Deforum as ``cn_N_weight``)."""
    names = ", ".join(
        f"`{controlnet.weight_property(n)}`" for n in range(1, controlnet.UNIT_COUNT + 1)
    )
    return (
        f"| Weight | {names} | — (read into `cn_N_weight`) | 1 | The unit's weight on this "
        "frame, animatable: keyframes or a driver are sampled per frame into the unit's "
        "weight schedule; a Weight Schedule overrides it. |"
    )


def _row(key: str) -> str:
    if key == controlnet.weight_property(1):
        return _unit_weight_row()
    if key in BLENDER_ONLY:
        label, deforum, default, text = BLENDER_ONLY[key]
        return f"| {label} | `{key}` | {deforum} | {default} | {text} |"
    setting = BY_KEY.get(key)
    if setting is not None and setting.group == controlnet.UNIT_GROUPS[0]:
        return _unit_row(setting)
    if setting is not None and setting.spec.label:
        return _setting_row(setting)
    return _param_row(key)


def section_keys() -> dict[str, list[str]]:
    """Every documented name per section: the listed order, then unlisted settings."""
    sections = {title: list(keys) for title, keys in SECTIONS.items()}
    listed = {key for keys in SECTIONS.values() for key in keys}
    for setting in SETTINGS:
        if setting.group in controlnet.UNIT_GROUPS[1:]:
            continue  # unit 1's rows stand for every unit
        if setting.spec.label and setting.key not in listed:
            sections[SECTION_OF_GROUP.get(setting.group, "Model & Output")].append(setting.key)
    for name, spec in jf.PARAMS.items():
        if spec.label and name not in listed:
            sections["Diffusion"].append(name)
    return sections


def tables() -> str:
    """The generated part of the page, markers included."""
    parts = [BEGIN]
    for title, keys in section_keys().items():
        rows = "\n".join(_row(key) for key in keys)
        parts.append(f"### {title}\n\n{HEADER}\n{rows}")
    parts.append(END)
    return "\n\n".join(parts)


def render_page(page: str) -> str:
    """``page`` with the text between the markers replaced by today's tables."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"docs/settings.md: no {BEGIN!r} … {END!r} markers; add them")
    return page[:start] + tables() + page[end + len(END) :]
