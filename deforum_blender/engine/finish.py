"""After the frames (Deforum's Output tab): upscaling into ``<out>/upscaled/``, frame
interpolation into ``<out>/interpolated/``, then ``video.mp4`` from the last of them, at
its frame rate, with the soundtrack. A rerun skips the frames already written.

The order is Deforum's: upscale, then interpolate (the upscaled frames when
``frame_interpolation_use_upscaled``, else the originals). A step's folder whose
``*_keep_imgs`` is off is removed once the video holds its frames.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import output_layout as layout
from ..core.errors import DeforumInputError
from ..core.job import Job
from .frame_interpolation import (
    choose_interpolator,
    interpolate_folder,
    interpolated_fps,
    multiplier,
)
from .upscale import factor_of, load_upscaler, upscale_folder

UPSCALED_DIR = layout.UPSCALED_DIR
INTERPOLATED_DIR = layout.INTERPOLATED_DIR
Emit = Callable[..., None]


@dataclass
class FinishResult:
    """What the finish wrote: the folders, the video (if any) and its frame rate."""

    folders: dict[str, Path] = field(default_factory=dict)
    video: Path | None = None
    fps: float = 0.0
    cancelled: bool = False


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

    def progress(stage: str) -> Callable[[int, int], None]:
        return lambda done, total: say("progress", stage=stage, done=done, total=total)

    final = frames
    upscaled: list[Path] | None = None
    if settings.r_upscale_video:
        descriptor = load_upscaler(settings.r_upscale_model, device)
        folder = out / UPSCALED_DIR
        factor = factor_of(settings.r_upscale_factor)
        upscaled = upscale_folder(
            frames, folder, descriptor, factor, progress=progress("upscale"), cancel=cancel
        )
        result.folders["upscaled"] = folder
        final = upscaled
    if settings.frame_interpolation_engine != "None" and not _cancelled(cancel):
        interpolator = choose_interpolator(settings, lambda text: say("warning", message=text))
        use_upscaled = settings.frame_interpolation_use_upscaled and upscaled is not None
        folder = out / INTERPOLATED_DIR
        final = interpolate_folder(
            upscaled if use_upscaled and upscaled else frames,
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
