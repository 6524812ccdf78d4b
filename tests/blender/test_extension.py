"""The built zip validates and installs through Blender's own extension system (real bpy)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.conftest import run_python

INSTALL_AND_ENABLE = """
import json, sys
import bpy
module = "bl_ext.user_default.deforum_blender"
result = bpy.ops.extensions.package_install_files(
    filepath=sys.argv[1], repo="user_default", enable_on_install=True
)
enabled = module in bpy.context.preferences.addons
prefs_ok = enabled and hasattr(bpy.context.preferences.addons[module].preferences, "worker_python")
prefs_class = type(bpy.context.preferences.addons[module].preferences) if enabled else None
registered = bool(prefs_class and prefs_class.is_registered)
bpy.ops.preferences.addon_disable(module=module)
print(json.dumps({
    "result": sorted(result),
    "enabled": enabled,
    "prefs_ok": prefs_ok,
    "registered": registered,
    "still_enabled": module in bpy.context.preferences.addons,
    "still_registered": bool(prefs_class and prefs_class.is_registered),
    "heavy": [m for m in ("torch", "cv2", "diffusers") if m in sys.modules],
    "user_extensions": bpy.utils.user_resource("EXTENSIONS"),
}))
"""


def test_zip_root_holds_manifest_and_package_but_no_tests(extension_zip: Path) -> None:
    names = zipfile.ZipFile(extension_zip).namelist()
    assert "blender_manifest.toml" in names
    assert "__init__.py" in names
    assert "engine/tiny_models.py" in names
    assert "worker_requirements.txt" in names
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
    result = run_python(INSTALL_AND_ENABLE, str(extension_zip), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["result"] == ["FINISHED"]
    assert report["user_extensions"] == str(tmp_path / "extensions")
    assert report["enabled"] and report["prefs_ok"] and report["registered"]
    assert not report["still_enabled"] and not report["still_registered"]
    assert report["heavy"] == []
    assert (tmp_path / "extensions" / "user_default" / "deforum_blender" / "__init__.py").exists()
