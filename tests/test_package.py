"""The package imports light, and its version is stated once."""

from __future__ import annotations

import json
import tomllib

import deforum_blender
from tests.helpers import ROOT, run_python

HEAVY = ("bpy", "torch", "cv2", "diffusers", "transformers")


def test_importing_the_package_and_core_pulls_in_nothing_heavy() -> None:
    core_modules = sorted(
        f"deforum_blender.core.{p.stem}"
        for p in (ROOT / "deforum_blender" / "core").glob("*.py")
        if p.stem != "__init__"
    )
    code = (
        "import importlib, json, sys\n"
        "for name in ['deforum_blender', 'deforum_blender.core', "
        "'deforum_blender.engine', 'deforum_blender.cli'] + sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = run_python(code, *core_modules)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_manifest_version_matches_the_package() -> None:
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text(encoding="utf-8"))
    assert manifest["id"] == "deforum_blender"
    assert manifest["version"] == deforum_blender.__version__
    assert manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert set(manifest["permissions"]) == {"files", "network"}


def test_package_uses_relative_imports_only() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "deforum_blender").rglob("*.py")
        if any(
            line.lstrip().startswith(("import deforum_blender", "from deforum_blender"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert offenders == []
