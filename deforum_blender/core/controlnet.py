"""ControlNet units (Deforum's ``cn_1`` … ``cn_5``): their choices, modules and model names.

Pure tables and checks shared by the Job, the settings import and the engine. A unit's
control image comes from the scene (``scene_depth``, ``scene_render``, ``scene_canny``),
from its ``vid_path`` through a preprocessor that needs no download (``none``, ``canny``,
``depth``, ``tile``, ``blur``), or, with ``loopback_mode``, from the frame's init.
"""

from __future__ import annotations

import re
from typing import Any

UNIT_COUNT = 5
UNIT_GROUPS = tuple(f"cn_{n}" for n in range(1, UNIT_COUNT + 1))

CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important")
RESIZE_MODES = ("Inner Fit (Scale to Fit)", "Outer Fit (Shrink to Fit)", "Just Resize")
#: Exact, per-frame sources that Blender leaves in the output folder.
SCENE_MODULES = ("scene_depth", "scene_render", "scene_canny")
#: Preprocessors of ``vid_path`` (or the loopback image) that need no download.
IMAGE_MODULES = ("none", "canny", "depth", "tile", "blur")
MODULES = SCENE_MODULES + IMAGE_MODULES
#: Deforum's older spellings of the modules above.
MODULE_ALIASES = {
    "depth_midas": "depth",
    "depth_dpt": "depth",
    "tile_resample": "tile",
    "blur_gaussian": "blur",
    "None": "none",
}
#: What a module we lack needs (controlnet_aux detectors and their weights).
MISSING_DETECTOR = (
    "the controlnet_aux detector and its weights (lllyasviel/Annotators), which this "
    "engine does not run"
)

# The webui's model names (its "name [hash]" without the hash) -> Hugging Face ids.
_V11_SD15 = (
    "control_v11p_sd15_canny",
    "control_v11f1p_sd15_depth",
    "control_v11p_sd15_normalbae",
    "control_v11p_sd15_openpose",
    "control_v11p_sd15_lineart",
    "control_v11p_sd15s2_lineart_anime",
    "control_v11p_sd15_mlsd",
    "control_v11p_sd15_scribble",
    "control_v11p_sd15_softedge",
    "control_v11p_sd15_seg",
    "control_v11p_sd15_inpaint",
    "control_v11e_sd15_ip2p",
    "control_v11e_sd15_shuffle",
    "control_v11f1e_sd15_tile",
)
_V10_SD15 = ("canny", "depth", "hed", "mlsd", "normal", "openpose", "scribble", "seg")
WEBUI_MODELS: dict[str, str] = {
    **{name: f"lllyasviel/{name}" for name in _V11_SD15},
    **{f"control_sd15_{kind}": f"lllyasviel/sd-controlnet-{kind}" for kind in _V10_SD15},
}
WEBUI_NAMES: dict[str, str] = {hub: name for name, hub in WEBUI_MODELS.items()}
_WEBUI_HASH = re.compile(r"\s*\[[0-9a-fA-F]+\]$")


def canonical_module(module: str) -> str:
    """Deforum's module name as this engine spells it (``depth_midas`` -> ``depth``)."""
    return MODULE_ALIASES.get(module, module)


def is_supported_module(module: str) -> bool:
    """True when this engine makes the control image of ``module`` itself."""
    return canonical_module(module) in MODULES


def model_from_webui(name: str) -> tuple[str, str | None]:
    """A webui model name as a model id, and a warning when it is no model we know.

    ``control_v11f1p_sd15_depth [cfd03158]`` -> ``lllyasviel/control_v11f1p_sd15_depth``;
    ``None`` (the webui's empty choice) -> ``""``; a path or hub id is kept.
    """
    text = _WEBUI_HASH.sub("", name.strip())
    if text in ("", "None"):
        return "", None
    if text in WEBUI_MODELS:
        return WEBUI_MODELS[text], None
    if "/" in text or "\\" in text or "." in text:
        return text, None  # a Hugging Face id, a folder or a file
    return text, (
        f"{text!r} is a webui ControlNet model this importer cannot name on Hugging Face; "
        "set the unit's model to a Hugging Face id, a diffusers folder or a .safetensors file"
    )


def model_to_webui(model: str) -> str:
    """The webui's name of a model id where there is one (``None`` for no model)."""
    return WEBUI_NAMES.get(model, model) if model else "None"


def unit_problems(group: str, unit: Any, frames: int, seed: int) -> list[str]:
    """What stops unit ``group`` (a Job's ``ControlNetUnit``) from rendering, one line each.

    Its schedules must read; a unit that is on needs a model, a module this engine runs
    and, for an image module without loopback, a ``vid_path``.
    """
    from .errors import DeforumInputError
    from .schedules import evaluate_schedule

    problems = []
    for name in SCHEDULES:
        try:
            evaluate_schedule(getattr(unit, name), frames, seed, field=f"{group}.{name}")
        except DeforumInputError as error:
            problems.append(str(error))
    if not unit.enabled:
        return problems
    if not unit.model:
        problems.append(
            f"{group}.model: empty while {group}.enabled is on; give a ControlNet "
            "(Hugging Face id, diffusers folder or .safetensors file) or turn the unit off"
        )
    module = canonical_module(unit.module)
    if module not in MODULES:
        problems.append(
            f"{group}.module: {unit.module!r} needs {MISSING_DETECTOR}; use one of "
            f"{', '.join(MODULES)}, or turn the unit off"
        )
    elif module in IMAGE_MODULES and not unit.loopback_mode and not unit.vid_path:
        problems.append(
            f"{group}.vid_path: empty while module {module!r} reads an image; give an image, "
            "a folder of frames or a video, or turn loopback_mode on"
        )
    return problems


#: A unit's per-frame schedules.
SCHEDULES = ("weight", "guidance_start", "guidance_end")
