"""The output folder's layout (DESIGN.md §4), named in one place for the engine and Blender.

``<out>/frames/frame_<NNNNN>.png`` with Blender frame numbers, five digits (Blender's own
``#####`` padding, so negative frames read ``frame_-0001.png``), a JSON sidecar beside
each frame, ``<out>/depth/depth_<NNNNN>.png``, and the run's files at the top. A frame is
first written as a hidden ``.frame_<NNNNN>.png.tmp`` in the same folder, then renamed.

The worker logs to ``<out>/worker.log`` while it renders into the folder.

Blender leaves inputs for the worker in the same folder (for the frames
``core/scene_inputs.py`` lists): the scene's Z pass as ``<out>/scene_depth/depth_<NNNNN>.npy``
(float32, scene units), its Normal pass in camera space as
``<out>/scene_normal/normal_<NNNNN>.npy`` (float32 H×W×3, x right, y up, z toward the
camera; 0 where no surface), for an init from the scene Blender's own render of the first frame
as ``<out>/init/scene_render.png`` and, for scene-guided rendering (``scene_blend``), its
render of every frame as ``<out>/scene_render/frame_<NNNNN>.png``.
Video Input mode extracts the video once into ``<out>/video_input/frame_<NNNNN>.png``
(and the mask video into ``<out>/video_mask/``), numbered by the output frame each
drives, with ``extracted.json`` written last to mark a complete extraction.
"""

from __future__ import annotations

import re
from pathlib import Path

FRAMES_DIR = "frames"
DEPTH_DIR = "depth"
#: Where the Blender layer leaves the scene's Z pass for the worker (``engine/motion.py``).
SCENE_DEPTH_DIR = "scene_depth"
#: Where the Blender layer leaves the scene's normals in camera space (``scene_normal`` units).
SCENE_NORMAL_DIR = "scene_normal"
#: Where the Blender layer leaves its own render of the first frame, for an init from it.
INIT_DIR = "init"
SCENE_RENDER_FILE = "scene_render.png"
#: Blender's mixdown of the scene's sound strips, the video's soundtrack (Scene Audio).
SCENE_AUDIO_FILE = "scene_audio.wav"
#: Where the Blender layer leaves its render of every frame, for scene-guided rendering.
SCENE_RENDERS_DIR = "scene_render"
#: Video Input mode: the extracted video frames and mask frames, and the marker of a
#: complete extraction (written last).
VIDEO_INPUT_DIR = "video_input"
VIDEO_MASK_DIR = "video_mask"
EXTRACTION_MARKER = "extracted.json"
#: With save_controlnet_inputs: each ControlNet unit's control image per diffused frame.
CONTROLNET_DIR = "controlnet"
#: After the frames (``engine/finish.py``): the upscaled and the interpolated frames.
UPSCALED_DIR = "upscaled"
INTERPOLATED_DIR = "interpolated"
JOB_FILE = "job.json"
RUN_FILE = "run.json"
SETTINGS_FILE = "deforum_settings.txt"
VIDEO_FILE = "video.mp4"
#: The worker's log of the render into this folder (``engine/worker.py``).
WORKER_LOG_FILE = "worker.log"
#: The files of one run at the top of the folder, which a fresh render replaces.
RUN_FILES = (JOB_FILE, RUN_FILE, SETTINGS_FILE, VIDEO_FILE, WORKER_LOG_FILE)
TEMP_SUFFIX = ".tmp"

_FRAME_FILE = re.compile(r"^frame_(-?\d+)\.png$")
_TEMP_FILE = re.compile(r"^\.(frame|depth)_-?\d+\.(png|json)\.tmp$")


def frame_name(frame: int) -> str:
    """``frame_00012.png`` for Blender frame 12."""
    return f"frame_{int(frame):05d}.png"


def sidecar_name(frame: int) -> str:
    """``frame_00012.json``: the small JSON record written beside each frame."""
    return f"frame_{int(frame):05d}.json"


def depth_name(frame: int) -> str:
    """``depth_00012.png``: a 16-bit depth map for Blender frame 12."""
    return f"depth_{int(frame):05d}.png"


def scene_depth_name(frame: int) -> str:
    """``depth_00012.npy``: the scene's Z pass of Blender frame 12, as Blender writes it."""
    return f"depth_{int(frame):05d}.npy"


def scene_normal_name(frame: int) -> str:
    """``normal_00012.npy``: the scene's camera-space normals of Blender frame 12."""
    return f"normal_{int(frame):05d}.npy"


def temp_name(final_name: str) -> str:
    """The hidden name a file is written under before its rename: ``.frame_00012.png.tmp``."""
    return f".{final_name}{TEMP_SUFFIX}"


def frames_dir(out: str | Path) -> Path:
    """``<out>/frames``."""
    return Path(out) / FRAMES_DIR


def depth_dir(out: str | Path) -> Path:
    """``<out>/depth``."""
    return Path(out) / DEPTH_DIR


def scene_depth_dir(out: str | Path) -> Path:
    """``<out>/scene_depth``: the scene's Z pass, one ``depth_<NNNNN>.npy`` per frame."""
    return Path(out) / SCENE_DEPTH_DIR


def scene_depth_frame_path(out: str | Path, frame: int) -> Path:
    """``<out>/scene_depth/depth_<NNNNN>.npy``: the scene's Z pass of ``frame``."""
    return scene_depth_dir(out) / scene_depth_name(frame)


def scene_normal_dir(out: str | Path) -> Path:
    """``<out>/scene_normal``: the scene's camera-space normals, one ``normal_<NNNNN>.npy`` each."""
    return Path(out) / SCENE_NORMAL_DIR


def scene_normal_frame_path(out: str | Path, frame: int) -> Path:
    """``<out>/scene_normal/normal_<NNNNN>.npy``: the scene's normals of ``frame``."""
    return scene_normal_dir(out) / scene_normal_name(frame)


def job_path(out: str | Path) -> Path:
    """``<out>/job.json``: exactly what was asked."""
    return Path(out) / JOB_FILE


def run_path(out: str | Path) -> Path:
    """``<out>/run.json``: what ran (model, device, versions, timings, seeds)."""
    return Path(out) / RUN_FILE


def settings_path(out: str | Path) -> Path:
    """``<out>/deforum_settings.txt``: the render as an sd-webui-deforum settings file."""
    return Path(out) / SETTINGS_FILE


def video_path(out: str | Path) -> Path:
    """``<out>/video.mp4``: the frames as a video, when asked."""
    return Path(out) / VIDEO_FILE


def worker_log_path(out: str | Path) -> Path:
    """``<out>/worker.log``: the worker's log of the render into ``out``."""
    return Path(out) / WORKER_LOG_FILE


def scene_audio_path(out: str | Path) -> Path:
    """``<out>/scene_audio.wav``: the scene's sound strips mixed down by Blender."""
    return Path(out) / SCENE_AUDIO_FILE


def scene_render_path(out: str | Path) -> Path:
    """``<out>/init/scene_render.png``: Blender's render of the first frame, as the init."""
    return Path(out) / INIT_DIR / SCENE_RENDER_FILE


def scene_renders_dir(out: str | Path) -> Path:
    """``<out>/scene_render``: Blender's render of every frame (scene-guided rendering)."""
    return Path(out) / SCENE_RENDERS_DIR


def scene_render_frame_path(out: str | Path, frame: int) -> Path:
    """``<out>/scene_render/frame_<NNNNN>.png``: Blender's render of ``frame``."""
    return scene_renders_dir(out) / frame_name(frame)


def video_input_dir(out: str | Path) -> Path:
    """``<out>/video_input``: the video's frames, ``frame_<NNNNN>.png`` per output frame."""
    return Path(out) / VIDEO_INPUT_DIR


def video_mask_dir(out: str | Path) -> Path:
    """``<out>/video_mask``: the mask video's frames, ``frame_<NNNNN>.png`` per output frame."""
    return Path(out) / VIDEO_MASK_DIR


def frame_path(out: str | Path, frame: int) -> Path:
    """``<out>/frames/frame_<NNNNN>.png``."""
    return frames_dir(out) / frame_name(frame)


def sidecar_path(out: str | Path, frame: int) -> Path:
    """``<out>/frames/frame_<NNNNN>.json``."""
    return frames_dir(out) / sidecar_name(frame)


def depth_path(out: str | Path, frame: int) -> Path:
    """``<out>/depth/depth_<NNNNN>.png``."""
    return depth_dir(out) / depth_name(frame)


def frame_number(name: str) -> int | None:
    """The Blender frame of a finished frame's file name, or None for any other file."""
    match = _FRAME_FILE.match(name)
    return int(match.group(1)) if match else None


def is_temp_name(name: str) -> bool:
    """True for the hidden in-progress files (``.frame_00012.png.tmp``) a killed run leaves."""
    return _TEMP_FILE.match(name) is not None


def frame_files(out: str | Path) -> dict[int, Path]:
    """Finished frame files in ``<out>/frames`` by Blender frame number (not checked to decode)."""
    folder = frames_dir(out)
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        number = frame_number(path.name)
        if number is not None and path.is_file():
            found[number] = path
    return dict(sorted(found.items()))


def controlnet_input_path(out: str | Path, unit: int, frame: int) -> Path:
    """``<out>/controlnet/cn1_00012.png``: unit 1's control image for Blender frame 12."""
    return Path(out) / CONTROLNET_DIR / f"cn{int(unit)}_{int(frame):05d}.png"
