"""After the frames (Deforum's Output tab): upscaling into ``<out>/upscaled/``, frame
interpolation into ``<out>/interpolated/``, then ``video.mp4`` from the last of them, at
its frame rate, with the soundtrack. A rerun skips the frames already written.

The order is Deforum's: upscale, then interpolate (the upscaled frames when
``frame_interpolation_use_upscaled``, else the originals). A step's folder whose
``*_keep_imgs`` is off is removed once the video holds its frames.

Every file is written atomically (a hidden temporary, then a rename), so a finish killed
half-way leaves whole files only, and running it again writes just the missing ones. A
step folder records what its frames were made from (``.made_from.json``: the step's
settings and the source frames' names, sizes and times); when that changed (a new render,
another multiplier) its frames are deleted first, never mixed with new ones.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import atomic
from ..core import output_layout as layout
from ..core.errors import DeforumInputError
from ..core.job import Job
from .frame_interpolation import (
    FLOW_FALLBACK,
    choose_interpolator,
    interpolate_folder,
    interpolated_fps,
    multiplier,
)
from .upscale import factor_of, load_upscaler, upscale_folder

UPSCALED_DIR = layout.UPSCALED_DIR
INTERPOLATED_DIR = layout.INTERPOLATED_DIR
Emit = Callable[..., None]
#: In a step folder: what its frames were made from (see the module's docstring).
MADE_FROM = ".made_from.json"


class FinishTerminated(BaseException):
    """SIGTERM ended the finish (raised by the CLI's signal handler); whole files are kept."""


@dataclass
class FinishResult:
    """What the finish wrote: the folders, the video (if any) and its frame rate."""

    folders: dict[str, Path] = field(default_factory=dict)
    video: Path | None = None
    fps: float = 0.0
    cancelled: bool = False


#: The Real-ESRGAN models Deforum's ncnn upscaler downloads by name; we load weights files.
DEFORUM_UPSCALER_NAMES = ("realesr-animevideov3", "realesrgan-x4plus", "realesrgan-x4plus-anime")


def upscale_skipped(job: Job) -> str | None:
    """Why a Deforum file's upscale step is skipped (its model is a name, not weights), or None."""
    model = job.finish.r_upscale_model.strip()
    if not job.finish.r_upscale_video or model not in DEFORUM_UPSCALER_NAMES:
        return None
    return (
        f"r_upscale_model: {model!r} is a model Deforum's ncnn upscaler downloads by name; "
        "this render is not upscaled: give the weights file (a .pth or .safetensors, e.g. "
        "RealESRGAN_x4plus.pth) as r_upscale_model to upscale"
    )


def check(job: Job) -> None:
    """Refuse before the first frame what the steps after the frames would refuse at the end."""
    soundtrack(job)
    model = job.finish.r_upscale_model
    upscales = job.finish.r_upscale_video and upscale_skipped(job) is None
    if upscales and not Path(model).expanduser().is_file():
        raise DeforumInputError(
            f"r_upscale_model: {model!r} is not a weights file; give the upscaler's "
            ".pth/.safetensors (--upscale-model PATH or --set r_upscale_model=PATH), or "
            "set r_upscale_video to false"
        )


def wanted(job: Job) -> bool:
    """Whether ``job`` asks for any step after the frames."""
    finish = job.finish
    return (
        finish.r_upscale_video
        or finish.frame_interpolation_engine != "None"
        or finish.add_soundtrack != "None"
    )


def soundtrack(job: Job) -> Path | None:
    """The sound file ``add_soundtrack`` names, checked; None when it is off."""
    choice = job.finish.add_soundtrack
    if choice == "None":
        return None
    path, name = (
        (job.finish.soundtrack_path, "soundtrack_path")
        if choice == "File"
        else (job.video_input.video_init_path or "", "video_init_path")
    )
    if "://" in path:
        raise DeforumInputError(
            f"{name}: {path!r} is a web address; download it and give the local file "
            f"(add_soundtrack {choice!r})"
        )
    if not path or not Path(path).is_file():
        raise DeforumInputError(
            f"{name}: {path!r} is not a file; give the sound for add_soundtrack {choice!r} "
            "or set add_soundtrack to None"
        )
    return Path(path)


def finish(
    job: Job,
    out_dir: str | Path,
    *,
    emit: Emit | None = None,
    cancel: threading.Event | None = None,
    device: str = "cpu",
) -> FinishResult:
    """Run the steps ``job.finish`` asks for on the frames in ``out_dir``."""
    out = Path(out_dir)
    say: Emit = emit or (lambda kind, **fields: None)
    settings = job.finish
    audio = soundtrack(job)  # checked before any work
    frames = [layout.frame_path(out, job.first_frame + i) for i in range(job.max_frames)]
    missing = [path.name for path in frames if not path.exists()]
    if missing:
        raise DeforumInputError(
            f"finish: {len(missing)} of {len(frames)} frames are missing in "
            f"{str(layout.frames_dir(out))!r} (first: {missing[0]}); render them first"
        )
    result = FinishResult(fps=job.fps)
    if settings.r_upscale_video or settings.interpolation_model:  # a network runs
        from .diffusion import resolve_device

        device = resolve_device(device)

    def progress(stage: str) -> Callable[[int, int], None]:
        return lambda done, total: say("progress", stage=stage, done=done, total=total)

    final = frames
    upscaled: list[Path] | None = None
    skipped = upscale_skipped(job)
    if skipped is not None:
        say("warning", message=skipped)
    if settings.r_upscale_video and skipped is None:
        descriptor = load_upscaler(settings.r_upscale_model, device)
        folder = out / UPSCALED_DIR
        factor = factor_of(settings.r_upscale_factor)
        recipe = {
            "model": settings.r_upscale_model,
            "factor": factor,
            **_weights_stamp(settings.r_upscale_model),
        }
        start_over_unless_made_from(folder, "upscale", recipe, frames)
        upscaled = upscale_folder(
            frames, folder, descriptor, factor, progress=progress("upscale"), cancel=cancel
        )
        result.folders["upscaled"] = folder
        final = upscaled
    if settings.frame_interpolation_engine != "None" and not _cancelled(cancel):
        interpolator = choose_interpolator(
            settings,
            lambda text: say("warning", message=text),
            device=device,
            allow_pickle=job.model.allow_pickle,
        )
        use_upscaled = settings.frame_interpolation_use_upscaled and upscaled is not None
        folder = out / INTERPOLATED_DIR
        sources = upscaled if use_upscaled and upscaled else frames
        recipe = {
            "factor": multiplier(settings),
            "interpolator": settings.interpolation_model or FLOW_FALLBACK,
            **_weights_stamp(settings.interpolation_model),
        }
        start_over_unless_made_from(folder, "interpolate", recipe, sources)
        final = interpolate_folder(
            sources,
            folder,
            multiplier(settings),
            interpolator,
            progress=progress("interpolate"),
            cancel=cancel,
        )
        result.folders["interpolated"] = folder
        result.fps = interpolated_fps(job.fps, settings)
    if _cancelled(cancel):
        result.cancelled = True
        return result
    if job.output.make_video or audio is not None:
        from .video import write_video

        result.video = write_video(final, layout.video_path(out), result.fps, audio=audio)
        _drop_unkept(result, job)
    return result


def start_over_unless_made_from(
    folder: Path, step: str, recipe: dict[str, Any], sources: list[Path]
) -> None:
    """Keep ``folder``'s frames only if they were made by ``step`` with ``recipe`` from
    ``sources`` as they are now; else delete them (and killed writes' leftovers)."""
    record = {
        "step": step,
        **recipe,
        "sources": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sources],
    }
    marker = folder / MADE_FROM
    try:
        same = json.loads(marker.read_text(encoding="utf-8")) == record
    except (OSError, ValueError):
        same = False
    if folder.is_dir():
        for path in folder.iterdir():
            made = layout.frame_number(path.name) is not None and not same
            if path.is_file() and (made or layout.is_temp_name(path.name)):
                path.unlink()
    if not same:
        atomic.write_text(marker, json.dumps(record), make_folder=True)


def _weights_stamp(path: str | None) -> dict[str, Any]:
    """The weights file's size and time for a step's record, so new weights at the same
    path start the folder over; nothing without a file."""
    if not path:
        return {}
    stat = Path(path).expanduser().stat()
    return {"weights": [stat.st_size, stat.st_mtime_ns]}


def _cancelled(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def _drop_unkept(result: FinishResult, job: Job) -> None:
    """Remove the step folders whose ``*_keep_imgs`` is off (the video holds them now)."""
    keep: dict[str, Any] = {
        "upscaled": job.finish.r_upscale_keep_imgs,
        "interpolated": job.finish.frame_interpolation_keep_imgs,
    }
    for name, folder in list(result.folders.items()):
        if not keep[name]:
            shutil.rmtree(folder, ignore_errors=True)
            del result.folders[name]
