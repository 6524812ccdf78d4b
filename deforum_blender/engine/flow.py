"""Optical-flow cadence: tweens whose two sources are first aligned by OpenCV's flow.

The camera warp already puts both neighbouring keys in the tween's camera; what still
differs is what diffusion changed between them. The flow from the earlier key's warp to
the later key's warp measures that, and each source is pushed part of the way along it
(the earlier by ``w``, the later back by ``1 − w``, scaled by ``cadence_flow_factor``)
before the blend, so moving details slide instead of cross-fading.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import DeforumInputError

Image = NDArray[np.uint8]
Flow = NDArray[np.float32]

#: Deforum's ``optical_flow_cadence`` names → how OpenCV computes the flow.
FLOW_METHODS = ("DIS Medium", "DIS Fine", "Farneback")


def optical_flow(source: Image, target: Image, method: str) -> Flow:
    """Per-pixel motion (dx, dy) from ``source`` to ``target``: H×W×2 float32."""
    import cv2

    a = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(target, cv2.COLOR_RGB2GRAY)
    if method in ("DIS Medium", "DIS Fine"):
        # OpenCV's stubs mistype the optional output arguments (None); call untyped.
        dis: Any = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        if method == "DIS Fine":
            dis.setFinestScale(0)  # as Deforum's "fine": refine down to full resolution
        flow = dis.calc(a, b, None)
    elif method == "Farneback":
        farneback: Any = cv2.calcOpticalFlowFarneback
        flow = farneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    else:
        raise DeforumInputError(
            f"optical_flow_cadence: {method!r} is not one of {', '.join(FLOW_METHODS)} or None"
        )
    return np.asarray(flow, dtype=np.float32)


def shift_by_flow(image: Image, flow: Flow, scale: float) -> Image:
    """``image`` with each pixel fetched from ``position − scale · flow`` (border replicated)."""
    import cv2

    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    map_x = grid_x - scale * flow[..., 0]
    map_y = grid_y - scale * flow[..., 1]
    return np.asarray(
        cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        dtype=np.uint8,
    )


def flow_tween(earlier: Image, later: Image, weight: float, method: str, factor: float) -> Image:
    """The blend at ``weight`` (0: ``earlier``, 1: ``later``) after aligning both by the flow."""
    flow = optical_flow(earlier, later, method) * np.float32(factor)
    moved_earlier = shift_by_flow(earlier, flow, weight)
    moved_later = shift_by_flow(later, flow, -(1.0 - weight))
    mixed = (
        moved_earlier.astype(np.float32) * (1.0 - weight) + moved_later.astype(np.float32) * weight
    )
    return np.asarray(np.clip(np.rint(mixed), 0, 255), dtype=np.uint8)
