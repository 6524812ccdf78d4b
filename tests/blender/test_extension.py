"""The built zip validates and installs through Blender's own extension system (real bpy)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.helpers import run_test_script


def test_zip_root_holds_manifest_and_package_but_no_tests(extension_zip: Path) -> None:
    names = zipfile.ZipFile(extension_zip).namelist()
    assert "blender_manifest.toml" in names
    assert "__init__.py" in names
    assert "engine/tiny_models.py" in names
    assert "worker_requirements.txt" in names
    assert "worker_requirements_no_deps.txt" in names  # the worker setup installs it
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]


def test_extension_installs_enables_and_unregisters_cleanly(
    extension_zip: Path, tmp_path: Path
) -> None:
    env = {
        "BLENDER_USER_EXTENSIONS": str(tmp_path / "extensions"),
        "BLENDER_USER_CONFIG": str(tmp_path / "config"),
        "BLENDER_USER_SCRIPTS": str(tmp_path / "scripts"),
        # The installed copy must be what loads, not the checkout.
        "PYTHONPATH": "",
    }
    result = run_test_script("install_extension", str(extension_zip), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["result"] == ["FINISHED"]
    assert report["user_extensions"] == str(tmp_path / "extensions")
    assert report["enabled"] and report["prefs_ok"] and report["registered"]
    assert not report["still_enabled"] and not report["still_registered"]
    assert report["heavy"] == []
    assert (tmp_path / "extensions" / "user_default" / "deforum_blender" / "__init__.py").exists()
