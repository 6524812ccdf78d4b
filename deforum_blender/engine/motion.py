"""A job's camera motion, and warping a frame from one frame index to another through it.

* A camera track read from Blender: the exact 3D reprojection of ``warp_3d`` with the
  composite pose between the two frames, depth in scene units.
* Deforum's 3D schedules (no camera track, e.g. an imported settings file): Deforum's own
  warp (``deforum_warp``), with Deforum's depth normalisation and the per-frame moves of
  the span composed into one.
* Deforum's 2D schedules: a camera track over a plane facing the camera at
  ``DEFAULT_SCENE_DEPTH`` (``core.camera.camera_track_from_deforum``), which reproduces
  Deforum's 2D warp exactly with flat depth; bilinear and replicate or wrap, as
  Deforum's ``warpPerspective``.

Tweens and diffused frames alike are warped straight from their source, so nothing
accumulates across cadence frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.camera import (
    DEFAULT_SCENE_DEPTH,
    DEFORUM_2D_KEYS,
    DEFORUM_3D_KEYS,
    CameraTrack,
    RenderSize,
    camera_track_from_deforum,
    invert_rigid,
)
from ..core.errors import DeforumInputError
from ..core.job import Job
from ..core.job_fields import PARAM_BY_DEFORUM_KEY
from ..core.output_layout import DEPTH_DIR, SCENE_DEPTH_DIR, depth_path
from . import depth as depth_sources
from .deforum_warp import DeforumMotion, deforum_depth, span_motion, warp_deforum_3d
from .warp import WarpResult, warp_3d

# Deforum's 3D motion keys (FOV aside), in DeforumMotion.from_schedules' argument order.
_DEFORUM_3D_MOTION = DEFORUM_3D_KEYS[:6]


def job_camera_track(job: Job) -> CameraTrack | None:
    """The job's per-frame camera (None for modes without motion)."""
    mode = job.animation_mode
    if mode not in ("2D", "3D"):
        return None
    if job.motion.camera_track is not None:
        track = CameraTrack.from_dict(job.motion.camera_track)
        missing = [f for f in range(job.first_frame, job.last_frame + 1) if f not in track.frames]
        if missing:
            raise DeforumInputError(
                f"motion.camera_track: frames {missing[0]}…{missing[-1]} of the job's range "
                f"{job.first_frame}–{job.last_frame} are not in the camera track; "
                "read the track over the whole frame range"
            )
        return track
    keys = DEFORUM_3D_KEYS if mode == "3D" else DEFORUM_2D_KEYS
    values = {key: job.series(PARAM_BY_DEFORUM_KEY[key]) for key in keys}
    return camera_track_from_deforum(
        values,
        job.max_frames,
        animation_mode=mode,
        size=RenderSize(job.W, job.H),
        frame_start=job.first_frame,
    )


def uses_deforum_warp(job: Job) -> bool:
    """True when the job's 3D motion is Deforum's schedules (no camera track): Deforum's warp."""
    return job.animation_mode == "3D" and job.motion.camera_track is None


def depth_files_folder(job: Job, out_dir: Path) -> Path:
    """Where ``depth_source`` 'files' reads: ``depth_path``, else ``<out>/depth``."""
    return Path(job.depth.depth_path).expanduser() if job.depth.depth_path else out_dir / DEPTH_DIR


def check_depth_files(job: Job, out_dir: Path) -> None:
    """Refuse a 3D job with ``depth_source`` 'files' that lacks a frame's file (all at once)."""
    if job.animation_mode != "3D" or job.depth.depth_source != "files":
        return
    folder = depth_files_folder(job, out_dir)
    fix = (
        "write one depth map per frame there (relative inverse depth, as a depth model "
        "predicts it), set depth_path to the folder that holds them, or use depth_source "
        "'estimated'"
    )
    if not folder.is_dir():
        raise DeforumInputError(f"depth_path: folder {str(folder)!r} does not exist; {fix}")
    # The last frame is never warped from, so its depth is not needed.
    missing = depth_sources.missing_depth_files(folder, range(job.first_frame, job.last_frame))
    if missing:
        expected = folder / f"depth_{missing[0]:05d}.png"
        frames = ", ".join(str(f) for f in missing[:5]) + (", …" if len(missing) > 5 else "")
        raise DeforumInputError(
            f"depth_path: no depth for frame(s) {frames} ({len(missing)} missing); expected "
            f"{expected} (or .npy); {fix}"
        )


class FrameWarper:
    """Warps frames of one job between any two frame indices of its camera track."""

    def __init__(self, job: Job, track: CameraTrack, out_dir: Path, device: str = "cpu") -> None:
        self.job = job
        self.track = track
        self.out_dir = out_dir
        self.device = device
        self.deforum = uses_deforum_warp(job)
        if job.animation_mode == "2D":
            # 2D motion is defined on a plane at the default scene depth: flat depth is exact.
            # Deforum's warpPerspective: bilinear, wrap or else replicate (padding_mode is 3D's).
            self.source = "flat"
            self.sampling = "bilinear"
            self.padding = "wrap" if job.motion.border == "wrap" else "border"
        else:
            self.source = job.depth.depth_source
            self.sampling = job.depth.sampling_mode
            self.padding = job.depth.padding_mode
        check_depth_files(job, out_dir)
        self.files = depth_files_folder(job, out_dir)
        self._depth: dict[int, NDArray[np.float32]] = {}
        if self.deforum:
            series = [job.series(name) for name in _DEFORUM_3D_MOTION]
            self.deltas = [
                DeforumMotion.from_schedules(*values) for values in zip(*series, strict=True)
            ]
            self.fov = job.series("fov")
            self.aspect = job.series("aspect_ratio")

    def frame(self, index: int) -> int:
        """Blender frame number of frame index ``index``."""
        return self.job.first_frame + index

    def crosses_cut(self, index_a: int, index_b: int) -> bool:
        """True when a camera cut lies between the two indices: never warp across it."""
        low, high = sorted((index_a, index_b))
        return any(self.track.is_cut(self.frame(i)) for i in range(low + 1, high + 1))

    def scene_depth(self, index: int) -> NDArray[np.float32]:
        """The Z pass Blender rendered for ``index`` (``<out>/scene_depth/depth_NNNNN.npy``)."""
        path = depth_sources.scene_depth_path(self.out_dir / SCENE_DEPTH_DIR, self.frame(index))
        if not path.exists():
            raise DeforumInputError(
                f"depth_source 'scene': no depth for frame {self.frame(index)} at {path}; "
                "render from Blender (it writes the Z pass), or use depth_source "
                "'estimated' or 'flat'"
            )
        return depth_sources.load_scene_depth(path, (self.job.H, self.job.W))

    def file_prediction(self, index: int) -> NDArray[np.float32]:
        """The depth file of ``index`` (``depth_source`` 'files'): relative inverse depth."""
        path = depth_sources.depth_file(self.files, self.frame(index))
        if path is None:
            raise DeforumInputError(
                f"depth_path: no depth for frame {self.frame(index)}; expected "
                f"{self.files / f'depth_{self.frame(index):05d}.png'} (or .npy)"
            )
        return depth_sources.load_depth_file(path, (self.job.H, self.job.W))

    def source_depth(self, index: int, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The depth a warp from ``index`` uses (estimated or read), once per frame index.

        Deforum's z (1..2) for Deforum's warp; scene units for the exact reprojection.
        """
        if index not in self._depth:
            # Only the two ends of a cadence span are in use at a time.
            if len(self._depth) >= 2:
                self._depth.pop(min(self._depth))
            self._depth[index] = self._source_depth(index, image)
        return self._depth[index]

    def _source_depth(self, index: int, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        shape = (self.job.H, self.job.W)
        if self.source == "flat":
            flat = 1.0 if self.deforum else DEFAULT_SCENE_DEPTH
            return depth_sources.flat_depth(shape, flat)
        if self.source == "scene":
            depth = self.scene_depth(index)
            return deforum_depth(depth, inverse=False) if self.deforum else depth
        if self.source == "files":
            prediction, metric = self.file_prediction(index), False
        else:
            prediction, metric = depth_sources.predict_depth(
                image, model=self.job.depth.depth_model, device=self.device
            )
        if self.deforum:
            return deforum_depth(prediction, inverse=not metric)
        if metric:
            return np.clip(prediction, 1e-3, None).astype(np.float32)
        return depth_sources.relative_to_depth(prediction)

    def depths(
        self, source_index: int, target_index: int, source_image: NDArray[np.uint8]
    ) -> tuple[Any, Any]:
        """(source depth, target depth) for the exact warp, as the job's depth source gives them."""
        shape = (self.job.H, self.job.W)
        if self.source == "flat":
            return None, depth_sources.flat_depth(shape, DEFAULT_SCENE_DEPTH)
        if self.source == "scene":
            return self.scene_depth(source_index), self.scene_depth(target_index)
        return self.source_depth(source_index, source_image), None

    def warp(self, image: NDArray[np.uint8], source_index: int, target_index: int) -> WarpResult:
        """``image`` (frame ``source_index``) as the camera sees it at ``target_index``."""
        if self.deforum:
            return warp_deforum_3d(
                image,
                self.source_depth(source_index, image),
                span_motion(self.deltas, source_index, target_index),
                fov=self.fov[target_index],
                aspect=self.aspect[target_index],
                sampling=self.sampling,
                padding=self.padding,
                device=self.device,
            )
        source_frame, target_frame = self.frame(source_index), self.frame(target_index)
        pose = invert_rigid(self.track.matrix(source_frame)) @ self.track.matrix(target_frame)
        source_depth, target_depth = self.depths(source_index, target_index, image)
        return warp_3d(
            image,
            k_source=self.track.intrinsics(source_frame),
            k_target=self.track.intrinsics(target_frame),
            pose=pose,
            target_depth=target_depth,
            source_depth=source_depth,
            sampling=self.sampling,
            padding=self.padding,
            device=self.device,
        )

    def save_depth(self, index: int, depth: NDArray[np.float32]) -> None:
        """Keep a frame's depth as a 16-bit PNG (``save_depth_maps``)."""
        depth_sources.save_depth_png(depth_path(self.out_dir, self.frame(index)), depth)
