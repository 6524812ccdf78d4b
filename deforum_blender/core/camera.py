"""The camera convention: Blender's camera as poses, intrinsics and per-frame motion.

This module is THE one place where Blender's camera meets pixels and Deforum's units.
Everything else (the warp, the depth pass, settings import/export, the Blender reader)
calls these functions instead of re-deriving signs.

Frames
    World and camera frames are Blender's: world +Z up; a camera looks down its local
    -Z axis with +Y up and +X right. Camera poses are 4×4 world matrices (camera-local →
    world) with the scale stripped (:func:`strip_scale`).

Image
    Pixel coordinates ``(u, v)``: u to the right, v down, origin at the top-left corner of
    the image, so the image spans ``[0, W] × [0, H]`` and the centre of pixel ``(i, j)``
    (column i, row j) is ``(i + 0.5, j + 0.5)``. ``W × H`` is the render size after the
    resolution percentage (Blender's integer ``resolution × percentage // 100``).

Intrinsics
    ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` acts on the camera-space point
    ``(x, y, z)`` (z < 0 in front of the camera) through the ray ``(x, -y, -z)``::

        depth = -z                      # distance along the view axis: Blender's Z pass
        u = fx * x / depth + cx
        v = -fy * y / depth + cy

    fx ≠ fy when the pixel aspect is not square. K reproduces Blender's projection
    exactly (``BKE_camera_params_compute_viewplane``): sensor fit AUTO/HORIZONTAL/VERTICAL,
    shift_x/y in units of the fitted image side, pixel aspect. The ground truth in the
    tests is ``bpy_extras.object_utils.world_to_camera_view`` (which returns x right and
    y *up* in [0, 1]: ``u = x·W``, ``v = (1 − y)·H``).

Motion
    The motion from frame f−1 to f is the single relative pose
    ``inv(M[f−1]) @ M[f]`` (:func:`relative_pose`): the new camera expressed in the old
    camera's frame, translation and rotation in the same frame.

Deforum 3D units (interchange only)
    Deforum's 3D warp builds the new camera as a pytorch3d world-to-view transform
    ``X_new = X_old · R + T`` (row vectors) with ``R = Rx(rx)·Ry(ry)·Rz(rz)`` from
    ``rotation_3d_x/y/z`` (degrees) and ``T = [−tx, +ty, −tz] / 200``. Its signs (checked
    by running Deforum, see the conventions file) make the old camera's frame behave like
    an OpenCV frame (x right, y down, z forward), which is Blender's camera frame turned
    180° about x: ``S = diag(1, −1, −1)``. With the Blender relative pose ``(Rrel, trel)``
    this gives, exactly::

        Rrel = Rx(rx) · Ry(−ry) · Rz(−rz)     # Blender Euler order 'ZYX' of Rrel
        d = Rrel.T @ trel                     # the motion in the *new* camera's axes
        tx = +k·d.x,  ty = +k·d.y,  tz = −k·d.z

    (for a pure translation ``d = trel``, the conventions file's "tx = +k·dx, ty = +k·dy,
    tz = −k·dz"). ``k`` is the translation scale: Deforum translation units per Blender
    unit. Deforum's point cloud has depths of about 1 (normalised depth), and one Deforum
    depth unit is 200 translation units, so ``k = 200 / median scene depth`` when the
    scene's depth pass is known; otherwise :data:`DEFAULT_TRANSLATION_SCALE` = 50, i.e. a
    subject 4 Blender units away (also the fixed scale of the community exporters).
    ``fov_schedule`` is the vertical field of view of the render in degrees, following
    lens animation. Every value at Deforum index f drives the warp from f−1 to f; index 0
    (and a hard cut, which Deforum cannot express) carries no motion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import DeforumInputError
from .schedules import format_schedule

FloatArray = npt.NDArray[np.float64]

LENS_UNITS = ("MILLIMETERS", "FOV")
SENSOR_FITS = ("AUTO", "HORIZONTAL", "VERTICAL")
CAMERA_TYPES = ("PERSP", "ORTHO", "PANO")

#: Deforum's translation units per Deforum depth unit (its ``TRANSLATION_SCALE = 1/200``).
DEFORUM_UNITS_PER_DEPTH = 200.0
#: Scene depth (Blender units) assumed when no depth pass tells the real one.
DEFAULT_SCENE_DEPTH = 4.0
#: Deforum translation units per Blender unit when the scene depth is unknown.
DEFAULT_TRANSLATION_SCALE = DEFORUM_UNITS_PER_DEPTH / DEFAULT_SCENE_DEPTH

#: The Deforum settings keys this module reads and writes, 3D mode then 2D mode.
DEFORUM_3D_KEYS = (
    "translation_x",
    "translation_y",
    "translation_z",
    "rotation_3d_x",
    "rotation_3d_y",
    "rotation_3d_z",
    "fov_schedule",
)
DEFORUM_2D_KEYS = (
    "angle",
    "zoom",
    "translation_x",
    "translation_y",
    "transform_center_x",
    "transform_center_y",
)
# The value of a key a settings file leaves out: no motion (fov: keep the template lens).
_NEUTRAL = {"zoom": 1.0, "transform_center_x": 0.5, "transform_center_y": 0.5}


# --------------------------------------------------------------------------------------
# Camera data and render size
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraData:
    """Blender camera data that shapes the projection (``bpy.types.Camera``'s fields)."""

    lens: float = 50.0
    lens_unit: str = "MILLIMETERS"
    angle: float = 2.0 * math.atan(36.0 / 100.0)
    sensor_fit: str = "AUTO"
    sensor_width: float = 36.0
    sensor_height: float = 24.0
    shift_x: float = 0.0
    shift_y: float = 0.0
    clip_start: float = 0.1
    clip_end: float = 1000.0
    type: str = "PERSP"

    def __post_init__(self) -> None:
        if self.type != "PERSP":
            kind = {"ORTHO": "orthographic", "PANO": "panoramic"}.get(self.type, self.type)
            raise DeforumInputError(
                f"camera type {self.type!r} ({kind}) is not supported: Deforum motion needs "
                "a perspective camera; set the camera's Lens > Type to Perspective"
            )
        _check_choice("camera lens_unit", self.lens_unit, LENS_UNITS)
        _check_choice("camera sensor_fit", self.sensor_fit, SENSOR_FITS)
        for name in ("lens", "sensor_width", "sensor_height", "clip_start", "clip_end"):
            _check_positive(f"camera {name}", getattr(self, name))
        if self.lens_unit == "FOV" and not 0.0 < self.angle < math.pi:
            raise DeforumInputError(
                f"camera angle {self.angle!r} rad is outside (0, π): use a field of view "
                "between 0 and 180 degrees"
            )

    @property
    def sensor_size(self) -> float:
        """The sensor side the fit uses (Blender: AUTO and HORIZONTAL use the width)."""
        return self.sensor_height if self.sensor_fit == "VERTICAL" else self.sensor_width

    @property
    def focal_length(self) -> float:
        """Focal length in mm, from ``lens`` or, in FOV mode, from ``angle``."""
        if self.lens_unit == "FOV":
            return self.sensor_size / (2.0 * math.tan(self.angle / 2.0))
        return self.lens


@dataclass(frozen=True)
class RenderSize:
    """Render resolution, percentage and pixel aspect (``scene.render``'s fields)."""

    resolution_x: int = 1920
    resolution_y: int = 1080
    percentage: int = 100
    pixel_aspect_x: float = 1.0
    pixel_aspect_y: float = 1.0

    def __post_init__(self) -> None:
        for name in ("resolution_x", "resolution_y", "percentage"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise DeforumInputError(
                    f"render {name} {value!r} must be a whole number of at least 1"
                )
        for name in ("pixel_aspect_x", "pixel_aspect_y"):
            _check_positive(f"render {name}", getattr(self, name))
        if self.width < 1 or self.height < 1:
            raise DeforumInputError(
                f"render size {self.resolution_x}×{self.resolution_y} at {self.percentage}% "
                "is under one pixel: raise the resolution percentage"
            )

    @property
    def width(self) -> int:
        """Pixels across after the percentage (Blender's integer arithmetic)."""
        return self.resolution_x * self.percentage // 100

    @property
    def height(self) -> int:
        """Pixels down after the percentage (Blender's integer arithmetic)."""
        return self.resolution_y * self.percentage // 100


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise DeforumInputError(f"{name} {value!r} is not one of {', '.join(choices)}")


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise DeforumInputError(f"{name} {value!r} must be a positive number")


# --------------------------------------------------------------------------------------
# Intrinsics and projection
# --------------------------------------------------------------------------------------


def _fits_horizontally(camera: CameraData, size: RenderSize) -> bool:
    if camera.sensor_fit == "AUTO":
        # BKE_camera_sensor_fit: the wider side (in displayed units) takes the sensor.
        return size.pixel_aspect_x * size.width >= size.pixel_aspect_y * size.height
    return camera.sensor_fit == "HORIZONTAL"


def intrinsics(camera: CameraData, size: RenderSize) -> FloatArray:
    """3×3 pixel intrinsics K of ``camera`` rendered at ``size`` (see the module docstring)."""
    width, height = float(size.width), float(size.height)
    ycor = size.pixel_aspect_y / size.pixel_aspect_x
    # viewfac: how many pixel units the fitted sensor side spans (Blender's viewplane maths).
    viewfac = width if _fits_horizontally(camera, size) else ycor * height
    fx = camera.focal_length / camera.sensor_size * viewfac
    fy = fx / ycor
    cx = width / 2.0 - camera.shift_x * viewfac
    cy = height / 2.0 + camera.shift_y * viewfac / ycor
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def project(K: FloatArray, points_cam: npt.ArrayLike) -> FloatArray:
    """Pixel ``(u, v)`` of camera-space points ``(..., 3)`` (in front: z < 0)."""
    p = np.asarray(points_cam, dtype=np.float64)
    depth = -p[..., 2]
    u = K[0, 0] * p[..., 0] / depth + K[0, 2]
    v = -K[1, 1] * p[..., 1] / depth + K[1, 2]
    return np.stack([u, v], axis=-1)


def unproject(K: FloatArray, uv: npt.ArrayLike, depth: npt.ArrayLike) -> FloatArray:
    """Camera-space points ``(..., 3)`` at pixels ``uv`` and depth along −Z (the Z pass)."""
    q = np.asarray(uv, dtype=np.float64)
    d = np.asarray(depth, dtype=np.float64)
    x = (q[..., 0] - K[0, 2]) / K[0, 0] * d
    y = -(q[..., 1] - K[1, 2]) / K[1, 1] * d
    return np.stack([x, y, -d * np.ones_like(x)], axis=-1)


def vertical_fov(camera: CameraData, size: RenderSize) -> float:
    """Vertical field of view of the render in radians (what Deforum's ``fov`` means)."""
    K = intrinsics(camera, size)
    return 2.0 * math.atan(size.height / (2.0 * K[1, 1]))


def lens_for_vertical_fov(camera: CameraData, size: RenderSize, fov: float) -> float:
    """Focal length (mm) that gives ``camera`` the vertical field of view ``fov`` (radians)."""
    if not 0.0 < fov < math.pi:
        raise DeforumInputError(
            f"field of view {math.degrees(fov)!r}° is outside (0, 180): use a value such as 40"
        )
    fy_per_mm = float(intrinsics(camera, size)[1, 1]) / camera.focal_length
    return size.height / (2.0 * math.tan(fov / 2.0)) / fy_per_mm


# --------------------------------------------------------------------------------------
# Poses and motion
# --------------------------------------------------------------------------------------


_IDENTITY3 = np.eye(3)


def strip_scale(matrix: npt.ArrayLike) -> FloatArray:
    """The rigid part of a 4×4 world matrix: the nearest rotation (polar factor) + translation.

    Exact for Blender's ``T·R·S`` (any positive scale, also inherited from a parent); a
    mirrored (negative-determinant) matrix keeps its handedness-corrected rotation.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise DeforumInputError(f"camera matrix must be a finite 4×4 matrix, got shape {m.shape}")
    out = np.eye(4)
    out[:3, 3] = m[:3, 3]
    rot = m[:3, :3]
    (a, b, c), (d, e, f), (g, h, i) = rot.tolist()
    handed = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)  # determinant
    if handed > 0 and float(np.abs(rot.T @ rot - _IDENTITY3).max()) <= 1e-12:
        out[:3, :3] = rot  # already rigid: keep it bit for bit (JSON round trips stay exact)
        return out
    u, _, vt = np.linalg.svd(rot)
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] = -u[:, -1]
    out[:3, :3] = u @ vt
    return out


def invert_rigid(matrix: FloatArray) -> FloatArray:
    """Inverse of a rigid 4×4 transform (rotation transposed, exact)."""
    out = np.eye(4)
    rot = matrix[:3, :3].T
    out[:3, :3] = rot
    out[:3, 3] = -rot @ matrix[:3, 3]
    return out


def relative_pose(m_prev: npt.ArrayLike, m_cur: npt.ArrayLike) -> FloatArray:
    """Motion from one frame to the next: ``inv(M[f−1]) @ M[f]`` with scale stripped.

    Maps points in the new camera's frame to the old camera's frame; its translation is
    the new camera's position seen from the old camera.
    """
    return invert_rigid(strip_scale(m_prev)) @ strip_scale(m_cur)


def rotation_x(angle: float) -> FloatArray:
    """Right-handed rotation about +X by ``angle`` radians (column vectors)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_y(angle: float) -> FloatArray:
    """Right-handed rotation about +Y by ``angle`` radians (column vectors)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_z(angle: float) -> FloatArray:
    """Right-handed rotation about +Z by ``angle`` radians (column vectors)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def euler_zyx_to_matrix(x: float, y: float, z: float) -> FloatArray:
    """``Rx(x) @ Ry(y) @ Rz(z)``: Blender's Euler order 'ZYX' (Z applied first)."""
    return rotation_x(x) @ rotation_y(y) @ rotation_z(z)


def matrix_to_euler_zyx(rot: FloatArray) -> tuple[float, float, float]:
    """Angles ``(x, y, z)`` in radians with ``rot == Rx(x) @ Ry(y) @ Rz(z)``, |y| ≤ π/2."""
    y = math.asin(max(-1.0, min(1.0, float(rot[0, 2]))))
    x = math.atan2(-float(rot[1, 2]), float(rot[2, 2]))
    z = math.atan2(-float(rot[0, 1]), float(rot[0, 0]))
    return x, y, z


# --------------------------------------------------------------------------------------
# The camera track
# --------------------------------------------------------------------------------------


@dataclass
class CameraTrack:
    """The scene camera on every frame of a range: poses, camera data, render size, cuts.

    ``frames`` are Blender frame numbers (consecutive); ``matrices`` the scale-stripped
    world matrices ``(N, 4, 4)``; ``cuts`` the frames where the active camera switches
    (a hard cut: never warp across one).
    """

    frames: list[int]
    matrices: FloatArray
    cameras: list[CameraData]
    size: RenderSize
    cuts: list[int] = field(default_factory=list)
    camera_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.frames = [int(f) for f in self.frames]
        self.matrices = np.asarray(self.matrices, dtype=np.float64).reshape(-1, 4, 4)
        count = len(self.frames)
        if count == 0:
            raise DeforumInputError("camera track has no frames: give a frame range of 1 or more")
        if any(b != a + 1 for a, b in zip(self.frames, self.frames[1:], strict=False)):
            raise DeforumInputError(
                f"camera track frames {self.frames[:3]}… are not consecutive: "
                "read the camera on every frame of the range"
            )
        if not self.camera_names:
            self.camera_names = ["Camera"] * count
        for name, length in (
            ("matrices", len(self.matrices)),
            ("cameras", len(self.cameras)),
            ("camera_names", len(self.camera_names)),
        ):
            if length != count:
                raise DeforumInputError(
                    f"camera track has {length} {name} for {count} frames: give one per frame"
                )
        outside = [c for c in self.cuts if c not in self.frames[1:]]
        if outside:
            raise DeforumInputError(
                f"camera track cuts {outside} are not inside frames "
                f"{self.frames[0] + 1}-{self.frames[-1]}"
            )
        self.cuts = sorted(set(self.cuts))
        self.matrices = np.stack([strip_scale(m) for m in self.matrices])

    def __len__(self) -> int:
        return len(self.frames)

    def index(self, frame: int) -> int:
        """Position of Blender ``frame`` in the track."""
        i = frame - self.frames[0]
        if not 0 <= i < len(self.frames):
            raise DeforumInputError(
                f"frame {frame} is outside the camera track {self.frames[0]}-{self.frames[-1]}"
            )
        return i

    def matrix(self, frame: int) -> FloatArray:
        """World matrix of the camera at ``frame``."""
        matrix: FloatArray = self.matrices[self.index(frame)]
        return matrix

    def camera(self, frame: int) -> CameraData:
        """Camera data at ``frame``."""
        return self.cameras[self.index(frame)]

    def intrinsics(self, frame: int) -> FloatArray:
        """Pixel intrinsics K at ``frame``."""
        return intrinsics(self.camera(frame), self.size)

    def is_cut(self, frame: int) -> bool:
        """True when ``frame`` starts a new shot (the previous frame must not be warped)."""
        return frame in self.cuts

    def relative_pose(self, frame: int) -> FloatArray | None:
        """``inv(M[frame−1]) @ M[frame]``; None on the first frame and at a cut."""
        i = self.index(frame)
        if i == 0 or frame in self.cuts:
            return None
        # The track's matrices are rigid already (stripped on construction).
        rel: FloatArray = invert_rigid(self.matrices[i - 1]) @ self.matrices[i]
        return rel

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (the Job's ``camera_track``)."""
        return {
            "frames": list(self.frames),
            "matrices": [[list(map(float, row)) for row in m] for m in self.matrices],
            "cameras": [asdict(c) for c in self.cameras],
            "size": asdict(self.size),
            "cuts": list(self.cuts),
            "camera_names": list(self.camera_names),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CameraTrack:
        """Inverse of :meth:`to_dict`; unknown or missing keys are named in the error."""
        _check_keys("camera_track", data, {f.name for f in fields(cls)}, {"frames", "matrices"})
        cameras = [
            CameraData(**_checked("camera_track.cameras[]", c, CameraData))
            for c in data.get("cameras", [])
        ]
        size = RenderSize(**_checked("camera_track.size", data.get("size", {}), RenderSize))
        try:
            matrices = np.asarray(data["matrices"], dtype=np.float64).reshape(-1, 4, 4)
        except (TypeError, ValueError) as exc:
            raise DeforumInputError(
                "camera_track.matrices must be a list of 4×4 number matrices"
            ) from exc
        return cls(
            frames=list(data["frames"]),
            matrices=matrices,
            cameras=cameras,
            size=size,
            cuts=list(data.get("cuts", [])),
            camera_names=list(data.get("camera_names", [])),
        )


def _check_keys(where: str, data: Mapping[str, Any], known: set[str], required: set[str]) -> None:
    if not isinstance(data, Mapping):
        raise DeforumInputError(f"{where} must be an object, got {type(data).__name__}")
    unknown = sorted(set(data) - known)
    if unknown:
        raise DeforumInputError(
            f"{where} has unknown keys {unknown}: the known keys are {sorted(known)}"
        )
    missing = sorted(required - set(data))
    if missing:
        raise DeforumInputError(f"{where} is missing {missing}")


def _checked(where: str, data: Any, cls: type) -> dict[str, Any]:
    _check_keys(where, data, {f.name for f in fields(cls)}, set())
    return dict(data)


# --------------------------------------------------------------------------------------
# Deforum units
# --------------------------------------------------------------------------------------


def default_translation_scale(median_depth: float | None = None) -> float:
    """Deforum translation units per Blender unit: ``200 / median depth``, else the default.

    ``median_depth`` is the median of the scene's Z pass (Blender units) when one exists.
    """
    if median_depth is None:
        return DEFAULT_TRANSLATION_SCALE
    _check_positive("median scene depth", median_depth)
    return DEFORUM_UNITS_PER_DEPTH / float(median_depth)


def motion_to_deforum(rel: FloatArray, translation_scale: float) -> dict[str, float]:
    """One relative pose as Deforum's 3D per-frame values (degrees, translation units)."""
    rot, trel = rel[:3, :3], rel[:3, 3]
    x, y, z = matrix_to_euler_zyx(rot)
    d = rot.T @ trel * translation_scale
    return {
        "translation_x": float(d[0]),
        "translation_y": float(d[1]),
        "translation_z": float(-d[2]),
        "rotation_3d_x": math.degrees(x),
        "rotation_3d_y": -math.degrees(y),
        "rotation_3d_z": -math.degrees(z),
    }


def deforum_to_motion(values: Mapping[str, float], translation_scale: float) -> FloatArray:
    """Inverse of :func:`motion_to_deforum`: Deforum 3D per-frame values → relative pose."""
    _check_positive("translation scale", translation_scale)
    rot = euler_zyx_to_matrix(
        math.radians(values.get("rotation_3d_x", 0.0)),
        -math.radians(values.get("rotation_3d_y", 0.0)),
        -math.radians(values.get("rotation_3d_z", 0.0)),
    )
    d = np.array(
        [
            values.get("translation_x", 0.0),
            values.get("translation_y", 0.0),
            -values.get("translation_z", 0.0),
        ]
    )
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = rot @ (d / translation_scale)
    return out


def deforum_motion(
    track: CameraTrack, translation_scale: float = DEFAULT_TRANSLATION_SCALE
) -> dict[str, list[float]]:
    """Per-frame Deforum 3D values (keys :data:`DEFORUM_3D_KEYS`) reproducing ``track``.

    Index i is Blender frame ``track.frames[i]``; index 0 and cuts carry no motion.
    """
    _check_positive("translation scale", translation_scale)
    out: dict[str, list[float]] = {key: [] for key in DEFORUM_3D_KEYS}
    for frame, camera in zip(track.frames, track.cameras, strict=True):
        rel = track.relative_pose(frame)
        step = motion_to_deforum(rel if rel is not None else np.eye(4), translation_scale)
        step["fov_schedule"] = math.degrees(vertical_fov(camera, track.size))
        for key, value in step.items():
            # 10 decimals: float noise (1e-17 of a degree) would otherwise fill the schedules.
            out[key].append(round(value, 10) + 0.0)
    return out


def deforum_motion_schedules(
    track: CameraTrack, translation_scale: float = DEFAULT_TRANSLATION_SCALE
) -> dict[str, str]:
    """Deforum settings keys → schedule strings reproducing ``track`` (3D animation mode).

    Only numeric keyframes, linear between, collinear runs merged (``schedules.format_schedule``).
    """
    return {
        key: format_schedule(values)
        for key, values in deforum_motion(track, translation_scale).items()
    }


def default_start_pose() -> FloatArray:
    """A level camera at the origin looking along world +Y (rotation 90°, 0, 0)."""
    out = np.eye(4)
    out[:3, :3] = rotation_x(math.pi / 2.0)
    return out


def _series(values: Mapping[str, Sequence[float]], key: str, count: int) -> list[float] | None:
    if key not in values:
        return None
    series = [float(v) for v in values[key]]
    if len(series) < count:
        raise DeforumInputError(
            f"Deforum {key} has {len(series)} values for {count} frames: give one per frame"
        )
    bad = [i for i, v in enumerate(series[:count]) if not math.isfinite(v)]
    if bad:
        raise DeforumInputError(
            f"Deforum {key} is not a finite number at frame {bad[0]} ({series[bad[0]]}): "
            "fix the schedule expression there"
        )
    return series[:count]


def _motion_2d(
    values: Mapping[str, Sequence[float]],
    i: int,
    K: FloatArray,
    size: RenderSize,
    plane_depth: float,
) -> tuple[FloatArray, float]:
    """Camera motion reproducing Deforum's 2D warp of frame i on a facing plane."""

    def get(key: str) -> float:
        series = values.get(key)
        return float(series[i]) if series is not None else _NEUTRAL.get(key, 0.0)

    angle, zoom = math.radians(get("angle")), get("zoom")
    if not zoom > 0:
        raise DeforumInputError(f"Deforum zoom {zoom!r} at frame {i} must be above 0: use e.g. 1.0")
    # OpenCV getRotationMatrix2D about the transform centre, after the translation.
    ccx, ccy = get("transform_center_x") * size.width, get("transform_center_y") * size.height
    a, b = zoom * math.cos(angle), zoom * math.sin(angle)
    rot2d = np.array([[a, b, (1 - a) * ccx - b * ccy], [-b, a, b * ccx + (1 - a) * ccy], [0, 0, 1]])
    shift = np.array([[1, 0, get("translation_x")], [0, 1, get("translation_y")], [0, 0, 1.0]])
    content = rot2d @ shift
    # The same map on normalised image-plane coordinates (x right, y up, at depth 1).
    to_plane = np.array(
        [[1 / K[0, 0], 0, -K[0, 2] / K[0, 0]], [0, -1 / K[1, 1], K[1, 2] / K[1, 1]]]
    )
    to_plane = np.vstack([to_plane, [0, 0, 1.0]])
    h = to_plane @ content @ np.linalg.inv(to_plane)
    scale = math.sqrt(abs(np.linalg.det(h[:2, :2])))
    phi = math.atan2(h[1, 0] - h[0, 1], h[0, 0] + h[1, 1])
    # A facing plane at distance d seen by a camera rolled by θ at c:
    # p' = (d/d') Rz(−θ) p − Rz(−θ) c_xy / d', so d' = d/scale, θ = −φ, c_xy = −Rz(θ) t d'.
    new_depth = plane_depth / scale
    theta = -phi
    rot = rotation_z(theta)
    c_xy = -(rot[:2, :2] @ h[:2, 2]) * new_depth
    rel = np.eye(4)
    rel[:3, :3] = rot
    rel[:3, 3] = [c_xy[0], c_xy[1], new_depth - plane_depth]
    return rel, new_depth


def camera_track_from_deforum(
    values: Mapping[str, Sequence[float]],
    frame_count: int,
    *,
    animation_mode: str = "3D",
    size: RenderSize | None = None,
    camera: CameraData | None = None,
    start_pose: npt.ArrayLike | None = None,
    translation_scale: float = DEFAULT_TRANSLATION_SCALE,
    frame_start: int = 1,
    plane_depth: float = DEFAULT_SCENE_DEPTH,
    camera_name: str = "Deforum Camera",
) -> CameraTrack:
    """A camera track from Deforum per-frame motion values (Deforum index i → frame_start+i).

    3D mode is exact (the inverse of :func:`deforum_motion`; ``fov_schedule`` sets the lens).
    2D mode (angle, zoom, translation_x/y in pixels, transform_center_x/y) is turned into
    the camera motion that reproduces the 2D warp exactly on a plane facing the camera at
    ``plane_depth`` Blender units (truck/pedestal for translation, dolly for zoom, roll for
    angle; exact with square pixels); nearer or farther things get parallax that Deforum's
    flat 2D warp does not have. Keys left out mean no motion, so a settings importer fills
    Deforum's own defaults first (``translation_z`` is ``0: (1.75)`` there).
    ``start_pose`` defaults to :func:`default_start_pose`.
    """
    if animation_mode not in ("2D", "3D"):
        raise DeforumInputError(
            f"animation_mode {animation_mode!r} has no camera motion: use '2D' or '3D'"
        )
    if frame_count < 1:
        raise DeforumInputError(f"max_frames {frame_count!r} must be at least 1")
    size = size or RenderSize(512, 512)
    template = camera or CameraData()
    pose = strip_scale(default_start_pose() if start_pose is None else start_pose)
    keys = DEFORUM_3D_KEYS if animation_mode == "3D" else DEFORUM_2D_KEYS
    series = {k: s for k in keys if (s := _series(values, k, frame_count)) is not None}
    fovs = series.pop("fov_schedule", None)

    cameras: list[CameraData] = []
    for i in range(frame_count):
        lens = template.focal_length
        if fovs is not None:
            lens = lens_for_vertical_fov(template, size, math.radians(fovs[i]))
        cameras.append(_with_lens(template, lens))

    matrices = [pose]
    depth = plane_depth
    _check_positive("plane depth", plane_depth)
    for i in range(1, frame_count):
        if animation_mode == "3D":
            rel = deforum_to_motion({k: s[i] for k, s in series.items()}, translation_scale)
        else:
            rel, depth = _motion_2d(series, i, intrinsics(cameras[i - 1], size), size, depth)
        matrices.append(matrices[-1] @ rel)
    return CameraTrack(
        frames=list(range(frame_start, frame_start + frame_count)),
        matrices=np.stack(matrices),
        cameras=cameras,
        size=size,
        camera_names=[camera_name] * frame_count,
    )


def _with_lens(camera: CameraData, lens: float) -> CameraData:
    angle = 2.0 * math.atan(camera.sensor_size / (2.0 * lens))
    return replace(camera, lens=lens, angle=angle)
