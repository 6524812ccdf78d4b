"""Masks: where diffusion may change a frame (white) and where it keeps its input (black).

The init mask follows Deforum's preparation (``use_mask``, ``mask_file``,
``mask_brightness_adjust``, ``mask_contrast_adjust``, ``invert_mask``) and is applied as
Deforum's overlay: after img2img, ``kept · (1 − m) + diffused · m``, with ``m`` blurred
by ``mask_overlay_blur`` when ``overlay_mask`` is on. diffusers' plain img2img has no
latent mask, so the overlay is always the way the mask acts here; with ``overlay_mask``
off its edge is simply not softened. What black keeps is what went into img2img: the
init image on the first frame, the warped previous frame afterwards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.errors import DeforumInputError
from ..core.job import Job

Image = NDArray[np.uint8]
Mask = NDArray[np.float32]
"""H×W weights in 0…1: 1 lets diffusion change the pixel, 0 keeps it."""


def load_init_mask(job: Job) -> Mask:
    """The job's init mask at W×H, adjusted as Deforum does, softened for the overlay."""
    import cv2
    from PIL import Image, ImageEnhance, ImageOps

    init = job.init
    path = Path(init.mask_file or "")
    if not init.mask_file or not path.is_file():
        raise DeforumInputError(
            f"mask_file: {init.mask_file!r} is not an image file; give the mask's path "
            "(white: diffuse, black: keep) or turn use_mask off"
        )
    try:
        with Image.open(path) as opened:
            grey = opened.convert("L")
    except OSError as error:
        raise DeforumInputError(f"mask_file: cannot read {str(path)!r} ({error})") from None
    grey = grey.resize((job.W, job.H), Image.Resampling.LANCZOS)
    grey = ImageEnhance.Brightness(grey).enhance(init.mask_brightness_adjust)
    grey = ImageEnhance.Contrast(grey).enhance(init.mask_contrast_adjust)
    if init.invert_mask:
        grey = ImageOps.invert(grey)
    mask = np.asarray(grey, dtype=np.float32) / 255.0
    if init.overlay_mask and init.mask_overlay_blur > 0:
        sigma = float(init.mask_overlay_blur)
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma), dtype=np.float32)
    return mask


def composite(
    kept: NDArray[np.uint8], diffused: NDArray[np.uint8], mask: Mask
) -> NDArray[np.uint8]:
    """``kept`` where the mask is black, ``diffused`` where it is white, blended between."""
    weight = mask[..., None]
    mixed = kept.astype(np.float32) * (1.0 - weight) + diffused.astype(np.float32) * weight
    return np.asarray(np.clip(np.rint(mixed), 0, 255), dtype=np.uint8)
