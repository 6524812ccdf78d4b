"""Export → the webui's own keys → import brings the scene camera back (issue 14, item 15).

Real ``bpy``, through ``scripts/render_deforum.py`` as a user runs it: a scene S with no
prompt is exported with ``--export-deforum F --no-render``; the private ``deforum_blender``
key is dropped from F as the webui drops it; F is imported into a copy of S whose camera
is frozen at the first frame (``--import-deforum F --save B --no-render``). B's camera
must match S's on every frame within 2e-3 scene units and 0.05°, and its lens too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.camera import strip_scale
from tests.helpers import run_render_script, run_test_script

pytestmark = pytest.mark.slow

FRAMES = 12


def read_cameras(blend: Path) -> dict[str, Any]:
    result = run_test_script("read_camera", str(blend))
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def rotation_degrees(a: np.ndarray, b: np.ndarray) -> float:
    """The angle of the rotation between two poses' orientations."""
    relative = strip_scale(a)[:3, :3].T @ strip_scale(b)[:3, :3]
    return math.degrees(math.acos(min(1.0, max(-1.0, (np.trace(relative) - 1.0) / 2.0))))


@pytest.mark.parametrize("kind", ["move", "rig"])
def test_a_camera_comes_back_through_the_webuis_own_keys(kind: str, tmp_path: Path) -> None:
    original, frozen = tmp_path / "S.blend", tmp_path / "frozen.blend"
    built = run_test_script("webui_scene", kind, str(original), str(frozen))
    assert built.returncode == 0, built.stderr[-3000:]

    exported = tmp_path / "settings.txt"
    result = run_render_script(
        "--blend", str(original), "--export-deforum", str(exported), "--no-render", cwd=tmp_path
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(exported.read_text(encoding="utf-8"))
    del data["deforum_blender"]  # the webui keeps only its own keys
    exported.write_text(json.dumps(data), encoding="utf-8")

    brought_back = tmp_path / "B.blend"
    result = run_render_script(
        "--blend", str(frozen), "--import-deforum", str(exported), "--save", str(brought_back),
        "--no-render", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    before, after = read_cameras(original), read_cameras(brought_back)
    assert after["camera"] == "Deforum Camera"
    assert after["frames"] == before["frames"] == list(range(1, FRAMES + 1))
    for frame, a, b in zip(before["frames"], before["matrices"], after["matrices"], strict=True):
        a, b = np.array(a), np.array(b)
        moved = float(np.linalg.norm(a[:3, 3] - b[:3, 3]))
        assert moved < 2e-3, f"frame {frame}: camera {moved:.2e} units away"
        assert rotation_degrees(a, b) < 0.05, f"frame {frame}: turned {rotation_degrees(a, b)}°"
    np.testing.assert_allclose(after["lenses"], before["lenses"], atol=1e-3)


def test_a_motion_preview_needs_no_prompt_and_a_render_names_the_fix(tmp_path: Path) -> None:
    original, frozen = tmp_path / "S.blend", tmp_path / "frozen.blend"
    built = run_test_script("webui_scene", "move", str(original), str(frozen))
    assert built.returncode == 0, built.stderr[-3000:]
    preview = run_render_script(
        "--blend", str(original), "--preview", "--depth", "flat", "--out", str(tmp_path / "p"),
        cwd=tmp_path,
    )  # fmt: skip
    assert preview.returncode == 0, preview.stderr[-3000:]
    assert len(list((tmp_path / "p" / "frames").glob("frame_*.png"))) == FRAMES
    render = run_render_script(
        "--blend", str(original), "--depth", "flat", "--out", str(tmp_path / "r"), cwd=tmp_path
    )  # fmt: skip
    assert render.returncode == 2
    assert "add a prompt" in render.stderr.strip().splitlines()[-1]
