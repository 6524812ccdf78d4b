"""No download nobody asked for: a fake Hugging Face hub on localhost records every request."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.heavy

SETTINGS = ROOT / "tests" / "core" / "data" / "deforum_simple_settings.txt"
HUB_MODEL = "fakeorg/fake-sd"


class FakeHub(ThreadingHTTPServer):
    """Answers every request with 404 and remembers it (method and path)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        assert isinstance(self.server, FakeHub)
        self.server.requests.append(f"{self.command} {self.path}")
        body = b'{"error": "Repository not found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Error-Code", "RepoNotFound")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads ``requests``, not a log."""


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    server = FakeHub()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def settings_file(tmp_path: Path, **changes: object) -> Path:
    """The simple Deforum settings file, tiny, naming the hub model (and ``changes``)."""
    settings = json.loads(SETTINGS.read_text(encoding="utf-8"))
    settings.update(W=64, H=64, max_frames=2, sd_model_name=HUB_MODEL, **changes)
    path = tmp_path / "settings.txt"
    path.write_text(json.dumps(settings), encoding="utf-8")
    return path


def render_cli(hub: FakeHub, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``render`` into a new folder, in a fresh process whose hub is ``hub`` and whose model
    cache is empty."""
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(PYTHONPATH=str(ROOT), HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf_home"))
    return subprocess.run(
        [sys.executable, "-m", "deforum_blender", "render", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=ROOT,
    )


def test_a_model_named_only_in_a_settings_file_is_not_downloaded(
    hub: FakeHub, tmp_path: Path
) -> None:
    result = render_cli(hub, tmp_path, str(settings_file(tmp_path)))
    assert result.returncode == 2, result.stderr
    assert hub.requests == []
    error = result.stderr.strip().splitlines()[-1]
    assert HUB_MODEL in error and "--allow-download" in error, error


def test_allow_download_lets_the_settings_files_model_be_fetched(
    hub: FakeHub, tmp_path: Path
) -> None:
    result = render_cli(hub, tmp_path, str(settings_file(tmp_path)), "--allow-download")
    assert result.returncode == 2, result.stderr  # the fake hub has no such model
    assert any(HUB_MODEL in request for request in hub.requests), hub.requests
    assert "has no model" in result.stderr


def test_a_preview_loads_no_diffusion_model_even_when_downloads_are_allowed(
    hub: FakeHub, tmp_path: Path
) -> None:
    result = render_cli(
        hub, tmp_path, str(settings_file(tmp_path)), "--preview", "--allow-download"
    )
    assert result.returncode == 0, result.stderr
    assert hub.requests == []
    assert sorted(p.name for p in (tmp_path / "out0" / "frames").glob("*.png")) == [
        "frame_00001.png",
        "frame_00002.png",
    ]


def test_a_depth_model_downloads_only_when_named_on_the_command_line(
    hub: FakeHub, tmp_path: Path
) -> None:
    settings = settings_file(
        tmp_path, animation_mode="3D", depth_algorithm="Depth-Anything-V2-Small"
    )
    result = render_cli(hub, tmp_path, str(settings), "--preview")
    assert result.returncode == 2, result.stderr
    assert hub.requests == []
    assert "depth_model" in result.stderr and "--allow-download" in result.stderr
    named = "fakeorg/fake-depth"
    result = render_cli(hub, tmp_path, str(settings), "--preview", "--depth-model", named)
    assert result.returncode == 2, result.stderr  # asked for, so asked of the hub: not there
    assert any(named in request for request in hub.requests), hub.requests


def test_a_cached_hub_model_renders_without_asking_the_hub_anything(
    hub: FakeHub, tmp_path: Path, tiny_models: Path
) -> None:
    commit = "0" * 40
    repo = tmp_path / "hf_home" / "hub" / f"models--{HUB_MODEL.replace('/', '--')}"
    shutil.copytree(tiny_models / "sd", repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    settings = settings_file(tmp_path, diffusion_cadence=1)
    result = render_cli(hub, tmp_path, str(settings), "--set", "make_video=false")
    assert result.returncode == 0, result.stderr
    assert hub.requests == []
    assert len(list((tmp_path / "out0" / "frames").glob("*.png"))) == 2
    run = json.loads((tmp_path / "out0" / "run.json").read_text(encoding="utf-8"))
    assert HUB_MODEL in json.dumps(run["model"])
