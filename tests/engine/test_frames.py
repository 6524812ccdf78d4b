"""Frame files: one naming scheme, atomic writes, damaged PNGs found so resume can redo them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from deforum_blender.core import output_layout as layout
from deforum_blender.engine.frames import (
    CorruptFrameError,
    clean_partial_files,
    read_frame,
    read_sidecar,
    scan_frames,
    write_depth,
    write_frame,
)


def _image(seed: int, height: int = 24, width: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_frames_are_named_with_blender_frame_numbers_in_five_digits(tmp_path: Path) -> None:
    assert layout.frame_name(12) == "frame_00012.png"
    assert layout.frame_name(123456) == "frame_123456.png"
    assert layout.frame_name(-1) == "frame_-0001.png"  # Blender's own ##### padding
    assert layout.frame_path(tmp_path, 7) == tmp_path / "frames" / "frame_00007.png"
    assert layout.depth_path(tmp_path, 7) == tmp_path / "depth" / "depth_00007.png"
    assert layout.sidecar_path(tmp_path, 7) == tmp_path / "frames" / "frame_00007.json"
    for frame in (0, 12, 99999, 123456, -1, -250):
        assert layout.frame_number(layout.frame_name(frame)) == frame
    assert layout.frame_number("frame_00012.png.tmp") is None
    assert layout.frame_number(".frame_00012.png.tmp") is None
    assert layout.frame_number("frame_00012.json") is None


def test_a_written_frame_reads_back_bitwise_in_rgb_order(tmp_path: Path) -> None:
    image = _image(1)
    image[0, 0] = (255, 0, 0)  # pure red stays red: no BGR mix-up on disk
    path = write_frame(tmp_path, 3, image, sidecar={"seed": 42, "frame": 3})
    assert path == tmp_path / "frames" / "frame_00003.png"
    back = read_frame(path)
    np.testing.assert_array_equal(back, image)
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), image)
    assert read_sidecar(tmp_path, 3) == {"seed": 42, "frame": 3}
    assert read_sidecar(tmp_path, 4) is None


def test_writing_leaves_no_temp_file_and_replaces_an_old_frame(tmp_path: Path) -> None:
    write_frame(tmp_path, 5, _image(1))
    write_frame(tmp_path, 5, _image(2))
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == ["frame_00005.png"]
    np.testing.assert_array_equal(read_frame(layout.frame_path(tmp_path, 5)), _image(2))


def test_a_failed_write_keeps_the_previous_frame_and_removes_its_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_frame(tmp_path, 5, _image(1))

    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # a kill arriving between the write and the rename

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_frame(tmp_path, 5, _image(2))
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["frame_00005.png"]
    np.testing.assert_array_equal(read_frame(layout.frame_path(tmp_path, 5)), _image(1))


def test_cleanup_removes_only_the_hidden_temp_files(tmp_path: Path) -> None:
    write_frame(tmp_path, 1, _image(1), sidecar={"frame": 1})
    write_depth(tmp_path, 1, np.arange(24 * 32, dtype=np.uint16).reshape(24, 32) * 80)
    leftovers = [
        tmp_path / "frames" / ".frame_00002.png.tmp",
        tmp_path / "frames" / ".frame_00002.json.tmp",
        tmp_path / "depth" / ".depth_00002.png.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"half a frame")
    keep = tmp_path / "frames" / "notes.txt"
    keep.write_text("mine")
    removed = clean_partial_files(tmp_path)
    assert sorted(removed) == sorted(leftovers)
    assert not any(path.exists() for path in leftovers)
    assert keep.exists() and layout.frame_path(tmp_path, 1).exists()
    assert layout.depth_path(tmp_path, 1).exists()
    assert clean_partial_files(tmp_path / "nowhere") == []


def test_depth_maps_keep_all_sixteen_bits(tmp_path: Path) -> None:
    import cv2

    depth = (np.arange(24 * 32, dtype=np.uint16).reshape(24, 32) * 85).astype(np.uint16)
    path = write_depth(tmp_path, 9, depth)
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, depth)


def test_a_truncated_or_damaged_png_is_reported_so_resume_can_redo_it(tmp_path: Path) -> None:
    for frame in (1, 2, 3, 4):
        write_frame(tmp_path, frame, _image(frame))
    truncated = layout.frame_path(tmp_path, 2)
    truncated.write_bytes(truncated.read_bytes()[:-40])
    damaged = layout.frame_path(tmp_path, 3)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    layout.frame_path(tmp_path, 4).write_bytes(b"")

    with pytest.raises(CorruptFrameError, match=r"frame_00002\.png"):
        read_frame(truncated)
    scan = scan_frames(tmp_path)
    assert list(scan.valid) == [1]
    assert sorted(scan.corrupt) == [2, 3, 4]
    assert "frame_00003.png" in scan.corrupt[3]


def test_a_frame_of_the_wrong_size_counts_as_corrupt(tmp_path: Path) -> None:
    write_frame(tmp_path, 1, _image(1, 24, 32))
    write_frame(tmp_path, 2, _image(2, 32, 32))
    scan = scan_frames(tmp_path, shape=(24, 32))
    assert list(scan.valid) == [1]
    assert "expected 32×24" in scan.corrupt[2]
    assert layout.frame_files(tmp_path) == {
        1: layout.frame_path(tmp_path, 1),
        2: layout.frame_path(tmp_path, 2),
    }
