"""The worker process for real: a subprocess speaking JSON lines, killed, cancelled, reused."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from deforum_blender.core.job import Job
from deforum_blender.core.output_layout import frame_files, frame_path, frames_dir
from deforum_blender.core.protocol import EVENTS, decode, encode
from deforum_blender.engine.frames import read_frame
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import tiny_job
from tests.helpers import ROOT, frame_bytes, run_json

pytestmark = pytest.mark.heavy

EVENT_TIMEOUT_S = 180.0


class WorkerProcess:
    """``python -m deforum_blender worker`` in a subprocess, its events on a queue."""

    def __init__(self, log: Path) -> None:
        self.log = open(log, "ab")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "deforum_blender", "worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            text=True,
            encoding="utf-8",
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()
        assert self.next("ready")["pid"] == self.process.pid

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.events.put(decode(line, EVENTS))
        self.events.put(None)

    def send(self, kind: str, **fields: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(encode(kind, **fields) + "\n")
        self.process.stdin.flush()

    def render(self, job: Job, out: Path, **options: Any) -> None:
        self.send("render", job=job.to_dict(), out_dir=str(out), **options)

    def event(self, timeout: float = EVENT_TIMEOUT_S) -> dict[str, Any]:
        event = self.events.get(timeout=timeout)
        assert event is not None, "the worker closed its stdout"
        return event

    def next(self, kind: str, seen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The next event of type ``kind`` (the ones before it are appended to ``seen``)."""
        while True:
            event = self.event()
            if event["type"] == kind:
                return event
            assert event["type"] != "error", event
            if seen is not None:
                seen.append(event)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.send("shutdown")
            self.process.wait(timeout=60)
        self.log.close()


@pytest.fixture
def start_worker(tmp_path: Path) -> Any:
    """Starts workers that are shut down (or killed) at the end of the test."""
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        started.append(WorkerProcess(tmp_path / "worker_stderr.log"))
        return started[-1]

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(timeout=30)
        worker.log.close()


def assert_every_visible_file_decodes(out: Path, size: int = 64) -> list[int]:
    """Every non-hidden file under frames/ is whole (PNG decodes, JSON parses); the frames."""
    for path in sorted(frames_dir(out).glob("*")):
        if path.name.startswith("."):
            continue  # a temp file of the killed write: hidden, removed on resume
        if path.suffix == ".png":
            assert read_frame(path).shape == (size, size, 3), path
        else:
            assert path.suffix == ".json", path
            json.loads(path.read_text(encoding="utf-8"))
    return sorted(frame_files(out))


def run_until(
    worker: WorkerProcess, stop: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Events until ``stop(event)`` holds (that event included) or the render ends."""
    events: list[dict[str, Any]] = []
    while True:
        event = worker.event()
        events.append(event)
        assert event["type"] != "error", event
        if stop(event) or event["type"] in ("done", "cancelled"):
            return events


def after_frames(count: int) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event["type"] == "frame" and event["index"] + 1 >= count


def mid_diffusion(frame: int) -> Callable[[dict[str, Any]], bool]:
    """At the first diffusion step of Blender frame ``frame`` or later."""
    return lambda event: event["type"] == "progress" and event["frame"] >= frame


KILL_POINTS = {
    1: (mid_diffusion(4), after_frames(8)),
    2: (after_frames(2), mid_diffusion(1), after_frames(9)),
}


@pytest.mark.parametrize("cadence", [1, 2])
def test_resume_after_sigkill_is_bitwise_identical_and_redoes_a_truncated_frame(
    tiny_models: Path, tmp_path: Path, start_worker: Any, cadence: int
) -> None:
    job = tiny_job(tiny_models, max_frames="12", diffusion_cadence=str(cadence))
    render(job, tmp_path / "whole")
    whole = frame_bytes(tmp_path / "whole")
    out = tmp_path / "killed"
    finished_before: list[int] = []
    for number, kill_point in enumerate(KILL_POINTS[cadence]):
        worker = start_worker()
        worker.render(job, out, resume=number > 0)
        events = run_until(worker, kill_point)
        assert events[-1]["type"] not in ("done", "cancelled"), "killed before the end"
        if number > 0:
            started = next(e for e in events if e["type"] == "started")
            assert started["resumed_from"] == (
                1 + len(finished_before) if finished_before else None
            )
        worker.kill()
        finished = assert_every_visible_file_decodes(out)
        assert finished[: len(finished_before)] == finished_before
        finished_before = finished
    assert 0 < len(finished_before) < 12
    worker = start_worker()
    worker.render(job, out, resume=True)
    worker.next("done")
    assert frame_bytes(out) == whole
    assert not [p for p in frames_dir(out).iterdir() if p.name.startswith(".")]

    # An older run that died mid-write left a truncated last frame: found, redone, reported.
    last = frame_path(out, 12)
    last.write_bytes(last.read_bytes()[:100])
    worker.render(job, out, resume=True)
    seen: list[dict[str, Any]] = []
    worker.next("done", seen)
    warnings = [e["message"] for e in seen if e["type"] == "warning"]
    assert any("frame 12" in w for w in warnings), warnings
    assert [e["frame"] for e in seen if e["type"] == "frame"] == [12]
    assert frame_bytes(out) == whole
    worker.close()


def test_cancel_stops_within_a_step_and_resume_completes_the_job(
    tiny_models: Path, tmp_path: Path, start_worker: Any
) -> None:
    # Frame 2 diffuses 28 steps (int(30 × denoise 0.9) + 1, as A1111); frame 1 takes 4.
    job = tiny_job(
        tiny_models,
        max_frames="2",
        diffusion_cadence="1",
        steps_schedule="0: (4), 1: (30)",
        strength_schedule="0: (0.1)",
    )
    render(job, tmp_path / "whole")
    worker = start_worker()
    out = tmp_path / "cancelled"
    worker.render(job, out)
    while (event := worker.event())["type"] != "progress" or event["frame"] != 2:
        assert event["type"] not in ("error", "done"), event
    assert event["steps"] == 28
    worker.send("cancel")
    after_cancel = run_until(worker, lambda e: False)
    assert after_cancel[-1] == {**after_cancel[-1], "type": "cancelled", "frames": 1}
    progress = [e for e in after_cancel if e["type"] == "progress"]
    assert len(progress) <= 2, progress  # the step in flight, at most one more
    assert not [e for e in after_cancel if e["type"] == "frame"]
    assert frame_bytes(out) == {1: frame_bytes(tmp_path / "whole")[1]}
    assert run_json(out)["status"] == "cancelled"
    worker.render(job, out, resume=True)  # the same, warm worker
    seen: list[dict[str, Any]] = []
    worker.next("done", seen)
    assert [e["frame"] for e in seen if e["type"] == "frame"] == [2]
    assert frame_bytes(out) == frame_bytes(tmp_path / "whole")
    worker.close()


def test_a_warm_worker_reuses_its_model_drops_a_replaced_one_and_releases_on_request(
    tiny_models: Path, tmp_path: Path, start_worker: Any
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_models / "sd", model)
    job = tiny_job(tiny_models, max_frames="2")
    job = job.from_dict({**job.to_dict(), "model": {**job.to_dict()["model"], "id": str(model)}})
    worker = start_worker()
    worker.render(job, tmp_path / "first")
    worker.next("done")
    worker.send("ping")
    assert worker.next("pong")["models"] == [str(model.resolve())]
    # Reloading would now fail: the UNet's weights are gone from disk.
    shutil.rmtree(model / "unet")
    second = job.from_dict({**job.to_dict(), "seeds": {**job.to_dict()["seeds"], "seed": 7}})
    worker.render(second, tmp_path / "second")
    worker.next("done")
    assert run_json(tmp_path / "second")["status"] == "done"
    assert frame_bytes(tmp_path / "second") != frame_bytes(tmp_path / "first")
    # Another model replaces it: the old one is dropped, not kept beside it.
    other = job.from_dict({**job.to_dict(), "model": {"id": str(tiny_models / "sd")}})
    worker.render(other, tmp_path / "other_model")
    worker.next("done")
    worker.send("ping")
    assert worker.next("pong")["models"] == [str((tiny_models / "sd").resolve())]
    worker.send("release")
    assert worker.next("released")["models"] == 1
    worker.send("ping")
    assert worker.next("pong")["models"] == []
    worker.render(job, tmp_path / "third")
    error = worker.event()
    while error["type"] != "error":
        error = worker.event()
    assert error["request"] == "render" and str(model) in error["message"]
    log = (tmp_path / "first" / "worker.log").read_text(encoding="utf-8")
    assert "render 2 frames" in log and '"type": "done"' in log
    worker.close()


def test_bad_request_lines_are_answered_and_the_worker_keeps_serving(
    tmp_path: Path, start_worker: Any
) -> None:
    worker = start_worker()
    assert worker.process.stdin is not None
    worker.process.stdin.write('{not json\n{"type": "fly", "protocol": 1}\n\n')
    worker.send("render", out_dir=str(tmp_path / "out"))  # no job
    worker.send("render", job={"W": 63}, out_dir=str(tmp_path / "out"))
    errors = [worker.event() for _ in range(4)]
    worker.send("ping")
    assert [e["type"] for e in errors] == ["error"] * 4
    assert all(e["bad_input"] for e in errors)
    assert [e["request"] for e in errors] == [None, None, "render", "render"]
    assert "not JSON" in errors[0]["message"] and "'fly'" in errors[1]["message"]
    assert "job is missing" in errors[2]["message"] and "W" in errors[3]["message"]
    assert worker.event() == {"type": "pong", "protocol": 1, "models": [], "busy": False}
    worker.close()
    assert worker.process.returncode == 0


def test_the_worker_exits_when_its_client_closes_stdin(
    tiny_models: Path, tmp_path: Path, start_worker: Any
) -> None:
    worker = start_worker()
    job = tiny_job(tiny_models, max_frames="12", diffusion_cadence="1")
    worker.render(job, tmp_path)
    worker.next("frame")
    assert worker.process.stdin is not None
    worker.process.stdin.close()  # Blender vanished
    assert worker.next("cancelled")["frames"] < 12
    assert worker.process.wait(timeout=60) == 0
    assert_every_visible_file_decodes(tmp_path)


MALFORMED_LINES = {
    "invalid UTF-8 in a string": b'{"type": "ping", "protocol": 1, "x": "\xff\xfe"}',
    "a type that is not a string": b'{"type": ["ping"], "protocol": 1}',
    "very deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "a 5000-digit number": b'{"type": "ping", "protocol": 1, "n": ' + b"9" * 5000 + b"}",
}


def test_malformed_lines_each_get_an_error_and_the_worker_keeps_answering(
    start_worker: Any,
) -> None:
    worker = start_worker()
    assert worker.process.stdin is not None
    for why, line in MALFORMED_LINES.items():
        worker.process.stdin.buffer.write(line + b"\n")  # raw bytes: not always UTF-8
        worker.process.stdin.buffer.flush()
        error = worker.event(timeout=30)  # a wedged worker never answers
        assert error["type"] == "error", (why, error)
        assert error["bad_input"] and error["request"] is None, (why, error)
        assert "set_int_max_str_digits" not in error["message"]  # no advice for Python's limits
        worker.send("ping")
        assert worker.event(timeout=30)["type"] == "pong", why
    worker.process.stdin.close()  # still reading: the end of input ends it
    assert worker.process.wait(timeout=5) == 0


def test_sigterm_ends_the_worker_with_run_json_saying_terminated_and_the_folder_unlocked(
    tiny_models: Path, tmp_path: Path, start_worker: Any
) -> None:
    worker = start_worker()
    out = tmp_path / "out"
    worker.render(tiny_job(tiny_models, max_frames="40", diffusion_cadence="1"), out)
    run_until(worker, after_frames(1))
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(timeout=60) == 128 + signal.SIGTERM
    assert run_json(out)["status"] == "terminated"
    assert not (out / ".deforum.lock").exists()
    assert_every_visible_file_decodes(out)
