"""Stitch finished frames into ``video.mp4`` with the ffmpeg shipped by imageio-ffmpeg."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..core.atomic import replacing
from ..core.errors import DeforumInputError


class VideoError(RuntimeError):
    """ffmpeg is missing or failed; the frames are left as they are."""


def ffmpeg_executable() -> str:
    """Path of the ffmpeg binary: ``DEFORUM_FFMPEG`` if set, else imageio-ffmpeg's own."""
    override = os.environ.get("DEFORUM_FFMPEG")
    if override:
        if not Path(override).is_file():
            raise VideoError(
                f"DEFORUM_FFMPEG={override!r} does not exist; unset it to use imageio-ffmpeg's "
                "ffmpeg, or point it at an ffmpeg binary. The frames are kept."
            )
        return override
    try:
        import imageio_ffmpeg
    except ImportError as error:
        raise VideoError(
            "ffmpeg not found: install imageio-ffmpeg in the worker's environment "
            "(pip install imageio-ffmpeg) or set DEFORUM_FFMPEG. The frames are kept."
        ) from error
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def write_video(
    frames: Sequence[Path],
    out_path: Path,
    fps: float,
    *,
    crf: int = 17,
    audio: Path | None = None,
) -> Path:
    """Encode ``frames`` (PNG files, in order) as H.264 ``out_path`` at ``fps``; atomic.

    ``audio`` (any file ffmpeg reads: WAV, MP3, a video) is muxed in as AAC, cut or padded
    with silence to the video's length."""
    if not frames:
        raise DeforumInputError("video: no frames to encode; render at least one frame first")
    if not fps > 0:
        raise DeforumInputError(f"fps: {fps!r} is not a positive number; use e.g. fps=15")
    # ffmpeg picks the container by the suffix, so the hidden name keeps it.
    with replacing(out_path, keep_suffix=True) as temp:
        _encode(frames, temp, fps, crf, audio)
    return out_path


def _encode(frames: Sequence[Path], temp: Path, fps: float, crf: int, audio: Path | None) -> None:
    """Run ffmpeg over the PNG bytes of ``frames``, writing ``temp``; VideoError on failure."""
    command = [
        ffmpeg_executable(),
        "-y",
        "-loglevel",
        "error",
        "-f",
        "image2pipe",
        "-framerate",
        f"{fps:g}",
        "-c:v",
        "png",
        "-i",
        "-",
        *_audio_input(audio, len(frames) / fps),
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        # yuv420p needs even sizes; pad by one pixel rather than fail on odd ones.
        "-vf",
        "pad=ceil(iw/2)*2:ceil(ih/2)*2",
        "-crf",
        str(crf),
        "-movflags",
        "+faststart",
        str(temp),
    ]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdin is not None
        try:
            for frame in frames:
                process.stdin.write(frame.read_bytes())
        except BrokenPipeError:
            pass  # ffmpeg stopped early; its stderr says why
        finally:
            process.stdin.close()
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        code = process.wait()
    if code != 0:
        raise VideoError(f"ffmpeg failed ({code}): {stderr.strip()[-500:]}. The frames are kept.")


def _audio_input(audio: Path | None, seconds: float) -> list[str]:
    """ffmpeg arguments adding ``audio``'s first sound stream, cut or padded to ``seconds``
    (the video's length)."""
    if audio is None:
        return []
    if not Path(audio).is_file():
        raise DeforumInputError(
            f"soundtrack_path: no such file {str(audio)!r}; give a local sound or video file"
        )
    # apad pads a short track with silence and -t cuts both at the video's end. (Not
    # -shortest: with apad it overshoots by up to half a second as ffmpeg buffers.)
    return [
        "-i",
        str(audio),
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-c:a",
        "aac",
        "-af",
        "apad",
        "-t",
        f"{seconds:.6f}",
    ]
