"""Shared fixtures: the tiny models and the built extension, each made once per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import ROOT, run_python  # noqa: F401 - older imports from conftest

# No per-example deadline (a busy 2-core machine is slow, not wrong). In CI the examples are
# derandomized, so a landing never hangs on a lucky draw; local runs keep exploring.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


BLENDER_TESTS = Path(__file__).resolve().parent / "blender"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that runs real Blender (tests/blender) or a diffusion model
    (it asks for the tiny models), so ``-m "not slow"`` is the quick set, by one rule.

    Files with a slow test run first (each file's tests in their order): the workers
    (``-n``, a file each) end on quick files together, not one on a late heavy file."""
    slow_files = set()
    for item in items:
        runs_model = "tiny_models" in getattr(item, "fixturenames", ())
        if runs_model or BLENDER_TESTS in item.path.parents:
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("slow") is not None:
            slow_files.add(item.path)
    items.sort(key=lambda item: item.path not in slow_files)  # stable: order kept within


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder holding ``sd`` and ``depth`` tiny models, built through the CLI's code path."""
    from deforum_blender.engine.tiny_models import make_tiny_models

    folder = tmp_path_factory.mktemp("tiny_models")
    make_tiny_models(folder)
    return folder


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extension zip, built and validated by ``scripts/build_extension.py``."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--output-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Path(result.stdout.strip().splitlines()[-1])
