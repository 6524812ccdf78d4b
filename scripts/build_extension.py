"""Build and validate the Blender extension zip: ``dist/deforum_blender-<version>.zip``.

Uses Blender's own extension tool: ``blender --command extension build/validate`` when a
``blender`` binary is on PATH, otherwise the same tool shipped inside the ``bpy`` wheel.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "blender_manifest.toml"
PACKAGE = ROOT / "deforum_blender"


def extension_tool() -> list[str]:
    """The command that runs Blender's extension tool here."""
    blender = shutil.which("blender")
    if blender:
        return [blender, "--factory-startup", "--command", "extension"]
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "error: no `blender` on PATH and no `bpy` module; run inside .venv (make venv)"
        )
    bpy_dir = Path(next(iter(spec.submodule_search_locations)))
    tools = sorted(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not tools:
        raise SystemExit(f"error: Blender's extension tool not found under {bpy_dir}")
    return [sys.executable, str(tools[-1])]


def stage(build_dir: Path) -> Path:
    """Copy the manifest and the package contents into a clean folder: the zip's root."""
    source = build_dir / "extension"
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(
        PACKAGE, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache")
    )
    shutil.copy2(MANIFEST, source / MANIFEST.name)
    return source


def build(output_dir: Path) -> Path:
    """Build the zip into ``output_dir``, validate it, and return its path."""
    manifest = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))
    zip_path = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    output_dir.mkdir(parents=True, exist_ok=True)
    zip_path.unlink(missing_ok=True)
    source = stage(ROOT / "build")
    tool = extension_tool()
    subprocess.run(
        [*tool, "build", "--source-dir", str(source), "--output-filepath", str(zip_path)],
        check=True,
    )
    subprocess.run([*tool, "validate", str(zip_path)], check=True)
    return zip_path


def main() -> int:
    """Command line: ``python scripts/build_extension.py [--output-dir DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    try:
        zip_path = build(args.output_dir)
    except subprocess.CalledProcessError as error:
        print(f"error: Blender's extension tool failed ({error})", file=sys.stderr)
        return 1
    print(zip_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
