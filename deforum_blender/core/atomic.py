"""Atomic file writes: a hidden temporary file in the same folder, then one ``os.replace``.

A killed process leaves either the old file, the whole new one, or a hidden temporary
(``.job.json.tmp``) that a resumed run may delete; never a half-written file under the
final name. Pure Python, so the Blender layer, core and the engine share it. Not fsynced:
this guards against a killed process, not a power cut.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .output_layout import TEMP_SUFFIX, temp_name


def temporary_path(target: str | os.PathLike[str], *, keep_suffix: bool = False) -> Path:
    """The hidden name ``target`` is written under: ``.name.tmp``, or ``.stem.tmp.suffix``
    when the writer picks its format by the suffix (ffmpeg, Blender's render)."""
    path = Path(target)
    if keep_suffix:
        return path.with_name(f".{path.stem}{TEMP_SUFFIX}{path.suffix}")
    return path.with_name(temp_name(path.name))


@contextmanager
def replacing(
    target: str | os.PathLike[str], *, keep_suffix: bool = False, make_folder: bool = False
) -> Iterator[Path]:
    """Yield the temporary path to write; on success rename it over ``target``.

    On an error (or a missing temporary after the body) the temporary is removed and
    ``target`` is left as it was.
    """
    path = Path(target)
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path, keep_suffix=keep_suffix)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes(target: str | os.PathLike[str], data: bytes, *, make_folder: bool = False) -> Path:
    """Put ``data`` at ``target`` atomically; returns ``target`` as a Path."""
    path = Path(target)
    with replacing(path, make_folder=make_folder) as temporary:
        temporary.write_bytes(data)
    return path


def write_text(target: str | os.PathLike[str], text: str, *, make_folder: bool = False) -> Path:
    """Put ``text`` (UTF-8, written in text mode) at ``target`` atomically; returns it."""
    path = Path(target)
    with replacing(path, make_folder=make_folder) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return path
