"""One folder, one render (issue 21): the lock, what may be resumed, how a run ended.

Through the interfaces where the cases were found: the CLI as a subprocess (exit status,
the error line, the frames left in the folder) and the engine's ``render``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from deforum_blender.core.folder_lock import LOCK_FILE, FolderLockedError, folder_lock
from deforum_blender.core.output_layout import frame_files, frame_path, frames_dir
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import tiny_job
from tests.helpers import ROOT, frame_bytes

pytestmark = pytest.mark.heavy

SETTINGS = ROOT / "tests" / "core" / "data" / "deforum_simple_settings.txt"
PREVIEW = ("--set", "W=64", "--set", "H=64", "--set", "depth_source=flat")


def cli(
    *args: str, timeout: float = 180, python: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """The command line in a fresh process; ``python``: the interpreter's own options."""
    return subprocess.run(
        [sys.executable, *python, "-m", "deforum_blender", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


def _ctrl_c_as_in_a_terminal() -> None:
    # A shell's background job starts with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: the run behaves as if in a terminal whoever started pytest.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "deforum_blender", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stderr.strip().splitlines()[-1]


def preview(out: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return cli("render", str(SETTINGS), "--preview", *PREVIEW, "--out", str(out), *more)


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# -- the lock -------------------------------------------------------------------------------


def test_a_render_into_a_locked_folder_names_the_holder_and_writes_nothing(
    tmp_path: Path,
) -> None:
    with folder_lock(tmp_path) as holder:
        result = preview(tmp_path)
        assert (tmp_path / LOCK_FILE).is_file()
    assert result.returncode == 2
    line = last_line(result)
    assert f"locked by process {holder.pid} on {holder.host}" in line, line
    assert LOCK_FILE in line  # the way out when no render runs
    assert not frame_files(tmp_path) and not (tmp_path / "job.json").exists()
    assert not (tmp_path / LOCK_FILE).exists()  # released


def test_a_lock_left_by_a_killed_render_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    pid = dead_pid()
    record = {"pid": pid, "host": socket.gethostname(), "started": "2026-01-01T00:00:00"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(record))
    result = preview(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"took over the lock of process {pid}" in result.stderr
    assert len(frame_files(tmp_path)) == 5 and not (tmp_path / LOCK_FILE).exists()


def test_a_lock_from_another_host_is_not_taken_over(tmp_path: Path) -> None:
    record = {"pid": dead_pid(), "host": "another-host.example", "started": "2026-01-01"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(record))
    with pytest.raises(FolderLockedError, match=r"another-host\.example"), folder_lock(tmp_path):
        pass
    assert json.loads((tmp_path / LOCK_FILE).read_text()) == record  # left alone


def test_a_lock_held_by_a_live_process_is_never_taken_over(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from deforum_blender.core.folder_lock import folder_lock\n"
            "with folder_lock(sys.argv[1]):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = pytest.raises(FolderLockedError, match=f"process {holder.pid} ")
        with refused, folder_lock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path, warn=lambda message: None) as taken:  # killed: now stale
        assert taken.pid == os.getpid()


@pytest.mark.slow
def test_two_renders_started_at_once_one_renders_the_other_exits_2(tmp_path: Path) -> None:
    # Two different jobs (seeds 1 and 2): the folder must end with exactly the winner's frames.
    long = ("--set", "max_frames=40")
    reference = {}
    for seed in (1, 2):
        done = preview(tmp_path / f"reference_{seed}", *long, "--set", f"seed={seed}")
        assert done.returncode == 0, done.stderr[-3000:]
        reference[seed] = frame_bytes(tmp_path / f"reference_{seed}")
    assert reference[1] != reference[2]
    for attempt in range(10):
        out = tmp_path / f"pair_{attempt}"
        common = ("render", str(SETTINGS), "--preview", *PREVIEW, *long, "--out", str(out))
        runs = {seed: start_cli(*common, "--set", f"seed={seed}") for seed in (1, 2)}
        results = {
            seed: (run.wait(timeout=300), run.communicate()[1]) for seed, run in runs.items()
        }
        statuses = sorted(status for status, _ in results.values())
        assert statuses == [0, 2], results
        (winner,) = [seed for seed, (status, _) in results.items() if status == 0]
        (loser_error,) = [error for status, error in results.values() if status == 2]
        # Named with its holder, or (lost by microseconds) as a lock still being written.
        assert re.search(r"is locked by (process|another render)", loser_error), loser_error[-2000:]
        assert frame_bytes(out) == reference[winner]
        assert json.loads((out / "job.json").read_text())["seeds"]["seed"] == winner


# -- what may be resumed --------------------------------------------------------------------


def test_a_preview_is_not_resumed_as_a_full_render(tmp_path: Path) -> None:
    assert preview(tmp_path).returncode == 0
    kept = frame_bytes(tmp_path)
    frame_path(tmp_path, 5).unlink()
    result = cli("render", str(SETTINGS), *PREVIEW, "--out", str(tmp_path), "--resume")
    assert result.returncode == 2
    line = last_line(result)
    assert "holds a motion preview (--preview)" in line and "a full render" in line, line
    assert frame_bytes(tmp_path) == {n: b for n, b in kept.items() if n != 5}


def test_a_random_seed_is_not_redrawn_when_run_json_is_lost(tmp_path: Path) -> None:
    assert preview(tmp_path, "--set", "seed=-1").returncode == 0
    kept = frame_bytes(tmp_path)
    frame_path(tmp_path, 5).unlink()
    for damage in ("{not json", None):
        if damage is None:
            (tmp_path / "run.json").unlink()
        else:
            (tmp_path / "run.json").write_text(damage)
        result = preview(tmp_path, "--set", "seed=-1", "--resume")
        assert result.returncode == 2
        line = last_line(result)
        assert "run.json is missing or damaged" in line and "seed" in line, line
        assert set(frame_bytes(tmp_path).items()) < set(kept.items())


@pytest.mark.parametrize("resume", [False, True])
def test_frames_without_job_json_are_never_resumed(tmp_path: Path, resume: bool) -> None:
    assert preview(tmp_path).returncode == 0
    kept = frame_bytes(tmp_path)
    (tmp_path / "job.json").unlink()
    frame_path(tmp_path, 5).unlink()
    result = preview(tmp_path, "--set", "noise_schedule=0: (0.3)", *(["--resume"] * resume))
    assert result.returncode == 2
    line = last_line(result)
    assert "no readable job.json" in line and "resuming" not in result.stdout, line
    assert frame_bytes(tmp_path) == {n: b for n, b in kept.items() if n != 5}


def test_a_different_job_names_what_differs(tmp_path: Path) -> None:
    assert preview(tmp_path).returncode == 0
    result = preview(tmp_path, "--set", "noise_schedule=0: (0.3)", "--resume")
    assert result.returncode == 2
    assert "different job (params differ)" in last_line(result)


def test_a_folder_without_frames_takes_a_new_job(tmp_path: Path) -> None:
    assert preview(tmp_path).returncode == 0
    for path in frames_dir(tmp_path).iterdir():
        path.unlink()
    result = preview(tmp_path, "--set", "noise_schedule=0: (0.3)")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "job.json").read_text())["params"]["noise"] == "0: (0.3)"


# -- inputs checked before anything is loaded or written -------------------------------------


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"use_init": "true", "init_image": "{missing}"}, "init_image"),
        ({"use_mask": "true", "mask_file": "{missing}"}, "mask_file"),
        (
            {"color_coherence": "Image", "color_coherence_image_path": "{missing}"},
            "color_coherence_image_path",
        ),
        ({"animation_mode": "Video Input", "video_init_path": "{missing}"}, "video_init_path"),
        ({"use_mask_video": "true", "video_mask_path": "{missing}"}, "video_mask_path"),
        ({"depth_source": "estimated", "depth_model": "{missing}"}, "depth_model"),
    ],
)
def test_a_missing_input_file_is_refused_before_the_model_loads(
    tiny_models: Path, tmp_path: Path, settings: dict[str, str], field: str
) -> None:
    missing = str(tmp_path / "no_such_file.png")
    job = tiny_job(tiny_models, **{k: v.format(missing=missing) for k, v in settings.items()})
    job = dataclasses.replace(job, model=dataclasses.replace(job.model, id=str(tmp_path / "x")))
    out = tmp_path / "out"
    with pytest.raises(Exception, match=field) as raised:
        render(job, out)
    assert str(tmp_path / "x") not in str(raised.value)  # refused before the model is looked at
    assert not out.exists() or not any(out.iterdir())


def test_a_bad_init_image_then_a_good_one_renders(tiny_models: Path, tmp_path: Path) -> None:
    good = tmp_path / "init.png"
    out = tmp_path / "out"
    job = tiny_job(tiny_models, use_init="true", init_image=str(good), max_frames="2")
    with pytest.raises(Exception, match="init_image"):
        render(job, out)
    render(tiny_job(tiny_models, max_frames="2"), tmp_path / "pattern")
    good.write_bytes(frame_path(tmp_path / "pattern", 1).read_bytes())
    result = render(job, out)
    assert sorted(result.written) == [1, 2]


def test_a_motion_preview_imports_no_diffusion_library_and_still_names_its_version(
    tmp_path: Path,
) -> None:
    from importlib import metadata

    command = ("render", str(SETTINGS), "--preview", *PREVIEW, "--set", "max_frames=2")
    done = cli(*command, "--out", str(tmp_path), python=("-X", "importtime"))
    assert done.returncode == 0, done.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "cv2" in imported and not {"diffusers", "transformers"} & imported
    # A CPU build of torch cannot see a GPU: the preview does not import it to ask.
    assert ("torch" in imported) == (not metadata.version("torch").endswith("+cpu"))
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["versions"]["torch"] == metadata.version("torch")
    assert record["versions"]["diffusers"] == metadata.version("diffusers")
    assert record["versions"]["transformers"] == metadata.version("transformers")


# -- how a run ended -------------------------------------------------------------------------


def _wait_for_frames(out: Path, run: subprocess.Popen[str], count: int) -> None:
    for _ in range(6000):
        if len(frame_files(out)) >= count or run.poll() is not None:
            return
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("signal_number", "status"), [(signal.SIGINT, "cancelled"), (signal.SIGTERM, "terminated")]
)
def test_ctrl_c_and_sigterm_leave_run_json_saying_how_the_run_ended(
    tmp_path: Path, signal_number: int, status: str
) -> None:
    run = start_cli(
        "render", str(SETTINGS), "--preview", *PREVIEW, "--set", "max_frames=400",
        "--out", str(tmp_path),
    )  # fmt: skip
    _wait_for_frames(tmp_path, run, 2)
    assert run.poll() is None, run.communicate()
    run.send_signal(signal_number)
    _, error = run.communicate(timeout=120)
    assert run.returncode == 1, error[-3000:]
    assert "Traceback" not in error, error[-3000:]
    record: dict[str, Any] = json.loads((tmp_path / "run.json").read_text())
    assert record["status"] == status
    assert not (tmp_path / LOCK_FILE).exists()
    assert 2 <= len(frame_files(tmp_path)) < 400
