"""Models on this machine, read without ``huggingface_hub``: the hub cache's folders and the
user's model folders. Pure Python, so Blender's process (which has no huggingface_hub)
lists what ``models list`` lists in the worker environment, and removes a cached model.

The hub cache layout (``models--org--name/{blobs,refs,snapshots}``) is the one
``huggingface_hub`` writes and documents; ``tests/engine/test_model_cache.py`` checks
that this module and ``engine.models.list_models`` agree on the same folders.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import DeforumInputError
from .model_catalog import SAFETENSORS_SUFFIXES, kind_of_file, kind_of_folder, missing_parts

_REPO_PREFIX = "models--"
_PARTIAL_SUFFIX = ".incomplete"  # a blob huggingface_hub is still writing


@dataclass(frozen=True)
class LocalModel:
    """One model on this machine: its name (hub id or path), kind, size and where it lives."""

    name: str
    kind: str
    size: int
    source: str  # "hf-cache" or "folder"
    path: Path
    missing: tuple[str, ...] = ()  # what an interrupted pull has not fetched yet

    @property
    def complete(self) -> bool:
        """False for a pull cut short (never offered as a model to render with)."""
        return not self.missing


def hub_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The hub cache ``huggingface_hub`` uses: HF_HUB_CACHE, else HF_HOME/hub, else
    ``$XDG_CACHE_HOME/huggingface/hub`` (``~/.cache`` without XDG_CACHE_HOME)."""
    env = os.environ if environ is None else environ
    cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if cache:
        return Path(cache).expanduser()
    home = env.get("HF_HOME")
    if not home:
        xdg = env.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        home = os.path.join(xdg, "huggingface")
    return Path(home).expanduser() / "hub"


def _snapshot(repo: Path) -> Path | None:
    """The revision ``main`` points at, else the newest snapshot."""
    snapshots = repo / "snapshots"
    main = repo / "refs" / "main"
    if main.is_file():
        commit = main.read_text(encoding="utf-8").strip()
        if (snapshots / commit).is_dir():
            return snapshots / commit
    found = (
        sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime) if snapshots.is_dir() else []
    )
    return found[-1] if found else None


def _size_on_disk(repo: Path) -> int:
    """Bytes of the blobs the repo's snapshots point at, each counted once."""
    blobs = {
        path.resolve()
        for path in (repo / "snapshots").rglob("*")
        if path.is_file()  # follows the link to its blob
    }
    return sum(blob.stat().st_size for blob in blobs)


def cached_models(cache_dir: Path | None = None) -> list[LocalModel]:
    """Models in the hub cache, with the parts an interrupted pull left missing."""
    cache = hub_cache_dir() if cache_dir is None else cache_dir
    if not cache.is_dir():
        return []
    found = []
    for repo in sorted(cache.iterdir()):
        if not repo.is_dir() or not repo.name.startswith(_REPO_PREFIX):
            continue
        snapshot = _snapshot(repo)
        if snapshot is None:
            continue
        repo_id = repo.name.removeprefix(_REPO_PREFIX).replace("--", "/")
        missing = missing_parts(snapshot)
        blobs = repo / "blobs"
        if blobs.is_dir() and any(p.name.endswith(_PARTIAL_SUFFIX) for p in blobs.iterdir()):
            missing.append("unfinished downloads")
        kind = kind_of_folder(snapshot, repo_id)
        found.append(
            LocalModel(repo_id, kind, _size_on_disk(repo), "hf-cache", snapshot, tuple(missing))
        )
    return sorted(found, key=lambda m: m.name.lower())


def tree_size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def folder_models(folder: Path, depth: int = 2) -> Iterator[LocalModel]:
    """Diffusers/transformers folders and ``.safetensors`` files in ``folder`` (two levels)."""
    if (folder / "model_index.json").is_file() or (folder / "config.json").is_file():
        yield LocalModel(str(folder), kind_of_folder(folder), tree_size(folder), "folder", folder)
        return
    if depth == 0:
        return
    for child in sorted(folder.iterdir()):
        if child.is_dir():
            yield from folder_models(child, depth - 1)
        elif child.suffix.lower() in SAFETENSORS_SUFFIXES:
            yield LocalModel(str(child), kind_of_file(child), child.stat().st_size, "folder", child)


def local_models(
    folders: Iterable[Path] = (), cache_dir: Path | None = None
) -> tuple[list[LocalModel], list[str]]:
    """Models in the hub cache and in ``folders``; and a problem line per unreadable folder."""
    found = cached_models(cache_dir)
    problems = []
    for folder in folders:
        if not folder.is_dir():
            problems.append(f"model folder {str(folder)!r} is not a folder; fix or remove it")
            continue
        try:
            found += folder_models(folder.resolve())
        except OSError as error:  # drawn in the preferences: a line, never a traceback
            problems.append(f"model folder {str(folder)!r} cannot be read ({error.strerror})")
    return found, problems


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def models_stamp(folders: Iterable[Path] = (), cache_dir: Path | None = None) -> tuple[object, ...]:
    """What the listing depends on, read cheaply: the cache's repo names, the modification
    times of each repo's ``blobs``, ``snapshots`` and ``refs``, and each model folder's.

    A pull in any process changes it (a new repo; a blob finished, which renames it; a new
    revision), as does a removal; no file is read and no tree is walked, so it is cheap
    enough for every redraw of the preferences.
    """
    cache = str(hub_cache_dir() if cache_dir is None else cache_dir)
    try:
        with os.scandir(cache) as entries:
            repos = sorted(entry.path for entry in entries if entry.name.startswith(_REPO_PREFIX))
    except OSError:  # no cache yet
        repos = []
    parts = (os.sep + "blobs", os.sep + "snapshots", os.sep + "refs")
    stamps = tuple((repo, *(_mtime(repo + part) for part in parts)) for repo in repos)
    return cache, _mtime(cache), stamps, tuple((str(f), _mtime(str(f))) for f in folders)


def remove_cached(repo_id: str, cache_dir: Path | None = None) -> int:
    """Delete a hub model (every revision, partial files) from the cache; bytes freed."""
    cache = hub_cache_dir() if cache_dir is None else cache_dir
    repo = cache / (_REPO_PREFIX + repo_id.strip().replace("/", "--"))
    if "/" not in repo_id or not repo.is_dir():
        raise DeforumInputError(
            f"remove: {repo_id!r} is not in the Hugging Face cache ({cache}); "
            "pick a model the list shows"
        )
    freed = tree_size(repo / "blobs") if (repo / "blobs").is_dir() else 0
    shutil.rmtree(repo)
    return freed


def human_size(size: float) -> str:
    """``1.5 GB`` style (decimal units, as the hub shows sizes; as ``models list`` prints)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
