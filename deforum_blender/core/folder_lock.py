"""One folder, one render: a lock file held in the output folder while a render runs.

The lock is ``<out>/.deforum.lock``, created atomically (``O_CREAT | O_EXCL``) and holding
the holder's pid, host and start time. A second render into the folder is refused with
those (exit status 2). A lock left by a process that died (SIGKILL, power loss) on this
host is taken over with a warning; one from another host is never guessed at, as its pid
means nothing here. Where ``fcntl`` exists the lock file is also ``flock``-ed while held,
so a take-over can never steal the lock of a live render (not even with a reused pid).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import DeforumInputError

try:
    import fcntl
except ImportError:  # Windows: the pid check alone decides whether a lock is stale
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".deforum.lock"


class FolderLockedError(DeforumInputError):
    """Another render holds the output folder."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: process id, host name and start time (ISO 8601, local time)."""

    pid: int
    host: str
    started: str

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}, started {self.started}"


def lock_path(out: str | os.PathLike[str]) -> Path:
    """``<out>/.deforum.lock``."""
    return Path(out) / LOCK_FILE


def read_holder(path: Path) -> Holder | None:
    """The holder written in a lock file; None when it is gone, empty or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), str(data["host"]), str(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this host (or cannot be told apart from one)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists, owned by someone else
    return True


def _try_flock(fd: int) -> bool:
    """Take the advisory lock on ``fd`` without waiting; True where taken (or none exists)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _write_holder(fd: int) -> Holder:
    holder = Holder(os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    record = json.dumps({"pid": holder.pid, "host": holder.host, "started": holder.started})
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (record + "\n").encode("utf-8"))
    return holder


def _refuse(out: Path, holder: Holder | None, why: str = "") -> FolderLockedError:
    who = holder.describe() if holder else "another render (the lock file is being written)"
    return FolderLockedError(
        f"output folder {str(out)!r} is locked by {who}{why}: one folder takes one render at "
        f"a time; wait for it, choose another folder, or delete {LOCK_FILE} there if no render "
        "runs"
    )


def _create(path: Path) -> int | None:
    """A new lock file's descriptor, flock-ed; None when one exists already."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    except FileExistsError:
        return None
    if not _try_flock(fd):  # a take-over of this fresh file won the race: it is theirs
        os.close(fd)
        return None
    return fd


def _open_stale(out: Path, path: Path) -> tuple[int, Holder] | None:
    """A flock-ed descriptor of a lock nobody holds any more, and its holder; None when the
    file vanished meanwhile.

    Raises :class:`FolderLockedError` when a live render holds it, or when its holder
    cannot be checked (another host, or a file still being written)."""
    holder = read_holder(path)
    if holder is None or holder.host != socket.gethostname():
        raise _refuse(out, holder, "" if holder is None else " (another host: not checked)")
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    # The flock says whether any process still holds the file (a zombie, a reused pid);
    # without fcntl the pid must be gone.
    if not _try_flock(fd) or (fcntl is None and _alive(holder.pid)):
        os.close(fd)
        raise _refuse(out, read_holder(path))
    return fd, holder


def _take_over(out: Path, path: Path, warn: Callable[[str], None]) -> int | None:
    """The descriptor of a stale lock taken over; None when it vanished or changed meanwhile
    (raises as :func:`_open_stale` does)."""
    opened = _open_stale(out, path)
    if opened is None:
        return None
    fd, holder = opened
    if not _same_file(fd, path) or read_holder(path) != holder:
        os.close(fd)  # released or replaced since it was read: start again
        return None
    warn(
        f"output folder {str(out)!r}: took over the lock of {holder.describe()}, which no "
        "longer runs (a killed render)"
    )
    return fd


@contextlib.contextmanager
def folder_lock(
    out: str | os.PathLike[str], warn: Callable[[str], None] = lambda message: None
) -> Iterator[Holder]:
    """Hold ``out``'s lock for the ``with`` block; raises :class:`FolderLockedError`."""
    folder = Path(out)
    path = lock_path(folder)
    fd = None
    for _ in range(20):  # each retry follows a lock released or replaced meanwhile
        fd = _create(path)
        if fd is None and path.exists():
            fd = _take_over(folder, path, warn)
        if fd is not None:
            break
    if fd is None:
        raise _refuse(folder, read_holder(path))
    try:
        holder = _write_holder(fd)
        yield holder
    finally:
        # Unlink while the flock is held: nobody can take over a file being removed.
        if _same_file(fd, path):
            path.unlink(missing_ok=True)
        os.close(fd)


def check_free(out: str | os.PathLike[str]) -> None:
    """Raise :class:`FolderLockedError` when a live render holds ``out`` (taking nothing).

    For Blender's side, which clears a folder before its worker takes the lock."""
    folder = Path(out)
    path = lock_path(folder)
    if not path.exists():
        return
    opened = _open_stale(folder, path)
    if opened is not None:
        os.close(opened[0])  # closing it releases the flock this check took
