"""Video Input mode: the frames of a video (or of an image folder) drive the render.

Which frames: source frames ``extract_from_frame, +extract_nth_frame, …`` up to
``extract_to_frame`` (−1: the end), counted from 0 as ffmpeg and Blender's movie strips
count them; the k-th selected frame drives frame index k of the job. (Deforum keeps the
frames whose *absolute* number is a multiple of N; we step from ``extract_from_frame``,
which is the same whenever it is a multiple of N.) A folder of images is a video whose
frames are its image files in natural name order.

Extraction happens once per output folder, before the first frame: each selected frame is
decoded by ffmpeg (imageio-ffmpeg's, see ``video.ffmpeg_executable``), scaled to the job's
W×H (area filter) and written as ``<out>/video_input/frame_<NNNNN>.png`` (the output frame
it drives); the mask video likewise into ``<out>/video_mask/`` as grey PNGs. A marker,
``extracted.json``, is written last with what was extracted from which file; a resumed run
whose marker matches reuses the frames, anything else extracts again.

Per frame, Deforum's Video Input semantics: no motion, no cadence, nothing carried from
the previous frame — the frame is img2img of its video frame with denoise ``1 − strength``
(the strength schedule, frame 0 included). A video that gives fewer frames than
``max_frames`` renders its own frames (``prepare`` returns the count; the loop warns).
Colour coherence ``Video Input`` matches the diffused frame's colours to the video's colour
sample (LAB histograms, as Deforum's video matching), refreshed only on frames whose index
is a multiple of ``color_coherence_video_every_N_frames``; in 2D/3D modes the render loop
matches the warped previous frame to that sample before diffusion (and, legacy_colormatch
off, the generated frame after it). The other coherence modes do nothing in Video Input
mode (as in Deforum). A mask video also masks 2D/3D frames (the render loop composites
them, as with an init mask). In Video Input mode, with a mask video, the result is
``video·(1 − m) + diffused·m`` with ``m`` the mask frame's grey level / 255 (inverted with
``invert_mask``): where the mask is black the video frame is kept exactly, where it is
white the diffused frame shows, grey blends.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core import atomic
from ..core.errors import DeforumInputError
from ..core.job import Job
from ..core.output_layout import (
    EXTRACTION_MARKER,
    frame_name,
    video_input_dir,
    video_mask_dir,
)
from .coherence import match_colors
from .frames import CorruptFrameError, read_frame, write_png_atomic
from .masks import composite

Image = NDArray[np.uint8]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
#: How Deforum matches colours to a video frame (its maintain_colors falls back to LAB).
VIDEO_COHERENCE_SPACE = "LAB"
_MARKER_VERSION = 1
# "1920x1080" in ffmpeg's stream line; a leading zero is a codec tag such as 0x31637661.
_SIZE = re.compile(r"\b([1-9]\d{0,4})x([1-9]\d{0,4})\b")
_FRAMES = re.compile(r"frame=\s*(\d+)")


@dataclass(frozen=True)
class Source:
    """A video file or image folder: its pixel size and frame count."""

    path: Path
    kind: str  # "video" | "folder"
    width: int
    height: int
    frames: int
    images: tuple[Path, ...] = ()  # the folder's images, in order


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def probe(location: str, field: str) -> Source:
    """Size and frame count of a video file or image folder; a clear error when unreadable."""
    path = Path(location).expanduser()
    if path.is_dir():
        images = sorted(
            (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=_natural_key,
        )
        if not images:
            raise DeforumInputError(
                f"{field}: the folder {str(path)!r} holds no images "
                f"({', '.join(IMAGE_SUFFIXES)}); give a video file or a folder of frames"
            )
        first = _read_image(images[0], field, grey=False)
        return Source(path, "folder", first.shape[1], first.shape[0], len(images), tuple(images))
    if not path.is_file():
        raise DeforumInputError(
            f"{field}: no such file or folder {str(path)!r}; give a video file (mp4, mov, …) "
            "or a folder of images"
        )
    from .video import ffmpeg_executable

    command = [ffmpeg_executable(), "-hide_banner", "-nostdin", "-i", str(path)]
    command += ["-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    stream = next((line for line in result.stderr.splitlines() if "Video:" in line), None)
    size = _SIZE.search(stream.split("Video:", 1)[1]) if stream else None
    counts = _FRAMES.findall(result.stderr)
    frames = int(counts[-1]) if counts and size is not None else 0
    opened = "Input #0" in result.stderr  # ffmpeg read the container, whatever it holds
    if opened and frames == 0:
        raise DeforumInputError(
            f"{field}: {str(path)!r} has no video frames; give a video with at least one frame"
        )
    if result.returncode != 0 or size is None:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        why = lines[-1] if lines else f"ffmpeg exit status {result.returncode}"
        raise DeforumInputError(
            f"{field}: cannot read {str(path)!r} as a video ({why}); give a video file that "
            "plays (mp4, mov, mkv, …) or a folder of images"
        )
    return Source(path, "video", int(size.group(1)), int(size.group(2)), frames)


def _read_image(path: Path, field: str, *, grey: bool) -> NDArray[np.uint8]:
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    flags = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR
    decoded = cv2.imdecode(data, flags) if data.size else None
    if decoded is None:
        raise DeforumInputError(f"{field}: cannot read the image {str(path)!r}")
    if grey:
        return np.asarray(decoded, dtype=np.uint8)
    return np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def selected_frames(job: Job, source: Source, field: str, wanted: int) -> list[int]:
    """Source frame numbers for up to ``wanted`` frame indices ``0, 1, …``.

    Fewer when the video gives fewer (the caller decides whether that is an error).
    """
    video = job.video_input
    start, step, stop = video.extract_from_frame, video.extract_nth_frame, video.extract_to_frame
    last = source.frames - 1
    what = f"{str(source.path)!r} ({source.frames} frames, 0–{last})"
    if start > last:
        raise DeforumInputError(
            f"video_input.extract_from_frame: {start} is past the end of {what}; "
            f"use a frame from 0 to {last}"
        )
    if stop > last:
        raise DeforumInputError(
            f"video_input.extract_to_frame: {stop} is past the end of {what}; "
            f"use at most {last}, or -1 for the end"
        )
    return list(range(start, (last if stop == -1 else stop) + 1, step))[:wanted]


def require_frames(job: Job, source: Source, field: str, frames: list[int], wanted: int) -> None:
    """Refuse a video that gives fewer than ``wanted`` frames (names the fix)."""
    if len(frames) >= wanted:
        return
    video = job.video_input
    start, step, stop = video.extract_from_frame, video.extract_nth_frame, video.extract_to_frame
    last = source.frames - 1
    first = job.first_frame
    raise DeforumInputError(
        f"{field}: the job has {wanted} frames ({first}–{first + wanted - 1}) but "
        f"{str(source.path)!r} ({source.frames} frames, 0–{last}) gives {len(frames)} (every "
        f"{step}. frame from {start} to {last if stop == -1 else stop}); set max_frames to "
        f"{len(frames)} (last_frame {first + len(frames) - 1}), or lower extract_nth_frame "
        "or widen extract_from_frame…extract_to_frame"
    )


def _stamp(source: Source) -> dict[str, Any]:
    """What identifies the source's content cheaply: path, sizes and modification times."""
    files = source.images or (source.path,)
    return {
        "source": str(source.path.resolve()),
        "files": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files],
    }


@dataclass(frozen=True)
class Extraction:
    """One extraction: which source frames, scaled to what, for which output frames."""

    stamp: dict[str, Any]
    frames: list[int]
    first_frame: int
    width: int
    height: int
    grey: bool
    version: int = _MARKER_VERSION


def extract(source: Source, extraction: Extraction, folder: Path) -> None:
    """Write the selected frames into ``folder`` (reused when its marker says the same)."""
    marker = folder / EXTRACTION_MARKER
    wanted = json.loads(json.dumps(asdict(extraction)))
    if marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")) == wanted and all(
                (folder / frame_name(extraction.first_frame + k)).is_file()
                for k in range(len(extraction.frames))
            ):
                return
        except (OSError, ValueError):
            pass
        marker.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("frame_*.png"):
        stale.unlink()
    images = (
        _folder_frames(source, extraction)
        if source.kind == "folder"
        else _video_frames(source, extraction)
    )
    for k, image in enumerate(images):
        write_png_atomic(folder / frame_name(extraction.first_frame + k), image)
    atomic.write_text(marker, json.dumps(wanted, indent=1) + "\n")


def _folder_frames(source: Source, extraction: Extraction) -> list[NDArray[np.uint8]]:
    import cv2

    size = (extraction.width, extraction.height)
    result = []
    for number in extraction.frames:
        image: Any = _read_image(source.images[number], "video frame", grey=extraction.grey)
        if image.shape[1::-1] != size:
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        result.append(np.asarray(image, dtype=np.uint8))
    return result


def _video_frames(source: Source, extraction: Extraction) -> list[NDArray[np.uint8]]:
    """The selected frames, decoded, scaled and converted by one ffmpeg run."""
    from .video import VideoError, ffmpeg_executable

    start, count = extraction.frames[0], len(extraction.frames)
    step = extraction.frames[1] - start if count > 1 else 1
    width, height, channels = extraction.width, extraction.height, 1 if extraction.grey else 3
    pixel_format = "gray" if extraction.grey else "rgb24"
    select = f"select=gte(n\\,{start})*not(mod(n-{start}\\,{step}))"
    command = [ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    command += ["-i", str(source.path), "-map", "0:v:0"]
    command += ["-vf", f"{select},scale={width}:{height}:flags=area", "-fps_mode", "passthrough"]
    command += ["-frames:v", str(count), "-f", "rawvideo", "-pix_fmt", pixel_format, "-"]
    result = subprocess.run(command, capture_output=True)
    size = width * height * channels
    got = len(result.stdout) // size
    if result.returncode != 0 or got != count:
        why = result.stderr.decode(errors="replace").strip()[-300:] or f"{got} of {count} frames"
        raise VideoError(f"ffmpeg could not extract the frames of {str(source.path)!r}: {why}")
    shape = (count, height, width) if extraction.grey else (count, height, width, 3)
    return list(np.frombuffer(result.stdout[: count * size], dtype=np.uint8).reshape(shape))


class VideoInput:
    """The job's video and mask video: extracted once, then read per frame index."""

    def __init__(self, job: Job, out: Path) -> None:
        self.job = job
        self.out = out
        reads_video = job.animation_mode == "Video Input" or (
            job.coherence.color_coherence == "Video Input"
        )
        self.folder = video_input_dir(out) if reads_video else None
        self.mask_folder = video_mask_dir(out) if job.video_input.use_mask_video else None

    @staticmethod
    def needed(job: Job) -> bool:
        """True when the job reads a video: Video Input mode, 'Video Input' coherence, or
        a mask video in 2D/3D (whose frames mask each frame's diffusion)."""
        return (
            job.animation_mode == "Video Input"
            or job.coherence.color_coherence == "Video Input"
            or (job.video_input.use_mask_video and job.animation_mode in ("2D", "3D"))
        )

    def prepare(self) -> int:
        """Check the video (and mask) against the job and extract them, before any frame.

        Returns how many frames the render has: ``max_frames``, or in Video Input mode
        the video's (selected) frames when it has fewer, as Deforum renders them.
        """
        job, video = self.job, self.job.video_input
        count = job.max_frames
        source = None
        if self.folder is not None:
            assert video.video_init_path, "Job.from_dict requires video_init_path here"
            source = probe(video.video_init_path, "video_init_path")
            frames = selected_frames(job, source, "video_init_path", count)
            if job.animation_mode == "Video Input":
                count = len(frames)
            require_frames(job, source, "video_init_path", frames, count)
        size = (job.W, job.H)
        if self.mask_folder is not None:
            assert video.video_mask_path, "Job.from_dict requires video_mask_path here"
            mask = probe(video.video_mask_path, "video_mask_path")
            if source is not None and (mask.width, mask.height) != (source.width, source.height):
                raise DeforumInputError(
                    f"video_mask_path: the mask is {mask.width}×{mask.height} pixels but the "
                    f"video is {source.width}×{source.height}; give a mask video of the "
                    "video's size"
                )
            mask_frames = selected_frames(job, mask, "video_mask_path", count)
            require_frames(job, mask, "video_mask_path", mask_frames, count)
        if source is not None and self.folder is not None:
            spec = Extraction(_stamp(source), frames, job.first_frame, *size, False)
            extract(source, spec, self.folder)
        if self.mask_folder is not None:
            spec = Extraction(_stamp(mask), mask_frames, job.first_frame, *size, True)
            extract(mask, spec, self.mask_folder)
        return count

    def frame(self, index: int) -> Image:
        """The video frame that drives frame index ``index`` (RGB uint8 H×W×3)."""
        assert self.folder is not None, "only a job that reads video_init_path has frames"
        path = self.folder / frame_name(self.job.first_frame + index)
        try:
            return read_frame(path, (self.job.H, self.job.W))
        except (CorruptFrameError, OSError) as error:
            raise DeforumInputError(
                f"video_init_path: the extracted frame {path} is unreadable ({error}); delete "
                f"{self.folder} to extract the video again"
            ) from None

    def color_sample(self, index: int, keys: Iterable[int] | None = None) -> Image:
        """The video frame that colour coherence 'Video Input' matches frame ``index`` to.

        Deforum refreshes it only on diffused frames whose index is a multiple of
        ``color_coherence_video_every_N_frames``; ``keys`` are the diffused frame indices
        (None: every frame, as in Video Input mode). Frame 0 always qualifies.
        """
        every = self.job.coherence.color_coherence_video_every_N_frames
        candidates = range(index + 1) if keys is None else keys
        return self.frame(max(k for k in candidates if k <= index and k % every == 0))

    def mask(self, index: int) -> NDArray[np.float32] | None:
        """The mask of frame index ``index`` as 0…1 (1: diffuse), or None without a mask."""
        if self.mask_folder is None:
            return None
        import cv2

        path = self.mask_folder / frame_name(self.job.first_frame + index)
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if grey is None or grey.shape != (self.job.H, self.job.W):
            raise DeforumInputError(
                f"video_mask_path: the extracted mask {path} is unreadable; delete "
                f"{self.mask_folder} to extract the mask video again"
            )
        mask = grey.astype(np.float32) / 255.0
        return 1.0 - mask if self.job.init.invert_mask else mask

    def finish(self, index: int, diffused: Image, init: Image) -> Image:
        """A Video Input frame after diffusion: colours matched to the video, masked."""
        image = diffused
        if self.job.coherence.color_coherence == "Video Input":
            image = match_colors(image, self.color_sample(index), VIDEO_COHERENCE_SPACE)
        mask = self.mask(index)
        if mask is None:
            return image
        return composite(init, image, mask)
