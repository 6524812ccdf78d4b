"""Blender's side asks whether a folder is free before it clears or renders into it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from deforum_blender.core.folder_lock import LOCK_FILE, FolderLockedError, check_free, folder_lock


def test_a_held_folder_is_not_free_and_names_its_holder(tmp_path: Path) -> None:
    with folder_lock(tmp_path) as holder:
        with pytest.raises(FolderLockedError, match=f"locked by process {holder.pid}"):
            check_free(tmp_path)
        assert (tmp_path / LOCK_FILE).exists()  # the check took nothing away
    check_free(tmp_path)  # released: free again


def test_a_lock_nobody_holds_any_more_leaves_the_folder_free(tmp_path: Path) -> None:
    record = {"pid": 2**22 + 1, "host": socket.gethostname(), "started": "2026-11-26T00:00"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(record), encoding="utf-8")
    check_free(tmp_path)  # a killed render's lock: the worker takes it over later
    with folder_lock(tmp_path, warn=lambda message: None):
        pass


def test_a_lock_from_another_host_is_not_free(tmp_path: Path) -> None:
    record = {"pid": 1, "host": "another-host.example", "started": "2026-11-26T00:00"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(FolderLockedError, match=r"another-host\.example"):
        check_free(tmp_path)
