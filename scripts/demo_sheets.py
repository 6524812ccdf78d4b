"""The demo's results: contact sheets of the frames, of the scene's depth and of the
ControlNet units' control images, and the video.

Read from the output folders the headless renders wrote (``out/render``, and with the
tiny model ``out/preview``); cv2, numpy and Pillow come from the dev venv.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CELL_WIDTH = 256  # frames wider than this are scaled down in the contact sheets
SHEET_FRAMES = 12
CONTROL_FRAMES = 4  # frames (columns) in the ControlNet sheet, one row per unit
CAPTION_HEIGHT = 18  # the strip above a control image: its pixels stay the saved file's


def _read_rgb(path: Path) -> Any:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"demo: cannot read {path}")
    return image


def _small(image: Any, width: int = CELL_WIDTH) -> Any:
    """``image`` scaled down to ``width`` pixels across (never up)."""
    import cv2

    height, current = image.shape[:2]
    if current <= width:
        return image
    return cv2.resize(image, (width, round(height * width / current)), interpolation=cv2.INTER_AREA)


def _label(image: Any, text: str, corner: tuple[int, int] = (4, 14), scale: float = 0.4) -> None:
    """White text with a dark outline, readable on any frame."""
    import cv2

    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(
            image, text, corner, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA
        )


def save_sheet(image: Any, path: Path, *, lossless: bool = False) -> None:
    """Write a BGR sheet as a 256-colour PNG, small enough to commit (the README shows them),
    or ``lossless``, every pixel as it is."""
    import cv2
    from PIL import Image

    rgb = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    if not lossless:
        rgb = rgb.quantize(256, method=Image.Quantize.MEDIANCUT)
    rgb.save(path, optimize=True)


def pick_frames(frames: Sequence[int], count: int) -> list[int]:
    """``count`` frames spread evenly over ``frames``, the first and the last included."""
    if len(frames) <= count:
        return list(frames)
    step = (len(frames) - 1) / (count - 1)
    return [frames[round(index * step)] for index in range(count)]


def grid(cells: Sequence[Any], columns: int, title: str, gap: int = 4) -> Any:
    """Cells (same-size BGR images) in rows of ``columns`` under a title bar."""
    import numpy as np

    height, width = cells[0].shape[:2]
    rows = (len(cells) + columns - 1) // columns
    sheet = np.full(
        (22 + rows * (height + gap) + gap, columns * (width + gap) + gap, 3), 24, np.uint8
    )
    _label(sheet, title, (gap, 15))
    for index, cell in enumerate(cells):
        top = 22 + gap + (index // columns) * (height + gap)
        left = gap + (index % columns) * (width + gap)
        sheet[top : top + height, left : left + width] = cell
    return sheet


def frame_cells(render: Path, preview: Path | None, frames: Sequence[int]) -> list[Any]:
    """Each frame labelled with its number; beside its motion preview when there is one."""
    import numpy as np

    from deforum_blender.core.output_layout import frame_path

    cells = []
    for frame in frames:
        image = _small(_read_rgb(frame_path(render, frame)))
        _label(image, str(frame))
        if preview is not None:
            image = np.hstack([image, _small(_read_rgb(frame_path(preview, frame)))])
        cells.append(image)
    return cells


def depth_cells(render: Path, frames: Sequence[int]) -> list[Any]:
    """The scene's Z pass, coloured by inverse depth over the whole flight (near = bright)."""
    import cv2
    import numpy as np

    from deforum_blender.blender.depth_pass import depth_file
    from deforum_blender.core.output_layout import scene_depth_dir

    depths = [np.load(depth_file(scene_depth_dir(render), frame)) for frame in frames]
    # Cycles writes 1e10 where a ray hits nothing: the sky is drawn black.
    inverse = [np.where(d < 1e9, 1.0 / np.maximum(d, 1e-3), 0.0) for d in depths]
    seen = np.concatenate([i[i > 0] for i in inverse])
    low, high = np.percentile(seen, [1, 99]) if seen.size else (0.0, 1.0)
    cells = []
    for frame, values in zip(frames, inverse, strict=True):
        scaled = np.clip((values - low) / max(high - low, 1e-9), 0.0, 1.0)
        image = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
        image[values == 0] = 0
        image = _small(image)
        _label(image, str(frame))
        cells.append(image)
    return cells


def controlnet_units(render: Path) -> dict[int, str]:
    """The render's enabled ControlNet units: unit number -> module (from ``job.json``)."""
    import json

    from deforum_blender.core.controlnet import UNIT_GROUPS
    from deforum_blender.core.output_layout import job_path

    job = json.loads(job_path(render).read_text())
    units = {n: job.get(group, {}) for n, group in enumerate(UNIT_GROUPS, start=1)}
    return {n: unit["module"] for n, unit in units.items() if unit.get("enabled")}


def controlnet_frames(render: Path, units: Sequence[int]) -> list[int]:
    """The frames with a saved control image of every unit (the diffused frames)."""
    from deforum_blender.core.output_layout import controlnet_input_path, frame_files

    return [
        frame
        for frame in frame_files(render)
        if all(controlnet_input_path(render, unit, frame).is_file() for unit in units)
    ]


def captioned(image: Any, left: str, right: str) -> Any:
    """``image`` under a dark strip that names it; the image's own pixels are left as they are."""
    import cv2
    import numpy as np

    strip = np.full((CAPTION_HEIGHT, image.shape[1], 3), 24, np.uint8)
    _label(strip, left, (2, 13), 0.35)
    (width, _), _ = cv2.getTextSize(right, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)
    _label(strip, right, (image.shape[1] - width - 3, 13), 0.35)
    return np.vstack([strip, image])


def controlnet_cells(render: Path, units: dict[int, str], frames: Sequence[int]) -> list[Any]:
    """Each unit's saved control image of each frame, a row per unit, captioned above with
    the unit, its module and the frame."""
    from deforum_blender.core.output_layout import controlnet_input_path

    return [
        captioned(_small(_read_rgb(controlnet_input_path(render, n, f))), f"cn{n} {module}", str(f))
        for n, module in units.items()
        for f in frames
    ]


def controlnet_sheet(render: Path) -> Any | None:
    """The control images of a few frames, or None when the render had no unit on."""
    units = controlnet_units(render)
    frames = pick_frames(controlnet_frames(render, list(units)), CONTROL_FRAMES)
    if not units or not frames:
        return None
    title = "ControlNet control images from Blender's passes (save_controlnet_inputs)"
    return grid(controlnet_cells(render, units, frames), len(frames), title)


def side_by_side_video(render: Path, preview: Path, frames: Sequence[int], target: Path) -> None:
    """``target``: the model's frames beside the motion preview's, at the scene's frame rate."""
    import json

    import cv2
    import numpy as np

    from deforum_blender.core.output_layout import JOB_FILE, frame_path
    from deforum_blender.engine.video import write_video

    fps = float(json.loads((render / JOB_FILE).read_text())["fps"])
    folder = target.parent / "side_by_side"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = []
    for frame in frames:
        model, motion = _read_rgb(frame_path(render, frame)), _read_rgb(frame_path(preview, frame))
        _label(model, "tiny model")
        _label(motion, "motion preview")
        path = folder / f"frame_{frame:05d}.png"
        cv2.imwrite(str(path), np.hstack([model, motion]))
        paths.append(path)
    write_video(paths, target, fps)


def make_results(out: Path, model: str | None, *, tiny: bool) -> dict[str, Path]:
    """Contact sheets and ``video.mp4`` in ``out``; returns what was written.

    ``out/render`` holds the render with ``model``; with the ``tiny`` model, ``out/preview``
    holds its motion preview, shown beside it.
    """
    from deforum_blender.core.output_layout import VIDEO_FILE, frame_files

    render = out / "render"
    preview = out / "preview" if tiny else None
    frames = list(frame_files(render))
    shown = pick_frames(frames, SHEET_FRAMES)
    if preview is not None:
        title = "left: tiny random-weight model (noise by design)   right: motion preview"
        sheet = grid(frame_cells(render, preview, shown), 4, title)
    else:
        sheet = grid(frame_cells(render, None, shown), 4, f"model: {model}")
    written = {"contact sheet": out / "contact_sheet.png"}
    save_sheet(sheet, written["contact sheet"])
    depth = grid(depth_cells(render, shown), 6, "scene depth (Cycles Z pass): near is bright")
    written["depth contact sheet"] = out / "depth_contact_sheet.png"
    save_sheet(depth, written["depth contact sheet"])
    control = controlnet_sheet(render)
    if control is not None:  # lossless: its tiles are the control images, pixel for pixel
        written["ControlNet sheet"] = out / "controlnet_contact_sheet.png"
        save_sheet(control, written["ControlNet sheet"], lossless=True)
    written["video"] = out / VIDEO_FILE
    if preview is not None:
        side_by_side_video(render, preview, frames, written["video"])
    else:
        shutil.copyfile(render / VIDEO_FILE, written["video"])
    return written
