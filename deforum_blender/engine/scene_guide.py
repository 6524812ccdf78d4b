"""Scene-guided rendering: Blender's own render of each frame blended in before diffusion.

The Blender layer renders the scene at every frame into
``<out>/scene_render/frame_<NNNNN>.png`` (``blender/scene_render.py``). For a diffused
frame whose ``scene_blend`` b is above 0, the loop mixes that render into the frame's
init — the warped previous frame (2D/3D), the video frame (Video Input) or, for a frame
with nothing before it, the init image — as ``init·(1 − b·m) + render·b·m``, after the
warp and before colour coherence, contrast, anti-blur, noise and img2img (where Deforum
composites its hybrid video). With no init to mix into (the first frame without an init
image, or a still), the render itself is the init. ``m`` is 1 everywhere unless
``scene_blend_max_depth`` is above 0: then ``m`` is 1 where the scene's Z pass
(``<out>/scene_depth``) is nearer than it and 0 elsewhere, so only the near part of the
scene guides. Cadence in-betweens are warped, not blended.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.errors import DeforumInputError
from ..core.job import Job
from ..core.output_layout import scene_depth_dir, scene_render_frame_path
from . import depth as depth_sources
from .frames import CorruptFrameError, read_frame

Image = NDArray[np.uint8]


class SceneGuide:
    """The per-frame scene renders of one job and the ``scene_blend`` that mixes them in."""

    def __init__(self, job: Job, out: Path, blend: list[float]) -> None:
        self.job = job
        self.out = out
        self.blend = blend
        self.max_depth = job.scene_guide.scene_blend_max_depth

    def active(self, index: int) -> bool:
        """True when frame index ``index`` mixes the scene render in."""
        return self.blend[index] > 0.0

    def frame(self, index: int) -> int:
        return self.job.first_frame + index

    def check(self, indices: list[int]) -> None:
        """Every frame about to be diffused with ``scene_blend`` > 0 has its render (and depth)."""
        wanted = [i for i in indices if self.active(i)]
        missing = [
            self.frame(i)
            for i in wanted
            if not scene_render_frame_path(self.out, self.frame(i)).is_file()
        ]
        if missing:
            raise DeforumInputError(
                f"scene_blend: no scene render for frames {_frames(missing)} "
                f"(expected {scene_render_frame_path(self.out, missing[0])}); render from "
                "Blender, which writes them, or set scene_blend to 0"
            )
        if self.max_depth > 0:
            folder = scene_depth_dir(self.out)
            missing = [
                self.frame(i)
                for i in wanted
                if not depth_sources.scene_depth_path(folder, self.frame(i)).is_file()
            ]
            if missing:
                raise DeforumInputError(
                    f"scene_blend_max_depth: no scene depth for frames {_frames(missing)} in "
                    f"{folder}; render from Blender with the scene's depth, or set "
                    "scene_blend_max_depth to 0"
                )

    def render(self, index: int) -> Image:
        """Blender's render of frame index ``index`` (RGB uint8 at the job's size)."""
        path = scene_render_frame_path(self.out, self.frame(index))
        try:
            return read_frame(path, (self.job.H, self.job.W))
        except (CorruptFrameError, OSError) as error:
            raise DeforumInputError(
                f"scene_blend: the scene render of frame {self.frame(index)} is unusable "
                f"({error}); render the scene again at W×H = {self.job.W}×{self.job.H}"
            ) from None

    def weights(self, index: int) -> NDArray[np.float32]:
        """Per-pixel share of the render: ``scene_blend``, masked by depth when asked."""
        blend = np.float32(self.blend[index])
        shape = (self.job.H, self.job.W)
        if self.max_depth <= 0:
            return np.full(shape, blend, dtype=np.float32)
        path = depth_sources.scene_depth_path(scene_depth_dir(self.out), self.frame(index))
        depth = depth_sources.load_scene_depth(path, shape)
        return np.where(depth < self.max_depth, blend, np.float32(0.0)).astype(np.float32)

    def mix(self, index: int, image: Image | None) -> Image | None:
        """``image`` with the scene render mixed in (the render alone when ``image`` is None)."""
        if not self.active(index):
            return image
        render = self.render(index)
        if image is None:
            return render
        weight = self.weights(index)[..., None]
        mixed = image.astype(np.float32) * (1.0 - weight) + render.astype(np.float32) * weight
        return np.asarray(np.clip(np.rint(mixed), 0, 255), dtype=np.uint8)


def _frames(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return shown + (f" … ({len(numbers)} in all)" if len(numbers) > 5 else "")
