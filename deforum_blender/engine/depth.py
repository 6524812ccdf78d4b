"""Depth for the 3D warp: the scene's Z pass, an estimated depth, or a flat plane.

All depth maps here are float32 H×W arrays of the distance along the camera's view
axis (−Z) in scene units — Blender's Z pass — with row 0 at the top of the image.

* ``scene``: float32 ``.npy`` files written by the Blender layer
  (``blender/depth_pass.py``), one per frame, named ``depth_NNNNN.npy``. Rays that
  hit nothing carry Cycles' background value (1e10); ``+inf`` is read as that too.
* ``estimated``: a transformers depth-estimation model (default Depth Anything V2
  small) run on a frame. Relative models (Depth Anything, DPT/MiDaS) predict an
  inverse depth known only up to scale and offset; it becomes scene units either
  by **near/far** — the frame's smallest predicted inverse depth is put at ``far``
  and the largest at ``near``, linearly in inverse depth between — or by a least-
  squares **fit** of inverse depth to a reference scene depth (``fit_to_reference``).
  Metric models (ZoeDepth, Depth Anything "metric") are taken as metres = scene units
  unless fitted.
* ``files``: per-frame depth maps from a folder, named ``depth_NNNNN.npy`` (float) or
  ``depth_NNNNN.png`` (16- or 8-bit grey), as ``save_depth_maps`` names them, holding
  what a depth model predicts (relative inverse depth): they stand in for the model.
* ``flat``: a constant depth (``DEFAULT_FLAT_DEPTH``, the same 4 units that
  ``core.camera`` assumes for a scene of unknown depth).

Depth maps can also be saved as 16-bit PNGs (inverse depth between near and far,
near = 65535, with near/far stored in the PNG's text so the file loads back alone).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.camera import DEFAULT_SCENE_DEPTH
from ..core.errors import DeforumInputError
from ..core.output_layout import scene_depth_name
from .warp import check_depth

FloatArray = NDArray[np.float32]

DEPTH_SOURCES = ("scene", "estimated", "flat", "files")
#: Suffixes of depth files (``depth_source`` 'files'), in the order they are looked for.
DEPTH_FILE_SUFFIXES = (".npy", ".png")
#: What Cycles writes in the Z pass where a ray hits nothing; +inf is read as this.
BACKGROUND_DEPTH = 1e10
#: Depth values at or beyond this are background (not surfaces) when fitting or saving.
BACKGROUND_THRESHOLD = 1e9
DEFAULT_FLAT_DEPTH = DEFAULT_SCENE_DEPTH
DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
#: Scene-unit range an estimated relative depth is stretched over when nothing better is known.
DEFAULT_NEAR = 1.0
DEFAULT_FAR = 100.0

#: Deforum's ``depth_algorithm`` names → checkpoints that transformers loads. AdaBins and
#: LeReS have no transformers port: they map to the default model.
DEPTH_ALGORITHMS = {
    "Depth-Anything-V2-Small": DEFAULT_DEPTH_MODEL,
    "Depth-Anything-V2-Base": "depth-anything/Depth-Anything-V2-Base-hf",
    "Depth-Anything-V2-Large": "depth-anything/Depth-Anything-V2-Large-hf",
    "Midas-3-Hybrid": "Intel/dpt-hybrid-midas",
    "Midas-3.1-BeitLarge": "Intel/dpt-beit-large-512",
    "Midas+AdaBins (old)": "Intel/dpt-hybrid-midas",
    "Zoe": "Intel/zoedepth-nyu-kitti",
    "Zoe+AdaBins (old)": "Intel/zoedepth-nyu-kitti",
    "AdaBins": DEFAULT_DEPTH_MODEL,
    "Leres": DEFAULT_DEPTH_MODEL,
}
_PNG_KEY = "deforum_depth"


def scene_depth_path(folder: str | os.PathLike[str], frame: int) -> Path:
    """Where the Blender layer writes the Z pass of ``frame``: ``folder/depth_NNNNN.npy``."""
    return Path(folder) / scene_depth_name(frame)


def _sanitised(field: str, depth: NDArray[Any], shape: tuple[int, int] | None) -> FloatArray:
    array = np.asarray(depth, dtype=np.float32)
    # The documented fallback: +inf means "no surface", like Cycles' background value.
    array = np.where(np.isposinf(array), np.float32(BACKGROUND_DEPTH), array).astype(np.float32)
    return check_depth(field, array, shape if shape is not None else array.shape[:2])


def load_scene_depth(
    path: str | os.PathLike[str], shape: tuple[int, int] | None = None
) -> FloatArray:
    """Load one frame's scene depth (``.npy`` float32 H×W, or a 16-bit depth PNG).

    ``shape`` (height, width) is checked when given. Missing files, NaN, zero or
    negative depth raise :class:`DeforumInputError`; +inf becomes background.
    """
    file = Path(path)
    field = f"scene depth {file}"
    if not file.is_file():
        raise DeforumInputError(
            f"{field}: file not found; render the scene's depth pass first "
            "(depth_source 'scene' needs Blender), or use depth_source 'estimated' or 'flat'"
        )
    if file.suffix.lower() == ".png":
        return load_depth_png(file, shape)
    try:
        data = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DeforumInputError(
            f"{field}: not a readable .npy depth map ({error}); re-render the depth pass"
        ) from error
    if data.ndim != 2 or not np.issubdtype(data.dtype, np.floating):
        raise DeforumInputError(
            f"{field}: expected a 2-D float array, got {data.dtype} with shape {data.shape}"
        )
    return _sanitised(field, data, shape)


def depth_file(folder: str | os.PathLike[str], frame: int) -> Path | None:
    """The depth file of ``frame`` in ``folder`` (``depth_NNNNN.npy`` or ``.png``), if any."""
    for suffix in DEPTH_FILE_SUFFIXES:
        path = Path(folder) / f"depth_{frame:05d}{suffix}"
        if path.is_file():
            return path
    return None


def missing_depth_files(folder: str | os.PathLike[str], frames: range) -> list[int]:
    """The frames of ``frames`` that have no depth file in ``folder``."""
    return [frame for frame in frames if depth_file(folder, frame) is None]


def load_depth_file(path: str | os.PathLike[str], shape: tuple[int, int]) -> FloatArray:
    """A depth file as the model's prediction would be (relative inverse depth), at ``shape``.

    ``.npy``: a 2-D float array; ``.png``: 16- or 8-bit grey (colour is averaged). A map of
    another size but the same aspect is resized bicubically, as a prediction is.
    """
    file = Path(path)
    field = f"depth file {file}"
    try:
        if file.suffix.lower() == ".npy":
            data = np.load(file, allow_pickle=False)
        else:
            from PIL import Image

            with Image.open(file) as picture:
                data = np.asarray(picture)
    except (OSError, ValueError) as error:
        raise DeforumInputError(
            f"{field}: not readable ({error}); write depth as a float .npy or a 16-bit PNG"
        ) from error
    if data.ndim == 3:
        data = data[:, :, :3].mean(axis=2)
    if data.ndim != 2 or not (
        np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)
    ):
        raise DeforumInputError(
            f"{field}: expected a 2-D depth map, got {data.dtype} with shape {data.shape}; "
            "write one H×W map of relative inverse depth per frame"
        )
    prediction = np.asarray(data, dtype=np.float32)
    height, width = shape
    if prediction.shape != (height, width):
        rows, columns = prediction.shape
        if abs(columns / rows - width / height) > 0.02 * width / height:
            raise DeforumInputError(
                f"{field}: {columns}×{rows} does not have the frame's aspect ({width}×{height}); "
                "write depth maps at the frame's size"
            )
        import cv2

        prediction = np.asarray(
            cv2.resize(prediction, (width, height), interpolation=cv2.INTER_CUBIC), np.float32
        )
    return prediction


def flat_depth(shape: tuple[int, int], distance: float = DEFAULT_FLAT_DEPTH) -> FloatArray:
    """A constant depth map: everything on a plane ``distance`` scene units in front."""
    if not (math.isfinite(distance) and distance > 0):
        raise DeforumInputError(f"flat depth distance {distance!r} must be a positive number")
    return np.full(shape, distance, dtype=np.float32)


def surface_mask(depth: FloatArray) -> NDArray[np.bool_]:
    """Pixels that see a surface (not the background value)."""
    return np.asarray(np.isfinite(depth) & (depth > 0) & (depth < BACKGROUND_THRESHOLD))


# ---------------------------------------------------------------------------------------
# Estimated depth
# ---------------------------------------------------------------------------------------


def resolve_depth_model(name: str | None) -> str:
    """The Hugging Face id or local folder for ``depth_model`` (Deforum's names work too)."""
    if not name:
        return DEFAULT_DEPTH_MODEL
    if name in DEPTH_ALGORITHMS:
        return DEPTH_ALGORITHMS[name]
    lowered = {key.lower(): value for key, value in DEPTH_ALGORITHMS.items()}
    if name.lower() in lowered:
        return lowered[name.lower()]
    folder = Path(name).expanduser()
    if folder.exists() or name.startswith((".", "~", "/")) or "\\" in name:
        if not (folder / "config.json").is_file():
            raise DeforumInputError(
                f"depth_model: {name!r} is not a model folder (no config.json there); give a "
                "folder saved with save_pretrained, a Hugging Face id, or one of "
                f"{', '.join(DEPTH_ALGORITHMS)}"
            )
        return str(folder)
    if name.count("/") != 1:
        raise DeforumInputError(
            f"depth_model: {name!r} is neither a Hugging Face id (owner/name), a local folder, "
            f"nor a Deforum depth_algorithm ({', '.join(DEPTH_ALGORITHMS)})"
        )
    return name


@dataclass
class DepthEstimator:
    """A loaded transformers depth model: ``predict`` gives the raw per-pixel prediction."""

    model_id: str
    device: str
    model: Any
    processor: Any
    metric: bool
    """True when the model predicts metric depth; False for relative inverse depth."""
    compiled: list[Any] = dataclasses.field(default_factory=list)
    """The compiled forward (``compiled.Guarded``), when the compile setting is on."""

    def predict(self, image: NDArray[np.uint8]) -> FloatArray:
        """The model's prediction for an RGB uint8 H×W×3 frame, resized to H×W."""
        import torch
        from PIL import Image

        frame = np.asarray(image)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise DeforumInputError(
                f"depth estimation: expected an RGB H×W×3 frame, got shape {frame.shape}"
            )
        inputs = self.processor(images=Image.fromarray(frame.astype(np.uint8)), return_tensors="pt")
        inputs = {key: value.to(self.device) for key, value in inputs.items()}
        with torch.inference_mode():
            predicted = self.model(**inputs).predicted_depth
            resized = torch.nn.functional.interpolate(
                predicted.reshape(1, 1, *predicted.shape[-2:]).float(),
                size=frame.shape[:2],
                mode="bicubic",
                align_corners=False,
            )
        return np.ascontiguousarray(resized[0, 0].cpu().numpy(), dtype=np.float32)


# By (model id, device), and "compiled" after them for a compiled forward.
_ESTIMATORS: dict[tuple[str, ...], DepthEstimator] = {}


def _device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_depth_estimator(
    model: str | None = None, device: str = "auto", compile: str = "off"
) -> DepthEstimator:
    """Load a depth model once per process (cached by model id, device and whether its
    forward is compiled: ``compile`` is the setting, auto | on | off)."""
    from . import compiled

    model_id = resolve_depth_model(model)
    on = compiled.enabled(compile, _device(device))
    key = (model_id, _device(device)) + (("compiled",) if on else ())
    if key not in _ESTIMATORS:
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        from .diffusion import download_refusal, may_download, require_cached

        # Only a model the user asked for downloads (named, not just the default or a file's).
        online = may_download(model or DEFAULT_DEPTH_MODEL)
        if not online and not Path(model_id).is_dir():
            require_cached("depth_model", model_id, "config.json")
        try:
            processor = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
                model_id, local_files_only=not online
            )
            network = AutoModelForDepthEstimation.from_pretrained(
                model_id, local_files_only=not online
            )
        except (OSError, ValueError) as error:
            raise DeforumInputError(
                f"depth_model: could not load {model_id!r} ({error}); give a local folder or "
                "a Hugging Face id that is downloaded"
                + (
                    " (or reachable online)"
                    if online
                    else f"; it is not downloaded: {download_refusal()}"
                )
            ) from error
        network = network.to(key[1]).eval()
        config = network.config
        metric = (
            config.model_type == "zoedepth"
            or getattr(config, "depth_estimation_type", "relative") == "metric"
        )
        estimator = DepthEstimator(model_id, key[1], network, processor, metric)
        if on:
            estimator.compiled = [compiled.compile_module(network, "depth model", key[1])]
        _ESTIMATORS[key] = estimator
    return _ESTIMATORS[key]


def relative_to_depth(
    inverse_depth: FloatArray, near: float = DEFAULT_NEAR, far: float = DEFAULT_FAR
) -> FloatArray:
    """Relative inverse depth → scene depth: its minimum at ``far``, maximum at ``near``.

    Linear in inverse depth (relative models are affine-invariant in inverse depth). A
    constant prediction carries no shape: it becomes a flat plane halfway in inverse depth.
    """
    if not (math.isfinite(near) and math.isfinite(far) and 0 < near < far):
        raise DeforumInputError(
            f"near/far {near!r}/{far!r}: need 0 < near < far (scene units), e.g. 1 and 100"
        )
    values = np.asarray(inverse_depth, dtype=np.float32)
    finite = np.isfinite(values)
    if not finite.any():
        raise DeforumInputError("depth estimation: the model predicted no finite value")
    low, high = float(values[finite].min()), float(values[finite].max())
    span = high - low
    if span <= 1e-12 * max(1.0, abs(high)):
        unit = np.full(values.shape, 0.5, dtype=np.float32)
    else:
        unit = np.clip((np.where(finite, values, low) - low) / span, 0.0, 1.0)
    inverse = 1.0 / far + unit * (1.0 / near - 1.0 / far)
    return np.asarray(1.0 / inverse, dtype=np.float32)


def fit_to_reference(
    prediction: FloatArray, reference_depth: FloatArray, *, metric: bool = False
) -> FloatArray:
    """Scale a prediction to a reference scene depth by least squares on shared surfaces.

    Relative (inverse) predictions fit ``1/reference ≈ s·prediction + t``; metric ones
    fit ``reference ≈ s·prediction``. Fitted inverse depths that come out too small are
    clamped to four times the reference's farthest surface.
    """
    prediction = np.asarray(prediction, dtype=np.float32)
    reference = np.asarray(reference_depth, dtype=np.float32)
    if prediction.shape != reference.shape:
        raise DeforumInputError(
            f"reference depth: shape {reference.shape} differs from the prediction's "
            f"{prediction.shape}; give the scene depth of the same frame size"
        )
    usable = surface_mask(reference) & np.isfinite(prediction)
    if usable.sum() < 16:
        raise DeforumInputError(
            "reference depth: fewer than 16 pixels see a surface; use near/far instead"
        )
    x = prediction[usable].astype(np.float64)
    y = reference[usable].astype(np.float64)
    farthest = float(y.max())
    if metric:
        scale = float(np.dot(x, y) / max(np.dot(x, x), 1e-30))
        return np.asarray(np.clip(prediction * scale, 1e-6, 4 * farthest), dtype=np.float32)
    design = np.stack([x, np.ones_like(x)], axis=1)
    (slope, offset), *_ = np.linalg.lstsq(design, 1.0 / y, rcond=None)
    inverse = np.maximum(slope * prediction.astype(np.float64) + offset, 1.0 / (4 * farthest))
    return np.asarray(1.0 / inverse, dtype=np.float32)


def predict_depth(
    image: NDArray[np.uint8], *, model: str | None = None, device: str = "auto"
) -> tuple[FloatArray, bool]:
    """The depth model's raw prediction of a frame, and whether it is metric (not inverse)."""
    estimator = load_depth_estimator(model, device)
    return estimator.predict(image), estimator.metric


def estimate_depth(
    image: NDArray[np.uint8],
    *,
    model: str | None = None,
    device: str = "auto",
    near: float = DEFAULT_NEAR,
    far: float = DEFAULT_FAR,
    reference_depth: FloatArray | None = None,
) -> FloatArray:
    """Scene-unit depth of an RGB frame from a depth model (see the module docstring)."""
    estimator = load_depth_estimator(model, device)
    prediction = estimator.predict(image)
    if reference_depth is not None:
        depth = fit_to_reference(prediction, reference_depth, metric=estimator.metric)
    elif estimator.metric:
        depth = np.clip(prediction, 1e-3, None).astype(np.float32)
    else:
        depth = relative_to_depth(prediction, near, far)
    return check_depth("estimated depth", depth, depth.shape[:2])


# ---------------------------------------------------------------------------------------
# 16-bit PNG
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepthCode:
    """A depth map as 16-bit inverse depth: 0 at ``far`` (and beyond), 65535 at ``near``."""

    code: NDArray[np.uint16]
    near: float
    far: float


def encode_depth16(
    depth: FloatArray, near: float | None = None, far: float | None = None
) -> DepthCode:
    """16-bit inverse-depth code of a depth map; near/far default to its nearest/farthest surface.

    Hand ``.code`` to ``engine.frames.write_depth`` and keep near/far (e.g. in the frame's
    sidecar) to decode it, or use :func:`save_depth_png`, which stores them in the PNG.
    """
    values = _sanitised("depth", np.asarray(depth), None)
    surfaces = values[surface_mask(values)]
    if near is None:
        near = float(surfaces.min()) if surfaces.size else DEFAULT_NEAR
    if far is None:
        far = float(surfaces.max()) if surfaces.size else DEFAULT_FAR
    if not (math.isfinite(near) and math.isfinite(far) and near > 0):
        raise DeforumInputError(f"depth PNG near/far {near!r}/{far!r} must be positive numbers")
    far = max(far, near * (1.0 + 1e-3))
    unit = (1.0 / values - 1.0 / far) / (1.0 / near - 1.0 / far)
    code = np.round(np.clip(unit, 0.0, 1.0) * 65535.0).astype(np.uint16)
    return DepthCode(code, near, far)


def decode_depth16(code: NDArray[np.uint16], near: float, far: float) -> FloatArray:
    """Inverse of :func:`encode_depth16` (background and beyond-far come back as ``far``)."""
    inverse = 1.0 / far + np.asarray(code, np.float64) / 65535.0 * (1.0 / near - 1.0 / far)
    return np.asarray(1.0 / inverse, dtype=np.float32)


def save_depth_png(
    path: str | os.PathLike[str],
    depth: FloatArray,
    near: float | None = None,
    far: float | None = None,
) -> Path:
    """Write depth as a 16-bit greyscale PNG (:func:`encode_depth16`) with near/far in its text."""
    from PIL import Image, PngImagePlugin

    encoded = encode_depth16(depth, near, far)
    info = PngImagePlugin.PngInfo()
    meta = {"encoding": "inverse", "near": encoded.near, "far": encoded.far}
    info.add_text(_PNG_KEY, json.dumps(meta))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(encoded.code).save(target, pnginfo=info)
    return target


def load_depth_png(
    path: str | os.PathLike[str], shape: tuple[int, int] | None = None
) -> FloatArray:
    """Read a depth PNG written by :func:`save_depth_png` back into scene units."""
    from PIL import Image

    file = Path(path)
    if not file.is_file():
        raise DeforumInputError(f"depth PNG {file}: file not found")
    with Image.open(file) as picture:
        text = picture.info.get(_PNG_KEY)
        code = np.asarray(picture)
    if text is None:
        raise DeforumInputError(
            f"depth PNG {file}: no '{_PNG_KEY}' text chunk, so its near/far are unknown; "
            "only PNGs written by save_depth_png load back as depth"
        )
    meta = json.loads(text)
    depth = decode_depth16(code.astype(np.uint16), float(meta["near"]), float(meta["far"]))
    return _sanitised(f"depth PNG {file}", depth, shape)
