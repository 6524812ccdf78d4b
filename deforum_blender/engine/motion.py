"""A job's camera motion, and warping a frame from one frame index to another through it.

2D and 3D modes share one path: Deforum's 2D and 3D schedules become a camera track
(``core.camera.camera_track_from_deforum``; 2D motion is exact for a plane facing the
camera at ``DEFAULT_SCENE_DEPTH``, hence flat depth there), and a camera track read from
Blender is used as it is. Every warp is then the exact 3D reprojection of ``warp_3d``
with the composite pose between the two frames — tweens and diffused frames alike are
warped straight from their source, so nothing accumulates across cadence frames.
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
from ..core.output_layout import SCENE_DEPTH_DIR, depth_path
from . import depth as depth_sources
from .warp import WarpResult, warp_3d


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


class FrameWarper:
    """Warps frames of one job between any two frame indices of its camera track."""

    def __init__(self, job: Job, track: CameraTrack, out_dir: Path, device: str = "cpu") -> None:
        self.job = job
        self.track = track
        self.out_dir = out_dir
        self.device = device
        # 2D motion is defined on a plane at the default scene depth: flat depth is exact.
        self.source = "flat" if job.animation_mode == "2D" else job.depth.depth_source
        self._estimated: dict[int, NDArray[np.float32]] = {}

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

    def estimated_depth(self, index: int, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Depth estimated on a frame's own pixels, once per frame index."""
        if index not in self._estimated:
            # Only the two ends of a cadence span are in use at a time.
            if len(self._estimated) >= 2:
                self._estimated.pop(min(self._estimated))
            self._estimated[index] = self._estimate(image)
        return self._estimated[index]

    def _estimate(self, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        return depth_sources.estimate_depth(
            image, model=self.job.depth.depth_model, device=self.device
        )

    def depths(
        self, source_index: int, target_index: int, source_image: NDArray[np.uint8]
    ) -> tuple[Any, Any]:
        """(source depth, target depth) for a warp, as the job's depth source gives them."""
        shape = (self.job.H, self.job.W)
        if self.source == "flat":
            return None, depth_sources.flat_depth(shape, DEFAULT_SCENE_DEPTH)
        if self.source == "scene":
            return self.scene_depth(source_index), self.scene_depth(target_index)
        return self.estimated_depth(source_index, source_image), None

    def warp(self, image: NDArray[np.uint8], source_index: int, target_index: int) -> WarpResult:
        """``image`` (frame ``source_index``) as the camera sees it at ``target_index``."""
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
            sampling=self.job.depth.sampling_mode,
            padding=self.job.depth.padding_mode,
            device=self.device,
        )

    def save_depth(self, index: int, depth: NDArray[np.float32]) -> None:
        """Keep a frame's depth as a 16-bit PNG (``save_depth_maps``)."""
        depth_sources.save_depth_png(depth_path(self.out_dir, self.frame(index)), depth)
