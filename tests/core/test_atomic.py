"""core/atomic.py: a hidden temporary in the same folder, renamed over the target, or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from deforum_blender.core import atomic
from deforum_blender.core.output_layout import is_temp_name


def test_temporary_is_hidden_beside_the_target_and_keeps_the_suffix_when_asked(
    tmp_path: Path,
) -> None:
    assert atomic.temporary_path(tmp_path / "job.json") == tmp_path / ".job.json.tmp"
    kept = atomic.temporary_path(tmp_path / "video.mp4", keep_suffix=True)
    assert kept == tmp_path / ".video.tmp.mp4"
    assert is_temp_name(atomic.temporary_path(tmp_path / "frame_00003.png").name)


def test_write_text_replaces_the_target_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    target.write_text("old", encoding="utf-8")
    assert atomic.write_text(target, "new ✓\n") == target
    assert target.read_text(encoding="utf-8") == "new ✓\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_write_bytes_makes_the_folder_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "frames" / "frame_00001.json"
    with pytest.raises(FileNotFoundError):
        atomic.write_bytes(target, b"{}")
    atomic.write_bytes(target, b"{}", make_folder=True)
    assert target.read_bytes() == b"{}"


def test_an_error_while_writing_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path,
) -> None:
    target = tmp_path / "deforum_settings.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="killed"), atomic.replacing(target) as temporary:
        temporary.write_text("half", encoding="utf-8")
        raise RuntimeError("killed mid-write")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deforum_settings.txt"]


def test_a_writer_that_wrote_nothing_fails_and_keeps_the_target(tmp_path: Path) -> None:
    target = tmp_path / "scene_render.png"
    target.write_bytes(b"old")
    with pytest.raises(FileNotFoundError), atomic.replacing(target, keep_suffix=True):
        pass
    assert target.read_bytes() == b"old"


def test_the_blender_layer_can_import_it_without_numpy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, deforum_blender.core.atomic; "
        "print(','.join(m for m in ('numpy', 'torch', 'cv2', 'bpy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
