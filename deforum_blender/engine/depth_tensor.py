"""Estimated depth of a frame that stays on the torch device (the resident key frames).

``depth.DepthEstimator.predict`` takes a host frame through the model's image processor
(PIL) and hands the prediction back to the host; here the same DPT-style processing
(resize to the processor's size, kept aspect and multiple, rescale, normalise) runs in
torch on the frame tensor, and the prediction goes on to Deforum's z (``deforum_depth``)
or scene depth (``relative_to_depth``) without leaving the device.

The resize is torch's bicubic, not PIL's (a slightly different kernel), so a prediction
differs a little from the host path's; everything after the model is bitwise the numpy
code given the same prediction. A resumed run gives the same depth as an uninterrupted
one (the input is the frame as written, on the device either way).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .deforum_warp import DEPTH_BINS
from .depth import DEFAULT_FAR, DEFAULT_NEAR, DepthEstimator

if TYPE_CHECKING:
    from torch import Tensor

#: Image processors whose preprocessing :func:`pixel_values` reproduces.
DPT_PROCESSORS = ("DPTImageProcessor", "DPTImageProcessorPil", "DPTImageProcessorFast")
# PIL resampling codes (transformers' PILImageResampling) to torch's interpolation modes.
_RESAMPLING = {2: "bilinear", 3: "bicubic"}


def _resample_mode(processor: Any) -> str | None:
    """torch's interpolation mode for the processor's resampling (None: not one we do)."""
    try:
        return _RESAMPLING.get(int(getattr(processor, "resample", 3)))
    except (TypeError, ValueError):
        return None


def supports(estimator: DepthEstimator) -> bool:
    """True when ``estimator``'s preprocessing can run on the device (DPT-style, no pad)."""
    processor = estimator.processor
    return (
        type(processor).__name__ in DPT_PROCESSORS
        and not getattr(processor, "do_pad", False)
        and _resample_mode(processor) is not None
    )


def _multiple(value: float, multiple: int) -> int:
    """transformers' DPT ``constrain_to_multiple_of`` (no bounds)."""
    rounded = round(value / multiple) * multiple
    return int(rounded if rounded >= 0 else math.ceil(value / multiple) * multiple)


def resize_size(processor: Any, height: int, width: int) -> tuple[int, int]:
    """The size DPT's processor resizes an H×W frame to (kept aspect, multiple of N)."""
    size = processor.size
    scale_h, scale_w = size["height"] / height, size["width"] / width
    if getattr(processor, "keep_aspect_ratio", False):
        # Scale as little as possible, as DPT's get_resize_output_image_size does.
        if abs(1 - scale_w) < abs(1 - scale_h):
            scale_h = scale_w
        else:
            scale_w = scale_h
    multiple = int(getattr(processor, "ensure_multiple_of", 1) or 1)
    return _multiple(scale_h * height, multiple), _multiple(scale_w * width, multiple)


def pixel_values(processor: Any, frame: Tensor) -> Tensor:
    """The processor's ``pixel_values`` (1×3×h×w float32) for a uint8 H×W×3 frame tensor."""
    import torch
    import torch.nn.functional as functional

    height, width = int(frame.shape[0]), int(frame.shape[1])
    pixels = frame.permute(2, 0, 1)[None].float()
    if getattr(processor, "do_resize", True):
        size = resize_size(processor, height, width)
        if size != (height, width):
            mode = _resample_mode(processor) or "bicubic"
            shrink = size[0] < height or size[1] < width
            pixels = functional.interpolate(
                pixels, size=size, mode=mode, align_corners=False, antialias=shrink
            )
            pixels = pixels.round().clamp(0, 255)  # PIL resizes the 8-bit image
    if getattr(processor, "do_rescale", True):
        pixels = pixels * float(processor.rescale_factor)
    if getattr(processor, "do_normalize", True):
        mean = torch.tensor(processor.image_mean, dtype=torch.float32, device=frame.device)
        std = torch.tensor(processor.image_std, dtype=torch.float32, device=frame.device)
        pixels = (pixels - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    return pixels


def predict(estimator: DepthEstimator, frame: Tensor) -> Tensor:
    """``DepthEstimator.predict`` on the device: the raw prediction, H×W float32."""
    import torch
    import torch.nn.functional as functional

    inputs = pixel_values(estimator.processor, frame).to(estimator.device)
    with torch.inference_mode():
        predicted = estimator.model(pixel_values=inputs).predicted_depth
        resized = functional.interpolate(
            predicted.reshape(1, 1, *predicted.shape[-2:]).float(),
            size=tuple(frame.shape[:2]),
            mode="bicubic",
            align_corners=False,
        )
    return resized[0, 0].to(frame.device)


def deforum_depth(prediction: Tensor, *, inverse: bool = True) -> Tensor:
    """``deforum_warp.deforum_depth`` on the device, bit for bit (no host check: a flat or
    non-finite prediction selects z = 1 on the device)."""
    import torch

    values = prediction.to(torch.float64)
    low, high = values.amin(), values.amax()
    flat = ~values.isfinite().all() | (high - low <= 1e-12 * torch.clamp(high.abs(), min=1.0))
    unit = (values - low) / (high - low)
    bins = DEPTH_BINS
    # _equalise: floor(unit·1024) is the bin; np.interp's arithmetic per bin.
    index = torch.nan_to_num(unit * bins, nan=0.0, posinf=0.0, neginf=0.0).long()
    index = index.clamp(0, bins - 1)
    counts = torch.zeros(bins, dtype=torch.int64, device=values.device)
    counts.scatter_add_(0, index.reshape(-1), torch.ones_like(index.reshape(-1)))
    cdf = counts.cumsum(0).to(torch.float64) / values.numel()  # float64, as numpy divides
    edges = torch.arange(bins, dtype=torch.float64, device=values.device) / bins
    slopes = torch.zeros(bins, dtype=torch.float64, device=values.device)
    slopes[:-1] = (cdf[1:] - cdf[:-1]) / (edges[1:] - edges[:-1])
    equalised = slopes[index] * (unit - edges[index]) + cdf[index]
    z = 2.0 - equalised if inverse else equalised + 1.0
    return torch.where(flat, torch.ones_like(z), z).to(torch.float32)


def relative_to_depth(
    inverse_depth: Tensor, near: float = DEFAULT_NEAR, far: float = DEFAULT_FAR
) -> Tensor:
    """``depth.relative_to_depth`` on the device (a prediction with no finite value is
    the flat plane halfway, where the host path raises)."""
    import torch

    values = inverse_depth.to(torch.float32)
    finite = values.isfinite()
    low = torch.where(finite, values, torch.full_like(values, math.inf)).amin()
    high = torch.where(finite, values, torch.full_like(values, -math.inf)).amax()
    span = high - low
    flat = ~(span > 1e-12 * torch.clamp(high.abs(), min=1.0))
    unit = ((torch.where(finite, values, low) - low) / span).clamp(0.0, 1.0)
    unit = torch.where(flat, torch.full_like(unit, 0.5), unit)
    inverse = 1.0 / far + unit * (1.0 / near - 1.0 / far)
    return 1.0 / inverse
