"""Contrast and anti-blur, as Deforum applies them before each img2img, without its wrap-around.

Deforum scales contrast as ``(frame × contrast).round().astype(uint8)``, so a bright pixel
at contrast 1.1 wraps round to black; we clip. Its unsharp mask subtracts uint8 images for
the threshold test (which wraps too); we take the true absolute difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import DeforumInputError


def adjust_contrast(image: NDArray[Any], contrast: float) -> NDArray[Any]:
    """Deforum's contrast, ``image × contrast``, rounded and clipped to 0…255."""
    import cv2

    if not contrast >= 0.0:
        raise DeforumInputError(
            f"contrast_schedule: contrast {contrast!r} is negative; use a value ≥ 0 (1 = unchanged)"
        )
    if contrast == 1.0:
        return image.copy()
    # A 256-entry table in float64, as Deforum computes it (float32 would round 55 × 1.1 down).
    table = np.clip(np.round(np.arange(256, dtype=np.float64) * float(contrast)), 0, 255)
    return np.asarray(cv2.LUT(image, table.astype(np.uint8)))


def unsharp_mask(
    image: NDArray[Any],
    amount: float,
    kernel: int = 5,
    sigma: float = 1.0,
    threshold: float = 0.0,
    mask: NDArray[Any] | None = None,
) -> NDArray[Any]:
    """Deforum's anti-blur: ``(1 + amount)·image − amount·blur(image)``, rounded and clipped.

    ``kernel`` is the Gaussian kernel size (an even size is raised to the next odd one, 0
    derives it from sigma); pixels whose difference from the blur is below ``threshold``
    stay as they were; with ``mask`` (uint8 H×W, 255 = sharpen) only masked pixels change.
    """
    import cv2

    if amount == 0:
        return image.copy()
    size = int(kernel)
    if size < 0 or sigma < 0:
        raise DeforumInputError(
            f"kernel_schedule/sigma_schedule: kernel {kernel!r} and sigma {sigma!r} must be ≥ 0"
        )
    if size == 0 and sigma == 0:
        return image.copy()  # no blur to subtract: nothing to sharpen
    if size and size % 2 == 0:
        size += 1  # OpenCV needs odd kernels; Deforum crashes on even ones
    blurred = cv2.GaussianBlur(image, (size, size), float(sigma))
    sharpened = cv2.addWeighted(image, 1.0 + float(amount), blurred, -float(amount), 0.0)
    if threshold > 0:
        # Keep low-contrast pixels: a 0/255 byte mask through a table, then bitwise select
        # (several times faster than a boolean copyto on 3 channels).
        table = np.where(np.arange(256) < threshold, 255, 0).astype(np.uint8)
        keep = cv2.LUT(cv2.absdiff(image, blurred), table)
        sharpened = cv2.bitwise_or(
            cv2.bitwise_and(image, keep), cv2.bitwise_and(sharpened, cv2.bitwise_not(keep))
        )
    if mask is not None:
        outside = np.asarray(mask) == 0  # as Deforum: any non-zero mask value sharpens
        outside = outside[..., None] if outside.ndim == 2 else outside
        np.copyto(sharpened, image, where=np.broadcast_to(outside, image.shape))
    return np.asarray(sharpened)


def grayscale(image: NDArray[Any]) -> NDArray[Any]:
    """``image`` (uint8 RGB) in grey, still three channels (Deforum's color_force_grayscale)."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)  # type: ignore[no-any-return]
