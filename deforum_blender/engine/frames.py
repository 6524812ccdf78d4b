"""Frame files: atomic PNG writes, validating reads, and the cleanup a resumed run does.

Names come from ``core/output_layout.py``. A frame is encoded in memory, written to a
hidden ``.frame_NNNNN.png.tmp`` in the same folder and renamed over the final name with
``os.replace`` (atomic on one filesystem), so a killed run leaves either the whole frame
or a temp file that ``clean_partial_files`` removes. The sidecar JSON is renamed into
place before its PNG, so a finished PNG always has its sidecar (``core/atomic.py``). Not
fsynced: this guards against a killed process, not a power cut; resume still decodes every
frame it keeps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core import atomic
from ..core import output_layout as layout


class CorruptFrameError(OSError):
    """A frame file that exists but does not decode to the expected image."""


def encode_png(image: NDArray[Any], compression: int | None = None) -> bytes:
    """PNG bytes of an RGB uint8 H×W×3 image or a uint8/uint16 H×W grey image."""
    import cv2

    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)  # OpenCV files are BGR
    elif image.ndim == 2 and image.dtype in (np.uint8, np.uint16):
        pixels = image
    else:
        raise ValueError(
            f"a PNG frame is uint8 H×W×3 RGB or uint8/16 H×W, got {image.dtype} {image.shape}"
        )
    params = [] if compression is None else [cv2.IMWRITE_PNG_COMPRESSION, int(compression)]
    ok, encoded = cv2.imencode(".png", pixels, params)
    if not ok:
        raise OSError("OpenCV could not encode the PNG")
    return bytes(encoded.tobytes())


def write_png_atomic(path: str | Path, image: NDArray[Any], compression: int | None = None) -> Path:
    """Encode ``image`` as PNG and put it at ``path`` atomically."""
    return atomic.write_bytes(path, encode_png(image, compression), make_folder=True)


def write_frame(
    out: str | Path,
    frame: int,
    image: NDArray[Any],
    sidecar: Mapping[str, Any] | None = None,
    compression: int | None = None,
    encoded: bytes | None = None,
) -> Path:
    """Write ``<out>/frames/frame_<NNNNN>.png`` (and its JSON sidecar first), atomically;
    ``encoded``: ``image``'s PNG bytes when they are already made."""
    if sidecar is not None:
        text = json.dumps(dict(sidecar), indent=1, sort_keys=True) + "\n"
        atomic.write_bytes(layout.sidecar_path(out, frame), text.encode("utf-8"), make_folder=True)
    if encoded is not None:
        return atomic.write_bytes(layout.frame_path(out, frame), encoded, make_folder=True)
    return write_png_atomic(layout.frame_path(out, frame), image, compression)


def write_depth(out: str | Path, frame: int, depth: NDArray[Any]) -> Path:
    """Write ``<out>/depth/depth_<NNNNN>.png`` (uint16 H×W), atomically."""
    return write_png_atomic(layout.depth_path(out, frame), depth)


def read_frame(path: str | Path, shape: tuple[int, int] | None = None) -> NDArray[np.uint8]:
    """Decode a frame PNG to RGB uint8 H×W×3; CorruptFrameError when it does not decode
    (or its H×W is not ``shape``)."""
    import cv2

    target = Path(path)
    data = np.fromfile(target, dtype=np.uint8)
    pixels = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if pixels is None:
        raise CorruptFrameError(f"{target}: not a readable PNG (truncated or damaged)")
    if shape is not None and pixels.shape[:2] != tuple(shape):
        raise CorruptFrameError(
            f"{target}: {pixels.shape[1]}×{pixels.shape[0]} pixels, expected {shape[1]}×{shape[0]}"
        )
    return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def read_sidecar(out: str | Path, frame: int) -> dict[str, Any] | None:
    """The JSON sidecar of a frame, or None when it is missing or unreadable."""
    try:
        loaded = json.loads(layout.sidecar_path(out, frame).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def clean_partial_files(out: str | Path) -> list[Path]:
    """Delete the hidden temp files a killed run left in frames/ and depth/; returns them."""
    removed = []
    for folder in (layout.frames_dir(out), layout.depth_dir(out)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if layout.is_temp_name(path.name) and path.is_file():
                path.unlink()
                removed.append(path)
    return removed


@dataclass
class FrameScan:
    """Finished frames that decode, and the ones that do not (with why) — to be redone."""

    valid: dict[int, Path] = field(default_factory=dict)
    corrupt: dict[int, str] = field(default_factory=dict)


def scan_frames(out: str | Path, shape: tuple[int, int] | None = None) -> FrameScan:
    """Decode every finished frame in ``<out>/frames``; sort them into valid and corrupt."""
    scan = FrameScan()
    for number, path in layout.frame_files(out).items():
        try:
            read_frame(path, shape)
        except (CorruptFrameError, OSError) as error:
            scan.corrupt[number] = str(error)
        else:
            scan.valid[number] = path
    return scan
