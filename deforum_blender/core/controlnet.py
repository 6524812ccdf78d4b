"""ControlNet units (Deforum's ``cn_1`` … ``cn_5``): their choices, modules and model names.

Pure tables and checks shared by the Job, the settings import and the engine. A unit's
control image comes from the scene (``scene_depth``, ``scene_normal``, ``scene_render``,
``scene_canny``), from its ``vid_path`` through a preprocessor that needs no download
(``none``, ``canny``, ``depth``, ``tile``, ``blur``), or, with ``loopback_mode``, from the
frame's init.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

UNIT_COUNT = 5
UNIT_GROUPS = tuple(f"cn_{n}" for n in range(1, UNIT_COUNT + 1))

CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important")
RESIZE_MODES = ("Inner Fit (Scale to Fit)", "Outer Fit (Shrink to Fit)", "Just Resize")
#: Exact, per-frame sources that Blender leaves in the output folder.
SCENE_MODULES = ("scene_depth", "scene_normal", "scene_render", "scene_canny")
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
#: What a module we lack needs (controlnet_aux detectors and their weights). controlnet_aux
#: is not installed because it requires torchvision, whose wheels for our torch are CUDA
#: builds that would replace the worker's torch.
MISSING_DETECTOR = (
    "the controlnet_aux detector and its weights (lllyasviel/Annotators), which this "
    "engine does not run"
)
#: The webui's detector modules by the start of their name, and what to use instead.
_PREMADE = "a {what} made beforehand as cn_N_vid_path with module none"
DETECTOR_FIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("normal",), "use scene_normal (Blender's exact normals)"),
    (("depth",), "use scene_depth (Blender's exact Z pass) or depth (our estimator)"),
    (
        (
            "hed",
            "softedge",
            "pidinet",
            "scribble",
            "fake_scribble",
            "lineart",
            "mlsd",
            "t2ia_sketch",
        ),
        "use scene_canny (edges of Blender's render) or canny on cn_N_vid_path, or "
        + _PREMADE.format(what="line drawing"),
    ),
    (
        ("openpose", "dw_openpose", "animal_openpose", "densepose", "mediapipe_face"),
        "pose a rig in Blender and give its render, or " + _PREMADE.format(what="pose image"),
    ),
    (("seg", "oneformer", "uniformer"), "give " + _PREMADE.format(what="segmentation map")),
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


def detector_alternative(group: str, module: str) -> str:
    """What unit ``group`` can use instead of ``module``, a webui detector it cannot run."""
    name = canonical_module(module).lower()
    fix = next(
        (fix for starts, fix in DETECTOR_FIXES if name.startswith(starts)),
        "give " + _PREMADE.format(what="control image"),
    )
    return fix.replace("cn_N", group)


def detector_fix(group: str, module: str) -> str:
    """Why unit ``group`` cannot run ``module`` (a webui detector) and what to use instead."""
    return (
        f"{group}_module: {module!r} needs {MISSING_DETECTOR}; "
        f"{detector_alternative(group, module)}, or turn the unit off"
    )


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
        problems.append(detector_fix(group, unit.module).replace("_module", ".module", 1))
    elif module in IMAGE_MODULES and not unit.loopback_mode and not unit.vid_path:
        problems.append(
            f"{group}.vid_path: empty while module {module!r} reads an image; give an image, "
            "a folder of frames or a video, or turn loopback_mode on"
        )
    return problems


#: A unit's per-frame schedules.
SCHEDULES = ("weight", "guidance_start", "guidance_end")

#: Each unit field's label and tooltip: Blender's ``scene.deforum.cn_<N>_<field>`` (labelled
#: "ControlNet <N> <label>") and docs/settings.md's ControlNet rows.
UNIT_LABELS: dict[str, tuple[str, str]] = {
    "enabled": ("Enabled", "The unit guides every diffused frame with its control image"),
    "module": (
        "Module",
        "Where the control image comes from: scene_depth, scene_normal, scene_render or "
        "scene_canny (Blender's exact passes of each frame; they need the scene camera), or "
        "the Image Path through none, canny, depth, tile or blur",
    ),
    "model": (
        "Model",
        "The ControlNet: a Hugging Face id, a diffusers folder or a .safetensors file "
        "(webui names import as the Hugging Face id of the same model)",
    ),
    "weight": (
        "Weight Schedule",
        "A Deforum schedule of the unit's weight per frame, e.g. '0:(1), 30:(0.5)'; when "
        "set it overrides the animatable Weight; a weight of 0 leaves the unit out of that "
        "frame",
    ),
    "guidance_start": (
        "Guidance Start",
        "A Deforum schedule of the share of the sampler steps (0 to 1) before the unit "
        "starts acting",
    ),
    "guidance_end": (
        "Guidance End",
        "A Deforum schedule of the share of the sampler steps (0 to 1) after which the "
        "unit stops acting",
    ),
    "control_mode": (
        "Control Mode",
        "Balanced, or which of the prompt and the ControlNet matters more",
    ),
    "resize_mode": ("Resize Mode", "How the control image is fitted to the frame size"),
    "processor_res": (
        "Processor Resolution",
        "Short side, in pixels, that the canny and depth preprocessors work at",
    ),
    "threshold_a": (
        "Threshold A",
        "Canny's low threshold; tile's down-sampling factor; blur's sigma",
    ),
    "threshold_b": ("Threshold B", "Canny's high threshold"),
    "vid_path": (
        "Image Path",
        "An image, a folder of frames or a video that the image modules read (cn_N_vid_path)",
    ),
    "loopback_mode": (
        "Loopback",
        "The frame's init (the previous frame warped) is the control image instead of the "
        "Image Path; the first frame runs without the unit",
    ),
}


def unit_label(n: int, name: str) -> str:
    """The label of unit ``n``'s field ``name`` (``ControlNet 2 Weight``)."""
    return f"ControlNet {n} {UNIT_LABELS[name][0]}"


def weight_property(n: int) -> str:
    """Blender's animatable weight of unit ``n`` (``cn_2_weight_value``); the Job's
    ``cn_N_weight`` text overrides it when set."""
    return f"cn_{n}_weight_value"


def weight_schedule(values: Sequence[float]) -> str:
    """Per-frame weights as a unit's weight schedule that reproduces them exactly
    (``0:(1)`` for a constant, as the Job writes its default)."""
    from .schedules import format_schedule

    if all(value == values[0] for value in values):
        return format_schedule(values[:1]).replace(" ", "")
    return format_schedule(values)
