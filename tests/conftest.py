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

    Then order the files for the pytest workers (``-n``, a file each;
    ``--no-loadscope-reorder`` keeps this order where xdist would sort files by test
    count): ``heavy`` files, then files with a slow test, then the rest, each file's tests
    in their order. The workers then end together on quick files; a heavy file sent out
    last kept one worker busy for two minutes while the others had nothing to do."""
    rank: dict[Path, int] = {}
    for item in items:
        runs_model = "tiny_models" in getattr(item, "fixturenames", ())
        if runs_model or BLENDER_TESTS in item.path.parents:
            item.add_marker(pytest.mark.slow)
        heavy, slow = (item.get_closest_marker(m) is not None for m in ("heavy", "slow"))
        rank[item.path] = min(rank.get(item.path, 2), 0 if heavy else 1 if slow else 2)
    items.sort(key=lambda item: rank[item.path])  # stable: each file keeps its order


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
