"""core.model_cache.models_stamp: what tells Blender's model list that the disk changed
(a pull or a removal in another process) without walking the cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from deforum_blender.core.model_cache import models_stamp

LONG_AGO = 1_000_000_000  # an mtime well before anything this test writes


def _age(*paths: Path) -> None:
    """Date these folders back, as if written long before the stamp was taken."""
    for path in paths:
        os.utime(path, (LONG_AGO, LONG_AGO))


def test_the_stamp_changes_when_a_pull_adds_finishes_or_removes_a_model(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    empty = models_stamp(cache_dir=cache)
    assert models_stamp(cache_dir=cache) == empty  # no cache yet, and stable
    repo = cache / "models--org--name"
    (repo / "blobs").mkdir(parents=True)
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "blobs" / "f00d.incomplete").write_bytes(b"half")
    added = models_stamp(cache_dir=cache)
    assert added != empty
    _age(cache, repo / "blobs", repo / "snapshots", repo / "refs")
    settled = models_stamp(cache_dir=cache)
    assert models_stamp(cache_dir=cache) == settled  # nothing changed: the same stamp
    (repo / "blobs" / "f00d.incomplete").rename(repo / "blobs" / "f00d")  # the file is done
    finished = models_stamp(cache_dir=cache)
    assert finished != settled
    shutil.rmtree(repo)
    assert models_stamp(cache_dir=cache) not in (settled, finished)


def test_the_stamp_changes_when_a_model_lands_in_a_model_folder(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    _age(folder)
    before = models_stamp([folder], cache_dir=tmp_path / "hub")
    (folder / "style.safetensors").write_bytes(b"x")
    assert models_stamp([folder], cache_dir=tmp_path / "hub") != before
    missing = models_stamp([tmp_path / "gone"], cache_dir=tmp_path / "hub")
    assert missing == models_stamp([tmp_path / "gone"], cache_dir=tmp_path / "hub")
