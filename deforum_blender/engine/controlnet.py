"""ControlNet units in the render loop: their models, their control images, per frame.

For each diffused frame, :meth:`ControlNets.frame_control` gives the units that act on
it (enabled, weight above 0 on that frame) with their control image, weight and guidance
start/end, or None when no unit acts (then the plain pipeline runs, unchanged). Control
images come from the scene (``scene_depth``: the Z pass as inverse depth, near bright,
normalised per frame; ``scene_normal``: the camera-space Normal pass as a normal map, see
:func:`normal_image`; ``scene_render``; ``scene_canny``: ``cv2.Canny`` of that render),
from ``vid_path`` (an image, a folder of frames or a video) or with ``loopback_mode``
from the frame's init (the previous frame warped to this one), through the module.

Control modes: "ControlNet is more important" is diffusers' ``guess_mode`` (the units
act on the conditional half of classifier-free guidance only, with A1111's rising block
scales); for a pipeline call it applies to every unit of the frame. "My prompt is more
important" scales a unit's block residuals by A1111's ``0.825 ** (12 − i)`` (soft
injection). "Balanced" leaves them as they are.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core import controlnet as cn
from ..core.errors import DeforumInputError
from ..core.job import ControlNetUnit, Job
from ..core.output_layout import (
    controlnet_input_path,
    scene_depth_dir,
    scene_normal_frame_path,
    scene_render_frame_path,
)
from ..core.schedules import evaluate_schedule

Image = NDArray[np.uint8]
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
SOFT_INJECTION = 0.825  # A1111's "My prompt is more important" decay per block
#: The normal ControlNets' colours (control_v11p_sd15_normalbae, ScanNet's protocol): for
#: each of R, G, B, the camera-space axis (x right, y up, z toward the camera) and its sign.
#: Red grows as a surface turns to face the camera's left, green as it faces up, blue as it
#: faces the camera, so a surface facing the camera is (128, 128, 255).
NORMAL_CHANNELS = ((0, -1.0), (1, 1.0), (2, 1.0))


@dataclass
class FrameControl:
    """What the units give one diffusion call (diffusers' ControlNet arguments)."""

    models: list[Any]
    images: list[Image]
    scales: list[float]
    starts: list[float]
    ends: list[float]
    guess_mode: bool
    units: list[int] = field(default_factory=list)  # unit numbers, for the record

    def pipeline_inputs(self) -> dict[str, Any]:
        """The keyword arguments of a diffusers ControlNet pipeline (one unit or several)."""
        from PIL import Image as PILImage

        one = len(self.models) == 1
        images = [PILImage.fromarray(image) for image in self.images]
        return {
            "controlnet_conditioning_scale": self.scales[0] if one else self.scales,
            "control_guidance_start": self.starts[0] if one else self.starts,
            "control_guidance_end": self.ends[0] if one else self.ends,
            "guess_mode": self.guess_mode,
            "control_image": images[0] if one else images,
        }


def _read_rgb(path: Path, field_name: str) -> Image:
    import cv2

    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else None
    decoded = None if data is None or data.size == 0 else cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:
        raise DeforumInputError(
            f"{field_name}: cannot read an image at {str(path)!r}; give a PNG or JPEG"
        )
    return np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def fit(image: Image, width: int, height: int, mode: str) -> Image:
    """``image`` at width × height by the unit's resize mode (A1111's three)."""
    import cv2

    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    if mode == "Just Resize":
        return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))
    cover = mode == "Inner Fit (Scale to Fit)"  # scale to cover, crop the middle
    scale = (max if cover else min)(width / w, height / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    scaled = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - size[1]) // 2, (width - size[0]) // 2
    src = scaled[max(0, -top) : max(0, -top) + height, max(0, -left) : max(0, -left) + width]
    canvas[max(0, top) : max(0, top) + src.shape[0], max(0, left) : max(0, left) + src.shape[1]] = (
        src
    )
    return canvas


def inverse_depth_image(depth: NDArray[Any]) -> Image:
    """Depth as the depth ControlNets expect it: inverse depth, near bright, 0…255 per frame."""
    inverse = 1.0 / np.maximum(np.asarray(depth, dtype=np.float64), 1e-6)
    low, high = float(inverse.min()), float(inverse.max())
    scaled = (inverse - low) / (high - low) if high > low else np.zeros_like(inverse)
    grey = np.asarray(np.rint(scaled * 255.0), dtype=np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def normal_image(normals: NDArray[Any]) -> Image:
    """Camera-space normals (H×W×3) as the normal ControlNets' colours (:data:`NORMAL_CHANNELS`).

    Where no surface was hit (a zero normal) the colour is that of a surface facing the
    camera, as the BAE estimator paints the sky and far walls: black is no normal at all.
    """
    vectors = np.asarray(normals, dtype=np.float64)
    length = np.linalg.norm(vectors, axis=2, keepdims=True)
    facing = np.array([0.0, 0.0, 1.0])
    unit = np.where(length > 1e-6, vectors / np.maximum(length, 1e-12), facing)
    signed = np.stack([sign * unit[..., axis] for axis, sign in NORMAL_CHANNELS], axis=2)
    return np.asarray(np.clip(np.rint((signed + 1.0) * 127.5), 0, 255), dtype=np.uint8)


def load_scene_normals(path: Path, field_name: str) -> NDArray[np.float32]:
    """One frame's camera-space normals (float32 H×W×3 ``.npy`` written by Blender)."""
    try:
        normals = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DeforumInputError(
            f"{field_name}: cannot read normals at {str(path)!r} ({error}); render from Blender "
            "again"
        ) from error
    if normals.ndim != 3 or normals.shape[2] != 3 or not np.isfinite(normals).all():
        raise DeforumInputError(
            f"{field_name}: {str(path)!r} holds {normals.dtype} {normals.shape}, not finite "
            "H×W×3 normals; render from Blender again"
        )
    return np.asarray(normals, dtype=np.float32)


def canny(image: Image, low: float, high: float) -> Image:
    """White edges on black (``cv2.Canny`` with the unit's two thresholds)."""
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, float(low), float(high))
    return np.repeat(edges[..., None], 3, axis=2)


class ImageSource:
    """A unit's ``vid_path``: one image for every frame, a folder of frames, or a video."""

    def __init__(self, path: str, field_name: str) -> None:
        self.path = Path(path)
        self.field = field_name
        self.frames: list[Path] = []
        self.video_frames = 0
        if self.path.is_dir():
            self.frames = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self.frames:
                raise DeforumInputError(
                    f"{field_name}: folder {path!r} holds no PNG or JPEG frames"
                )
        elif self.path.suffix.lower() in VIDEO_SUFFIXES:
            import cv2

            capture = cv2.VideoCapture(str(self.path))
            self.video_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            capture.release()
            if self.video_frames < 1:
                raise DeforumInputError(f"{field_name}: cannot read a video at {path!r}")
        else:
            _read_rgb(self.path, field_name)  # checked now, read per frame

    def image(self, index: int) -> Image:
        """Frame ``index`` of the source (the last one past its end)."""
        if self.frames:
            return _read_rgb(self.frames[min(index, len(self.frames) - 1)], self.field)
        if self.video_frames:
            import cv2

            capture = cv2.VideoCapture(str(self.path))
            capture.set(cv2.CAP_PROP_POS_FRAMES, min(index, self.video_frames - 1))
            ok, frame = capture.read()
            capture.release()
            if not ok:
                raise DeforumInputError(f"{self.field}: cannot read frame {index} of {self.path}")
            return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        return _read_rgb(self.path, self.field)


_MODELS: dict[tuple[str, str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def load_controlnet(model: str, field_name: str, device: str, dtype: Any) -> Any:
    """A diffusers ControlNetModel (folder, single file or hub id), loaded once per process."""
    from diffusers import ControlNetModel

    from .diffusion import may_download, require_cached

    path = Path(model).expanduser()
    key = (str(path.resolve()) if path.exists() else model, device, str(dtype))
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        online = may_download(model)
        try:
            if path.is_file():
                if path.suffix.lower() != ".safetensors":
                    raise DeforumInputError(
                        f"{field_name}: {model!r} is not a .safetensors file; convert it"
                    )
                loaded = ControlNetModel.from_single_file(str(path), torch_dtype=dtype)
            elif path.is_dir():
                loaded = ControlNetModel.from_pretrained(str(path), torch_dtype=dtype)
            else:
                if not online:
                    require_cached(field_name, model, "config.json")
                loaded = ControlNetModel.from_pretrained(
                    model, torch_dtype=dtype, local_files_only=not online
                )
        except (OSError, ValueError) as error:
            raise DeforumInputError(
                f"{field_name}: could not load the ControlNet {model!r} ({error}); give a "
                "diffusers ControlNet folder, a .safetensors file or a downloaded Hugging Face id"
            ) from error
        loaded = loaded.to(device).eval()
        _MODELS[key] = loaded
        return loaded


def _soft_injection(module: Any, args: Any, kwargs: Any, output: Any) -> Any:
    """A1111's "My prompt is more important": deeper blocks keep more of the control."""
    if not getattr(module, "deforum_soft_injection", False):
        return output
    down, mid = output[0], output[1]
    count = len(down)
    scaled = [sample * SOFT_INJECTION ** float(count - i) for i, sample in enumerate(down)]
    return (scaled, mid, *output[2:])


class ControlNets:
    """The job's enabled units, read per diffused frame."""

    def __init__(self, job: Job, out: Path, frames: int, seed: int) -> None:
        self.job = job
        self.out = out
        self.units: list[tuple[int, ControlNetUnit]] = [
            (n, unit)
            for n, group in enumerate(cn.UNIT_GROUPS, start=1)
            if (unit := getattr(job, group)).enabled
        ]
        self.schedules = {
            n: {
                name: evaluate_schedule(getattr(unit, name), frames, seed, field=f"cn_{n}_{name}")
                for name in cn.SCHEDULES
            }
            for n, unit in self.units
        }
        self.sources: dict[int, ImageSource] = {}
        self.models: dict[int, Any] = {}
        self.estimator: Any = None
        self.idle: set[tuple[int, int]] = set()  # (unit, key): weighted but no image (loopback)

    def __bool__(self) -> bool:
        return bool(self.units)

    def check(self, keys: list[int]) -> None:
        """Every input the units read on frames ``keys`` is there (before any model loads);
        the problems of every unit are raised together, one line each."""
        problems = []
        for n, unit in self.units:
            module = cn.canonical_module(unit.module)
            name = f"cn_{n}"
            if module not in cn.MODULES:
                problems.append(cn.detector_fix(name, unit.module))
                continue
            if module in cn.IMAGE_MODULES and not unit.loopback_mode:
                try:
                    self.sources[n] = ImageSource(unit.vid_path, f"{name}_vid_path")
                except DeforumInputError as error:
                    problems.append(str(error))
            acting = [k for k in keys if self.schedules[n]["weight"][k] > 0.0]
            for key in acting if module in cn.SCENE_MODULES else ():
                path = self.scene_file(module, self.job.first_frame + key)
                if not path.is_file():
                    problems.append(
                        f"{name}_module: {module!r} reads {path}, which is missing; render from "
                        "Blender (it writes the passes the units read), or use another module"
                    )
                    break
        if len(problems) > 1:
            lines = "\n".join(f"  {problem}" for problem in problems)
            raise DeforumInputError(f"ControlNet units ({len(problems)} problems):\n{lines}")
        if problems:
            raise DeforumInputError(problems[0])

    def scene_file(self, module: str, frame: int) -> Path:
        if module == "scene_depth":
            from .depth import scene_depth_path

            return scene_depth_path(scene_depth_dir(self.out), frame)
        if module == "scene_normal":
            return scene_normal_frame_path(self.out, frame)
        return scene_render_frame_path(self.out, frame)

    def load(self, device: str, dtype: Any) -> None:
        """Load every unit's ControlNet (once per process) on the pipeline's device."""
        for n, unit in self.units:
            model = load_controlnet(unit.model, f"cn_{n}_model", device, dtype)
            if not getattr(model, "deforum_hooked", False):
                model.register_forward_hook(_soft_injection, with_kwargs=True)
                model.deforum_hooked = True
            self.models[n] = model

    def control_image(
        self, n: int, unit: ControlNetUnit, key: int, init: Image | None
    ) -> Image | None:
        """Unit ``n``'s control image for frame index ``key`` at the job's size (None: none)."""
        job = self.job
        module = cn.canonical_module(unit.module)
        frame = job.first_frame + key
        if module == "scene_depth":
            from .depth import load_scene_depth

            image = inverse_depth_image(load_scene_depth(self.scene_file(module, frame)))
            return fit(image, job.W, job.H, unit.resize_mode)
        if module == "scene_normal":
            normals = load_scene_normals(self.scene_file(module, frame), f"cn_{n}_module")
            return fit(normal_image(normals), job.W, job.H, unit.resize_mode)
        if module in ("scene_render", "scene_canny"):
            render = fit(
                _read_rgb(self.scene_file(module, frame), f"cn_{n}_module"),
                job.W,
                job.H,
                unit.resize_mode,
            )
            return (
                render
                if module == "scene_render"
                else canny(render, unit.threshold_a, unit.threshold_b)
            )
        source = init if unit.loopback_mode else self.sources[n].image(key)
        if source is None:
            return None  # loopback on a frame with nothing before it
        return fit(self.preprocess(module, unit, source), job.W, job.H, unit.resize_mode)

    def preprocess(self, module: str, unit: ControlNetUnit, image: Image) -> Image:
        """The module's preprocessor; canny and depth work at ``processor_res`` (short side)."""
        import cv2

        if module in ("canny", "depth"):
            h, w = image.shape[:2]
            scale = unit.processor_res / min(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        if module == "canny":
            return canny(image, unit.threshold_a, unit.threshold_b)
        if module == "depth":
            return self.estimated_depth(image)
        if module == "tile":  # A1111's tile_resample: down by threshold_a (1…8), back up
            factor = min(max(unit.threshold_a, 1.0), 8.0)
            h, w = image.shape[:2]
            small = cv2.resize(
                image,
                (max(1, round(w / factor)), max(1, round(h / factor))),
                interpolation=cv2.INTER_AREA,
            )
            return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))
        if module == "blur":  # A1111's blur_gaussian: sigma threshold_a
            sigma = min(max(unit.threshold_a, 0.01), 64.0)
            return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma))
        return image

    def estimated_depth(self, image: Image) -> Image:
        from .depth import load_depth_estimator

        if self.estimator is None:
            self.estimator = load_depth_estimator(self.job.depth.depth_model, self.job.device)
        predicted = self.estimator.predict(image)
        # Relative models predict inverse depth already; metric ones predict depth.
        inverse = 1.0 / np.maximum(predicted, 1e-6) if self.estimator.metric else predicted
        return inverse_depth_image(1.0 / np.maximum(inverse, 1e-6))

    def input_source(self, unit: ControlNetUnit) -> str:
        """Where a unit's control image came from, as run.json says it."""
        module = cn.canonical_module(unit.module)
        if module in cn.SCENE_MODULES:
            folder = self.scene_file(module, self.job.first_frame).parent
            return f"scene: {folder.relative_to(self.out).as_posix()}/"
        if unit.loopback_mode:
            return "loopback: the frame's init"
        return f"vid_path: {unit.vid_path}"

    def record(self, keys: list[int]) -> dict[str, dict[str, Any]]:
        """What each unit used (run.json's ``controlnet``): model, module, input and, per
        diffused frame of ``keys`` it acted on, its weight and guidance range."""
        record = {}
        for n, unit in self.units:
            schedules = self.schedules[n]
            frames = {
                str(self.job.first_frame + key): {
                    "weight": schedules["weight"][key],
                    "guidance": [schedules["guidance_start"][key], schedules["guidance_end"][key]],
                }
                for key in keys
                if schedules["weight"][key] > 0.0 and (n, key) not in self.idle
            }
            record[f"cn_{n}"] = {
                "model": unit.model,
                "module": cn.canonical_module(unit.module),
                "input": self.input_source(unit),
                "control_mode": unit.control_mode,
                "resize_mode": unit.resize_mode,
                "frames": frames,
            }
        return record

    def frame_control(self, key: int, init: Image | None, save: bool) -> FrameControl | None:
        """The units acting on frame index ``key`` (None when none does)."""
        control = FrameControl([], [], [], [], [], guess_mode=False)
        for n, unit in self.units:
            weights = self.schedules[n]
            if weights["weight"][key] <= 0.0:
                continue  # a weight of 0 leaves the unit out of this frame
            image = self.control_image(n, unit, key, init)
            if image is None:
                self.idle.add((n, key))
                continue
            if save:
                from .frames import write_png_atomic

                path = controlnet_input_path(self.out, n, self.job.first_frame + key)
                path.parent.mkdir(parents=True, exist_ok=True)
                write_png_atomic(path, image)
            model = self.models[n]
            model.deforum_soft_injection = unit.control_mode == cn.CONTROL_MODES[1]
            control.models.append(model)
            control.images.append(image)
            control.scales.append(float(weights["weight"][key]))
            control.starts.append(float(weights["guidance_start"][key]))
            control.ends.append(float(weights["guidance_end"][key]))
            control.guess_mode |= unit.control_mode == cn.CONTROL_MODES[2]
            control.units.append(n)
        return control if control.models else None
