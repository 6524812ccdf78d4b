"""``deforum-blender farm submit`` against a local HTTP server standing in for a Manager."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deforum_blender.cli import main
from deforum_blender.core.job import Job, load_job, save_job
from tests.farm_helpers import compile_job


class Manager(http.server.BaseHTTPRequestHandler):
    """Records each request; answers with the server's ``answer`` (status, JSON body)."""

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        server: Any = self.server
        server.requests.append(
            {
                "path": self.path,
                "content_type": self.headers["Content-Type"],
                "body": json.loads(self.rfile.read(length)),
            }
        )
        status, body = server.answer
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def manager() -> Iterator[Any]:
    server: Any = http.server.HTTPServer(("127.0.0.1", 0), Manager)
    server.requests, server.answer = [], (200, {"id": "4a1b-job"})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.json"
    save_job(Job(), path)
    return path


def submit(job: Path, url: str, root: Path, *more: str) -> int:
    argv = ["farm", "submit", str(job), "--manager", url, "--output-root", str(root), *more]
    return main(argv)


def test_submit_sends_flamencos_job_request_with_the_compiled_settings(
    manager: Any, job_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "shared"
    status = submit(job_file, manager.url, root, "--seeds", "5,6", "--set", "W=64")
    assert status == 0, capsys.readouterr().err
    assert "submitted job 4a1b-job (sweep, 2 variants)" in capsys.readouterr().out
    (request,) = manager.requests
    assert (request["path"], request["content_type"]) == ("/api/v3/jobs", "application/json")
    body = request["body"]
    assert set(body) == {"name", "type", "priority", "submitter_platform", "settings", "metadata"}
    assert (body["name"], body["type"], body["priority"]) == ("sweep", "deforum-blender", 50)
    settings = body["settings"]
    assert settings["job_file"] == str(root / "sweep" / "job.json")
    assert load_job(settings["job_file"]).W == 64  # --set applied to the job on shared storage
    tasks = compile_job(settings, tmp_path)
    assert [t["name"] for t in tasks] == [
        "render-seed_5", "video-seed_5", "render-seed_6", "video-seed_6",
    ]  # fmt: skip
    exec_args = tasks[2]["commands"][0]["parameters"]["args"]
    out = str(root / "sweep" / "seed_6" / "render")
    assert exec_args == [
        "-m", "deforum_blender", "render", settings["job_file"],
        "--out", out, "--resume", "--set", "seed=6",
    ]  # fmt: skip
    assert tasks[2]["commands"][0]["parameters"]["exe"] == "{deforum_python}"


@pytest.mark.parametrize(("status", "exit_status"), [(400, 2), (500, 1)])
def test_a_manager_error_is_one_clear_line(
    manager: Any,
    job_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    status: int,
    exit_status: int,
) -> None:
    message = 'job type "deforum-blender" not found:\n install it in scripts/'
    manager.answer = (status, {"code": status, "message": message})
    assert submit(job_file, manager.url, tmp_path / "shared", "--seeds", "1") == exit_status
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: Flamenco Manager {manager.url} refused the job: HTTP {status}")
    assert 'job type "deforum-blender" not found: install it in scripts/' in err


def test_an_unreachable_manager_names_the_option(
    job_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server: Any = http.server.HTTPServer(("127.0.0.1", 0), Manager)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    server.server_close()  # nothing listens there now
    assert submit(job_file, url, tmp_path / "shared", "--seeds", "1") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be reached" in err and "--manager" in err


def test_a_random_seed_without_a_list_is_refused_before_sending(
    manager: Any, job_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = submit(job_file, manager.url, tmp_path / "shared", "--set", "seed=-1")
    assert status == 2 and manager.requests == []
    assert "random seed" in capsys.readouterr().err


def test_dry_run_prints_the_request_and_sends_nothing(
    manager: Any, job_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    more = ("--seed-count", "2", "--set", "seed=10", "--dry-run")
    assert submit(job_file, manager.url, tmp_path / "shared", *more) == 0
    assert manager.requests == []
    body = json.loads(capsys.readouterr().out)
    assert [v["set"] for v in json.loads(body["settings"]["variants"])] == [
        ["seed=10"],
        ["seed=11"],
    ]


def test_a_job_name_that_is_not_a_folder_name_is_refused(
    manager: Any, job_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = submit(job_file, manager.url, tmp_path / "shared", "--seeds", "1", "--name", "a/b")
    assert status == 2 and manager.requests == []
    assert "--name 'a/b'" in capsys.readouterr().err
