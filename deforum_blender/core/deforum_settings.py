"""sd-webui-deforum settings files (``*_settings.txt``, JSON) to and from a Job.

Import is the tolerant path: missing keys take Deforum's defaults, deprecated keys that
Deforum still accepts are upgraded, settings we do not support produce a warning (only
when they would change the render), and only broken JSON, broken schedules or values
that make no sense fail. Export writes a file that sd-webui-deforum loads and that gives
the same per-frame values there: schedules Deforum reads the same way are written as
they are, anything else (per-frame lists, eased curves, numbers such as ``1e-3`` that
Deforum would step instead of interpolate) as plain fixed-point keyframes. What Deforum
has no key for (device, the scene's depth, the camera track, …) goes under one extra
key, ``"deforum_blender"``, which Deforum ignores and our import reads back.

Deforum ignores ``max_frames`` in None mode (``n_batch`` stills of each prompt) and in
Interpolation mode (up to the last prompt's position): a Deforum file in those modes gets
the frame range Deforum would render; our own files keep theirs.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import controlnet
from . import job_fields as jf
from . import settings_registry as registry
from .atomic import write_text
from .errors import DeforumInputError
from .job import JOB_VERSION, Job, JobError, parse_json_text, read_json_file
from .samplers import DEFAULT_SAMPLER, canonical_sampler
from .seeds import SEED_RANGE

EXTRA_KEY = "deforum_blender"
# Under EXTRA_KEY: a fingerprint of each motion schedule the export wrote beside the
# exact camera track; an edit of any of them in the webui drops the track on import.
MOTION_FINGERPRINTS = "motion_schedules"
# The Colab notebook's morph keys: files without them come from the webui.
MORPH_KEYS = {"interpolate_key_frames", "interpolate_x_frames"}

# sd-webui-deforum's defaults for the keys we read (deforum-conventions.md): the Job's own
# default for each key copied 1:1, then the other keys and where Deforum's default differs.
DEFORUM_DEFAULTS: dict[str, Any] = {
    **{setting.name: setting.default for setting in registry.COPIED},
    "W": 512,
    "H": 512,
    "seed": -1,
    "sampler": "Euler a",
    "steps": 25,
    "positive_prompts": "",
    "negative_prompts": "",
    "animation_mode": "2D",
    "max_frames": 120,
    "enable_steps_scheduling": False,
    "enable_noise_multiplier_scheduling": True,
    "enable_clipskip_scheduling": False,
    "enable_sampler_scheduling": False,
    "sampler_schedule": '0: ("Euler a")',
    "enable_checkpoint_scheduling": False,
    "checkpoint_schedule": '0: ("model1.ckpt"), 100: ("model2.safetensors")',
    "use_depth_warping": True,
    "depth_algorithm": "Midas-3-Hybrid",
    "skip_video_creation": False,
    "fps": 15,
    "n_batch": 1,
    # Deforum's loader turns the legacy colour match on for files that lack the key.
    "legacy_colormatch": True,
    "midas_weight": 0.2,
    **{
        spec.deforum_key: (
            spec.default if isinstance(spec.default, str) else f"0: ({spec.default:g})"
        )
        for spec in jf.PARAMS.values()
        if spec.deforum_key
    },
    # ControlNet units: Deforum's defaults are the Job's, but for the webui's "None" model.
    **{
        setting.key: setting.default
        for setting in registry.SETTINGS
        if setting.group in controlnet.UNIT_GROUPS
    },
    **{f"{group}_model": "None" for group in controlnet.UNIT_GROUPS},
}

# Old key -> (the key Deforum reads today, whether the old key wins over the new one).
# From sd-webui-deforum's deprecation_utils.py and settings loader (which copies
# animation_prompts over prompts), and the Colab notebook's names (width, scale, fov, …):
# the Colab files keep their still prompts in "prompts" and the animation in
# "animation_prompts". Plain numbers in schedule keys read as "0: (v)".
RENAMED_KEYS: dict[str, tuple[str, bool]] = {
    "animation_prompts": ("prompts", True),
    "animation_prompts_positive": ("positive_prompts", False),
    "animation_prompts_negative": ("negative_prompts", False),
    "seed_enable_extras": ("enable_subseed_scheduling", False),
    "flip_2d_perspective": ("enable_perspective_flip", False),
    "skip_video_for_run_all": ("skip_video_creation", False),
    "width": ("W", False),
    "height": ("H", False),
    "scale": ("cfg_scale_schedule", False),
    "fov": ("fov_schedule", False),
    "near_plane": ("near_schedule", False),
    "far_plane": ("far_schedule", False),
}
# Old values: the Job's settings carry their own (FieldSpec.old_values); these are keys we
# do not support, upgraded so that their warning names today's value.
OLD_VALUES: dict[str, dict[Any, Any]] = {
    **{
        key: registry.old_values(key) for key in registry.BY_DEFORUM_KEY if registry.old_values(key)
    },
    "optical_flow_redo_generation": {False: "None", True: "DIS Fine"},
    "hybrid_composite": {False: "None", True: "Normal"},
}
# A1111's img2img samplers in the order of late 2022 to early 2023, when Deforum's
# settings stored the sampler as an index into that list (modules/sd_samplers.py,
# samplers_for_img2img: the k-diffusion samplers, then DDIM).
WEBUI_SAMPLER_INDEX = (
    "Euler a",
    "Euler",
    "LMS",
    "Heun",
    "DPM2",
    "DPM2 a",
    "DPM++ 2S a",
    "DPM++ 2M",
    "DPM++ SDE",
    "DPM fast",
    "DPM adaptive",
    "LMS Karras",
    "DPM2 Karras",
    "DPM2 a Karras",
    "DPM++ 2S a Karras",
    "DPM++ 2M Karras",
    "DPM++ SDE Karras",
    "DDIM",
)

# Deforum's depth algorithms and the transformers models we run for them.
DEPTH_MODELS = {
    "Midas-3-Hybrid": "Intel/dpt-hybrid-midas",
    "Midas-3.1-BeitLarge": "Intel/dpt-beit-large-512",
    "Zoe": "Intel/zoedepth-nyu-kitti",
    "Depth-Anything-V2-Small": "depth-anything/Depth-Anything-V2-Small-hf",
}
# Older names; the "(old)" ones blend AdaBins into MiDaS/Zoe by 1 − midas_weight.
OLD_DEPTH_ALGORITHMS = {
    "midas": "Midas-3-Hybrid",
    "midas+adabins (old)": "Midas-3-Hybrid",
    "zoe+adabins (old)": "Zoe",
}

# Values Deforum knows that we replace with the nearest thing we have.
NEAREST_VALUES = {("optical_flow_cadence", "RAFT"): "DIS Fine"}


def _inert(*values: Any) -> Callable[[Any], bool]:
    folded = {json.dumps(v) for v in values}
    return lambda value: json.dumps(value) in folded or value in values


def _is_empty(value: Any) -> bool:
    return value in (None, "", "None")


# Settings we do not support: silent while they hold a value that changes nothing,
# a warning otherwise.
UNSUPPORTED: dict[str, Callable[[Any], bool]] = {
    "restore_faces": _inert(False),
    "seed_resize_from_w": _inert(0),
    "seed_resize_from_h": _inert(0),
    "strength_0_no_init": _inert(True),
    "use_alpha_as_mask": _inert(False),
    "reroll_blank_frames": _inert("ignore"),
    "enable_perspective_flip": _inert(False),
    "enable_subseed_scheduling": _inert(False),
    "enable_ddim_eta_scheduling": _inert(False),
    "enable_ancestral_eta_scheduling": _inert(False),
    "use_noise_mask": _inert(False),
    "optical_flow_redo_generation": _inert("None", False),
    "diffusion_redo": _inert("0", 0),
    "hybrid_composite": _inert("None", False),
    "hybrid_motion": _inert("None"),
    "hybrid_generate_inputframes": _inert(False),
    "hybrid_generate_human_masks": _inert("None"),
    "parseq_manifest": _is_empty,
    "use_looper": _inert(False),
    "make_gif": _inert(False),
    "resume_from_timestring": _inert(False),
    # The Colab notebook's guidance and sampling extras (0 / None: off).
    **{
        key: _inert(0, 0.0, None)
        for key in (
            "ddim_eta",
            "dynamic_threshold",
            "static_threshold",
            "mean_scale",
            "var_scale",
            "exposure_scale",
            "colormatch_scale",
            "ignore_sat_weight",
            "clip_scale",
            "aesthetics_scale",
            "init_mse_scale",
            "blue_scale",
        )
    },
    "prompt_weighting": _inert(False),
}
# Keys that change nothing here: user-interface state, bookkeeping, or settings that
# only matter while a switch above is on (the switch reports it).
IGNORED = {
    "show_info_on_ui",
    "batch_name",
    "motion_preview_mode",
    "reroll_patience",
    "full_res_mask_padding",
    "perspective_flip_theta",
    "perspective_flip_phi",
    "perspective_flip_gamma",
    "perspective_flip_fv",
    "pix2pix_img_cfg_scale_schedule",
    "subseed_schedule",
    "subseed_strength_schedule",
    "noise_mask_schedule",
    "resume_timestring",
    "ddim_eta_schedule",
    "ancestral_eta_schedule",
    "redo_flow_factor_schedule",
    "overwrite_extracted_frames",
    "parseq_use_deltas",
    "parseq_non_schedule_overrides",
    "init_images",
    "image_strength_schedule",
    "blendFactorMax",
    "blendFactorSlope",
    "tweening_frames_schedule",
    "color_correction_factor",
    "delete_imgs",
    "delete_input_frames",
    "store_frames_in_ram",
    "sd_model_hash",
    "deforum_git_commit_id",
    "histogram_matching",
    "use_zoe_depth",
}
# The Colab notebook's bookkeeping, and what only acts while an extra above is on.
IGNORED |= {
    "save_samples",
    "save_settings",
    "display_samples",
    "save_sample_per_step",
    "show_sample_per_step",
    "normalize_prompt_weights",
    "log_weighted_subprompts",
    "filename_format",
    "make_grid",
    "grid_rows",
    "outdir",
    "n_samples",
    "precision",
    "C",
    "f",
    "prompt",
    "timestring",
    "init_latent",
    "init_sample",
    "init_sample_raw",
    "mask_sample",
    "init_c",
    "seed_internal",
    "exposure_target",
    "colormatch_image",
    "colormatch_n_colors",
    "clip_name",
    "cutn",
    "cut_pow",
    "init_mse_image",
    "gradient_wrt",
    "gradient_add_to",
    "decode_method",
    "grad_threshold_type",
    "clamp_grad_threshold",
    "clamp_start",
    "clamp_stop",
    "grad_inject_timing",
    "cond_uncond_sync",
}
IGNORED_PREFIXES = ("hybrid_", "cn_", "r_upscale_", "frame_interpolation_")

# Settings we do not implement that change the picture only with something else on (a
# mask, an old depth algorithm): checked against that, warned about in _warn_in_context.
MASK_ONLY = {
    "fill": _inert(1, "original"),  # what was under the mask: ours keeps it (overlay)
    "full_res_mask": _inert(False),  # A1111 crops to the mask (+ padding): ours does not
    "mask_schedule": _inert('0: ("{video_mask}")', '0:("{video_mask}")'),
}
IN_CONTEXT = {*MASK_ONLY, "midas_weight"}


# Deforum keys the importer reads that are no Job field of their own, by kind.
_DEFORUM_ONLY = {
    "max_frames": "int",
    "steps": "int",
    "enable_steps_scheduling": "bool",
    "enable_noise_multiplier_scheduling": "bool",
    "enable_clipskip_scheduling": "bool",
    "enable_sampler_scheduling": "bool",
    "enable_checkpoint_scheduling": "bool",
    "use_depth_warping": "bool",
    "depth_algorithm": "str",
    "aspect_ratio_use_old_formula": "str",  # read as text too: True, "True", "true"
    EXTRA_KEY: "extra",
}


def _keys(kind: str) -> set[str]:
    own = {key for key, key_kind in _DEFORUM_ONLY.items() if key_kind == kind}
    return registry.deforum_keys(kind) | own


# Every key the importer reads (besides the per-frame schedules).
READ = set(registry.BY_DEFORUM_KEY) | set(_DEFORUM_ONLY)
_OPTIONAL_TEXT = registry.deforum_keys("optional_str")
# Matched without regard to case; border is not: Deforum replicates anything but "wrap".
_CHOICES = {
    key: setting.spec.choices
    for key, setting in registry.BY_DEFORUM_KEY.items()
    if setting.spec.kind == "choice" and key != "border"
}
_INTEGERS = _keys("int")
_NUMBERS = _keys("float")
_BOOLEANS = _keys("bool")


# -- import -------------------------------------------------------------------------------


class SettingsFileError(DeforumInputError):
    """A refused settings file: every problem, one per line, then the warnings."""

    def __init__(self, problems: list[str], warnings: list[str]) -> None:
        self.problems = problems
        self.warnings = warnings
        if len(problems) == 1 and not warnings:
            message = problems[0]
        else:
            count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
            lines = [*problems, *(f"warning: {warning}" for warning in warnings)]
            message = f"settings file refused ({count}):\n" + "\n".join(f"  {x}" for x in lines)
        super().__init__(message)


def _upgrade(data: Mapping[str, Any], warnings: list[str]) -> dict[str, Any]:
    """Deprecated keys and values renamed to what Deforum reads today."""
    settings = dict(data)
    for old, (new, old_wins) in RENAMED_KEYS.items():
        if old in settings:
            value = settings.pop(old)
            if old_wins or new not in settings:
                settings[new] = value
    if isinstance(settings.get("prompts"), list):  # the Colab's still prompts, in order
        settings["prompts"] = {str(i): text for i, text in enumerate(settings["prompts"])}
    if "use_zoe_depth" in settings and "depth_algorithm" not in settings:
        zoe = settings["use_zoe_depth"] in (True, "True", "true")
        settings["depth_algorithm"] = "Zoe+AdaBins (old)" if zoe else "Midas+AdaBins (old)"
    for key, table in OLD_VALUES.items():
        value = settings.get(key)
        if isinstance(value, bool | str) and value in table:
            settings[key] = table[value]
    if isinstance(settings.get("sampler"), int) and not isinstance(settings["sampler"], bool):
        index = settings["sampler"]
        if 0 <= index < len(WEBUI_SAMPLER_INDEX):
            settings["sampler"] = WEBUI_SAMPLER_INDEX[index]
        else:
            warnings.append(
                f"sampler: index {index} is not in the webui's sampler list (0 to "
                f"{len(WEBUI_SAMPLER_INDEX) - 1}); using {DEFAULT_SAMPLER!r}"
            )
            settings["sampler"] = DEFAULT_SAMPLER
    old_positive = data.get("animation_prompts_positive", data.get("positive_prompts"))
    if data.get("positive_prompts", old_positive) != old_positive:
        warnings.append("positive_prompts and animation_prompts_positive differ; using the first")
    return settings


def _coerce(key: str, value: Any) -> Any:
    """Numbers written as text and whole floats, as Deforum's UI saves them at times."""
    if key in _BOOLEANS and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if key in _INTEGERS | _NUMBERS | set(jf.PARAM_BY_DEFORUM_KEY) and isinstance(value, str):
        try:
            value = float(value.strip())  # a schedule key holding a plain number: "0: (v)"
        except ValueError:
            return value  # a schedule, or left for the Job's check, which names the field
    if key in _INTEGERS and isinstance(value, float) and value.is_integer():
        return int(value)
    if key in _OPTIONAL_TEXT and _is_empty(value):
        return None
    return value


def _choice(key: str, value: Any, warnings: list[str]) -> Any:
    """A choice matched without regard to case; a Deforum value we lack becomes the nearest."""
    if not isinstance(value, str):
        return value
    nearest = NEAREST_VALUES.get((key, value))
    if nearest is not None:
        warnings.append(f"{key}: {value!r} is not supported; using {nearest!r}")
        return nearest
    folded = {choice.lower(): choice for choice in _CHOICES[key]}
    return folded.get(value.lower(), value)


def _prompts(settings: Mapping[str, Any], warnings: list[str]) -> dict[str, Any]:
    prompts = settings.get("prompts")
    if isinstance(prompts, str):  # the webui's text box keeps them as JSON text
        prompts = parse_json_text(prompts, "prompts")
    if prompts is None:
        warnings.append("no prompts in the settings; using the Job's example prompt")
        return dict(Job().prompts.keyframes)
    if not isinstance(prompts, dict):
        raise DeforumInputError(f'prompts: {prompts!r} is not an object like {{"0": "a cat"}}')
    return {str(key): value for key, value in prompts.items()}


def _read_schedule(text: str, frames: int, seed: int, key: str, warnings: list[str]) -> None:
    """Check ``text`` as Deforum reads it, passing on what the reading warns about."""
    from .schedules import evaluate_schedule

    if "warnings" not in inspect.signature(evaluate_schedule).parameters:
        evaluate_schedule(text, frames, seed, field=key)  # a reader that does not warn
        return
    found: list[str] = []
    evaluate_schedule(text, frames, seed, field=key, warnings=found)  # type: ignore[call-arg]
    warnings.extend(line if line.startswith(key) else f"{key}: {line}" for line in found)


def _param_value(key: str, value: Any, frames: int, seed: int, warnings: list[str]) -> jf.Param:
    """A schedule as written (checked now, so the error names the Deforum key), or a number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DeforumInputError(f'{key}: {value!r} is not a schedule; write e.g. "0: (1)"')
    if isinstance(value, int | float):
        return float(value)
    _read_schedule(value, frames, seed, key, warnings)
    return value


def _warn_unsupported(data: Mapping[str, Any], warnings: list[str]) -> None:
    known = (
        READ
        | set(UNSUPPORTED)
        | IGNORED
        | IN_CONTEXT
        | set(jf.PARAM_BY_DEFORUM_KEY)
        | set(RENAMED_KEYS)
    )
    for key, value in data.items():
        if key in UNSUPPORTED and key not in READ:  # a setting the registry gained wins
            if not UNSUPPORTED[key](value):
                warnings.append(f"{key} = {json.dumps(value)} is not supported; ignored")
        elif key not in known and not key.startswith(IGNORED_PREFIXES):
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            warnings.append(f"{key}: not a setting this importer knows{hint}; ignored")


def _depth_algorithm_name(settings: Mapping[str, Any], warnings: list[str]) -> str | None:
    """Deforum's depth algorithm matched without case, old names upgraded; None if unknown."""
    written = str(settings["depth_algorithm"])
    folded = {name.lower(): name for name in DEPTH_MODELS}
    algorithm = folded.get(written.lower()) or OLD_DEPTH_ALGORITHMS.get(written.lower())
    if algorithm is None:
        warnings.append(
            f"depth_algorithm: {written!r} is not supported; using {jf.DEFAULT_DEPTH_MODEL!r}"
        )
        return None
    weight = settings["midas_weight"]
    uses_depth = settings["animation_mode"] == "3D" and settings["use_depth_warping"] is True
    if "(old)" in written.lower() and uses_depth and _is_number(weight) and weight < 1:
        warnings.append(
            f"midas_weight = {weight:g}: depth_algorithm {written!r} blends AdaBins in by "
            f"{1 - weight:g}; AdaBins is not supported, so {algorithm} is used alone"
        )
    return algorithm


def _warn_in_context(settings: dict[str, Any], warnings: list[str]) -> None:
    """Settings that act only beside another, read as Deforum reads them, or warned about."""
    border = settings["border"]
    if border != "wrap":  # Deforum's 2D warp: anything but "wrap" replicates the edge
        if border != "replicate" and settings["animation_mode"] == "2D":
            warnings.append(f"border: {border!r} is not 'wrap', so the edge is replicated")
        settings["border"] = "replicate"
    if settings["use_init"] is True and settings["init_image"] is None:
        warnings.append("use_init is on but init_image is empty; the init image is skipped")
        settings["use_init"] = False
    if settings["use_mask"] is True or settings["use_mask_video"] is True:
        for key, inert in MASK_ONLY.items():
            if key in settings and not inert(settings[key]):
                warnings.append(
                    f"{key} = {json.dumps(settings[key])} is not supported with a mask; ignored"
                )


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict) and key != "camera_track":
            _deep_merge(base[key], value)
        else:
            base[key] = value


def _fingerprint(value: Any) -> str:
    """A short hash of a setting's value as the file holds it."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _imported_extras(settings: Mapping[str, Any], warnings: list[str]) -> dict[str, Any] | None:
    """Our private key, less the exact camera track when the motion schedules were edited."""
    written_extra = settings.get(EXTRA_KEY)
    if not isinstance(written_extra, Mapping):
        return None
    extra: dict[str, Any] = json.loads(json.dumps(written_extra))  # a copy to edit
    written = extra.pop(MOTION_FINGERPRINTS, None)
    motion = extra.get("motion")
    if not isinstance(written, Mapping) or not isinstance(motion, dict):
        return extra  # no track, or an export from before the fingerprints: kept as written
    if motion.get("camera_track") is None:
        return extra
    edited = [key for key, mark in written.items() if _fingerprint(settings.get(key)) != mark]
    if edited:
        motion.pop("camera_track")
        warnings.append(
            f"{EXTRA_KEY}: the exact camera track was dropped because {', '.join(edited)} "
            "changed after export; the file's motion schedules are used"
        )
    return extra


def _controlnet_units(settings: Mapping[str, Any], warnings: list[str]) -> dict[str, Any]:
    """The ``cn_N_*`` keys as the Job's units; webui model names become Hugging Face ids.

    A unit that is on with a module whose detector we lack is kept, switched off and
    warned about once."""
    units: dict[str, Any] = {}
    for group in controlnet.UNIT_GROUPS:
        unit = {s.name: settings[s.key] for s in registry.SETTINGS if s.group == group}
        if isinstance(unit["model"], str):
            unit["model"], problem = controlnet.model_from_webui(unit["model"])
            if problem and unit["enabled"] is True:
                warnings.append(f"{group}_model: {problem}")
        if unit["model"] is None:
            unit["model"] = ""
        if isinstance(unit["module"], str):
            unit["module"] = controlnet.canonical_module(unit["module"])
            if unit["enabled"] is True and not controlnet.is_supported_module(unit["module"]):
                fix = controlnet.detector_fix(group, unit["module"]).removesuffix(
                    ", or turn the unit off"
                )
                warnings.append(f"{fix}; the unit is kept but switched off")
                unit["enabled"] = False
        missing = _unit_missing(unit)
        if unit["enabled"] is True and missing:
            warnings.append(
                f"{group}_enabled = true without {group}_{missing}; the unit is kept but "
                "switched off"
            )
            unit["enabled"] = False
        for name in controlnet.SCHEDULES:  # Deforum writes plain numbers at times
            if _is_number(unit[name]):
                unit[name] = f"0:({unit[name]:g})"
        units[group] = unit
    return units


def _unit_missing(unit: Mapping[str, Any]) -> str | None:
    """The unit's key a render needs and the file lacks (its model, or an image to read)."""
    if not unit["model"]:
        return "model"
    reads_image = controlnet.canonical_module(str(unit["module"])) in controlnet.IMAGE_MODULES
    if reads_image and not unit["vid_path"] and unit["loopback_mode"] is not True:
        return "vid_path"
    return None


def _job_paths() -> dict[str, str]:
    """Job field paths -> the Deforum key a settings file writes them under."""
    paths = {
        f"params.{name}": spec.deforum_key for name, spec in jf.PARAMS.items() if spec.deforum_key
    }
    paths.update({setting.path: setting.name for setting in registry.COPIED})
    paths.update({s.path: s.key for s in registry.SETTINGS if s.group in controlnet.UNIT_GROUPS})
    paths.update(
        {
            "seeds.seed": "seed",
            "prompts.keyframes": "prompts",
            "prompts.positive_prompts": "positive_prompts",
            "prompts.negative_prompts": "negative_prompts",
            "stills.n_batch": "n_batch",
        }
    )
    return paths


def _as_settings_problem(problem: str, paths: Mapping[str, str]) -> str:
    """A Job problem named by the settings key the user wrote (``params.zoom`` -> ``zoom``)."""
    head, colon, rest = problem.partition(":")
    return f"{paths[head]}{colon}{rest}" if colon and head in paths else problem


def _job_dict(
    settings: dict[str, Any],
    warnings: list[str],
    problems: list[str],
    *,
    keep_frames: bool,
) -> dict[str, Any]:
    """The Job dict for upgraded settings (missing keys already filled from the defaults)."""
    for key in ("W", "H"):
        size = settings[key]
        if isinstance(size, int) and size % 8:
            settings[key] = max(8, size - size % 8)
            warnings.append(f"{key}: {size} rounded down to {settings[key]}, as Deforum does")
    for key in _CHOICES:
        settings[key] = _choice(key, settings[key], warnings)
    _warn_in_context(settings, warnings)
    frames, seed = settings["max_frames"], settings["seed"]
    if isinstance(seed, int) and seed >= SEED_RANGE:
        settings["seed"] = seed % SEED_RANGE
        warnings.append(f"seed: {seed} is above 2**32-1; using {settings['seed']}")
    if not isinstance(frames, int) or frames < 1:
        problems.append(f"max_frames: {frames!r} is not a frame count; use 1 or more")
        frames = settings["max_frames"] = DEFORUM_DEFAULTS["max_frames"]
    seed = settings["seed"] if isinstance(settings["seed"], int) else -1

    sampler = settings["sampler"]
    try:
        sampler = canonical_sampler(str(sampler))
    except DeforumInputError:
        warnings.append(f"sampler: {sampler!r} is not supported; using {DEFAULT_SAMPLER!r}")
        sampler = DEFAULT_SAMPLER

    params: dict[str, Any] = {}
    for name, spec in jf.PARAMS.items():
        if spec.deforum_key:
            try:
                value = settings[spec.deforum_key]
                params[name] = _param_value(spec.deforum_key, value, frames, seed, warnings)
            except DeforumInputError as error:
                problems.append(str(error))  # left at its default, so reported once
    if not settings["enable_steps_scheduling"]:
        params["steps"] = (
            float(settings["steps"]) if _is_number(settings["steps"]) else settings["steps"]
        )
    if not settings["enable_noise_multiplier_scheduling"]:
        params["noise_multiplier"] = 1.0  # the webui's own default when not scheduled
    if not settings["enable_clipskip_scheduling"]:
        params["clip_skip"] = 1.0  # the webui's own CLIP skip, 1 unless its settings change it
    old_aspect = settings.get("aspect_ratio_use_old_formula") in (True, "True", "true")
    if old_aspect and _is_number(settings["W"]) and _is_number(settings["H"]) and settings["H"]:
        # Deforum's old formula: the frame's own W/H in place of aspect_ratio_schedule.
        params["aspect_ratio"] = settings["W"] / settings["H"]

    algorithm = _depth_algorithm_name(settings, warnings)
    model = settings.get("sd_model_name")
    if isinstance(model, str):
        model = re.sub(r"\s*\[[0-9a-fA-F]+\]$", "", model)  # the webui's "name [hash]"
    if isinstance(model, str) and _is_webui_checkpoint_name(model):
        warnings.append(
            f"sd_model_name: {model!r} names a webui checkpoint; it must be a local path or a "
            "Hugging Face id here, or give --model"
        )
    try:
        prompts = _prompts(settings, warnings)
    except DeforumInputError as error:
        problems.append(str(error))
        prompts = dict(Job().prompts.keyframes)
    switched = _scheduled_choices(settings, frames, seed, warnings)

    job: dict[str, Any] = {
        "version": JOB_VERSION,
        "W": settings["W"],
        "H": settings["H"],
        "first_frame": 1,
        "last_frame": frames,
        "fps": settings["fps"],
        "animation_mode": settings["animation_mode"],
        "sampler": sampler,
        "model": {"id": model} if model else {},
        "params": params,
        "prompts": {
            "keyframes": prompts,
            "positive_prompts": settings["positive_prompts"] or "",
            "negative_prompts": settings["negative_prompts"] or "",
            "blend": settings["animation_mode"] == "Interpolation",
        },
        "seeds": {"seed": settings["seed"]},
        "depth": {
            "depth_source": "estimated" if settings["use_depth_warping"] else "flat",
            "depth_model": DEPTH_MODELS.get(algorithm or "", jf.DEFAULT_DEPTH_MODEL),
        },
        "output": {"make_video": not settings["skip_video_creation"]},
        "stills": {"n_batch": settings["n_batch"]},
    }
    for setting in registry.COPIED:  # 1:1 under the field's own name
        target = job.setdefault(setting.group, {}) if setting.group else job
        target[setting.name] = settings[setting.name]
    _deep_merge(job, switched)
    job.update(_controlnet_units(settings, warnings))
    extra = _imported_extras(settings, warnings)
    if extra is not None:
        offset = extra.get("first_frame")
        _deep_merge(job, extra)
        if isinstance(offset, int):
            job["last_frame"] = offset + frames - 1
    elif not keep_frames:  # our own files keep their range: max_frames is what the job renders
        _mode_frame_count(job, frames, seed)
    return job


def _mode_frame_count(job: dict[str, Any], frames: int, seed: int) -> None:
    """Colab-era Deforum ignores max_frames in None and Interpolation modes: the prompts set it.

    None: n_batch stills per prompt; Interpolation: up to the last prompt's position.
    """
    from .prompt_layout import morph_frame_count, morph_positions, stills_count
    from .prompts import keyframes

    mode, prompts = job["animation_mode"], job["prompts"]["keyframes"]
    n_batch = job["stills"].get("n_batch")
    morph = job["interpolate"]
    x_frames = morph.get("interpolate_x_frames")
    try:
        if mode == "None" and isinstance(n_batch, int) and n_batch >= 1:
            count = stills_count(prompts, n_batch, frames, seed)
        elif mode == "Interpolation" and isinstance(x_frames, int) and x_frames >= 0:
            keys = [key for key, _ in keyframes(prompts, frames, seed)]
            on_keys = morph.get("interpolate_key_frames") is True
            count = morph_frame_count(
                morph_positions(keys, on_key_frames=on_keys, x_frames=x_frames)
            )
        else:
            return
    except DeforumInputError:
        return  # bad prompt keys: the Job's own check reports them
    job["last_frame"] = job["first_frame"] + count - 1


def _webui_interpolation(data: Mapping[str, Any], settings: dict[str, Any]) -> bool:
    """An sd-webui-deforum file in Interpolation mode (no Colab morph keys): True.

    The webui renders max_frames frames, the prompts blended between their own keyframes.
    """
    if settings["animation_mode"] != "Interpolation" or MORPH_KEYS & set(data):
        return False
    settings["interpolate_key_frames"] = True
    return True


def _scheduled_choices(
    settings: Mapping[str, Any], frames: int, seed: int, warnings: list[str]
) -> dict[str, Any]:
    """The Job's sampler and checkpoint schedules, read where Deforum's switches are on;
    a webui checkpoint name (a bare file name) is warned about, as for sd_model_name."""
    read: dict[str, Any] = {}
    if settings["enable_sampler_scheduling"] and settings["sampler_schedule"] is not None:
        read["sampler_schedule"] = settings["sampler_schedule"]
    text = settings["checkpoint_schedule"]
    if not settings["enable_checkpoint_scheduling"] or text is None:
        return read
    read["model"] = {"checkpoint_schedule": text}
    if isinstance(text, str):
        from .schedules import ScheduleError, evaluate_string_schedule

        try:
            names = set(evaluate_string_schedule(text, frames, seed=seed))
        except ScheduleError:
            return read  # the Job's check names the field and the position
        for name in sorted(n for n in names if _is_webui_checkpoint_name(n.strip())):
            warnings.append(
                f"checkpoint_schedule: {name!r} names a webui checkpoint; give each model as a "
                "local path or a Hugging Face id here"
            )
    return read


def _is_webui_checkpoint_name(model: str) -> bool:
    """A bare file name from the webui's models folder, not a path or a Hugging Face id."""
    return "/" not in model and "\\" not in model and model.endswith((".safetensors", ".ckpt"))


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (``null``, ``list``, ``string``…)."""
    names = {type(None): "null", list: "list", str: "string", bool: "boolean"}
    return names.get(type(value), "number")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def import_settings(
    source: str | os.PathLike[str] | Mapping[str, Any],
) -> tuple[Job, list[str]]:
    """A Job from an sd-webui-deforum settings file (path) or its parsed JSON, plus warnings.

    Raises :class:`SettingsFileError` listing every problem (and the warnings) at once.
    """
    data = read_json_file(Path(source), "settings") if not isinstance(source, Mapping) else source
    if not isinstance(data, Mapping):
        raise DeforumInputError(
            f"settings: the file holds a {type(data).__name__}, not a Deforum settings object"
        )
    warnings: list[str] = []
    problems: list[str] = []
    _warn_unsupported(data, warnings)
    upgraded = _upgrade(data, warnings)
    settings = {**DEFORUM_DEFAULTS, **{k: _coerce(k, v) for k, v in upgraded.items()}}
    settings["animation_mode"] = _choice("animation_mode", settings["animation_mode"], warnings)
    keep_frames = _webui_interpolation(upgraded, settings)
    job_data = _job_dict(settings, warnings, problems, keep_frames=keep_frames)
    try:
        job = Job.from_dict(job_data)
    except JobError as error:
        paths = _job_paths()
        problems.extend(_as_settings_problem(problem, paths) for problem in error.problems)
    if problems:
        raise SettingsFileError(problems, warnings)
    return job, warnings


def load_job_or_settings(path: str | os.PathLike[str]) -> tuple[Job, list[str]]:
    """A Job from our job JSON (it has ``version`` and ``params``) or a Deforum settings file."""
    data = read_json_file(Path(path), "job or settings")
    if not isinstance(data, Mapping):  # a JSON string is a value here, never a path
        raise DeforumInputError(
            f"settings {str(path)!r}: the file holds a JSON {_json_type(data)}, not a job or "
            "Deforum settings object ({...})"
        )
    if "version" in data and "params" in data:
        return Job.from_dict(data), []
    return import_settings(data)


# -- export -------------------------------------------------------------------------------

# numexpr's names that Deforum's schedules may use, and what our grammar reads the same.
_DEFORUM_NAMES = {
    "t",
    "i",
    "max_f",
    "s",
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "arctan2",
    "sinh",
    "cosh",
    "tanh",
    "sqrt",
    "exp",
    "log",
    "log10",
    "abs",
    "where",
}
_TOKENS = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[A-Za-z_]\w*")
_DEFORUM_NUMBER = re.compile(r"[+-]?\d*(?:\.\d+)?")  # Deforum's check_is_number


def deforum_reads_the_same(text: str, max_frames: int, seed: int) -> bool:
    """True when sd-webui-deforum gives ``text`` the values our grammar gives it.

    Mimics Deforum's reading (split on every comma, then on the first colon; quotes and
    parentheses stripped) and refuses what it reads differently: multi-argument calls,
    keyframes outside the range, numbers it would step (``1e-3``, ``5.``), names numexpr
    lacks, and ``//``.
    """
    from .prompts import keyframe_index

    if "//" in text:
        return False
    for part in text.split(","):
        key, colon, value = part.partition(":")
        if not colon or ":" in value:
            return False
        try:
            frame = keyframe_index(key.strip().strip("\"'"), max_frames, seed)
        except DeforumInputError:
            return False
        if not 0 <= frame < max_frames:
            return False
        bare = re.sub(r"[\"'()]", "", value).strip()
        if bare and _DEFORUM_NUMBER.fullmatch(bare):
            continue
        names = [tok for tok in _TOKENS.findall(value) if not tok[0].isdigit() and tok[0] != "."]
        if not names or any(name not in _DEFORUM_NAMES for name in names):
            return False  # a constant Deforum would step, or a name numexpr lacks
    return True


def _schedule_text(job: Job, name: str, series: Sequence[float] | None = None) -> str:
    """The Deforum schedule for parameter ``name``: as written when Deforum reads it the same."""
    from .schedules import format_schedule

    value = job.params[name]
    if series is None:
        linear = job.interpolation.get(name, "linear") == "linear"
        if (
            isinstance(value, str)
            and linear
            and deforum_reads_the_same(value, job.max_frames, job.seeds.seed)
        ):
            return value
        series = job.series(name)
    return format_schedule(list(series))


def _camera_motion(job: Job) -> dict[str, list[float]]:
    """Deforum's per-frame 3D values reproducing the job's camera track."""
    from .camera import CameraTrack, deforum_motion

    assert job.motion.camera_track is not None
    track = CameraTrack.from_dict(job.motion.camera_track)
    motion = deforum_motion(track, job.motion.translation_scale)
    lengths = {len(values) for values in motion.values()}
    if lengths != {job.max_frames}:
        raise DeforumInputError(
            f"motion.camera_track: {sorted(lengths)} frames for a range of {job.max_frames}; "
            "read the camera on every frame of the range"
        )
    return motion


def export_settings(
    job: Job, *, motion: Mapping[str, Sequence[float]] | None = None
) -> dict[str, Any]:
    """sd-webui-deforum settings reproducing ``job``'s per-frame values.

    ``motion`` maps Deforum keys (``translation_z``, ``rotation_3d_x``, ``fov_schedule``, …)
    to per-frame values that replace the job's own; by default the camera track is
    converted at the job's ``motion.translation_scale``.
    """
    if motion is None and job.motion.camera_track is not None:
        motion = _camera_motion(job)
    motion = dict(motion or {})
    unknown = [key for key in motion if key not in jf.PARAM_BY_DEFORUM_KEY]
    if unknown:
        raise DeforumInputError(f"motion: {unknown} are not Deforum schedule keys")
    by_name = {jf.PARAM_BY_DEFORUM_KEY[key]: values for key, values in motion.items()}

    schedules: dict[str, Any] = {}
    for name, spec in jf.PARAMS.items():
        if spec.deforum_key:
            schedules[spec.deforum_key] = _schedule_text(job, name, by_name.get(name))
    steps = job.params["steps"]
    constant_steps = isinstance(steps, float) and steps.is_integer()
    multiplier = job.params["noise_multiplier"]
    keep_multiplier = not (isinstance(multiplier, float) and multiplier == 1.0)

    settings: dict[str, Any] = {
        "W": job.W,
        "H": job.H,
        "seed": job.seeds.seed,
        "sampler": job.sampler,
        "steps": int(job.series("steps")[0]),
        "seed_behavior": job.seeds.seed_behavior,
        "seed_iter_N": job.seeds.seed_iter_N,
        "strength_0_no_init": True,
        "prompts": dict(job.prompts.keyframes),
        "positive_prompts": job.prompts.positive_prompts,
        "negative_prompts": job.prompts.negative_prompts,
        "animation_prompts_positive": job.prompts.positive_prompts,
        "animation_prompts_negative": job.prompts.negative_prompts,
        "animation_mode": job.animation_mode,
        "max_frames": job.max_frames,
        "border": job.motion.border,
        "enable_perspective_flip": False,
        "enable_steps_scheduling": not constant_steps,
        "enable_noise_multiplier_scheduling": keep_multiplier,
        "enable_clipskip_scheduling": job.params["clip_skip"] != 1.0,
        "enable_sampler_scheduling": job.sampler_schedule is not None,
        "sampler_schedule": job.sampler_schedule or f'0: ("{job.sampler}")',
        "enable_checkpoint_scheduling": job.model.checkpoint_schedule is not None,
        "checkpoint_schedule": job.model.checkpoint_schedule or f'0: ("{job.model.id}")',
        **schedules,
        "use_depth_warping": job.depth.depth_source != "flat",
        "depth_algorithm": _depth_algorithm(job.depth.depth_model),
        "padding_mode": job.depth.padding_mode,
        "sampling_mode": job.depth.sampling_mode,
        "save_depth_maps": job.output.save_depth_maps,
        "n_batch": max(job.stills.n_batch, 1),
        **{setting.name: setting.value(job) for setting in registry.COPIED},
        "skip_video_creation": not job.output.make_video,
        "fps": job.fps,
        "sd_model_name": job.model.id,
        **_controlnet_settings(job),
        EXTRA_KEY: _extras(job),
    }
    if job.model.sha256:
        settings["sd_model_hash"] = job.model.sha256[:10]  # the webui's short hash
    if job.motion.camera_track is not None:
        from .camera import DEFORUM_3D_KEYS

        settings[EXTRA_KEY][MOTION_FINGERPRINTS] = {
            key: _fingerprint(settings[key]) for key in (*DEFORUM_3D_KEYS, "max_frames")
        }
    return settings


def _controlnet_settings(job: Job) -> dict[str, Any]:
    """The units as Deforum's ``cn_N_*`` keys (a known model under its webui name)."""
    settings: dict[str, Any] = {}
    for setting in registry.SETTINGS:
        if setting.group in controlnet.UNIT_GROUPS:
            settings[setting.key] = getattr(getattr(job, setting.group), setting.name)
    for group in controlnet.UNIT_GROUPS:
        settings[f"{group}_model"] = controlnet.model_to_webui(getattr(job, group).model)
    return settings


def _depth_algorithm(model: str) -> str:
    for algorithm, name in DEPTH_MODELS.items():
        if name == model:
            return algorithm
    return "Midas-3-Hybrid"


# Settings with no Deforum key that _extras writes only where Deforum's keys cannot say it
# (last_frame: first_frame + max_frames - 1).
_EXTRAS_OWN_RULE = {"last_frame", "depth.depth_source", "depth.depth_model", "depth.depth_path"}


def _extras(job: Job) -> dict[str, Any]:
    """What Deforum has no key for, in the Job's own JSON shape (read back on import)."""
    extras: dict[str, Any] = {
        "params": {
            name: _copy_param(job.params[name])
            for name, spec in jf.PARAMS.items()
            if spec.deforum_key is None
        },
    }
    for setting in registry.SETTINGS:
        if setting.deforum_key is None and setting.path not in _EXTRAS_OWN_RULE:
            group = extras.setdefault(setting.group, {}) if setting.group else extras
            group[setting.name] = setting.value(job)
    # Only what use_depth_warping and depth_algorithm cannot say, so that an edit of
    # those in the webui still counts when the file comes back.
    depth: dict[str, str] = {}
    if job.depth.depth_source in ("scene", "files"):
        depth["depth_source"] = job.depth.depth_source
    if job.depth.depth_path:
        depth["depth_path"] = job.depth.depth_path
    if job.depth.depth_model not in DEPTH_MODELS.values():
        depth["depth_model"] = job.depth.depth_model
    if depth:
        extras["depth"] = depth
    if job.stills.n_batch == 0:  # one still per frame of the range: Deforum has no such mode
        extras["stills"] = {"n_batch": 0}
    return extras


def _copy_param(value: jf.Param) -> jf.Param:
    return list(value) if isinstance(value, list) else value


def export_losses(job: Job) -> list[str]:
    """What sd-webui-deforum will not reproduce from the exported file, one line each."""
    losses: list[str] = []
    if job.depth.depth_source in ("scene", "files"):
        losses.append(f"depth_source {job.depth.depth_source!r}: Deforum estimates depth instead")
    if job.depth.depth_model not in DEPTH_MODELS.values():
        losses.append(f"depth_model {job.depth.depth_model!r}: written as Midas-3-Hybrid")
    if job.params["scene_blend"] != 0.0:
        losses.append("scene_blend: Deforum has no scene render to blend")
    if job.animation_mode == "None" and job.stills.n_batch == 0:
        losses.append(
            "n_batch 0 (one still per frame, prompts as keyed): Deforum makes n_batch stills "
            "of each prompt instead"
        )
    if job.prompts.blend and job.animation_mode != "Interpolation":
        losses.append("prompt blending: Deforum blends prompts only in Interpolation mode")
    if job.device != "auto":
        losses.append(f"device {job.device!r}: the webui picks its own device")
    return losses


def write_settings(job: Job, path: str | os.PathLike[str]) -> None:
    """Write ``export_settings(job)`` as an sd-webui-deforum settings file, atomically."""
    write_text(path, json.dumps(export_settings(job), indent=4, ensure_ascii=False) + "\n")
