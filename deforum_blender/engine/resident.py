"""Key frames that stay on the torch device: warp → colour match → contrast → anti-blur →
noise → diffusion as tensors (``tensor_stages.py``), the host seeing a frame only to write it.

What one key hands the next is the uint8 frame tensor, quantised like the numpy path, so it
holds the bytes of the PNG written for it; a resumed run uploads the decoded PNG instead and
sees the same input (DESIGN.md §2). The noise is drawn on the host by ``noise.noise_image``
(the one (seed, frame, purpose) rule) one key ahead, on a thread, and uploaded when needed.
Estimated depth is predicted from the frame tensor (``depth_tensor.py``; DPT-style
processors), other depth is uploaded once per frame. Frames go back through pinned memory
on a side stream (CUDA), only to be written (PNG encoding on encoder threads, in order).

Only 2D and 3D key frames take this path; :data:`BLOCKERS` names what keeps the numpy path
(a scene mix, masks, ControlNet, grey frames, a video's colour sample, saved depth maps).
Tweens (cadence), optical-flow cadence and the modes without motion stay on the numpy path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from ..core.camera import DEFAULT_SCENE_DEPTH, invert_rigid
from ..core.errors import DeforumInputError
from . import depth_tensor
from . import tensor_stages as stages
from .coherence import ColorMatcher, coherence_mode
from .deforum_warp import span_motion
from .depth import load_depth_estimator
from .noise import NOISE_TYPES, noise_image

if TYPE_CHECKING:
    from torch import Tensor

    from .render import Renderer

Image = NDArray[np.uint8]
_NO_IMAGE: Image = np.zeros((0, 0, 3), dtype=np.uint8)  # depth sources that never read it


# Checks in function bodies (not lambdas): mypy reads them after Renderer's attributes.
def _no_motion(r: Renderer) -> bool:
    return r.warper is None


def _scene_blend(r: Renderer) -> bool:
    return any(value > 0.0 for value in r.series["scene_blend"])


def _mask(r: Renderer) -> bool:
    return r.job.init.use_mask or r.frame_mask(0) is not None


def _controlnet(r: Renderer) -> bool:
    return bool(r.controlnets)


def _grayscale(r: Renderer) -> bool:
    return r.job.coherence.color_force_grayscale


def _video_sample(r: Renderer) -> bool:
    return r.job.coherence.color_coherence == "Video Input"


def _saved_depth(r: Renderer) -> bool:
    return r.job.output.save_depth_maps


#: What keeps a job's key frames on the numpy path: (what, whether it applies).
BLOCKERS: tuple[tuple[str, Callable[[Renderer], bool]], ...] = (
    ("animation_mode other than 2D/3D", _no_motion),
    ("scene_blend", _scene_blend),
    ("an init mask or mask video", _mask),
    ("ControlNet units", _controlnet),
    ("color_force_grayscale", _grayscale),
    ("color_coherence 'Video Input'", _video_sample),
    ("save_depth_maps", _saved_depth),
)


def blockers(renderer: Renderer) -> list[str]:
    """What in ``renderer``'s job the resident chain does not do (empty: it does it all)."""
    return [name for name, applies in BLOCKERS if applies(renderer)]


def choose_resident(renderer: Renderer, device: str, wanted: bool | None) -> ResidentChain | None:
    """The chain when ``wanted`` (None: on CUDA) and the job allows it, else None (numpy)."""
    if wanted is False or (wanted is None and not device.startswith("cuda")):
        return None
    found = blockers(renderer)
    if found:
        if wanted:
            renderer.emit(
                "warning",
                message=f"resident frames: off for this job ({', '.join(found)}); "
                "key frames take the numpy path",
            )
        return None
    return ResidentChain(renderer, device)


class HostFrames:
    """Frames back to the host for writing: pinned buffers filled on a side stream (CUDA)."""

    def __init__(self, device: str) -> None:
        import torch

        self.cuda = device.startswith("cuda")
        self.stream = torch.cuda.Stream(device=device) if self.cuda else None  # type: ignore[no-untyped-call]

    def fetch(self, frame: Tensor) -> Image:
        """``frame``'s bytes as a numpy array (waits for this copy only)."""
        import torch

        if self.stream is None:
            # CPU tensors share memory with numpy; the chain never writes a frame in place.
            return np.asarray(frame.contiguous().numpy())
        # Freed pinned buffers go back to torch's host cache: a ring without bookkeeping.
        pinned = torch.empty(frame.shape, dtype=frame.dtype, pin_memory=True)
        self.stream.wait_stream(torch.cuda.current_stream(frame.device))
        with torch.cuda.stream(self.stream):
            pinned.copy_(frame, non_blocking=True)
            frame.record_stream(self.stream)
            done = torch.cuda.Event()  # type: ignore[no-untyped-call]
            done.record(self.stream)
        done.synchronize()
        return np.asarray(pinned.numpy())


class ResidentChain:
    """The key frames of one render on ``device``; :meth:`key_frame` is the entry point."""

    def __init__(self, renderer: Renderer, device: str) -> None:
        self.renderer = renderer
        self.device = device
        self.host = HostFrames(device)
        self.frames: dict[int, Tensor] = {}  # the newest key, as written
        self.depths: dict[int, Tensor] = {}
        self.matcher: tuple[ColorMatcher, stages.TensorColorMatcher] | None = None
        self.noise_drawer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deforum-noise")
        self.noise_ahead: dict[int, Future[Image]] = {}
        # OpenCV's colour tables (about a second each) are made while frame 0 diffuses.
        space = stages.SPACES.get(coherence_mode(renderer.job.coherence.color_coherence))
        for conversion in space or ():
            self.noise_drawer.submit(stages.host_conversion_table, conversion)

    def close(self) -> None:
        self.noise_drawer.shutdown(wait=True, cancel_futures=True)

    # -- the entry points ---------------------------------------------------------------

    def key_frame(self, key: int, previous: int) -> Image:
        """Key frame ``key`` from the key ``previous`` (the host copy, to be written)."""
        r = self.renderer
        series, coherence = r.series, r.job.coherence
        self.draw_noise_ahead(key)
        with r.timed("warp"):
            image = self.warp(self.source(previous), previous, key)
        with r.timed("coherence"):
            # The host sees the warped frame only while it may become the colour sample.
            sampling = coherence_mode(coherence.color_coherence) != "None" and r.matcher is None
            warped = self.host.fetch(image) if sampling else _NO_IMAGE
            matcher, match_now = r.color_matcher(key, warped)
            if matcher is not None and match_now:
                image = self.tensor_matcher(matcher).apply(image)
        after = None if coherence.legacy_colormatch else matcher
        with r.timed("contrast"):
            image = stages.adjust_contrast(image, series["contrast"][key])
        with r.timed("antiblur"):
            amount = series["antiblur_amount"][key]
            if amount > 0:
                image = stages.unsharp_mask(
                    image,
                    amount,
                    kernel=round(series["antiblur_kernel"][key]),
                    sigma=series["antiblur_sigma"][key],
                    threshold=series["antiblur_threshold"][key],
                )
        with r.timed("noise"):
            image = self.add_noise(image, key)
        if not r.preview:
            image = self.diffuse(key, image, 1.0 - series["strength"][key], after)
        self.frames = {key: image}
        return self.host.fetch(image)

    def warp_host(self, image: Image, source: int, target: int) -> Image:
        """A host frame warped as a key frame is (the colour sample a resumed run rebuilds)."""
        return self.host.fetch(self.warp(stages.upload(image, self.device), source, target))

    # -- the stages ---------------------------------------------------------------------

    def source(self, index: int) -> Tensor:
        """Key ``index`` on the device: kept from its own step, else its decoded PNG."""
        if index in self.frames:
            return self.frames[index]
        return stages.upload(self.renderer.image(index), self.device)

    def warp(self, image: Tensor, source: int, target: int) -> Tensor:
        """``FrameWarper.warp``'s image on the device, from the same cameras and depth."""
        warper = self.renderer.warper
        assert warper is not None
        if warper.deforum:
            return stages.warp_deforum_3d(
                image,
                self.depth(source, lambda: warper.source_depth(source, self.host_image(source))),
                span_motion(warper.deltas, source, target),
                fov=warper.fov[target],
                aspect=warper.aspect[target],
                sampling=warper.sampling,
                padding=warper.padding,
                flat=1.0 if warper.source == "flat" else None,
            )
        track = warper.track
        source_frame, target_frame = warper.frame(source), warper.frame(target)
        pose = invert_rigid(track.matrix(source_frame)) @ track.matrix(target_frame)
        source_depth, target_depth = None, None
        if warper.source == "flat":
            target_depth = self.flat(DEFAULT_SCENE_DEPTH)
        elif warper.source == "scene":
            target_depth = self.depth(target, lambda: warper.scene_depth(target))
        else:
            source_depth = self.depth(
                source, lambda: warper.source_depth(source, self.host_image(source))
            )
        return stages.warp_3d(
            image,
            k_source=track.intrinsics(source_frame),
            k_target=track.intrinsics(target_frame),
            pose=pose,
            target_depth=target_depth,
            source_depth=source_depth,
            sampling=warper.sampling,
            padding=warper.padding,
        )

    def host_image(self, index: int) -> Image:
        """The frame a depth model reads (only estimated depth reads it)."""
        warper = self.renderer.warper
        needs = warper is not None and warper.source == "estimated"
        return self.renderer.image(index) if needs else _NO_IMAGE

    def flat(self, distance: float) -> Tensor:
        import torch

        job = self.renderer.job
        return torch.full((job.H, job.W), float(distance), device=self.device)

    def depth(self, index: int, read: Callable[[], NDArray[np.float32]]) -> Tensor:
        """A frame's depth on the device, uploaded once (flat Deforum depth made there)."""
        warper = self.renderer.warper
        if warper is not None and warper.deforum and warper.source == "flat":
            return self.flat(1.0)
        if index not in self.depths:
            if len(self.depths) >= 2:  # only the two ends of a span are in use at a time
                self.depths.pop(min(self.depths))
            on_device = self.estimated_depth(index)
            self.depths[index] = (
                on_device if on_device is not None else stages.host_to_device(read(), self.device)
            )
        return self.depths[index]

    def estimated_depth(self, index: int) -> Tensor | None:
        """Estimated depth of key ``index`` from its frame tensor, on the device, as
        ``FrameWarper`` turns a prediction into depth (None: the host path does it)."""
        warper = self.renderer.warper
        if warper is None or warper.source != "estimated":
            return None
        job = self.renderer.job
        estimator = load_depth_estimator(job.depth.depth_model, warper.device, job.model.compile)
        if not depth_tensor.supports(estimator):
            return None
        prediction = depth_tensor.predict(estimator, self.source(index))
        if warper.deforum:
            return depth_tensor.deforum_depth(prediction, inverse=not estimator.metric)
        if estimator.metric:
            return prediction.clamp(min=1e-3)
        return depth_tensor.relative_to_depth(prediction)

    def tensor_matcher(self, matcher: ColorMatcher) -> stages.TensorColorMatcher:
        """``matcher`` on the device (its reference CDFs uploaded once per sample)."""
        if self.matcher is None or self.matcher[0] is not matcher:
            # The reference histograms coherence.py computed: one source for both paths.
            cdfs = matcher.reference_cdfs
            assert cdfs is not None
            self.matcher = (matcher, stages.TensorColorMatcher(cdfs, matcher.mode, self.device))
        return self.matcher[1]

    def noise_settings(self, key: int) -> tuple[float, dict[str, Any]]:
        """Key ``key``'s noise amount and ``noise_image``'s arguments (checked)."""
        r = self.renderer
        coherence = r.job.coherence
        amount = r.series["noise"][key]
        kind = str(coherence.noise_type).strip().lower()
        if kind not in NOISE_TYPES:
            raise DeforumInputError(
                f"noise_type: unknown noise type {coherence.noise_type!r}; use one of "
                f"{', '.join(NOISE_TYPES)}"
            )
        if not 0.0 <= amount <= 1.0:
            raise DeforumInputError(f"noise_schedule: noise {amount!r} is outside 0…1")
        return amount, {
            "size": (r.job.H, r.job.W),
            "seed": r.seeds[key],
            "frame": r.frame(key),
            "noise_type": kind,
            "perlin_octaves": coherence.perlin_octaves,
            "perlin_persistence": coherence.perlin_persistence,
        }

    def draw_noise_ahead(self, key: int) -> None:
        """Start drawing the noise of ``key`` and of the key after it, on the noise thread."""
        keys = self.renderer.keys
        upcoming = [k for k in keys if k >= key][:2]
        for k in upcoming:
            amount, settings = self.noise_settings(k)
            if amount > 0.0 and k not in self.noise_ahead:
                self.noise_ahead[k] = self.noise_drawer.submit(
                    functools.partial(noise_image, **settings)
                )

    def add_noise(self, image: Tensor, key: int) -> Tensor:
        """``noise.add_noise`` on the device, with the noise frame drawn on the host."""
        amount, _ = self.noise_settings(key)
        drawn = self.noise_ahead.pop(key, None)
        if amount == 0.0 or drawn is None:
            return image
        return stages.blend_noise(image, stages.host_to_device(drawn.result(), self.device), amount)

    def diffuse(
        self, key: int, image: Tensor, denoise: float, after: ColorMatcher | None
    ) -> Tensor:
        """The diffusion call (counted and timed by the renderer), then the colour match
        Deforum does after it off legacy_colormatch."""
        r = self.renderer
        # Diffuser.img2img takes the device tensor and gives one back: no host round trip.
        result = cast("Tensor", r.generate_image(key, cast(Any, image), denoise))
        if after is not None:
            with r.timed("coherence"):
                result = self.tensor_matcher(after).apply(result)
        return result
