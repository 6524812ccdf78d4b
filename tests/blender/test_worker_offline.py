"""A render never downloads (the worker is offline); Blender's online access decides only
whether the Download button's pull may, and which fix an error names."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deforum_blender.blender import worker_client
from deforum_blender.core.protocol import OFFLINE_REASON_VARIABLE
from tests.engine.test_downloads import HUB_MODEL, FakeHub, hub  # noqa: F401 - the fixture
from tests.helpers import ROOT, run_test_script

PREFERENCE = "Preferences > System > Network > Allow Online Access"


@pytest.fixture
def online_access() -> Iterator[object]:
    """Blender's preferences, with online access switched back off afterwards."""
    import bpy

    preferences = bpy.context.preferences.system
    try:
        yield preferences
    finally:
        preferences.use_online_access = False


def test_a_render_worker_is_always_offline_and_a_download_only_with_online_access(
    online_access: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bpy

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    online_access.use_online_access = False  # type: ignore[attr-defined]
    assert not bpy.app.online_access
    for env in (worker_client.worker_env(), worker_client.worker_env(downloads=True)):
        assert env["HF_HUB_OFFLINE"] == "1"
        assert PREFERENCE in env[OFFLINE_REASON_VARIABLE]
    online_access.use_online_access = True  # type: ignore[attr-defined]
    assert bpy.app.online_access
    env = worker_client.worker_env()
    assert env["HF_HUB_OFFLINE"] == "1"  # never a silent download inside a render
    assert worker_client.MODELS_PREFERENCES in env[OFFLINE_REASON_VARIABLE]
    assert PREFERENCE not in env[OFFLINE_REASON_VARIABLE]
    pull = worker_client.worker_env(downloads=True)
    assert "HF_HUB_OFFLINE" not in pull and OFFLINE_REASON_VARIABLE not in pull


@pytest.mark.slow
def test_a_headless_render_with_online_access_off_asks_the_hub_nothing(
    hub: FakeHub,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    blend = tmp_path / "scene.blend"
    made = run_test_script("hub_model_scene", str(blend), HUB_MODEL)
    assert made.returncode == 0, made.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(
        PYTHONPATH="",
        DEFORUM_WORKER_PYTHON=sys.executable,
        HF_ENDPOINT=hub.url,
        HF_HOME=str(tmp_path / "hf_home"),
        BLENDER_USER_CONFIG=str(tmp_path / "config"),  # factory preferences: online access off
    )
    script = ROOT / "scripts" / "render_deforum.py"
    arguments = ["--blend", str(blend), "--out", str(tmp_path / "out")]
    result = subprocess.run(
        [sys.executable, str(script), "--", *arguments, "--init", "none", "--depth", "flat"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert hub.requests == []
    error = result.stderr.strip().splitlines()[-1]
    assert HUB_MODEL in error and PREFERENCE in error, error


class FakeWorker:
    """Stands in for a launched worker: its command, its environment, alive until stopped."""

    def __init__(self, python: str) -> None:
        self.command = [python]
        self.env = worker_client.worker_env()
        self.alive = True

    def stop(self) -> None:
        self.alive = False


def test_the_shared_worker_is_restarted_when_online_access_changes(
    online_access: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(worker_client, "_SHARED", None)
    monkeypatch.setattr(
        worker_client.WorkerClient, "launch", classmethod(lambda cls, python: FakeWorker(python))
    )
    online_access.use_online_access = False  # type: ignore[attr-defined]
    offline = worker_client.shared_worker("python")
    assert worker_client.shared_worker("python") is offline  # kept while nothing changed
    online_access.use_online_access = True  # type: ignore[attr-defined]
    online = worker_client.shared_worker("python")
    assert online is not offline and not offline.alive  # type: ignore[attr-defined]
    assert PREFERENCE not in online.env[OFFLINE_REASON_VARIABLE]  # the fix it names changed
