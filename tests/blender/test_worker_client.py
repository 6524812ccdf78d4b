"""Blender's side of the worker: choosing the Python, events, crashes, cancel, the installed zip."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import time
import venv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.blender import worker_client
from deforum_blender.blender.environment import venv_python
from deforum_blender.blender.worker_client import (
    WorkerClient,
    WorkerPythonError,
    event_timer,
    find_worker_python,
)
from deforum_blender.core.job import Job
from deforum_blender.core.output_layout import frame_files
from deforum_blender.core.overrides import apply_overrides
from deforum_blender.engine.tiny_models import tiny_job
from tests.helpers import ROOT, run_test_script

PREVIEW_JOB = apply_overrides(
    Job(),
    {"W": "64", "H": "64", "max_frames": "3", "depth_source": "flat", "make_video": "false"},
).to_dict()


def fake_python(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def drive(tick: Any, seconds: float = 120.0) -> float:
    """Call a timer function as Blender would until it returns None; how long that took."""
    start = time.monotonic()
    while (interval := tick()) is not None:
        assert time.monotonic() - start < seconds, "the timer never unregistered"
        time.sleep(min(interval, 0.01))
    return time.monotonic() - start


@pytest.fixture
def clients() -> Any:
    """Clients started by a test, stopped at its end whatever happened."""
    started: list[WorkerClient] = []
    yield started
    for client in started:
        client.stop(grace_s=5)


def test_worker_python_comes_from_preference_then_env_then_venv_then_blender(
    tmp_path: Path,
) -> None:
    chosen = fake_python(tmp_path / "chosen" / "python")
    venv_dir = tmp_path / "venv"
    no_venv = tmp_path / "no_venv"
    from_pref = find_worker_python(chosen, environ={}, venv_dir=no_venv, current="")
    assert (from_pref.path, from_pref.source) == (chosen, "preference")
    env = {worker_client.ENV_VARIABLE: chosen}
    assert find_worker_python("", environ=env, venv_dir=no_venv).source == "environment"
    made = fake_python(venv_python(venv_dir))
    assert find_worker_python("", environ={}, venv_dir=venv_dir) == (
        worker_client.WorkerPython(made, "venv")
    )
    # Nothing configured: this interpreter has torch and diffusers, so it runs the worker.
    blender = find_worker_python("", environ={}, venv_dir=no_venv, current=sys.executable)
    assert (blender.path, blender.source) == (sys.executable, "blender")


def test_a_missing_worker_python_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(WorkerPythonError, match="preferences"):
        find_worker_python(str(tmp_path / "nope"), environ={}, venv_dir=tmp_path)
    with pytest.raises(WorkerPythonError, match=worker_client.ENV_VARIABLE):
        find_worker_python("", environ={worker_client.ENV_VARIABLE: "/no/python"})
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)  # a real Python without torch
    with pytest.raises(WorkerPythonError, match=r"deforum\.setup_environment"):
        find_worker_python(
            "", environ={}, venv_dir=tmp_path / "none", current=str(venv_python(bare))
        )


def test_the_client_renders_through_the_worker_and_the_timer_stops_at_done(
    tiny_models: Path, tmp_path: Path, clients: list[WorkerClient]
) -> None:
    client = WorkerClient.launch(sys.executable)
    clients.append(client)
    # Right after launch the worker can only have said it is ready (poll returns at once).
    assert {e["type"] for e in client.poll()} <= {"ready"}
    client.send("ping")
    seen: list[dict[str, Any]] = []
    assert client.render(PREVIEW_JOB, tmp_path / "a", preview=True)
    drive(event_timer(client, seen.append))
    kinds = [e["type"] for e in seen]
    assert kinds[0] == "ready" and "pong" in kinds and kinds[-1] == "done"
    assert [e["frame"] for e in seen if e["type"] == "frame"] == [1, 2, 3]
    assert sorted(frame_files(tmp_path / "a")) == [1, 2, 3]
    assert client.ready is not None
    assert client.ready["package"] == str(ROOT / "deforum_blender")
    # Background mode: the same worker, a blocking wait.
    assert client.render(PREVIEW_JOB, tmp_path / "b", preview=True)
    assert client.wait(timeout=120)["type"] == "done"
    assert not client.rendering and client.alive
    # A job that raises mid-loop (no scene depth for frame 2, which frame 3 is warped from):
    # an error, the timer stops, and the worker lives on for the next job.
    failing = tiny_job(tiny_models, depth_source="scene", diffusion_cadence="1", max_frames="4")
    for frame in (1,):
        depth = tmp_path / "c" / "scene_depth" / f"depth_{frame:05d}.npy"
        depth.parent.mkdir(parents=True, exist_ok=True)
        np.save(depth, np.full((64, 64), 4.0, np.float32))
    seen.clear()
    assert client.render(failing.to_dict(), tmp_path / "c")
    drive(event_timer(client, seen.append))
    error = seen[-1]
    assert error["type"] == "error" and not error.get("crashed")
    assert "frame 2" in error["message"] and error["request"] == "render"
    assert "Traceback" in error["traceback"]
    assert [e["frame"] for e in seen if e["type"] == "frame"] == [1, 2]
    assert client.render(PREVIEW_JOB, tmp_path / "d", preview=True)
    assert client.wait(timeout=120)["type"] == "done"


def test_a_killed_worker_is_reported_and_the_timer_stops(
    tiny_models: Path, tmp_path: Path, clients: list[WorkerClient]
) -> None:
    client = WorkerClient.launch(sys.executable)
    clients.append(client)
    job = tiny_job(tiny_models, max_frames="12", diffusion_cadence="1")
    client.render(job.to_dict(), tmp_path)
    while not [e for e in client.poll() if e["type"] == "frame"]:
        assert client.alive
        time.sleep(0.01)
    seen: list[dict[str, Any]] = []
    assert client.process is not None
    os.kill(client.process.pid, signal.SIGKILL)
    # A bound against hanging, not a timing claim (the latency is measured by `bench`).
    drive(event_timer(client, seen.append), seconds=60.0)
    crash = seen[-1]
    assert crash["type"] == "error" and crash["crashed"]
    assert crash["exit_status"] == -signal.SIGKILL
    assert "stopped unexpectedly" in crash["message"]
    assert "INFO worker" in crash["traceback"]  # the worker's own last log lines
    # Asking the dead worker for more says so again instead of waiting forever.
    assert not client.render(job.to_dict(), tmp_path, resume=True)
    assert client.wait(timeout=1)["crashed"]


def test_a_worker_that_dies_is_reported_with_its_last_message(
    clients: list[WorkerClient],
) -> None:
    dying = "import sys; print('loading', file=sys.stderr); sys.exit('No module named torch')"
    client = WorkerClient([sys.executable, "-c", dying]).start()
    clients.append(client)
    seen: list[dict[str, Any]] = []
    drive(event_timer(client, seen.append), seconds=10)
    assert len(seen) == 1 and seen[0]["type"] == "error"
    assert seen[0]["message"].endswith("(exit status 1): No module named torch")
    assert seen[0]["traceback"] == "loading\nNo module named torch"


def test_a_worker_that_ignores_cancel_is_killed_after_the_grace_period(
    clients: list[WorkerClient],
) -> None:
    deaf = "import time; time.sleep(120)"
    client = WorkerClient([sys.executable, "-c", deaf]).start()
    clients.append(client)
    assert client.render(PREVIEW_JOB, "/nowhere")
    client.cancel(grace_s=0.2)
    ended = client.wait(timeout=30)
    assert ended["type"] == "cancelled" and ended["killed"]
    assert not client.alive


def test_stop_all_ends_every_worker_without_reporting_a_crash(
    clients: list[WorkerClient],
) -> None:
    reader = "import sys\nfor line in sys.stdin: pass"
    started = [WorkerClient([sys.executable, "-c", reader]).start() for _ in range(2)]
    clients.extend(started)
    worker_client.stop_all()
    for client in started:
        assert not client.alive and client.exited.is_set()
        assert client.poll() == []


def test_the_installed_extension_runs_its_own_worker_and_stops_workers_at_exit(
    extension_zip: Path, tmp_path: Path
) -> None:
    env = {
        "BLENDER_USER_EXTENSIONS": str(tmp_path / "extensions"),
        "BLENDER_USER_CONFIG": str(tmp_path / "config"),
        "BLENDER_USER_SCRIPTS": str(tmp_path / "scripts"),
        "PYTHONPATH": "",
        worker_client.ENV_VARIABLE: "",
    }
    out = tmp_path / "out"
    result = run_test_script(
        "installed_worker", str(extension_zip), json.dumps(PREVIEW_JOB), str(out), env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    installed = tmp_path / "extensions" / "user_default" / "deforum_blender"
    assert report["source"] == "blender"
    assert report["package"] == str(installed)
    assert report["ended"] == "done", report["message"]
    assert report["frames"] == [1, 2, 3] and report["reused"]
    assert report["stopped_on_unregister"]
    assert report["venv"].startswith(str(tmp_path / "extensions" / ".user"))
    with pytest.raises(ProcessLookupError):
        os.kill(report["deaf_pid"], 0)
