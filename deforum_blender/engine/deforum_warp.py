"""Deforum's own 3D warp (``transform_image_3d_new``), for jobs driven by Deforum schedules.

A job with Deforum's motion schedules and no camera track (every imported Deforum 3D
file) warps the previous frame as sd-webui-deforum does, so it moves with Deforum's
parallax given the same depth prediction:

* depth: the prediction normalised per frame (min-max, 1024-bin histogram
  equalisation), then ``z = 2 − n`` for inverse depth (MiDaS, Depth Anything, depth
  files) or ``z = n + 1`` for metric depth (Zoe); flat or invalid depth is ``z = 1``;
* the point cloud ``x, y = linspace(−1, 1)`` (pixel edges at ±1, y down) with that z,
  seen by pytorch3d's ``FoVPerspectiveCameras``: the old one at the identity, the new
  one at ``X·R + T`` (row vectors, ``R = Rx·Ry·Rz`` from rotation_3d_x/y/z degrees,
  ``T = [−tx, ty, −tz] / 200``); projection ``x/(tan(fov/2)·aspect·z)``,
  ``y/(tan(fov/2)·z)`` (near and far cancel out);
* the sampling grid is the ``affine_grid`` identity (align_corners=False) minus
  ``project(new) − project(old)``, sampled with the sampling and padding modes.

Deforum truncates the result to uint8 (every warp darkens by half a level); we round.
A warp over several frames (cadence) composes the per-frame motions into one and
samples once, with the source frame's depth and the target frame's fov and aspect:
no resampling blur or darkening builds up across in-between frames, where Deforum
re-warps each in-between frame by its own delta and re-predicts depth each time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import DeforumInputError
from .warp import WarpResult, matrix_warps, remap, warp_by_matrix

FloatArray = NDArray[np.float32]
Matrix = NDArray[np.float64]

#: Deforum's (and Disco Diffusion's) translation scale: schedule units per depth unit.
TRANSLATION_SCALE = 1.0 / 200.0
#: Bins of Deforum's per-frame depth histogram equalisation.
DEPTH_BINS = 1024


@dataclass(frozen=True)
class DeforumMotion:
    """A rigid move in Deforum's row-vector convention: ``X_new = X · rotation + translation``."""

    rotation: Matrix
    translation: Matrix

    @classmethod
    def identity(cls) -> DeforumMotion:
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_schedules(
        cls,
        translation_x: float,
        translation_y: float,
        translation_z: float,
        rotation_3d_x: float,
        rotation_3d_y: float,
        rotation_3d_z: float,
    ) -> DeforumMotion:
        """One frame's move from Deforum's per-frame values (as anim_frame_warp_3d builds it)."""
        translation = np.array([-translation_x, translation_y, -translation_z]) * TRANSLATION_SCALE
        return cls(euler_xyz(rotation_3d_x, rotation_3d_y, rotation_3d_z), translation)

    def then(self, other: DeforumMotion) -> DeforumMotion:
        """This move followed by ``other`` (``other`` measured from this move's camera)."""
        return DeforumMotion(
            self.rotation @ other.rotation, self.translation @ other.rotation + other.translation
        )

    def inverse(self) -> DeforumMotion:
        """The move back: ``X = (X_new − translation) · rotationᵀ``."""
        back = self.rotation.T
        return DeforumMotion(back, -self.translation @ back)


def euler_xyz(x_degrees: float, y_degrees: float, z_degrees: float) -> Matrix:
    """pytorch3d's ``euler_angles_to_matrix(radians, "XYZ")``: ``Rx @ Ry @ Rz``."""
    x, y, z = (math.radians(a) for a in (x_degrees, y_degrees, z_degrees))
    cx, sx, cy, sy, cz, sz = (
        math.cos(x),
        math.sin(x),
        math.cos(y),
        math.sin(y),
        math.cos(z),
        math.sin(z),
    )
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    result: Matrix = rx @ ry @ rz
    return result


def span_motion(
    deltas: Sequence[DeforumMotion], source_index: int, target_index: int
) -> DeforumMotion:
    """The move from frame index ``source_index`` to ``target_index``; ``deltas[f]`` is f−1 → f."""
    low, high = sorted((source_index, target_index))
    total = DeforumMotion.identity()
    for index in range(low + 1, high + 1):
        total = total.then(deltas[index])
    return total if target_index >= source_index else total.inverse()


def deforum_depth(prediction: Any, *, inverse: bool = True) -> FloatArray:
    """Deforum's z from a depth prediction: normalised, equalised, mapped to 1..2.

    ``inverse``: the prediction is inverse depth (larger = nearer: MiDaS, Depth Anything,
    depth files), so ``z = 2 − n``; else metric depth (Zoe), ``z = n + 1``. A prediction
    with a NaN or infinite value, or a constant one, is flat: ``z = 1`` everywhere.
    """
    values = np.asarray(prediction, dtype=np.float64)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if values.ndim != 2:
        raise DeforumInputError(f"depth: expected an H×W depth map, got shape {values.shape}")
    flat = np.ones(values.shape, dtype=np.float32)
    if values.size == 0 or not np.all(np.isfinite(values)):
        return flat
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return flat
    unit = (values - low) / (high - low)
    equalised = _equalise(unit)
    z = 2.0 - equalised if inverse else equalised + 1.0
    return np.asarray(z, dtype=np.float32)


def _equalise(unit: NDArray[np.float64]) -> NDArray[np.float64]:
    """``np.interp(unit, edges[:-1], cdf)`` of ``np.histogram(unit, DEPTH_BINS, (0, 1))``,
    bit for bit, without the histogram's and the interpolation's per-value searches.

    The edges are k/1024, exact in binary, so ``floor(unit·1024)`` is the bin (the last bin
    holds 1.0, as in np.histogram) and np.interp's own arithmetic is repeated per bin.
    """
    bins = DEPTH_BINS
    index = np.minimum((unit * bins).astype(np.intp), bins - 1)
    counts = np.bincount(index.ravel(), minlength=bins)
    cdf = np.cumsum(counts) / unit.size
    edges = np.linspace(0.0, 1.0, bins + 1)[:-1]
    slopes = np.zeros(bins)
    slopes[:-1] = (cdf[1:] - cdf[:-1]) / (edges[1:] - edges[:-1])
    # From the last knot on, np.interp returns the last value (a zero slope gives it).
    out: NDArray[np.float64] = np.take(slopes, index) * (unit - np.take(edges, index))
    out += np.take(cdf, index)
    return out


def deforum_maps(
    z: Any, motion: DeforumMotion, *, fov: float, aspect: float
) -> tuple[FloatArray, FloatArray]:
    """``cv2.remap`` maps (pixel i's centre at i) of Deforum's 3D warp for depth ``z``."""
    if not (math.isfinite(fov) and 0.0 < fov < 180.0):
        raise DeforumInputError(f"fov: {fov!r} degrees; use a field of view between 0 and 180")
    if not (math.isfinite(aspect) and aspect > 0.0):
        raise DeforumInputError(f"aspect_ratio: {aspect!r}; use a positive number (1 = square)")
    depth = np.asarray(z, dtype=np.float64)
    height, width = depth.shape
    x = np.linspace(-1.0, 1.0, width)
    y = np.linspace(-1.0, 1.0, height)
    r, t = motion.rotation, motion.translation
    focal = math.tan(math.radians(fov) / 2.0)
    constant = depth.size > 0 and bool((depth == depth.flat[0]).all())
    # new = x·R[0] + y·R[1] + depth·R[2] + t: the x and y terms as one broadcast sum (one
    # full-size pass); a flat depth's term joins the column before it.
    plane = float(depth.flat[0]) if constant else 0.0
    inverse_depth: Any = 1.0 / plane if constant else np.reciprocal(depth)

    def moved(axis: int) -> NDArray[np.float64]:
        column = y * r[1, axis] + (t[axis] + plane * r[2, axis])
        out: NDArray[np.float64] = np.add((x * r[0, axis])[None, :], column[:, None])
        if not constant:
            out += depth * r[2, axis]
        return out

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inverse_new_z = np.reciprocal(moved(2))
        # affine_grid's identity minus the offset, in remap units: index − offset·size/2,
        # offset = new_x/(focal·aspect·new_z) − x/(focal·aspect·depth) (y: no aspect).
        maps = []
        for axis, scale, along, index in (
            (0, width / (2.0 * focal * aspect), x[None, :], np.arange(width)[None, :]),
            (1, height / (2.0 * focal), y[:, None], np.arange(height)[:, None]),
        ):
            projected = moved(axis)
            projected *= inverse_new_z
            if constant:  # the depth term is one row (or column): fold it into the index
                projected *= -scale
                projected += index + scale * along * inverse_depth
            else:
                projected -= along * inverse_depth
                projected *= -scale
                projected += index
            maps.append(projected)
    # A point that lands on the camera plane has no projection: send it to the padding.
    out = []
    for values, size in zip(maps, (width, height), strict=True):
        if not np.isfinite(values).all():
            values[~np.isfinite(values)] = -2.0 * size
        np.clip(values, -4.0 * size, 4.0 * size, out=values)
        out.append(np.ascontiguousarray(values, dtype=np.float32))
    return out[0], out[1]


def flat_affine(
    z: NDArray[np.float32], motion: DeforumMotion, *, fov: float, aspect: float
) -> Matrix | None:
    """:func:`deforum_maps` as one affine map (3×3, cv2 pixel indices), where it is one: a
    flat depth and no turn about x or y, so every point keeps one depth after the move.

    None otherwise, and where the maps path clips or sends points to the padding.
    """
    r, t = motion.rotation, motion.translation
    if z.size == 0 or r[0, 2] != 0.0 or r[1, 2] != 0.0:
        return None
    plane = float(z.flat[0])
    if not (math.isfinite(plane) and plane != 0.0) or not bool((z == z.flat[0]).all()):
        return None
    new_z = plane * r[2, 2] + t[2]
    if not (math.isfinite(new_z) and new_z != 0.0):
        return None
    if not (math.isfinite(fov) and 0.0 < fov < 180.0 and math.isfinite(aspect) and aspect > 0.0):
        return None  # deforum_maps names the bad value
    height, width = z.shape
    focal = math.tan(math.radians(fov) / 2.0)
    # x = linspace(-1, 1, width)[j] = a_x·j − 1 (y likewise); map = index + s·(x/z − new/new_z).
    a_x = 2.0 / (width - 1) if width > 1 else 0.0
    a_y = 2.0 / (height - 1) if height > 1 else 0.0
    rows = []
    for axis, scale in enumerate((width / (2.0 * focal * aspect), height / (2.0 * focal))):
        row = [-scale * r[0, axis] * a_x / new_z, -scale * r[1, axis] * a_y / new_z]
        row[axis] += 1.0 + scale * (a_x, a_y)[axis] / plane
        offset = -r[0, axis] - r[1, axis] + plane * r[2, axis] + t[axis]
        rows.append([*row, -scale / plane - scale * offset / new_z])
    matrix = np.array([*rows, [0.0, 0.0, 1.0]])
    corners = matrix[:2, :2] @ np.array([[0.0, width - 1.0] * 2, [0.0] * 2 + [height - 1.0] * 2])
    corners += matrix[:2, 2:]
    if np.abs(corners[0]).max() > 4.0 * width or np.abs(corners[1]).max() > 4.0 * height:
        return None  # the maps path clips positions this far out
    return matrix


def warp_deforum_3d(
    image: Any,
    z: Any,
    motion: DeforumMotion,
    *,
    fov: float,
    aspect: float,
    sampling: str = "bicubic",
    padding: str = "border",
    device: str = "cpu",
) -> WarpResult:
    """Warp ``image`` by ``motion`` as Deforum's 3D mode does, given its depth ``z``."""
    source = np.asarray(image)
    depth = np.asarray(z, dtype=np.float32)
    if depth.shape != source.shape[:2]:
        raise DeforumInputError(
            f"depth: the depth map is {depth.shape} (height, width) but the frame is "
            f"{source.shape[:2]}; give depth at the frame's size"
        )
    # The one-matrix path is OpenCV's: only asked for where it could run (its flat-depth
    # test reads the whole depth map).
    if device == "cpu" and matrix_warps(source, sampling):
        affine = flat_affine(depth, motion, fov=fov, aspect=aspect)
        if affine is not None:
            warped, valid = warp_by_matrix(source, affine, sampling, padding)
            return WarpResult(warped, valid, depth.copy())
    map_x, map_y = deforum_maps(depth, motion, fov=fov, aspect=aspect)
    warped = remap(source, map_x, map_y, sampling=sampling, padding=padding, device=device)
    height, width = depth.shape
    valid = (map_x >= -0.5) & (map_x <= width - 0.5) & (map_y >= -0.5) & (map_y <= height - 0.5)
    # The target's depth is the source's carried along (save_depth_maps keeps it).
    target_depth = remap(depth, map_x, map_y, sampling="bilinear", padding="border")
    return WarpResult(warped, np.asarray(valid), np.asarray(target_depth, dtype=np.float32))
