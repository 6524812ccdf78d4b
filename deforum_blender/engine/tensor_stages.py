"""The key-frame stages on torch tensors: warp, colour match, contrast, anti-blur, noise.

Twins of the numpy stages (``warp.py``, ``deforum_warp.py``, ``coherence.py``, ``adjust.py``,
``noise.py``) for frames that stay on one torch device (``resident.py``). A frame is a
uint8 H×W×3 tensor, quantised like the numpy path (rint, then clip), so what one frame
hands the next is the frame as written. Measured against the numpy stages in
``tests/engine/test_tensor_stages.py``: the colour match, contrast and noise agree
bitwise; the warp and the anti-blur within one grey level (``grid_sample`` and a float
convolution against OpenCV's fixed-point kernels).

What is exact by construction: colour spaces go through OpenCV's own 8-bit conversions
tabulated once over all 2^24 colours (a gather per pixel), histograms and tables are
computed as ``coherence.py`` computes them, and the noise is drawn on the host by
``noise.noise_image`` (the one (seed, frame, purpose) rule) and only blended here.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import DeforumInputError
from .deforum_warp import DeforumMotion
from .warp import _FLIP, PADDING_MODES, _intrinsics, _matrix, _source_projection

if TYPE_CHECKING:
    from torch import Tensor


def upload(image: NDArray[np.uint8], device: str) -> Tensor:
    """A host uint8 H×W×3 frame as a tensor on ``device`` (the bytes unchanged)."""
    return host_to_device(np.asarray(image, dtype=np.uint8), device)


def quantise(values: Tensor) -> Tensor:
    """Float values as uint8 the way the numpy stages store frames: rint, then clip."""
    import torch

    return values.round().clamp_(0.0, 255.0).to(torch.uint8)


# -- warp ---------------------------------------------------------------------------------


def grid_from_maps(map_x: Tensor, map_y: Tensor, height: int, width: int) -> Tensor:
    """``warp.sampling_grid`` in torch: 1×H×W×2, align_corners=False, clipped to ±4."""
    import torch

    gx = (map_x + 0.5) * (2.0 / width) - 1.0
    gy = (map_y + 0.5) * (2.0 / height) - 1.0
    return torch.stack((gx, gy), dim=-1).clamp_(-4.0, 4.0)[None]


def remap(image: Tensor, map_x: Tensor, map_y: Tensor, sampling: str, padding: str) -> Tensor:
    """``warp.remap_torch`` without the host: a uint8 H×W×3 frame sampled at the maps."""
    import torch.nn.functional as functional

    height, width = int(image.shape[0]), int(image.shape[1])
    planes = image.permute(2, 0, 1)[None].float()
    if padding == "wrap":
        # OpenCV's BORDER_WRAP: pad circularly by the kernel's reach, sample the wrapped maps.
        reach = 2
        planes = functional.pad(planes, (reach, reach, reach, reach), mode="circular")
        map_x = (map_x + 0.5).remainder(width) + (reach - 0.5)
        map_y = (map_y + 0.5).remainder(height) + (reach - 0.5)
        padding = "border"
    if padding not in PADDING_MODES:
        raise DeforumInputError(f"padding_mode: {padding!r}; use one of {PADDING_MODES}")
    grid = grid_from_maps(map_x, map_y, int(planes.shape[-2]), int(planes.shape[-1]))
    out = functional.grid_sample(
        planes, grid, mode=sampling, padding_mode=padding, align_corners=False
    )
    return quantise(out[0].permute(1, 2, 0)).contiguous()


def _pixel_ramps(height: int, width: int, device: Any) -> tuple[Tensor, Tensor]:
    import torch

    u = torch.arange(width, dtype=torch.float32, device=device) + 0.5
    v = torch.arange(height, dtype=torch.float32, device=device) + 0.5
    return u[None, :], v[:, None]


def reprojection_maps(
    target_depth: Tensor, k_source: Any, k_target: Any, pose: Any
) -> tuple[Tensor, Tensor]:
    """``warp.reprojection_maps`` in torch: (map_x, map_y), float32, on the depth's device."""
    import torch

    a, b = _source_projection(k_source, k_target, pose)
    height, width = int(target_depth.shape[0]), int(target_depth.shape[1])
    u, v = _pixel_ramps(height, width, target_depth.device)

    def row(i: int) -> Tensor:
        ramp = (float(a[i, 0]) * u) + (float(a[i, 1]) * v + float(a[i, 2]))
        return ramp * target_depth + float(b[i])

    source_depth = row(2)
    in_front = source_depth > 0
    map_x = row(0) / source_depth
    map_y = row(1) / source_depth
    # Behind the source camera the maps are meaningless: send those pixels to the padding.
    map_x = torch.where(in_front, map_x, torch.full_like(map_x, -2.0 * width))
    map_y = torch.where(in_front, map_y, torch.full_like(map_y, -2.0 * height))
    return map_x, map_y


def estimate_target_depth(
    source_depth: Tensor, k_source: Any, k_target: Any, pose: Any, *, iterations: int = 4
) -> Tensor:
    """``warp.estimate_target_depth`` in torch (nearest samples of the source depth)."""
    import torch
    import torch.nn.functional as functional

    _intrinsics("k_source", k_source)
    m = _matrix("pose", pose, (4, 4))
    inverse_pose = np.linalg.inv(m)
    c = (_FLIP @ inverse_pose[:3, :3] @ _FLIP @ np.linalg.inv(np.asarray(k_source, float)))[2]
    d = float((_FLIP @ inverse_pose[:3, 3])[2])
    height, width = int(source_depth.shape[0]), int(source_depth.shape[1])
    planes = source_depth[None, None]
    guess = source_depth.clone()
    for _ in range(max(1, iterations)):
        map_x, map_y = reprojection_maps(guess, k_source, k_target, pose)
        grid = grid_from_maps(map_x, map_y, height, width)
        sampled = functional.grid_sample(
            planes, grid, mode="nearest", padding_mode="border", align_corners=False
        )[0, 0]
        ray = float(c[0]) * (map_x + 0.5) + float(c[1]) * (map_y + 0.5) + float(c[2])
        new = sampled * ray + d
        guess = torch.where(new > 1e-6 * sampled, new, guess)
    return guess


def warp_3d(
    image: Tensor,
    *,
    k_source: Any,
    k_target: Any,
    pose: Any,
    target_depth: Tensor | None,
    source_depth: Tensor | None,
    sampling: str,
    padding: str,
) -> Tensor:
    """``warp.warp_3d``'s image on the device (no validity mask: the key frames ignore it)."""
    if target_depth is None:
        if source_depth is None:
            raise DeforumInputError("depth: the 3D warp needs the target or the source depth")
        target_depth = estimate_target_depth(source_depth, k_source, k_target, pose)
    map_x, map_y = reprojection_maps(target_depth, k_source, k_target, pose)
    return remap(image, map_x, map_y, sampling, padding)


def deforum_maps(
    z: Tensor, motion: DeforumMotion, *, fov: float, aspect: float, flat: float | None = None
) -> tuple[Tensor, Tensor]:
    """``deforum_warp.deforum_maps`` in torch, in its float64 arithmetic and order.

    ``flat``: the depth's one value when the caller knows it is constant (flat depth);
    the numpy path then folds the depth term in, and so does this one (no host check).
    """
    import torch

    if not (math.isfinite(fov) and 0.0 < fov < 180.0):
        raise DeforumInputError(f"fov: {fov!r} degrees; use a field of view between 0 and 180")
    if not (math.isfinite(aspect) and aspect > 0.0):
        raise DeforumInputError(f"aspect_ratio: {aspect!r}; use a positive number (1 = square)")
    depth = z.to(torch.float64)
    height, width = int(depth.shape[0]), int(depth.shape[1])
    f64, device = torch.float64, depth.device
    x = torch.linspace(-1.0, 1.0, width, dtype=f64, device=device)
    y = torch.linspace(-1.0, 1.0, height, dtype=f64, device=device)
    r, t = motion.rotation, motion.translation
    focal = math.tan(math.radians(fov) / 2.0)
    constant = flat is not None
    plane = float(flat) if flat is not None else 0.0
    inverse_depth: Any = 1.0 / plane if constant else torch.reciprocal(depth)

    def moved(axis: int) -> Tensor:
        column = y * float(r[1, axis]) + (float(t[axis]) + plane * float(r[2, axis]))
        out = (x * float(r[0, axis]))[None, :] + column[:, None]
        if not constant:
            out = out + depth * float(r[2, axis])
        return out

    inverse_new_z = torch.reciprocal(moved(2))
    maps = []
    for axis, scale, along, index in (
        (
            0,
            width / (2.0 * focal * aspect),
            x[None, :],
            torch.arange(width, device=device)[None, :],
        ),
        (1, height / (2.0 * focal), y[:, None], torch.arange(height, device=device)[:, None]),
    ):
        projected = moved(axis) * inverse_new_z
        if constant:  # the depth term is one row (or column): folded into the index
            projected = projected * -scale + (index + scale * along * inverse_depth)
        else:
            projected = (projected - along * inverse_depth) * -scale + index
        maps.append(projected)
    out = []
    for values, size in zip(maps, (width, height), strict=True):
        # A point that lands on the camera plane has no projection: send it to the padding.
        values = torch.where(values.isfinite(), values, torch.full_like(values, -2.0 * size))
        out.append(values.clamp(-4.0 * size, 4.0 * size).to(torch.float32))
    return out[0], out[1]


def warp_deforum_3d(
    image: Tensor,
    z: Tensor,
    motion: DeforumMotion,
    *,
    fov: float,
    aspect: float,
    sampling: str,
    padding: str,
    flat: float | None = None,
) -> Tensor:
    """``deforum_warp.warp_deforum_3d``'s image on the device (``flat``: see deforum_maps)."""
    map_x, map_y = deforum_maps(z, motion, fov=fov, aspect=aspect, flat=flat)
    return remap(image, map_x, map_y, sampling, padding)


# -- colour coherence ---------------------------------------------------------------------

# OpenCV's 8-bit conversions into each matching space and back (None: RGB itself).
SPACES: dict[str, tuple[str, str] | None] = {
    "LAB": ("COLOR_RGB2LAB", "COLOR_LAB2RGB"),
    "HSV": ("COLOR_RGB2HSV", "COLOR_HSV2RGB"),
    "RGB": None,
}


_TABLES_LOCK = threading.Lock()


def host_conversion_table(conversion: str) -> NDArray[np.uint8]:
    """OpenCV's conversion of every 8-bit colour: a 2^24×3 table indexed by (c0<<16|c1<<8|c2);
    made once per process (a second caller waits for the first: it takes about a second)."""
    with _TABLES_LOCK:
        return _host_conversion_table(conversion)


@functools.cache
def _host_conversion_table(conversion: str) -> NDArray[np.uint8]:
    import cv2

    levels = np.arange(256, dtype=np.uint8)
    colours = np.empty((256, 256, 256, 3), dtype=np.uint8)
    colours[..., 0] = levels[:, None, None]
    colours[..., 1] = levels[None, :, None]
    colours[..., 2] = levels[None, None, :]
    converted = cv2.cvtColor(colours.reshape(4096, 4096, 3), getattr(cv2, conversion))
    return np.ascontiguousarray(converted.reshape(-1, 3))


@functools.cache
def conversion_table(conversion: str, device: str) -> Tensor:
    """:func:`host_conversion_table` on ``device`` (48 MiB, made once per process)."""
    import torch

    return torch.from_numpy(host_conversion_table(conversion)).to(device)


def convert(image: Tensor, conversion: str) -> Tensor:
    """``cv2.cvtColor`` of a uint8 H×W×3 frame by a table gather: bit for bit OpenCV's."""
    table = conversion_table(conversion, str(image.device))
    channels = image.long()
    codes = (channels[..., 0] << 16) | (channels[..., 1] << 8) | channels[..., 2]
    return table[codes]


class TensorColorMatcher:
    """``coherence.ColorMatcher`` on the device: the reference CDFs come from it once."""

    def __init__(self, reference_cdfs: NDArray[np.float64], mode: str, device: str) -> None:

        self.mode = mode
        self.space = SPACES[mode]
        # Only grey levels that occur in the reference are targets (as coherence.py does);
        # the filtered points go up once, so matching needs no host round trip.
        self.points: list[tuple[Tensor, Tensor]] = []
        values = np.arange(256, dtype=np.float64)
        for channel in range(3):
            cdf = reference_cdfs[channel]
            present = np.diff(cdf, prepend=0.0) > 0
            xp = host_to_device(cdf[present], device)
            fp = host_to_device(values[present], device)
            self.points.append((xp, fp))

    def apply(self, image: Tensor) -> Tensor:
        """``image`` with each channel's histogram matched to the reference's."""
        import torch

        converted = image if self.space is None else convert(image, self.space[0])
        flat = converted.reshape(-1, 3).long()
        offsets = torch.arange(3, device=image.device) * 256
        # scatter_add, not bincount: bincount on CUDA reads the maximum back to the host.
        bins = (flat + offsets).reshape(-1)
        counts = torch.zeros(768, dtype=torch.float32, device=image.device)
        counts = counts.scatter_add_(0, bins, torch.ones_like(bins, dtype=torch.float32))
        # float32 quotients, as coherence.py's float32 histograms give them, then float64.
        counts = counts.reshape(3, 256)
        cdfs = (counts.cumsum(1) / counts.sum(1, keepdim=True).clamp(min=1.0)).double()
        tables = torch.stack(
            [_interp(cdfs[c], *self.points[c]) for c in range(3)]
        )  # 3×256, float64
        table = tables.round().clamp(0, 255).to(torch.uint8)
        matched = torch.stack([table[c][flat[:, c]] for c in range(3)], dim=-1)
        matched = matched.reshape(converted.shape)
        return matched if self.space is None else convert(matched, self.space[1])


def _interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """``np.interp(x, xp, fp)`` for increasing ``xp``, in the same arithmetic order."""
    import torch

    if xp.numel() == 1:
        return fp.expand_as(x).clone()
    right = torch.searchsorted(xp, x, right=True).clamp(1, xp.numel() - 1)
    x0, x1, f0, f1 = xp[right - 1], xp[right], fp[right - 1], fp[right]
    slope = (f1 - f0) / (x1 - x0)
    inside = slope * (x - x0) + f0
    # np.interp returns the end values outside xp, and fp[j] exactly at xp[j].
    out = torch.where(x <= xp[0], fp[0], torch.where(x >= xp[-1], fp[-1], inside))
    return torch.where(x == x0, f0, out)


# -- contrast and anti-blur ---------------------------------------------------------------


def adjust_contrast(image: Tensor, contrast: float) -> Tensor:
    """``adjust.adjust_contrast`` on the device: the same 256-entry table, gathered."""

    if not contrast >= 0.0:
        raise DeforumInputError(
            f"contrast_schedule: contrast {contrast!r} is negative; use a value ≥ 0 (1 = unchanged)"
        )
    if contrast == 1.0:
        return image
    return _contrast_table(float(contrast), str(image.device))[image.long()]


@functools.lru_cache(maxsize=64)
def _contrast_table(contrast: float, device: str) -> Tensor:
    """``adjust_contrast``'s table on ``device``, uploaded once per contrast value."""
    table = np.clip(np.round(np.arange(256, dtype=np.float64) * contrast), 0, 255)
    return host_to_device(table.astype(np.uint8), device)


@functools.cache
def _fixed_point_kernel(size: int, sigma: float) -> tuple[int, ...]:
    """OpenCV's 8-bit Gaussian kernel: weights in 1/256, rounded with error diffusion from
    the outside in, the centre taking the rest (``getGaussianKernelFixedPoint_ED``)."""
    import cv2

    weights = np.asarray(cv2.getGaussianKernel(size, sigma), dtype=np.float64).reshape(-1) * 256
    fixed = [0] * size
    error = 0.0
    for i in range(size // 2):
        adjusted = weights[i] + error
        fixed[i] = fixed[size - 1 - i] = round(adjusted)
        error = adjusted - fixed[i]
    fixed[size // 2] = 256 - 2 * sum(fixed[: size // 2])
    return tuple(fixed)


def gaussian_blur(image: Tensor, size: int, sigma: float) -> Tensor:
    """``cv2.GaussianBlur`` of a uint8 frame, bit for bit: OpenCV's fixed-point kernel in
    integer arithmetic (8 fraction bits per pass), reflect-101 border, rounded."""
    import torch.nn.functional as functional

    kernel = _fixed_point_kernel(size, sigma)
    height, width = int(image.shape[0]), int(image.shape[1])
    pad = size // 2
    planes = image.permute(2, 0, 1)[None].float()
    # torch's "reflect" is OpenCV's BORDER_REFLECT_101; it needs the pad below the size.
    mode = "reflect" if pad < min(height, width) else "replicate"
    padded = functional.pad(planes, (pad, pad, pad, pad), mode=mode)[0].int()
    rows = padded[:, :, 0:width] * kernel[0]
    for i, weight in enumerate(kernel[1:], start=1):
        rows += padded[:, :, i : i + width] * weight
    both = rows[:, 0:height, :] * kernel[0]
    for i, weight in enumerate(kernel[1:], start=1):
        both += rows[:, i : i + height, :] * weight
    blurred = (both + (1 << 15)) >> 16
    return blurred.permute(1, 2, 0).to(image.dtype)


def weighted_sum(first: Tensor, alpha: float, second: Tensor, beta: float) -> Tensor:
    """``cv2.addWeighted(first, alpha, second, beta, 0)`` for uint8 frames, bit for bit:
    OpenCV computes ``fma(first, alpha, second·beta)`` in float32 and rounds to even."""
    import torch

    alpha32, beta32 = float(np.float32(alpha)), float(np.float32(beta))
    product = (second.float() * beta32).double()  # float32-rounded, as OpenCV's
    total = (first.double() * alpha32 + product).float()  # one rounding: the fma's
    return quantise(total).to(torch.uint8)


def unsharp_mask(
    image: Tensor, amount: float, kernel: int = 5, sigma: float = 1.0, threshold: float = 0.0
) -> Tensor:
    """``adjust.unsharp_mask`` on the device (no mask), bit for bit."""
    if amount == 0:
        return image
    size = int(kernel)
    if size < 0 or sigma < 0:
        raise DeforumInputError(
            f"kernel_schedule/sigma_schedule: kernel {kernel!r} and sigma {sigma!r} must be ≥ 0"
        )
    if size == 0 and sigma == 0:
        return image
    if size and size % 2 == 0:
        size += 1
    if size == 0:  # OpenCV derives an 8-bit image's kernel size from sigma
        size = round(sigma * 3 * 2 + 1) | 1
    blurred = gaussian_blur(image, size, float(sigma))
    sharpened = weighted_sum(image, 1.0 + float(amount), blurred, -float(amount))
    if threshold > 0:
        keep = (image.float() - blurred.float()).abs() < threshold
        sharpened = sharpened.where(~keep, image)
    return sharpened


# -- noise ---------------------------------------------------------------------------------


def blend_noise(image: Tensor, noise: Tensor, amount: float) -> Tensor:
    """``frame·(1 − amount) + noise·amount`` as ``noise.add_noise`` blends (bit for bit)."""
    if amount == 0.0:
        return image
    return weighted_sum(image, 1.0 - float(amount), noise, float(amount))


def host_to_device(array: NDArray[Any], device: str) -> Tensor:
    """``array`` on ``device`` through pinned memory (an asynchronous copy on CUDA)."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if not device.startswith("cuda"):
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)
