"""Frame warps: the exact 3D reprojection through depth, and Deforum's 2D warp.

Conventions are those of ``core/camera.py`` (DESIGN.md §3): camera frames are
Blender's (looking down −Z, +Y up), ``K`` maps a camera point to pixels as
``u = fx·x/(−z) + cx``, ``v = −fy·y/(−z) + cy`` with pixel centres at +0.5, depth
is the distance along the camera's −Z (Blender's Z pass), and the motion from
frame f−1 to f is ``pose = inv(M[f−1]) @ M[f]``, which takes points from the
target (f) camera into the source (f−1) camera.

The 3D warp is a *backward* warp: every target pixel is unprojected with the
target frame's depth, moved into the source camera, projected, and the source
image is sampled there (``cv2.remap`` on the CPU, ``grid_sample`` with torch).
Its mask marks target pixels with no source: out of the source's view, behind
it, or hidden in the source by something nearer (found with the source depth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import DeforumInputError

if TYPE_CHECKING:
    import torch

    from ..core.camera import CameraTrack

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]

SAMPLING_MODES = ("bicubic", "bilinear", "nearest")
PADDING_MODES = ("border", "reflection", "zeros")
# What a remap may do past the edges: the 3D padding modes, and 2D's wrap-around.
REMAP_PADDINGS = (*PADDING_MODES, "wrap")
BORDER_MODES = ("replicate", "wrap")
# cv2 constants by name; resolved lazily so importing this module stays light.
_CV2_SAMPLING = {"bicubic": "INTER_CUBIC", "bilinear": "INTER_LINEAR", "nearest": "INTER_NEAREST"}
# torch's "reflection" with align_corners=False mirrors about the image edge (…b a | a b…),
# which is OpenCV's BORDER_REFLECT, not BORDER_REFLECT_101.
_CV2_PADDING = {
    "border": "BORDER_REPLICATE",
    "reflection": "BORDER_REFLECT",
    "zeros": "BORDER_CONSTANT",
    "wrap": "BORDER_WRAP",
}
_CV2_BORDER = {"replicate": "BORDER_REPLICATE", "wrap": "BORDER_WRAP"}
# Blender's camera axes (x right, y up, looking down −z) to the image-style axes K expects.
_FLIP = np.diag([1.0, -1.0, -1.0])
DEFAULT_OCCLUSION_TOLERANCE = 0.02


@dataclass(frozen=True)
class ReprojectionMaps:
    """Where each target pixel samples the source (``cv2.remap`` units: pixel i's centre at i)."""

    map_x: FloatArray
    map_y: FloatArray
    source_depth: FloatArray
    """Depth the target pixel's surface point has in the source camera (scene units)."""
    in_view: BoolArray
    """The point lies in front of the source camera and inside its image."""


@dataclass(frozen=True)
class WarpResult:
    """A warped frame and the target pixels that had a visible source."""

    image: NDArray[Any]
    valid: BoolArray
    target_depth: FloatArray
    """The depth used for the target frame (given, or estimated from the source depth)."""


@dataclass(frozen=True)
class Motion2D:
    """One frame of Deforum's 2D motion (values as in a settings file)."""

    angle: float = 0.0
    zoom: float = 1.0
    translation_x: float = 0.0
    translation_y: float = 0.0
    transform_center_x: float = 0.5
    transform_center_y: float = 0.5


@dataclass(frozen=True)
class PerspectiveFlip:
    """Deforum's perspective flip: the image plane tilted by theta/phi/gamma°, seen at ``fv``."""

    theta: float = 0.0
    phi: float = 0.0
    gamma: float = 0.0
    fv: float = 53.0


def _choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise DeforumInputError(
            f"{field}: {value!r} is not one of {', '.join(choices)}; use one of those names"
        )
    return value


def _matrix(field: str, value: Any, shape: tuple[int, int]) -> NDArray[np.float64]:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape or not np.all(np.isfinite(array)):
        raise DeforumInputError(
            f"{field}: expected a finite {shape[0]}×{shape[1]} matrix, got shape {array.shape}; "
            "pass the camera's intrinsics / relative pose from core.camera"
        )
    return array


def _is_row(row: NDArray[np.float64], expected: tuple[float, ...]) -> bool:
    """``np.allclose(row, expected)`` with its default tolerances, without its per-call cost."""
    return all(
        abs(a - b) <= 1e-8 + 1e-5 * abs(b) for a, b in zip(row.tolist(), expected, strict=True)
    )


def _intrinsics(field: str, k: Any) -> NDArray[np.float64]:
    matrix = _matrix(field, k, (3, 3))
    if matrix[0, 0] <= 0 or matrix[1, 1] <= 0 or not _is_row(matrix[2], (0.0, 0.0, 1.0)):
        raise DeforumInputError(
            f"{field}: not a perspective camera's intrinsics ({matrix.tolist()}); the 3D warp "
            "needs a perspective camera (orthographic and panoramic cameras are not supported)"
        )
    return matrix


def check_depth(field: str, depth: Any, shape: tuple[int, ...]) -> FloatArray:
    """A float32 depth map of ``shape`` (height, width), finite and positive, else a clear error."""
    array = np.asarray(depth)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.shape != tuple(shape[:2]):
        raise DeforumInputError(
            f"{field}: depth map is {array.shape[:2]} (height, width) but the frame is "
            f"{tuple(shape[:2])}; render or estimate the depth at the frame's size"
        )
    array = np.ascontiguousarray(array, dtype=np.float32)
    bad = ~np.isfinite(array) | (array <= 0)
    if bad.any():
        count = int(bad.sum())
        raise DeforumInputError(
            f"{field}: {count} depth value(s) are NaN, infinite, zero or negative "
            f"(first at row/column {tuple(int(i) for i in np.argwhere(bad)[0])}); depth must be "
            "the positive distance along the camera's view axis (load files with engine.depth)"
        )
    return array


def _image(field: str, image: Any) -> NDArray[Any]:
    array = np.asarray(image)
    if array.ndim not in (2, 3) or array.shape[0] < 1 or array.shape[1] < 1:
        raise DeforumInputError(f"{field}: expected an H×W or H×W×C image, got shape {array.shape}")
    if array.dtype not in (np.uint8, np.uint16, np.float32):
        array = array.astype(np.float32)
    return np.ascontiguousarray(array)


def _inverse_3x3(field: str, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """Inverse of a 3×3 matrix by cofactors: no LAPACK call, whose thread pool can cost
    milliseconds per call on a busy machine."""
    (a, b, c), (d, e, f), (g, h, i) = matrix.tolist()
    # Columns of the inverse are the cross products of the rows, over the determinant.
    cofactors = [
        [e * i - f * h, c * h - b * i, b * f - c * e],
        [f * g - d * i, a * i - c * g, c * d - a * f],
        [d * h - e * g, b * g - a * h, a * e - b * d],
    ]
    determinant = a * cofactors[0][0] + b * cofactors[1][0] + c * cofactors[2][0]
    if not math.isfinite(determinant) or abs(determinant) < 1e-300:
        raise DeforumInputError(
            f"{field}: the matrix {matrix.tolist()} is singular; pass an invertible "
            "camera intrinsics / relative pose from core.camera"
        )
    return np.array(cofactors, dtype=np.float64) / np.float64(determinant)


def _source_projection(
    k_source: Any, k_target: Any, pose: Any
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``A``, ``b``: source (remap index) homogeneous coords = depth · A·[u, v, 1] + b.

    ``u, v`` are the target pixel's centre (+0.5 convention); the result's third
    component is the point's depth in the source camera.
    """
    ks = _intrinsics("k_source", k_source)
    kt = _intrinsics("k_target", k_target)
    m = _matrix("pose", pose, (4, 4))
    if not _is_row(m[3], (0.0, 0.0, 0.0, 1.0)):
        raise DeforumInputError(f"pose: last row must be [0, 0, 0, 1], got {m[3].tolist()}")
    # cv2.remap puts pixel i's centre at i, K at i + 0.5: shift once here, not per pixel.
    to_index = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    a = to_index @ ks @ _FLIP @ m[:3, :3] @ _FLIP @ _inverse_3x3("k_target", kt)
    b = to_index @ ks @ _FLIP @ m[:3, 3]
    return a, b


def reprojection_maps(
    target_depth: Any, k_source: Any, k_target: Any, pose: Any, *, checked: bool = False
) -> ReprojectionMaps:
    """For every target pixel, where it samples the source image (vectorised, float32).

    ``pose`` takes target-camera points into the source camera
    (``core.camera.relative_pose(m_source, m_target)``).
    """
    a, b = _source_projection(k_source, k_target, pose)
    depth = np.asarray(target_depth, dtype=np.float32)
    if not checked:
        depth = check_depth("target_depth", depth, depth.shape[:2])
    height, width = depth.shape
    u = np.arange(width, dtype=np.float32) + np.float32(0.5)
    v = np.arange(height, dtype=np.float32) + np.float32(0.5)

    def row(i: int) -> FloatArray:
        # depth · (a_i0·u + a_i1·v + a_i2) + b_i from two 1-D ramps (one full-size pass each).
        ramp_u = (np.float32(a[i, 0]) * u)[None, :]
        ramp_v = (np.float32(a[i, 1]) * v + np.float32(a[i, 2]))[:, None]
        out = np.add(ramp_u, ramp_v)
        out *= depth
        out += np.float32(b[i])
        return out

    source_depth = row(2)
    in_front = source_depth > 0
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        inverse = np.reciprocal(source_depth)
        map_x = row(0)
        map_x *= inverse
        map_y = row(1)
        map_y *= inverse
    if not in_front.all():
        # Behind the source camera the maps are meaningless: send those pixels to padding.
        np.copyto(map_x, np.float32(-2 * width), where=~in_front)
        np.copyto(map_y, np.float32(-2 * height), where=~in_front)
    # Far outside values are fine: OpenCV saturates map coordinates to int before padding.
    in_view = in_front
    in_view &= map_x >= -0.5
    in_view &= map_x <= width - 0.5
    in_view &= map_y >= -0.5
    in_view &= map_y <= height - 0.5
    return ReprojectionMaps(map_x, map_y, source_depth, in_view)


def remap(
    image: Any,
    map_x: FloatArray,
    map_y: FloatArray,
    *,
    sampling: str = "bicubic",
    padding: str = "border",
    device: str = "cpu",
) -> NDArray[Any]:
    """Sample ``image`` at the maps: ``cv2.remap`` on "cpu", ``grid_sample`` on a torch device."""
    _choice("sampling_mode", sampling, SAMPLING_MODES)
    _choice("padding_mode", padding, REMAP_PADDINGS)
    source = _image("image", image)
    if device != "cpu":
        return remap_torch(source, map_x, map_y, sampling=sampling, padding=padding, device=device)
    import cv2

    return np.asarray(
        cv2.remap(
            source,
            map_x,
            map_y,
            interpolation=getattr(cv2, _CV2_SAMPLING[sampling]),
            borderMode=getattr(cv2, _CV2_PADDING[padding]),
        )
    )


def sampling_grid(
    map_x: FloatArray, map_y: FloatArray, source_size: tuple[int, int] | None = None
) -> FloatArray:
    """``grid_sample``'s normalised grid (align_corners=False) for ``cv2.remap``-style maps.

    ``source_size`` (height, width) of the sampled image: the maps' own size by default.
    """
    height, width = source_size if source_size is not None else map_x.shape
    grid = np.empty((*map_x.shape, 2), dtype=np.float32)
    grid[..., 0] = (map_x + np.float32(0.5)) * np.float32(2.0 / width) - np.float32(1.0)
    grid[..., 1] = (map_y + np.float32(0.5)) * np.float32(2.0 / height) - np.float32(1.0)
    # Keep far-off samples finite: grid_sample turns inf into NaN, OpenCV saturates instead.
    np.clip(grid, -4.0, 4.0, out=grid)
    return grid


def remap_tensor(
    image: torch.Tensor, grid: torch.Tensor, *, sampling: str = "bicubic", padding: str = "border"
) -> torch.Tensor:
    """``grid_sample`` an N×C×H×W float tensor; the torch twin of :func:`remap`."""
    import torch.nn.functional as functional

    _choice("sampling_mode", sampling, SAMPLING_MODES)
    _choice("padding_mode", padding, PADDING_MODES)
    return functional.grid_sample(
        image, grid, mode=sampling, padding_mode=padding, align_corners=False
    )


def remap_torch(
    image: NDArray[Any],
    map_x: FloatArray,
    map_y: FloatArray,
    *,
    sampling: str = "bicubic",
    padding: str = "border",
    device: str = "cuda",
) -> NDArray[Any]:
    """:func:`remap` through ``grid_sample`` on ``device``; integer images are rounded, clipped.

    ``padding="wrap"`` pads the image circularly by the kernel's reach and samples at the
    maps taken modulo the image size, which is OpenCV's BORDER_WRAP.
    """
    import torch

    source = _image("image", image)
    planes = source[:, :, None] if source.ndim == 2 else source
    tensor = torch.from_numpy(planes.astype(np.float32)).to(device).permute(2, 0, 1)[None]
    if padding == "wrap":
        tensor, map_x, map_y = _wrapped(tensor, map_x, map_y)
        padding = "border"
    size = (int(tensor.shape[-2]), int(tensor.shape[-1]))
    grid = torch.from_numpy(sampling_grid(map_x, map_y, size)).to(device)[None]
    out = remap_tensor(tensor, grid, sampling=sampling, padding=padding)[0].permute(1, 2, 0)
    if np.issubdtype(source.dtype, np.integer):
        limit = float(np.iinfo(source.dtype).max)
        out = out.round().clamp(0.0, limit)
    result = out.cpu().numpy().astype(source.dtype)
    return result[:, :, 0] if source.ndim == 2 else result


def _wrapped(
    tensor: torch.Tensor, map_x: FloatArray, map_y: FloatArray
) -> tuple[torch.Tensor, FloatArray, FloatArray]:
    """A circularly padded image and the maps, wrapped into it (bicubic reaches 2 pixels)."""
    import torch.nn.functional as functional

    reach = 2
    height, width = tensor.shape[-2:]
    padded = functional.pad(tensor, (reach, reach, reach, reach), mode="circular")
    # Pixel i's cell is [i − 0.5, i + 0.5): wrap the cell, then shift into the padded image.
    wrapped_x = np.mod(map_x + np.float32(0.5), np.float32(width)) + np.float32(reach - 0.5)
    wrapped_y = np.mod(map_y + np.float32(0.5), np.float32(height)) + np.float32(reach - 0.5)
    return padded, wrapped_x.astype(np.float32), wrapped_y.astype(np.float32)


def occlusion_mask(
    maps: ReprojectionMaps,
    source_depth: Any,
    *,
    tolerance: float = DEFAULT_OCCLUSION_TOLERANCE,
    footprint: int = 1,
    checked: bool = False,
) -> BoolArray:
    """True where the target pixel's surface is hidden in the source by something nearer.

    The source depth is min-filtered over ``footprint`` pixels (the sampling kernel's
    reach) so pixels whose colour would be blended with an occluder count as hidden.
    """
    import cv2

    depth = source_depth if checked else check_depth("source_depth", source_depth, maps.map_x.shape)
    if footprint > 1:
        kernel = np.ones((footprint, footprint), np.uint8)
        depth = np.asarray(cv2.erode(depth, kernel, borderType=cv2.BORDER_REPLICATE), np.float32)
    seen = cv2.remap(
        depth, maps.map_x, maps.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(maps.source_depth > seen * np.float32(1.0 + tolerance))


def estimate_target_depth(
    source_depth: Any, k_source: Any, k_target: Any, pose: Any, *, iterations: int = 4
) -> FloatArray:
    """The target frame's depth from the source frame's alone, by iterating the backward warp.

    Start from the source depth at the same pixel; each pass samples the source depth
    where the current guess lands (nearest pixel) and moves that source point into the
    target camera. Converges in a few passes for frame-to-frame motion; disocclusions
    take the depth of the surface behind them, which the occlusion test then flags.
    """
    import cv2

    depth_s = check_depth("source_depth", source_depth, np.asarray(source_depth).shape[:2])
    a, b = _source_projection(k_source, k_target, pose)
    ks = _intrinsics("k_source", k_source)
    m = _matrix("pose", pose, (4, 4))
    rotation_back = _inverse_3x3("pose", m[:3, :3])
    # Source pixel + source depth -> target depth: -z_t = row 2 of inv(pose) applied to X_s.
    # X_s = depth_s · F·inv(K_s)·[u, v, 1], so -z_t = depth_s · (c·[u, v, 1]) + d, with
    # u, v = map + 0.5 (the +0.5 folded into the constant).
    c = (_FLIP @ rotation_back @ _FLIP @ _inverse_3x3("k_source", ks))[2]
    d = np.float32(-(_FLIP @ rotation_back @ m[:3, 3])[2])
    c_constant = float(c[2] + 0.5 * (c[0] + c[1]))
    nearest = float(depth_s.min())
    height, width = depth_s.shape
    u = np.arange(width, dtype=np.float32) + np.float32(0.5)
    v = np.arange(height, dtype=np.float32) + np.float32(0.5)
    # The maps are (ramp_i + b_i/guess) / (ramp_2 + b_2/guess): ramps built once, then each
    # pass costs one full-size operation per term (reprojection_maps rebuilt them all).
    ramps = [
        np.add(
            (np.float32(a[i, 0]) * u)[None, :],
            (np.float32(a[i, 1]) * v + np.float32(a[i, 2]))[:, None],
        )
        for i in range(3)
    ]
    guess = depth_s.copy()
    for _ in range(max(1, iterations)):
        inverse_guess = np.reciprocal(guess)
        weight = cv2.scaleAdd(inverse_guess, float(b[2]), ramps[2])
        map_x = cv2.divide(cv2.scaleAdd(inverse_guess, float(b[0]), ramps[0]), weight)
        map_y = cv2.divide(cv2.scaleAdd(inverse_guess, float(b[1]), ramps[1]), weight)
        if float(weight.min()) <= 0:
            # Behind the source camera: sample the padding, as the reprojection maps do.
            np.copyto(map_x, np.float32(-2 * width), where=weight <= 0)
            np.copyto(map_y, np.float32(-2 * height), where=weight <= 0)
        sampled = np.asarray(
            cv2.remap(depth_s, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE),
            dtype=np.float32,
        )
        ray = cv2.addWeighted(map_x, float(c[0]), map_y, float(c[1]), c_constant)
        new = np.asarray(ray, dtype=np.float32)
        lowest_ray = float(new.min())
        new *= sampled
        new += d
        # Points that would land behind the target camera keep the last good guess; with
        # every ray ahead and the nearest depth still in front, none can (one pass, no mask).
        if lowest_ray > 1e-6 and (lowest_ray - 1e-6) * nearest + float(d) > 0:
            guess = new
        else:
            np.copyto(guess, new, where=new > np.float32(1e-6) * sampled)
    return guess


def warp_3d(
    source_image: Any,
    *,
    k_source: Any,
    k_target: Any,
    pose: Any,
    target_depth: Any | None = None,
    source_depth: Any | None = None,
    sampling: str = "bicubic",
    padding: str = "border",
    occlusion_tolerance: float = DEFAULT_OCCLUSION_TOLERANCE,
    occlusion_margin: int = 0,
    device: str = "cpu",
) -> WarpResult:
    """Warp the previous frame to the current camera exactly, through depth.

    With ``target_depth`` (the scene's Z pass of the current frame) the backward warp
    is exact; ``source_depth`` then only finds occluded pixels. With ``source_depth``
    alone (estimated depth) the target depth is estimated first. ``pose`` is
    ``relative_pose(M[f−1], M[f])``; depths are in scene units along the view axis.
    ``occlusion_margin`` > 0 also flags pixels that sample within that many source
    pixels of a nearer surface (whose colour the interpolation kernel may pick up).
    """
    _choice("sampling_mode", sampling, SAMPLING_MODES)
    _choice("padding_mode", padding, REMAP_PADDINGS)
    image = _image("source_image", source_image)
    shape = (int(image.shape[0]), int(image.shape[1]))
    if target_depth is None and source_depth is None:
        raise DeforumInputError(
            "depth: the 3D warp needs the target or the source frame's depth; "
            "use depth_source 'scene', 'estimated' or 'flat'"
        )
    if source_depth is None and device == "cpu":
        plane = _flat_depth(target_depth, shape)
        if plane is not None:
            flat = _warp_plane(image, plane, k_source, k_target, pose, sampling, padding)
            if flat is not None:
                return flat
    checked_source = (
        None if source_depth is None else check_depth("source_depth", source_depth, shape)
    )
    if target_depth is None:
        assert checked_source is not None
        depth = estimate_target_depth(checked_source, k_source, k_target, pose)
    else:
        depth = check_depth("target_depth", target_depth, shape)
    maps = reprojection_maps(depth, k_source, k_target, pose, checked=True)
    warped = remap(image, maps.map_x, maps.map_y, sampling=sampling, padding=padding, device=device)
    valid = maps.in_view
    if checked_source is not None:
        hidden = occlusion_mask(
            maps,
            checked_source,
            tolerance=occlusion_tolerance,
            footprint=2 * max(0, occlusion_margin) + 1,
            checked=True,
        )
        valid = valid & ~hidden
    return WarpResult(warped, valid, depth)


def _flat_depth(depth: Any, shape: tuple[int, int]) -> FloatArray | None:
    """``depth`` as float32 H×W when it is one finite, positive value at the frame's size."""
    if depth is None:
        return None
    array = np.asarray(depth)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.shape != shape or array.dtype.kind != "f":
        return None
    first = float(array.flat[0])
    # NaN never equals itself, so a NaN-filled map is not flat and check_depth names it.
    if not (math.isfinite(first) and first > 0) or not bool((array == array.flat[0]).all()):
        return None
    return np.ascontiguousarray(array, dtype=np.float32)


def plane_homography(depth: float, k_source: Any, k_target: Any, pose: Any) -> NDArray[np.float64]:
    """The 3×3 matrix taking a target pixel index to its source pixel index (cv2 units) when
    everything lies on the plane ``depth`` in front of the target camera.

    Row 2 is the point's depth in the source camera (its homogeneous weight).
    """
    a, b = _source_projection(k_source, k_target, pose)
    # depth·A·[u, v, 1] + b = (depth·A + b·e3ᵀ)·[u, v, 1]; u, v = index + 0.5.
    to_centre = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    matrix: NDArray[np.float64] = (depth * a + np.outer(b, (0.0, 0.0, 1.0))) @ to_centre
    return matrix


def homography_in_view(matrix: NDArray[np.float64], shape: tuple[int, int]) -> BoolArray:
    """Target pixels whose source position lies inside the image (``ReprojectionMaps.in_view``).

    For a homography with a positive weight everywhere each bound is linear in the column,
    so every row's valid columns are one interval: no per-pixel map is needed.
    """
    height, width = shape
    rows = np.arange(height, dtype=np.float64)
    low = np.zeros(height)
    high = np.full(height, float(width - 1))
    weight = matrix[2]
    # index ≥ -0.5 and index ≤ size - 0.5, as `coefficient·column + rest ≥ 0` per row.
    bounds = (
        (matrix[0] + 0.5 * weight),
        ((width - 0.5) * weight - matrix[0]),
        (matrix[1] + 0.5 * weight),
        ((height - 0.5) * weight - matrix[1]),
    )
    # A sample exactly on the bound is in view; the tie must survive rounding (1e-6 column).
    tie = 1e-6
    for line in bounds:
        slope, rest = line[0], line[1] * rows + line[2]
        if slope > 0:
            np.maximum(low, np.ceil(-rest / slope - tie), out=low)
        elif slope < 0:
            np.minimum(high, np.floor(-rest / slope + tie), out=high)
        else:
            high[rest < -tie] = -1.0
    start = np.clip(low, 0, width).astype(np.int32)
    stop = np.clip(high + 1, 0, width).astype(np.int32)
    valid = np.ones(shape, dtype=np.bool_)
    # Only rows that are not wholly in view need a comparison.
    cut = np.flatnonzero((start > 0) | (stop < width))
    if cut.size:
        columns = np.arange(width, dtype=np.int32)[None, :]
        inside = columns >= start[cut, None]
        inside &= columns < stop[cut, None]
        valid[cut] = inside
    return valid


def _warp_plane(
    image: NDArray[Any],
    target_depth: FloatArray,
    k_source: Any,
    k_target: Any,
    pose: Any,
    sampling: str,
    padding: str,
) -> WarpResult | None:
    """The warp of a flat (constant) target depth: one ``cv2.warpPerspective`` (or
    ``cv2.warpAffine`` when the homography is affine).

    None when part of the plane lies behind the source camera (the maps path sends
    those pixels to padding, a homography would mirror them back into view).
    """
    height, width = image.shape[:2]
    if not matrix_warps(image, sampling):
        return None
    matrix = plane_homography(float(target_depth.flat[0]), k_source, k_target, pose)
    corners = np.array(
        [[0.0, width - 1.0, 0.0, width - 1.0], [0.0, 0.0, height - 1.0, height - 1.0]]
    )
    # The weight is linear in the pixel, so positive at the four corners means everywhere.
    if not np.all(matrix[2, :2] @ corners + matrix[2, 2] > 0):
        return None
    warped, valid = warp_by_matrix(image, matrix, sampling, padding)
    return WarpResult(warped, valid, target_depth)


def matrix_warps(image: NDArray[Any], sampling: str) -> bool:
    """Whether :func:`warp_by_matrix` gives ``cv2.remap``'s image: OpenCV's warps take up to
    four channels, and its nearest-neighbour warps round some positions differently."""
    return not (image.ndim == 3 and image.shape[2] > 4) and sampling != "nearest"


def warp_by_matrix(
    image: NDArray[Any], matrix: NDArray[np.float64], sampling: str, padding: str
) -> tuple[NDArray[Any], BoolArray]:
    """``image`` sampled where the 3×3 ``matrix`` (positive weight) takes each target pixel
    index, and the in-view mask: one ``cv2.warpPerspective``, or ``cv2.warpAffine`` when the
    matrix is affine. Within a grey level of ``cv2.remap`` with the same positions."""
    import cv2

    _choice("sampling_mode", sampling, SAMPLING_MODES)
    _choice("padding_mode", padding, REMAP_PADDINGS)
    height, width = image.shape[:2]
    flags = getattr(cv2, _CV2_SAMPLING[sampling]) | cv2.WARP_INVERSE_MAP
    border = getattr(cv2, _CV2_PADDING[padding])
    # A camera moving parallel to the plane (2D mode without the perspective flip) gives
    # an affine map: warpAffine skips the per-pixel division (about 30 % faster). Its
    # positions round differently (1/1024 pixel before the 1/32 steps), which only shows
    # where the padding jumps (wrap seams, zeros): there it keeps warpPerspective.
    skew = abs(matrix[2, 0]) * width + abs(matrix[2, 1]) * height
    if padding in ("border", "reflection") and skew <= 1e-12 * abs(matrix[2, 2]):
        affine = matrix[:2] / matrix[2, 2]
        warped = cv2.warpAffine(image, affine, (width, height), flags=flags, borderMode=border)
    else:
        warped = cv2.warpPerspective(image, matrix, (width, height), flags=flags, borderMode=border)
    return np.asarray(warped), homography_in_view(matrix, (height, width))


def warp_to_frame(
    source_image: Any,
    track: CameraTrack,
    frame: int,
    *,
    target_depth: Any | None = None,
    source_depth: Any | None = None,
    sampling: str = "bicubic",
    padding: str = "border",
    device: str = "cpu",
) -> WarpResult:
    """Warp frame ``frame − 1`` of a camera track to ``frame``: :func:`warp_3d` with its cameras."""
    pose = track.relative_pose(frame)
    if pose is None:
        raise DeforumInputError(
            f"frame {frame}: no previous frame to warp from (first frame of the track or a "
            "camera cut); start the shot from an init image or a fresh generation"
        )
    return warp_3d(
        source_image,
        k_source=track.intrinsics(frame - 1),
        k_target=track.intrinsics(frame),
        pose=pose,
        target_depth=target_depth,
        source_depth=source_depth,
        sampling=sampling,
        padding=padding,
        device=device,
    )


def _rotation_matrix_2d(cx: float, cy: float, angle: float, zoom: float) -> NDArray[np.float64]:
    # cv2.getRotationMatrix2D, written out: +angle turns content counter-clockwise.
    alpha = zoom * math.cos(math.radians(angle))
    beta = zoom * math.sin(math.radians(angle))
    return np.array(
        [
            [alpha, beta, (1 - alpha) * cx - beta * cy],
            [-beta, alpha, beta * cx + (1 - alpha) * cy],
            [0.0, 0.0, 1.0],
        ]
    )


def perspective_flip_matrix(width: int, height: int, flip: PerspectiveFlip) -> NDArray[np.float64]:
    """Deforum's perspective-flip homography: the image plane turned in 3D, seen at fov ``fv``."""
    import cv2

    half_fov = math.radians(flip.fv / 2.0)
    diagonal = math.hypot(width, height)
    side = diagonal / math.cos(half_fov)
    distance = diagonal / (2.0 * math.sin(half_fov))
    phi, gamma, theta = (math.radians(a) for a in (flip.phi, flip.gamma, flip.theta))
    rx = np.array(
        [[1, 0, 0], [0, math.cos(phi), -math.sin(phi)], [0, math.sin(phi), math.cos(phi)]]
    )
    ry = np.array(
        [[math.cos(gamma), 0, math.sin(gamma)], [0, 1, 0], [-math.sin(gamma), 0, math.cos(gamma)]]
    )
    rz = np.array(
        [[math.cos(theta), -math.sin(theta), 0], [math.sin(theta), math.cos(theta), 0], [0, 0, 1]]
    )
    corners = np.array(
        [
            [-width / 2, height / 2, 0],
            [width / 2, height / 2, 0],
            [width / 2, -height / 2, 0],
            [-width / 2, -height / 2, 0],
        ]
    )
    turned = corners @ (rx @ ry @ rz).T
    # Seen from `distance` in front with focal 1/tan(fv/2), then scaled to a side×side canvas.
    ndc = turned[:, :2] / (math.tan(half_fov) * (distance - turned[:, 2:3]))
    points_in = (corners[:, :2] + (width / 2, height / 2)).astype(np.float32)
    points_out = ((ndc + 1.0) * (0.5 * side)).astype(np.float32)
    homography = np.asarray(cv2.getPerspectiveTransform(points_in, points_out), dtype=np.float64)
    recentre = np.array([[1, 0, (width - side) / 2], [0, 1, (height - side) / 2], [0, 0, 1]])
    flip_matrix: NDArray[np.float64] = homography @ recentre
    return flip_matrix


def deforum_2d_matrix(
    width: int, height: int, motion: Motion2D, flip: PerspectiveFlip | None = None
) -> NDArray[np.float64]:
    """The 3×3 matrix Deforum's 2D mode hands ``warpPerspective`` for one frame.

    Deforum drops the translation when the perspective flip is on (``np.matmul``'s
    third argument is its output); we keep it: ``flip @ rotation_zoom @ translation``.
    """
    centre_x = width * motion.transform_center_x
    centre_y = height * motion.transform_center_y
    rotation = _rotation_matrix_2d(centre_x, centre_y, motion.angle, motion.zoom)
    translation = np.array(
        [[1.0, 0.0, motion.translation_x], [0.0, 1.0, motion.translation_y], [0.0, 0.0, 1.0]]
    )
    matrix: NDArray[np.float64] = rotation @ translation
    if flip is not None:
        matrix = perspective_flip_matrix(width, height, flip) @ matrix
    return matrix


def warp_2d(
    image: Any,
    motion: Motion2D,
    *,
    border: str = "replicate",
    flip: PerspectiveFlip | None = None,
    sampling: str = "bilinear",
) -> NDArray[Any]:
    """Deforum's 2D warp of a frame: +x moves content right, +y down, +angle counter-clockwise."""
    import cv2

    _choice("border", border, BORDER_MODES)
    _choice("sampling_mode", sampling, SAMPLING_MODES)
    if not math.isfinite(motion.zoom) or motion.zoom <= 0:
        raise DeforumInputError(f"zoom: {motion.zoom} must be a positive number (1.0 = no zoom)")
    source = _image("image", image)
    height, width = source.shape[:2]
    matrix = deforum_2d_matrix(width, height, motion, flip)
    return np.asarray(
        cv2.warpPerspective(
            source,
            matrix,
            (width, height),
            flags=getattr(cv2, _CV2_SAMPLING[sampling]),
            borderMode=getattr(cv2, _CV2_BORDER[border]),
        )
    )
