"""Upscaling after the render (Deforum's ``r_upscale_*``): a weights file loaded by
spandrel (ESRGAN/Real-ESRGAN, SwinIR, …, as ComfyUI and the webui load them), run in
tiles so large frames fit in little memory, into ``<out>/upscaled/``.
"""

from __future__ import annotations

import enum
import importlib
import sys
import threading
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core import atomic
from ..core.errors import DeforumInputError

Image = NDArray[np.uint8]
#: Tile edge (input pixels) and the overlap each tile reads beyond it, hiding seams.
TILE = 256
OVERLAP = 16


def factor_of(r_upscale_factor: str) -> int:
    """``"x2"`` → 2."""
    return int(r_upscale_factor.lstrip("x"))


def load_upscaler(model: str, device: str = "cpu") -> Any:
    """spandrel's image-to-image descriptor for the weights file ``model``, in eval mode."""
    path = Path(model).expanduser()
    if not path.is_file():
        raise DeforumInputError(
            f"r_upscale_model: {model!r} is not a weights file; download the model's "
            ".pth/.safetensors and give its path (--upscale-model PATH or "
            "--set r_upscale_model=PATH)"
        )
    try:
        spandrel = _import_spandrel()
    except ImportError as error:
        raise DeforumInputError(
            f"r_upscale_video: spandrel cannot be imported ({error}); install the worker's "
            "requirements (deforum_blender/worker_requirements.txt, then "
            "worker_requirements_no_deps.txt with pip install --no-deps)"
        ) from None
    descriptor = spandrel.ModelLoader(device=device).load_from_file(str(path))
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise DeforumInputError(f"r_upscale_model: {model!r} is not an image upscaler")
    return descriptor.eval()


def _import_spandrel() -> Any:
    """spandrel (untyped), imported with a stand-in for torchvision where there is none
    or it does not load."""
    try:
        importlib.import_module("torchvision")
    except Exception:  # missing, or built for another torch (RuntimeError: no such operator)
        pass
    else:
        return importlib.import_module("spandrel")
    # `import spandrel` imports every architecture, and LaMa and RestoreFormer (an
    # inpainter and a face restorer, no upscalers) import three names from torchvision,
    # which the worker does not install (PyPI's Linux wheels would replace a CPU torch).
    # The stand-in lives only for the import, so nothing else mistakes it for torchvision.
    standins = _torchvision_standin()
    sys.modules.update(standins)
    try:
        return importlib.import_module("spandrel")
    finally:
        for name, module in standins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def _torchvision_standin() -> dict[str, types.ModuleType]:
    """``torchvision.transforms.functional`` as far as spandrel imports it; its functions
    raise an error naming torchvision."""

    class InterpolationMode(enum.Enum):
        NEAREST = "nearest"
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"

    def missing(*args: object, **kwargs: object) -> Any:
        raise NotImplementedError(
            "this spandrel architecture needs torchvision; install the torchvision build "
            "that matches the worker's torch"
        )

    names = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
    modules = {name: types.ModuleType(name) for name in names}
    functional = modules["torchvision.transforms.functional"]
    functional.InterpolationMode = InterpolationMode  # type: ignore[attr-defined]
    functional.rotate = functional.normalize = missing  # type: ignore[attr-defined]
    modules["torchvision"].transforms = modules["torchvision.transforms"]  # type: ignore[attr-defined]
    modules["torchvision.transforms"].functional = functional  # type: ignore[attr-defined]
    return modules


def upscale_image(descriptor: Any, image: Image, factor: int, tile: int = TILE) -> Image:
    """``image`` (H×W×3 RGB) ``factor`` times larger: the network tile by tile, then resized
    to exactly ``factor``× where the network's own scale differs."""
    import cv2
    import torch

    height, width = image.shape[:2]
    scale = int(descriptor.scale)
    device = next(descriptor.model.parameters()).device
    result = np.zeros((height * scale, width * scale, 3), dtype=np.float32)
    with torch.inference_mode():
        for top in range(0, height, tile):
            for left in range(0, width, tile):
                y0, x0 = max(top - OVERLAP, 0), max(left - OVERLAP, 0)
                y1, x1 = min(top + tile + OVERLAP, height), min(left + tile + OVERLAP, width)
                patch = torch.from_numpy(image[y0:y1, x0:x1]).to(device)
                patch = patch.permute(2, 0, 1)[None].float() / 255.0
                out = descriptor(patch)[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy()
                bottom, right = min(top + tile, height), min(left + tile, width)
                result[top * scale : bottom * scale, left * scale : right * scale] = out[
                    (top - y0) * scale : (bottom - y0) * scale,
                    (left - x0) * scale : (right - x0) * scale,
                ]
    upscaled = np.asarray(np.clip(np.rint(result * 255.0), 0, 255), dtype=np.uint8)
    if scale == factor:
        return upscaled
    size = (width * factor, height * factor)
    return np.asarray(cv2.resize(upscaled, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def upscale_folder(
    frames: Sequence[Path],
    folder: Path,
    descriptor: Any,
    factor: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[Path]:
    """Each of ``frames`` upscaled into ``folder`` under its own name; done files are kept."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / frame.name for frame in frames]
    for i, (frame, path) in enumerate(zip(frames, paths, strict=True)):
        if cancel is not None and cancel.is_set():
            break
        if not path.exists():
            bgr = cv2.imdecode(np.fromfile(str(frame), dtype=np.uint8), cv2.IMREAD_COLOR)
            rgb = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
            big = upscale_image(descriptor, rgb, factor)
            ok, encoded = cv2.imencode(".png", cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
            assert ok
            atomic.write_bytes(path, encoded.tobytes())
        if progress is not None:
            progress(i + 1, len(frames))
    return paths


def build_tiny_esrgan(
    target: Path, scale: int, seed: int = 20261128, *, features: int = 8, blocks: int = 1
) -> Path:
    """A random-weight Real-ESRGAN (RRDBNet: 8 features, one block; the published 64 and 23
    for timing) for ``scale`` 2 or 4, saved as a .safetensors state dict under Real-ESRGAN's
    key names, so spandrel detects the architecture and scale from the keys as it does for
    the published weights."""
    import torch
    from safetensors.torch import save_file

    grow = 32  # spandrel assumes the published 32 growth channels
    # Real-ESRGAN x2plus runs the ×4 network on a pixel-unshuffled (÷2) image.
    unshuffle = {2: 2, 4: 1}[scale]
    shapes = {"conv_first": (features, 3 * unshuffle**2)}
    for block in range(blocks):
        for rdb in (1, 2, 3):
            for conv in range(1, 6):
                out = features if conv == 5 else grow
                shapes[f"body.{block}.rdb{rdb}.conv{conv}"] = (out, features + (conv - 1) * grow)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        shapes[name] = (features, features)
    shapes["conv_last"] = (3, features)
    generator = torch.Generator().manual_seed(seed + scale)
    state: dict[str, Any] = {}
    for name, (out, inputs) in shapes.items():
        # Kaiming-normal, scaled down in the residual blocks as Real-ESRGAN initialises them.
        std = (2.0 / (inputs * 9)) ** 0.5 * (0.1 if name.startswith("body.") else 1.0)
        state[f"{name}.weight"] = torch.randn(out, inputs, 3, 3, generator=generator) * std
        state[f"{name}.bias"] = torch.zeros(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(target))
    return target
