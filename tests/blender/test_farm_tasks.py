"""The Flamenco job type's tasks, compiled from a real scene and run on this machine.

The scene (frames 1-8, cut at frame 5 by a timeline marker binding camera B, farm seeds
1, 2, 3) gives its job settings through the job type's own ``eval`` expressions; Node
compiles the job (``tests/flamenco_harness.js``); the tasks' command lines then run in
dependency order with the ``bpy`` module standing in for ``blender``
(``scripts/fake_blender.py``), and every segment's frames must be a direct render's,
bitwise. One task is killed mid-render and run again: it resumes to the same frames.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from deforum_blender.core.folder_lock import lock_path
from deforum_blender.core.output_layout import frame_path
from tests.farm_helpers import compile_job, job_type
from tests.helpers import RENDER_SCRIPT, SCRIPTS, frame_bytes, run_test_script

pytestmark = [pytest.mark.slow, pytest.mark.heavy]

SEEDS = ("1", "2", "3")
SEGMENTS = ("1-4", "5-8")
# Flamenco's Manager variables as a worker would expand them here.
VARIABLES = {
    "{blender}": [sys.executable, str(SCRIPTS / "fake_blender.py")],
    "{blenderArgs}": ["-b", "-y"],
}


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> SimpleNamespace:
    """The saved shot, its evaluated settings, the camera track's cuts and the tasks."""
    folder = tmp_path_factory.mktemp("farm")
    blend, root = folder / "shot.blend", folder / "renders"
    described = folder / "job_type.json"
    described.write_text(json.dumps(job_type()), encoding="utf-8")
    result = run_test_script(
        "farm_scene", str(blend), str(tiny_models / "sd"), str(described), str(root)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scene = json.loads(result.stdout.strip().splitlines()[-1])
    settings = {
        **scene["settings"],
        "render_output_root": str(root),
        "render_script": "{deforum_script}",
        "make_video": True,
        "blendfile": str(blend),
        "job_file": "",
    }
    tasks = compile_job(settings, folder)
    return SimpleNamespace(folder=folder, blend=blend, scene=scene, tasks=tasks)


@pytest.fixture(scope="module")
def direct(farm: SimpleNamespace) -> Path:
    """Each segment × seed rendered directly (not through the farm's command lines)."""
    out = farm.folder / "direct"
    result = run_test_script(
        "farm_direct",
        str(farm.blend),
        str(out),
        ",".join(SEGMENTS),
        ",".join(SEEDS),
        env={"DEFORUM_WORKER_PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def command_line(task: dict[str, Any]) -> list[str]:
    """The task's command as a Flamenco worker composes it, variables expanded here."""
    (command,) = task["commands"]
    parameters = command["parameters"]
    assert command["name"] == "blender-render", command
    args = [RENDER_SCRIPT.as_posix() if a == "{deforum_script}" else a for a in parameters["args"]]
    return [
        *VARIABLES[parameters["exe"]],
        *VARIABLES[parameters["exeArgs"]],
        *parameters["argsBefore"],
        parameters["blendfile"],
        *args,
    ]


def start(task: dict[str, Any], cwd: Path) -> subprocess.Popen[str]:
    """Run a render task as a worker does: its own process group, the worker Python set."""
    env = {**os.environ, "PYTHONPATH": "", "DEFORUM_WORKER_PYTHON": sys.executable}
    return subprocess.Popen(
        command_line(task),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def out_dir(task: dict[str, Any]) -> Path:
    args = task["commands"][0]["parameters"]["args"]
    return Path(args[args.index("--out") + 1])


def seed_and_frames(task: dict[str, Any]) -> tuple[str, str]:
    args = task["commands"][0]["parameters"]["args"]
    return args[args.index("--set") + 1].removeprefix("seed="), args[args.index("--frames") + 1]


def frames_to_video(task: dict[str, Any]) -> None:
    """Flamenco's ``frames-to-video`` command on Linux, with imageio-ffmpeg's ffmpeg."""
    from deforum_blender.engine.video import ffmpeg_executable

    (command,) = task["commands"]
    p = command["parameters"]
    assert (command["name"], p["exe"]) == ("frames-to-video", "ffmpeg")
    argv = [ffmpeg_executable(), "-pattern_type", "glob", "-r", str(p["fps"])]
    argv += ["-i", p["inputGlob"], *(str(a) for a in p["args"]), p["outputFile"]]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def dependency_order(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks with each after every task it depends on (Flamenco's scheduling)."""
    done: list[dict[str, Any]] = []
    waiting = list(tasks)
    while waiting:
        ready = [t for t in waiting if set(t["dependencies"]) <= {d["name"] for d in done}]
        assert ready, f"a dependency cycle among {[t['name'] for t in waiting]}"
        done += ready
        waiting = [t for t in waiting if t not in ready]
    return done


def test_the_scene_gives_two_segments_and_three_seeds(farm: SimpleNamespace) -> None:
    assert farm.scene["cuts"] == [5]  # the camera track's own cut is the segment border
    assert farm.scene["settings"]["segments"] == ",".join(SEGMENTS)
    renders = [t for t in farm.tasks if t["type"] == "deforum"]
    videos = [t for t in farm.tasks if t["type"] == "ffmpeg"]
    assert (len(renders), len(videos)) == (6, 3)
    assert sorted(seed_and_frames(t) for t in renders) == sorted(
        (seed, frames) for seed in SEEDS for frames in SEGMENTS
    )


def test_a_killed_task_run_again_resumes_to_the_same_frames(
    farm: SimpleNamespace, direct: Path
) -> None:
    (task,) = [t for t in farm.tasks if t["name"] == "render-seed_2-1-4"]
    out = out_dir(task)
    shutil.rmtree(out, ignore_errors=True)
    first = frame_path(out, 1)
    process = start(task, farm.folder)
    for _ in range(6000):  # bounded: at most about ten minutes
        if first.is_file() or process.poll() is not None:
            break
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)  # the task's process (its worker has a session
    process.wait(timeout=60)  # of its own: it sees its stdin close and cancels the render)
    for _ in range(1200):  # bounded: a requeued task meanwhile would be refused the folder
        if not lock_path(out).exists():
            break
        time.sleep(0.1)
    assert not lock_path(out).exists(), "the killed task's worker never released the folder"
    kept = frame_bytes(out)
    assert 1 in kept and len(kept) < 4, f"killed after frames {sorted(kept)}: not mid-render"
    kept_times = {n: frame_path(out, n).stat().st_mtime_ns for n in kept}

    again = start(task, farm.folder)
    output, _ = again.communicate(timeout=600)
    assert again.returncode == 0, output[-3000:]
    assert {n: frame_path(out, n).stat().st_mtime_ns for n in kept} == kept_times  # kept
    assert frame_bytes(out) == frame_bytes(direct / "seed_2" / "1-4")


def test_tasks_run_in_dependency_order_give_each_segments_direct_render(
    farm: SimpleNamespace, direct: Path
) -> None:
    for task in dependency_order(farm.tasks):
        if task["type"] == "ffmpeg":
            assert all(
                frame_bytes(out_dir(d)) for d in farm.tasks if d["name"] in task["dependencies"]
            )
            frames_to_video(task)
            continue
        process = start(task, farm.folder)
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output[-3000:]
        seed, frames = seed_and_frames(task)
        rendered = frame_bytes(out_dir(task))
        first, last = (int(n) for n in frames.split("-"))
        assert sorted(rendered) == list(range(first, last + 1))
        assert rendered == frame_bytes(direct / f"seed_{seed}" / frames), task["name"]
    import imageio_ffmpeg

    for seed in SEEDS:
        video = farm.folder / "renders" / "shot" / f"seed_{seed}" / f"seed_{seed}.mp4"
        assert imageio_ffmpeg.count_frames_and_secs(str(video))[0] == 8
