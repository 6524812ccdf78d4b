"""Upscaling after the render (Deforum's ``r_upscale_*``): a weights file loaded by
spandrel (ESRGAN/Real-ESRGAN, SwinIR, …, as ComfyUI and the webui load them), run in
tiles so large frames fit in little memory, into ``<out>/upscaled/``.
"""

from __future__ import annotations

import importlib
import threading
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
        spandrel: Any = importlib.import_module("spandrel")  # the worker's, untyped
    except ImportError as error:
        raise DeforumInputError(
            f"r_upscale_video: spandrel cannot be imported ({error}); install the worker's "
            "requirements (deforum_blender/worker_requirements.txt)"
        ) from None
    descriptor = spandrel.ModelLoader(device=device).load_from_file(str(path))
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise DeforumInputError(f"r_upscale_model: {model!r} is not an image upscaler")
    return descriptor.eval()


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
