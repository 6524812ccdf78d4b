"""Helpers shared by test modules: subprocesses of this venv, render records, test videos,
and the recording UI layout. Test modules import these from here, never from each other.

The tiny job itself is the package's (``deforum_blender.engine.tiny_models.tiny_job``).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from deforum_blender.core.output_layout import frame_files, run_path

ROOT = Path(__file__).resolve().parent.parent
#: Scripts that tests run in a fresh interpreter (checked by ruff and mypy like any module).
SCRIPTS = Path(__file__).resolve().parent / "blender" / "scripts"
RENDER_SCRIPT = ROOT / "scripts" / "render_deforum.py"
VIDEO_FRAMES = 10


# -- subprocesses ---------------------------------------------------------------------------


def run_python(
    code: str,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter of this venv (real subprocess, repo on sys.path)."""
    return _run([sys.executable, "-c", code, *args], env, cwd, timeout)


def run_test_script(
    name: str,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``tests/blender/scripts/<name>.py ARGS`` in a fresh interpreter of this venv."""
    return _run([sys.executable, str(SCRIPTS / f"{name}.py"), *args], env, cwd, timeout)


def cli_command(*args: str) -> list[str]:
    """``python -m deforum_blender ARGS`` with this venv's interpreter."""
    return [sys.executable, "-m", "deforum_blender", *args]


# One OpenMP thread: the runs share a busy machine, and each adds up in the same order.
CLI_ENV = {"OMP_NUM_THREADS": "1"}


def run_cli_ok(command: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a :func:`cli_command` in a fresh process (repo on sys.path); asserts it succeeded."""
    done = _run(command, CLI_ENV, ROOT, timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def stop_half_way(
    command: list[str], folder: Path, written: int, signal_number: int
) -> tuple[int, str]:
    """Start ``command``, send it ``signal_number`` once ``folder`` holds ``written``
    ``frame_*.png`` files (asserting it was still running); its exit status and stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **CLI_ENV}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    while process.poll() is None and len(list(folder.glob("frame_*.png"))) < written:
        time.sleep(0.02)
    assert process.poll() is None, "the finish ended before it could be stopped half-way"
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def _run(
    command: list[str], env: dict[str, str] | None, cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        command, capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd
    )


def run_render_script(
    *args: str, cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python scripts/render_deforum.py -- ARGS`` with this venv's Python (the bpy module)."""
    env = {
        **os.environ,
        "PYTHONPATH": "",  # the script itself must make the add-on importable
        "DEFORUM_WORKER_PYTHON": sys.executable,
    }
    return subprocess.run(
        [sys.executable, str(RENDER_SCRIPT), "--", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


# -- what a render left -------------------------------------------------------------------


def frame_bytes(out: Path) -> dict[int, bytes]:
    """The bytes of every finished frame in ``out`` by Blender frame number."""
    return {number: path.read_bytes() for number, path in sorted(frame_files(out).items())}


def run_json(out: Path) -> dict[str, Any]:
    """``<out>/run.json``."""
    result: dict[str, Any] = json.loads(run_path(out).read_text(encoding="utf-8"))
    return result


# -- test videos --------------------------------------------------------------------------


def level(n: int) -> int:
    """The grey level of source frame ``n``: far enough apart to tell frames apart."""
    return 20 + 22 * n


def write_frames(folder: Path, images: list[np.ndarray[Any, Any]]) -> Path:
    """``folder/f_000.png`` … for ``images``."""
    from deforum_blender.engine.frames import write_png_atomic

    folder.mkdir(parents=True, exist_ok=True)
    for n, image in enumerate(images):
        write_png_atomic(folder / f"f_{n:03d}.png", image)
    return folder


def encode_video(frames: Path, video: Path) -> Path:
    """A lossless H.264 mp4 of the PNGs in ``frames`` (``f_000.png`` …)."""
    from deforum_blender.engine.video import ffmpeg_executable

    command = [ffmpeg_executable(), "-y", "-loglevel", "error", "-framerate", "10"]
    command += ["-i", str(frames / "f_%03d.png"), "-c:v", "libx264", "-qp", "0"]
    command += ["-pix_fmt", "yuv420p", str(video)]
    subprocess.run(command, check=True, capture_output=True)
    return video


def grey_video(tmp: Path, name: str = "grey", size: tuple[int, int] = (80, 64)) -> Path:
    """``VIDEO_FRAMES`` flat grey frames, frame n at ``level(n)``, W×H = ``size``."""
    width, height = size
    images = [np.full((height, width, 3), level(n), np.uint8) for n in range(VIDEO_FRAMES)]
    return encode_video(write_frames(tmp / f"{name}_frames", images), tmp / f"{name}.mp4")


# -- Blender's UI without a window (needs bpy) -----------------------------------------------


@functools.cache
def _ui_functions() -> Any:
    import bpy

    return bpy.types.UILayout.bl_rna.functions


@functools.cache
def _icons() -> frozenset[str]:
    items = _ui_functions()["prop"].parameters["icon"].enum_items
    return frozenset(item.identifier for item in items)


class RecordingLayout:
    """A UILayout stand-in: containers return child layouts; calls are checked against the
    real ``UILayout`` function's parameters (and icons) and recorded."""

    def __init__(self, record: dict[str, list[Any]]) -> None:
        self.record = record
        self.active = True
        self.alert = False
        self.enabled = True
        self.use_property_split = False
        self.ui_units_x = 0.0

    def _check(self, function: str, kwargs: dict[str, Any]) -> None:
        parameters = _ui_functions()[function].parameters
        unknown = [key for key in kwargs if key not in parameters]
        assert not unknown, f"UILayout.{function} has no {unknown}"
        icon = kwargs.get("icon")
        assert icon is None or icon in _icons(), f"unknown icon {icon!r}"

    def _child(self, function: str, **kwargs: Any) -> RecordingLayout:
        self._check(function, kwargs)
        child = RecordingLayout(self.record)
        self.record.setdefault("containers", []).append(child)
        return child

    def row(self, **kwargs: Any) -> RecordingLayout:
        return self._child("row", **kwargs)

    def column(self, **kwargs: Any) -> RecordingLayout:
        return self._child("column", **kwargs)

    def box(self, **kwargs: Any) -> RecordingLayout:
        return self._child("box", **kwargs)

    def split(self, **kwargs: Any) -> RecordingLayout:
        return self._child("split", **kwargs)

    def prop(self, data: Any, name: str, **kwargs: Any) -> None:
        self._check("prop", kwargs)
        self.record.setdefault("props", []).append((data, name, self))

    def label(self, **kwargs: Any) -> None:
        self._check("label", kwargs)
        self.record.setdefault("labels", []).append(kwargs.get("text", ""))

    def operator(self, idname: str, **kwargs: Any) -> Any:
        self._check("operator", kwargs)
        self.record.setdefault("operators", []).append(idname)
        return SimpleNamespace()

    def separator(self, **kwargs: Any) -> None:
        self._check("separator", kwargs)

    def template_list(self, *args: Any, **kwargs: Any) -> None:
        self._check("template_list", kwargs)
        list_type, _, data, name, active_data, active_name = args
        self.record.setdefault("lists", []).append(list_type)
        self.record.setdefault("props", []).append((data, name, self))
        self.record.setdefault("props", []).append((active_data, active_name, self))


def draw(panel: Any, scene: Any) -> dict[str, list[Any]]:
    """Run ``panel.draw`` (after its poll) with a recording layout; return the record."""
    from deforum_blender.blender import panels

    context = SimpleNamespace(scene=scene)
    assert panel.poll(context)
    record: dict[str, list[Any]] = {}
    stand_in = SimpleNamespace(layout=RecordingLayout(record))
    stand_in.parts = lambda ctx: panels._DeforumPanel.parts(stand_in, ctx)  # type: ignore[arg-type]
    panel.draw(stand_in, context)
    return record
