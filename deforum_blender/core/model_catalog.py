"""What kind of model a folder or file is, and the models we suggest per kind.

Pure Python (JSON and the safetensors header), so Blender's process can read it too.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

#: Kind identifiers (as the CLI's --kind takes them) and what a user calls them.
KINDS: dict[str, str] = {
    "sd": "Stable Diffusion",
    "controlnet": "ControlNet",
    "depth": "depth",
    "lora": "LoRA",
    "upscaler": "upscaler",
    "interpolator": "interpolator",
    "tiny-vae": "tiny VAE",
    "other": "other",
}

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle")
WEIGHT_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES

# diffusers / transformers class names, by kind (the first match wins).
_CLASS_KINDS: tuple[tuple[str, str], ...] = (
    ("ControlNet", "controlnet"),
    ("AutoencoderTiny", "tiny-vae"),
    ("DepthAnything", "depth"),
    ("DepthEstimation", "depth"),
    ("DPT", "depth"),
    ("GLPN", "depth"),
    ("ZoeDepth", "depth"),
    ("Pipeline", "sd"),
)
_DEPTH_MODEL_TYPES = frozenset({"depth_anything", "dpt", "glpn", "zoedepth", "depth_pro"})
# Words in a file name, by kind, for weights files whose tensors do not say.
_NAME_KINDS: tuple[tuple[str, str], ...] = (
    ("esrgan", "upscaler"),
    ("upscal", "upscaler"),
    ("swinir", "upscaler"),
    ("rife", "interpolator"),
    ("film", "interpolator"),
    ("interpol", "interpolator"),
    ("taesd", "tiny-vae"),
    ("lora", "lora"),
    ("controlnet", "controlnet"),
    ("control_", "controlnet"),
)


def _json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _kind_of_config(config: dict[str, object]) -> str | None:
    names = [str(config.get("_class_name", ""))]
    architectures = config.get("architectures")
    if isinstance(architectures, list):
        names += [str(name) for name in architectures]
    for name in names:
        for word, kind in _CLASS_KINDS:
            if word in name:
                return kind
    if config.get("model_type") in _DEPTH_MODEL_TYPES:
        return "depth"
    return None


def _kind_of_name(name: str) -> str | None:
    lowered = name.lower()
    return next((kind for word, kind in _NAME_KINDS if word in lowered), None)


def safetensors_keys(path: Path) -> list[str]:
    """Tensor names in a .safetensors file's header (no tensor is read); [] if unreadable."""
    try:
        with open(path, "rb") as stream:
            (length,) = struct.unpack("<Q", stream.read(8))
            if length > 100_000_000:
                return []
            header = json.loads(stream.read(length))
    except (OSError, ValueError, struct.error):
        return []
    return [key for key in header if key != "__metadata__"] if isinstance(header, dict) else []


def kind_of_file(path: Path) -> str:
    """The kind of a single weights file, from its tensor names, else its file name."""
    keys = safetensors_keys(path) if path.suffix.lower() in SAFETENSORS_SUFFIXES else []
    if any("lora" in key.lower() for key in keys):
        return "lora"
    if any(key.startswith("model.diffusion_model.") for key in keys):
        return "sd"
    if any(key.startswith(("control_model.", "input_hint_block.")) for key in keys):
        return "controlnet"
    return _kind_of_name(path.name) or "other"


def kind_of_folder(folder: Path, name: str = "") -> str:
    """The kind of a model folder (diffusers or transformers layout), or a hub snapshot."""
    index = folder / "model_index.json"
    if index.is_file():
        return _kind_of_config(_json(index)) or "sd"
    config = folder / "config.json"
    if config.is_file():
        kind = _kind_of_config(_json(config))
        if kind:
            return kind
    weights = sorted(p for p in folder.iterdir() if p.suffix.lower() in WEIGHT_SUFFIXES)
    if len(weights) == 1 and not config.is_file():
        kind = kind_of_file(weights[0])
        if kind != "other":
            return kind
    return _kind_of_name(name or folder.name) or "other"


def _has_weights(folder: Path) -> bool:
    return any(p.suffix.lower() in WEIGHT_SUFFIXES for p in folder.iterdir() if p.is_file())


def missing_parts(folder: Path) -> list[str]:
    """What a model folder lacks to be whole: a component its model_index.json names, or
    the weights beside a model's config.json (a pull cut short between files)."""
    index = folder / "model_index.json"
    if not index.is_file():
        return [] if _has_weights(folder) else ["weights"]
    missing = []
    for name, value in _json(index).items():
        if name.startswith("_") or not isinstance(value, list) or value[0] is None:
            continue
        part = folder / name
        if not part.is_dir():
            missing.append(name)
        elif (part / "config.json").is_file() and not _has_weights(part):
            missing.append(f"{name} weights")
    return missing


@dataclass(frozen=True)
class SuggestedModel:
    """A model we suggest for a kind, with its licence."""

    kind: str
    id: str
    licence: str
    note: str


SUGGESTED: tuple[SuggestedModel, ...] = (
    SuggestedModel(
        "sd", "stable-diffusion-v1-5/stable-diffusion-v1-5", "CreativeML OpenRAIL-M", "SD 1.5"
    ),
    SuggestedModel(
        "sd", "stabilityai/sd-turbo", "Stability AI Community License", "SD-Turbo, 1-4 steps"
    ),
    SuggestedModel(
        "sd", "stabilityai/sdxl-turbo", "Stability AI Community License", "SDXL-Turbo, 1-4 steps"
    ),
    SuggestedModel("controlnet", "lllyasviel/control_v11f1p_sd15_depth", "OpenRAIL", "depth"),
    SuggestedModel("controlnet", "lllyasviel/control_v11p_sd15_normalbae", "OpenRAIL", "normal"),
    SuggestedModel("controlnet", "lllyasviel/control_v11p_sd15_canny", "OpenRAIL", "canny"),
    SuggestedModel("controlnet", "lllyasviel/control_v11f1e_sd15_tile", "OpenRAIL", "tile"),
    SuggestedModel(
        "depth", "depth-anything/Depth-Anything-V2-Small-hf", "Apache-2.0", "Depth Anything V2"
    ),
    SuggestedModel("tiny-vae", "madebyollin/taesd", "MIT", "TAESD, fast previews (SD 1.x/2.x)"),
)
