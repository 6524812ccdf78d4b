"""One model download: ``models pull ID`` run by the worker's Python as a subprocess.

Blender never imports huggingface_hub: the download runs in the worker environment, like
a render. Two threads read the command's output (progress lines on stderr, the result
on stdout), so the UI timer only reads a few attributes. Cancelling terminates the
process; the partial files it leaves are marked incomplete in the list, never taken for
a model; the next download of the same id fetches only the files still missing.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from typing import IO

from .worker_client import cli_command

KILL_GRACE_S = 3.0  # after a cancel, how long the process may take to end before a kill
_PERCENT = re.compile(r"\((\d+)%\)")  # in the CLI's progress line: "… of 4.0 GB (30%), …"


def pull_command(
    python: str, repo_id: str, kind: str | None = None, sha256: str | None = None
) -> list[str]:
    """The command line that pulls ``repo_id`` with ``python`` (the worker's); with
    ``sha256`` the CLI checks the one-file model's hash (and removes a mismatch)."""
    return cli_command(
        python,
        "models",
        "pull",
        repo_id,
        *(["--kind", kind] if kind else []),
        *(["--sha256", sha256] if sha256 else []),
    )


class ModelDownload:
    """A ``models pull`` process and what it said; poll :attr:`progress` and :attr:`status`."""

    def __init__(
        self,
        repo_id: str,
        python: str,
        *,
        kind: str | None = None,
        sha256: str | None = None,
        env: Mapping[str, str] | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self.repo_id = repo_id
        self.command = pull_command(python, repo_id, kind, sha256)
        self.env = None if env is None else dict(env)
        self.on_line = on_line  # also called with every output line, in a reader thread
        self.progress = ""  # the newest progress line, without the id: bytes, rate, ETA
        self.fraction = 0.0
        self.lines: collections.deque[str] = collections.deque(maxlen=50)
        self.result = ""  # the CLI's last stdout line: kind, id, snapshot folder
        self.status: int | None = None  # the exit status once finished
        self.cancelled = False
        self.process: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []
        self._waiter = threading.Thread(target=self._wait, daemon=True)

    def start(self) -> ModelDownload:
        """Start the process and its reader threads; returns self."""
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=self.env,
            start_new_session=sys.platform != "win32",  # Ctrl+C in Blender's terminal: not ours
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stderr, False), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stdout, True), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self._waiter.start()
        return self

    def _read(self, stream: IO[str], is_stdout: bool) -> None:
        prefix = f"{self.repo_id}: "
        for raw in stream:
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            if is_stdout:
                self.result = line
            elif line.startswith(prefix):
                self.progress = line.removeprefix(prefix)
                match = _PERCENT.search(line)
                if match:
                    self.fraction = min(int(match.group(1)), 100) / 100
            self.lines.append(line)
            if self.on_line is not None:
                self.on_line(line)

    def _wait(self) -> None:
        assert self.process is not None
        status = self.process.wait()
        for reader in self._readers:  # every line is read before the status says "finished"
            reader.join(timeout=5.0)
        self.status = status

    def wait(self, timeout: float | None = None) -> int:
        """Block until the download ends (background mode); returns its exit status."""
        self._waiter.join(timeout)
        if self.status is None:
            raise TimeoutError(f"the download of {self.repo_id} did not end in {timeout} s")
        return self.status

    def cancel(self) -> None:
        """Stop the download; the files it finished stay, for the next one to keep."""
        if self.process is None or self.finished:
            return
        self.cancelled = True
        self.process.terminate()
        timer = threading.Timer(KILL_GRACE_S, self._kill)
        timer.daemon = True
        timer.start()

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    @property
    def finished(self) -> bool:
        """True once the process ended and its output was read."""
        return self.status is not None

    @property
    def succeeded(self) -> bool:
        """True once it ended with the model in the cache."""
        return self.status == 0 and not self.cancelled

    def error(self) -> str:
        """The CLI's error line (``error: …`` without the prefix), or the last line."""
        errors = [line for line in self.lines if line.startswith("error: ")]
        if errors:
            return errors[-1].removeprefix("error: ")
        return self.lines[-1] if self.lines else f"exit status {self.status}"

    def text(self) -> str:
        """One line on where the download stands, for the preferences and the status bar."""
        if not self.finished:
            if self.cancelled:
                return f"Cancelling the download of {self.repo_id}"
            return f"Downloading {self.repo_id}: {self.progress or 'starting'}"
        if self.cancelled:
            return f"Download of {self.repo_id} cancelled; Download again fetches the rest"
        if self.status == 0:
            return f"Downloaded {self.repo_id}"
        return f"Download of {self.repo_id} failed: {self.error()}"
