"""Models on this machine: list them (Hugging Face cache and model folders), pull one from
the hub with the user's consent (progress, resume, disk-space, pickle and sha256 checks),
remove one from the cache. Backs ``python -m deforum_blender models``."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import DeforumInputError
from ..core.model_cache import LocalModel as FoundModel
from ..core.model_cache import folder_models, human_size, tree_size
from ..core.model_catalog import (
    PICKLE_SUFFIXES,
    SAFETENSORS_SUFFIXES,
    WEIGHT_SUFFIXES,
    kind_of_folder,
    missing_parts,
)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Formats the engine never loads (ONNX, Flax, TensorFlow, OpenVINO, Core ML): not pulled.
_SKIPPED_SUFFIXES = (".onnx", ".onnx_data", ".msgpack", ".h5", ".ot", ".tflite", ".mlmodel")
_SKIPPED_FOLDERS = ("onnx/", "openvino/", "coreml/", "flax/")
_VARIANT = re.compile(r"\.(fp16|fp32|bf16|ema|non_ema)\.")

#: Called with (bytes done, bytes to fetch, bytes per second, seconds left or None).
ProgressReport = Callable[[int, int, float, float | None], None]


@dataclass(frozen=True)
class PulledModel:
    """What ``pull_model`` fetched."""

    repo_id: str
    commit: str
    path: Path
    kind: str
    size: int
    fetched: int  # bytes this pull downloaded


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache this process uses (HF_HUB_CACHE, HF_HOME/hub, default)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


# --- list ----------------------------------------------------------------------------------


def cached_models(cache_dir: Path | None = None) -> list[FoundModel]:
    """Models in the Hugging Face cache (its newest or ``main`` snapshot each), with the
    parts an interrupted pull left missing (``.incomplete`` files, absent components)."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir or hub_cache_dir())
    except CacheNotFound:
        return []
    partial = {file.file_path.parent.parent for file in info.incomplete_files}
    found = []
    for repo in info.repos:
        if repo.repo_type != "model" or not repo.revisions:
            continue
        revision = max(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified))
        snapshot = revision.snapshot_path
        missing = missing_parts(snapshot)
        if repo.repo_path in partial:
            missing.append("unfinished downloads")
        kind = kind_of_folder(snapshot, repo.repo_id)
        found.append(
            FoundModel(repo.repo_id, kind, repo.size_on_disk, "hf-cache", snapshot, tuple(missing))
        )
    return sorted(found, key=lambda m: m.name.lower())


def list_models(
    folders: Iterable[Path] = (), kind: str | None = None, cache_dir: Path | None = None
) -> list[FoundModel]:
    """Models in the hub cache and in ``folders`` (diffusers folders, .safetensors files)."""
    found = cached_models(cache_dir)
    for folder in folders:
        if not folder.is_dir():
            raise DeforumInputError(
                f"--folder: {str(folder)!r} is not a folder; give a folder that holds models"
            )
        found += list(folder_models(folder.resolve()))
    return [model for model in found if kind is None or model.kind == kind]


def model_line(model: FoundModel) -> str:
    """One line for a model: kind, size, name, source (and what a partial pull lacks)."""
    line = f"{model.kind:<12} {human_size(model.size):>9}  {model.name}  [{model.source}]"
    if model.missing:
        line += (
            f"  incomplete (missing {', '.join(model.missing)}): "
            f"finish it with `models pull {model.name}`"
        )
    return line


# --- pull ----------------------------------------------------------------------------------


def _plan(files: list[str], allow_pickle: bool) -> tuple[list[str], list[str]]:
    """The files to fetch, and the pickle weights left out. A folder's pickle weights are
    skipped where it has safetensors ones; elsewhere they need ``allow_pickle``."""
    kept = [
        name
        for name in files
        if not name.lower().endswith(_SKIPPED_SUFFIXES) and not name.startswith(_SKIPPED_FOLDERS)
    ]
    safe_folders = {
        os.path.dirname(name) for name in kept if name.lower().endswith(SAFETENSORS_SUFFIXES)
    }
    if "model_index.json" in kept:  # a diffusers pipeline: what from_pretrained reads
        kept = [name for name in kept if not _duplicate_weights(name, kept)]
    plan, pickles = [], []
    for name in kept:
        if name.lower().endswith(PICKLE_SUFFIXES):
            if os.path.dirname(name) in safe_folders:
                continue
            pickles.append(name)
            if not allow_pickle:
                continue
        plan.append(name)
    return plan, pickles


def _duplicate_weights(name: str, files: list[str]) -> bool:
    """A pipeline's top-level single-file checkpoint, or a variant (``x.fp16.safetensors``)
    beside the plain weights: diffusers' from_pretrained reads neither."""
    if not name.lower().endswith(WEIGHT_SUFFIXES):
        return False
    folder, base = os.path.split(name)
    if not folder:
        return True
    plain = _VARIANT.sub(".", base)
    return plain != base and os.path.join(folder, plain) in files


def _check_free_space(cache_dir: Path, needed: int, repo_id: str) -> None:
    existing = cache_dir
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise DeforumInputError(
            f"models pull: {repo_id!r} needs {human_size(needed)} but {existing} has only "
            f"{human_size(free)} free; free some space, or set HF_HOME to a bigger disk"
        )


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_hash_plan(repo_id: str, weights: list[Any], sha256: str) -> None:
    """A hash names one checkpoint file; the hub's own sha256 of it is checked up front."""
    if len(weights) != 1:
        names = ", ".join(w.rfilename for w in weights) or "none"
        raise DeforumInputError(
            f"--sha256: checks a model that is one checkpoint file, but {repo_id!r} has "
            f"{len(weights)} weights files ({names}); leave --sha256 out"
        )
    lfs = weights[0].lfs
    if lfs is not None and lfs.sha256.lower() != sha256:
        raise DeforumInputError(
            f"--sha256: the hub says {repo_id}/{weights[0].rfilename} has sha256 {lfs.sha256}, "
            f"not {sha256}; the id or the hash is wrong: correct one of them"
        )


class _Monitor:
    """Reports the bytes a pull has written (read from the cache's blobs, so it needs no
    hook into the downloader) about once a second on a thread, and once at the end."""

    def __init__(self, blobs: Path, total: int, report: ProgressReport) -> None:
        self.blobs, self.total, self.report = blobs, total, report
        self.start_bytes = self._written()
        self.start_time = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _written(self) -> int:
        if not self.blobs.is_dir():
            return 0
        total = 0
        for path in self.blobs.iterdir():
            with contextlib.suppress(FileNotFoundError):  # a finished .incomplete renamed
                total += path.stat().st_size
        return total

    def tick(self, final: bool = False) -> None:
        done = min(self.total, max(0, self._written() - self.start_bytes))
        if final:
            done = self.total
        elapsed = max(time.monotonic() - self.start_time, 1e-6)
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else None
        self.report(done, self.total, rate, left)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.tick()

    def __enter__(self) -> _Monitor:
        self.tick()
        self._thread.start()
        return self

    def __exit__(self, *error: object) -> None:
        self._stop.set()
        self._thread.join()
        if error[0] is None:
            self.tick(final=True)


def progress_line(done: int, total: int, rate: float, left: float | None) -> str:
    """``12.0 MB of 40.0 MB (30%), 5.0 MB/s, 6 s left``."""
    share = 100 * done / total if total else 100
    eta = "done" if done >= total else (f"{left:.0f} s left" if left is not None else "…")
    return f"{human_size(done)} of {human_size(total)} ({share:.0f}%), {human_size(rate)}/s, {eta}"


def _hub_errors(repo_id: str, revision: str | None) -> Any:
    """A context that turns the hub's errors into one-line errors naming the model."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    @contextlib.contextmanager
    def translate() -> Iterator[None]:
        try:
            yield
        except GatedRepoError as error:
            raise DeforumInputError(
                f"models pull: {repo_id!r} is gated: accept its licence on the hub and log in "
                "with `hf auth login`, then pull again"
            ) from error
        except RepositoryNotFoundError as error:
            raise DeforumInputError(
                f"models pull: the hub has no model {repo_id!r} (or it is private: log in "
                "with `hf auth login`); check the id"
            ) from error
        except RevisionNotFoundError as error:
            raise DeforumInputError(
                f"--revision: {repo_id!r} has no revision {revision!r}; use a branch, tag or "
                "commit of that model"
            ) from error
        except HfHubHTTPError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise RuntimeError(f"the hub failed while pulling {repo_id!r}: {first}") from error

    return translate()


def pull_model(
    repo_id: str,
    *,
    revision: str | None = None,
    kind: str | None = None,
    sha256: str | None = None,
    allow_pickle: bool = False,
    cache_dir: Path | None = None,
    endpoint: str | None = None,
    report: ProgressReport | None = None,
    warn: Callable[[str], None] | None = None,
) -> PulledModel:
    """Download a hub model into the cache (resuming a partial one), after checking its
    files (safetensors unless ``allow_pickle``), ``sha256`` and the free disk space."""
    from huggingface_hub import HfApi, snapshot_download, try_to_load_from_cache
    from huggingface_hub.utils.tqdm import disable_progress_bars

    repo_id = repo_id.strip()
    if not _HUB_ID.match(repo_id):
        raise DeforumInputError(
            f"models pull: {repo_id!r} is not a Hugging Face id; write it as 'org/name'"
        )
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise DeforumInputError(
                f"--sha256: {sha256!r} is not a sha256 (64 hex digits); copy the full hash"
            )
    cache = Path(cache_dir) if cache_dir else hub_cache_dir()
    with _hub_errors(repo_id, revision):
        info = HfApi(endpoint=endpoint).model_info(repo_id, revision=revision, files_metadata=True)
    siblings = {s.rfilename: s for s in info.siblings or []}
    plan, pickles = _plan(sorted(siblings), allow_pickle)
    weights = [siblings[name] for name in plan if name.lower().endswith(WEIGHT_SUFFIXES)]
    if not weights and pickles and not allow_pickle:
        raise DeforumInputError(
            f"models pull: {repo_id!r} has only pickle weights ({', '.join(pickles)}), which "
            "can run code when loaded; pass --allow-pickle if you trust its source"
        )
    if sha256 is not None:
        _check_hash_plan(repo_id, weights, sha256)
    commit = info.sha or revision or "main"
    needed = sum(
        siblings[name].size or 0
        for name in plan
        if not isinstance(try_to_load_from_cache(repo_id, name, cache, revision=commit), str)
    )
    _check_free_space(cache, needed, repo_id)

    disable_progress_bars()  # our own progress lines replace the hub's bars
    blobs = cache / f"models--{repo_id.replace('/', '--')}" / "blobs"
    started = time.time()
    with _Monitor(blobs, needed, report or (lambda *_: None)), _hub_errors(repo_id, revision):
        snapshot = Path(
            snapshot_download(
                repo_id,
                revision=revision,
                cache_dir=cache,
                endpoint=endpoint,
                allow_patterns=plan,
            )
        )
    _drop_orphans(blobs, started)
    if sha256 is not None:
        actual = file_sha256(snapshot / weights[0].rfilename)
        if actual != sha256:
            remove_model(repo_id, cache_dir=cache)
            raise DeforumInputError(
                f"--sha256: {repo_id}/{weights[0].rfilename} has sha256 {actual}, expected "
                f"{sha256}; the download was removed: check the hash, or the id"
            )
    found = kind_of_folder(snapshot, repo_id)
    if kind is not None and found != kind and warn is not None:
        warn(f"--kind: {repo_id!r} looks like a {found} model, not {kind}")
    return PulledModel(repo_id, commit, snapshot, found, tree_size(snapshot), needed)


def _drop_orphans(blobs: Path, before: float) -> None:
    """Delete partial files an interrupted pull left (each process downloads into its own
    ``<etag>.<id>.incomplete`` and restarts that file), so the model no longer looks partial;
    files written since ``before`` may be another pull's, still running."""
    for path in blobs.glob("*.incomplete"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < before:
                path.unlink()


# --- remove --------------------------------------------------------------------------------


def remove_model(repo_id: str, cache_dir: Path | None = None) -> int:
    """Delete a model's every cached revision (and partial files); returns bytes freed.

    An id not in the cache is bad input that names the closest cached ids."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    cache = Path(cache_dir) if cache_dir else hub_cache_dir()
    try:
        info = scan_cache_dir(cache)
    except CacheNotFound:
        info = None
    repos = [r for r in info.repos if r.repo_type == "model"] if info else []
    repo = next((r for r in repos if r.repo_id == repo_id.strip()), None)
    if repo is None:
        known = [r.repo_id for r in repos]
        close = difflib.get_close_matches(repo_id, known, n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else "`models list` shows them"
        raise DeforumInputError(
            f"models remove: {repo_id!r} is not in the Hugging Face cache ({cache}); {hint}"
        )
    assert info is not None
    strategy = info.delete_revisions(*(r.commit_hash for r in repo.revisions))
    strategy.execute()
    freed = strategy.expected_freed_size
    if repo.repo_path.exists():  # refs and partial downloads the strategy leaves behind
        freed += tree_size(repo.repo_path)
        shutil.rmtree(repo.repo_path)
    return freed
