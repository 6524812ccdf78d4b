"""Colour coherence: match a frame's colour histograms to a reference (Deforum's LAB/HSV/RGB).

Frames are RGB uint8. Deforum's own version converts BGR frames as if they were RGB and
truncates the matched values; here the conversions use the frames' real channel order and
the matched values are rounded. Matching is per channel, by cumulative histograms, through
a 256-entry lookup table, so it costs one colour conversion each way plus a table lookup.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import DeforumInputError

COLOR_COHERENCE_MODES: tuple[str, ...] = ("None", "LAB", "HSV", "RGB")

# (into the matching space, back to RGB); None = match the RGB channels directly.
_CONVERSIONS: dict[str, tuple[str, str] | None] = {
    "LAB": ("COLOR_RGB2LAB", "COLOR_LAB2RGB"),
    "HSV": ("COLOR_RGB2HSV", "COLOR_HSV2RGB"),
    "RGB": None,
}


#: Deforum's maintain_colors matches anything but RGB and HSV in LAB: a coherence image or
#: video frame is matched to in LAB.
SAMPLE_SPACES = {"image": "LAB", "video input": "LAB"}


def coherence_mode(mode: str | None, field: str = "color_coherence") -> str:
    """Canonical matching space (``None``, ``LAB``, ``HSV``, ``RGB``), case-insensitive;
    'Image' and 'Video Input' match in LAB."""
    text = "None" if mode is None else str(mode).strip()
    text = SAMPLE_SPACES.get(text.lower(), text)
    for known in COLOR_COHERENCE_MODES:
        if text.lower() == known.lower():
            return known
    raise DeforumInputError(
        f"{field}: unknown colour coherence {mode!r}; use one of {', '.join(COLOR_COHERENCE_MODES)}"
    )


def _to_space(image: NDArray[Any], mode: str) -> NDArray[Any]:
    import cv2

    conversion = _CONVERSIONS[mode]
    return image if conversion is None else cv2.cvtColor(image, getattr(cv2, conversion[0]))


def _from_space(image: NDArray[Any], mode: str) -> NDArray[Any]:
    import cv2

    conversion = _CONVERSIONS[mode]
    return image if conversion is None else cv2.cvtColor(image, getattr(cv2, conversion[1]))


def _cdfs(image: NDArray[Any]) -> NDArray[Any]:
    """Per-channel cumulative histograms (3×256, 0…1) of a uint8 H×W×3 image."""
    import cv2

    cdfs = np.empty((3, 256), dtype=np.float64)
    for channel in range(3):
        # reshape: some OpenCV builds return 256×1, others a flat 256.
        counts = cv2.calcHist([image], [channel], None, [256], [0, 256]).reshape(-1)
        cdfs[channel] = np.cumsum(counts) / max(counts.sum(), 1.0)
    return cdfs


class ColorMatcher:
    """Histogram matching to one reference frame, its histograms computed once."""

    def __init__(self, reference: NDArray[Any], mode: str) -> None:
        self.mode = coherence_mode(mode)
        self._reference_cdfs = (
            None if self.mode == "None" else _cdfs(_to_space(_check(reference), self.mode))
        )

    @property
    def reference_cdfs(self) -> NDArray[Any] | None:
        """The reference's per-channel cumulative histograms (3×256); None in mode None."""
        return self._reference_cdfs

    def apply(self, image: NDArray[Any]) -> NDArray[Any]:
        """``image`` with each channel's histogram matched to the reference's (a new array)."""
        import cv2

        _check(image)
        if self._reference_cdfs is None:
            return image.copy()
        converted = _to_space(image, self.mode)
        source_cdfs = _cdfs(converted)
        values = np.arange(256, dtype=np.float64)
        table = np.empty((1, 256, 3), dtype=np.uint8)
        for channel in range(3):
            reference_cdf = self._reference_cdfs[channel]
            # Only grey levels that occur in the reference are targets (as skimage does).
            present = np.diff(reference_cdf, prepend=0.0) > 0
            matched = np.interp(source_cdfs[channel], reference_cdf[present], values[present])
            table[0, :, channel] = np.clip(np.rint(matched), 0, 255).astype(np.uint8)
        return _from_space(cv2.LUT(converted, table), self.mode)


def match_colors(image: NDArray[Any], reference: NDArray[Any], mode: str) -> NDArray[Any]:
    """``image`` colour-matched to ``reference`` in ``mode`` (None returns a copy)."""
    return ColorMatcher(reference, mode).apply(image)


def _check(image: NDArray[Any]) -> NDArray[Any]:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"colour matching needs uint8 H×W×3 RGB images, got {image.dtype} {image.shape}"
        )
    return image
