"""The render, preview and cancel operators with real Blender and a real worker.

The add-on is installed from the built extension zip through Blender's extension system,
the operator renders with the tiny model in background mode, and the UI path (the
``bpy.app.timers`` tick) is driven by hand, since timers never fire without a window.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.blender import ground_truth
from tests.helpers import run_test_script

pytestmark = pytest.mark.slow


def test_installed_extension_renders_eased_strength_into_a_strip_that_survives_reopen(
    extension_zip: Path, tiny_models: Path, tmp_path: Path
) -> None:
    out, blend = tmp_path / "render", tmp_path / "shot.blend"
    env = {
        "BLENDER_USER_EXTENSIONS": str(tmp_path / "extensions"),
        "BLENDER_USER_CONFIG": str(tmp_path / "config"),
        "BLENDER_USER_SCRIPTS": str(tmp_path / "scripts"),
        "PYTHONPATH": "",  # the installed copy must be what runs, not the checkout
        "DEFORUM_WORKER_PYTHON": sys.executable,
    }
    result = run_test_script(
        "installed_render",
        str(extension_zip),
        str(tiny_models / "sd"),
        str(out),
        str(blend),
        str(Path(ground_truth.__file__).parent),
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["install"] == ["FINISHED"] and report["status"] == ["FINISHED"]
    frames = [f"frame_{f:05d}.png" for f in range(1, 5)]
    assert all((out / "frames" / name).is_file() for name in frames)
    # The job the worker got carries the eased strength, frame by frame.
    job = json.loads((out / "job.json").read_text())
    assert report["interpolations"] == ["BEZIER"]
    assert job["params"]["strength"] == pytest.approx(report["eased"], abs=1e-6)
    eased = job["params"]["strength"]
    linear = [0.3 + 0.4 * i / 3 for i in range(4)]
    assert eased[1] < linear[1] - 0.01 and eased[2] > linear[2] + 0.01  # an ease, not a line
    assert job["params"]["steps"] == 4.0 and job["params"]["cfg_scale"] == 6.5
    assert sorted(p.name for p in (out / "scene_depth").iterdir()) == [
        f"depth_{f:05d}.npy" for f in range(1, 5)
    ]
    assert report["strips"] == [frames]
    (strip,) = report["reopened_strips"]
    assert strip["files"] == frames and strip["start"] == 1
    assert Path(strip["directory"]).resolve() == (out / "frames").resolve()
    assert report["reopened"] == {
        "model": str(tiny_models / "sd"),
        "steps": 4,
        "seed": 11,
        "prompts": ["a grey cube"],
    }


def _run_ui(tmp_path: Path, frames: int, cancel_after: int = 0) -> dict[str, Any]:
    result = run_test_script(
        "ui_ticks",
        str(tmp_path / "out"),
        str(frames),
        str(cancel_after),
        env={"DEFORUM_WORKER_PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_the_ui_timer_grows_the_strip_over_several_ticks_while_the_worker_renders(
    tmp_path: Path,
) -> None:
    report = _run_ui(tmp_path, frames=24)
    assert report["registered"] and report["state"] == "done", report
    assert report["written"] == 24 and len(report["strip"]) == 24
    assert report["ticks_with_frames"] >= 2  # the strip grew over several ticks
    # What a tick costs (report["max_cpu_ms"]) is a benchmark figure, not a test: a busy
    # machine slows any thread.
    assert report["render_poll_after"]  # the next render may start


def test_cancel_stops_the_render_and_keeps_the_frames_written_so_far(tmp_path: Path) -> None:
    report = _run_ui(tmp_path, frames=400, cancel_after=2)
    assert report["state"] == "cancelled", report
    written = sorted((tmp_path / "out" / "frames").glob("frame_*.png"))
    assert 2 <= len(written) < 400
    assert report["strip"] == [p.name for p in written]


# -- in this process: what fails before the worker starts -----------------------------------

bpy = pytest.importorskip("bpy")


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Any]:
    """The registered add-on in an empty scene with a camera, frames 1-3."""
    import deforum_blender

    bpy.ops.wm.read_factory_settings(use_empty=True)
    deforum_blender.register()
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 3
    scene.render.resolution_x = scene.render.resolution_y = 64
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.deforum.output_dir = str(tmp_path / "out")
    try:
        yield scene
    finally:
        deforum_blender.unregister()
        bpy.ops.wm.read_factory_settings(use_empty=True)


def test_render_without_prompts_reports_the_fix_and_starts_nothing(scene: Any) -> None:
    from deforum_blender.blender import render_session

    with pytest.raises(RuntimeError, match="prompt list is empty"):
        bpy.ops.deforum.render()
    assert render_session.active_session() is None
    assert bpy.ops.deforum.cancel.poll() is False


def test_a_new_render_clears_only_the_files_of_the_last_one(tmp_path: Path) -> None:
    from deforum_blender.blender.render_session import clear_previous_render

    out = tmp_path / "out"
    ours = [
        out / "frames" / "frame_00001.png",
        out / "frames" / "frame_00001.json",
        out / "frames" / ".frame_00002.png.tmp",
        out / "scene_depth" / "depth_00001.npy",
        out / "init" / "scene_render.png",
        out / "job.json",
        out / "run.json",
        out / "video.mp4",
        out / "interpolated" / "frame_00000.png",  # else the next finish would keep them
        out / "upscaled" / "frame_00001.png",
    ]
    theirs = [out / "notes.txt", out / "frames" / "reference.png", out / "init" / "mine.png"]
    for path in ours + theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    clear_previous_render(out)
    assert [p for p in ours if p.exists()] == []
    assert all(p.exists() for p in theirs)
