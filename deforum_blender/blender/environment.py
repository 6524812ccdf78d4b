"""The worker's own Python environment: a venv made from Blender's Python, with pip.

Blender's own Python is never touched (DESIGN.md §5): a venv is created beside the
add-on's user files from the interpreter running Blender, and the pinned
``worker_requirements.txt`` is installed into it, with PyTorch's wheel index for the
chosen CUDA build, then ``worker_requirements_no_deps.txt`` without dependencies.
:func:`setup_commands` says exactly what will run (tests assert it); :func:`run_commands`
runs it with every output line in a log file; the
``deforum.setup_environment`` operator runs :class:`EnvironmentSetup` in the background.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import bpy

from ..core.errors import DeforumInputError
from .preferences import ADDON_PACKAGE

PACKAGE_DIR = Path(__file__).resolve().parent.parent
REQUIREMENTS = PACKAGE_DIR / "worker_requirements.txt"
#: spandrel (upscalers), installed with --no-deps: its metadata asks for torchvision, whose
#: PyPI build could replace the chosen torch; the worker stands in for what it imports.
NO_DEPS_REQUIREMENTS = PACKAGE_DIR / "worker_requirements_no_deps.txt"
VENV_FOLDER = "worker_venv"
LOG_NAME = "setup_environment.log"
TORCH_INDEX = "https://download.pytorch.org/whl/"

#: Which PyTorch build to install: (label for the UI, extra wheel index or None for PyPI's).
CUDA_CHOICES: dict[str, tuple[str, str | None]] = {
    "default": ("PyPI's build (CUDA on Linux, CPU on Windows, Metal on macOS)", None),
    "cpu": ("CPU only (smallest download)", TORCH_INDEX + "cpu"),
    "cu126": ("NVIDIA, CUDA 12.6 (older drivers)", TORCH_INDEX + "cu126"),
    "cu128": ("NVIDIA, CUDA 12.8 (RTX 50 series and most cards)", TORCH_INDEX + "cu128"),
    "cu130": ("NVIDIA, CUDA 13.0 (newest drivers)", TORCH_INDEX + "cu130"),
}


def venv_python(venv_dir: str | os.PathLike[str]) -> Path:
    """The interpreter inside a venv folder (``bin/python``, ``Scripts\\python.exe``)."""
    if sys.platform == "win32":
        return Path(venv_dir) / "Scripts" / "python.exe"
    return Path(venv_dir) / "bin" / "python"


def default_venv_dir(create: bool = False) -> Path:
    """Where the add-on keeps its worker venv: its extension user folder (kept on upgrade)."""
    try:
        folder = bpy.utils.extension_path_user(ADDON_PACKAGE, create=create)
    except ValueError:
        # Installed as a legacy add-on or run from a checkout: not an extension package.
        folder = bpy.utils.user_resource("DATAFILES", path=ADDON_PACKAGE, create=create)
    return Path(folder) / VENV_FOLDER


def setup_commands(
    python: str | os.PathLike[str],
    venv_dir: str | os.PathLike[str],
    cuda_choice: str = "default",
    requirements: str | os.PathLike[str] = REQUIREMENTS,
    no_deps_requirements: str | os.PathLike[str] = NO_DEPS_REQUIREMENTS,
) -> list[list[str]]:
    """The commands that create the venv and install the worker's pinned packages."""
    if cuda_choice not in CUDA_CHOICES:
        raise DeforumInputError(
            f"cuda_choice {cuda_choice!r} is not a PyTorch build this add-on knows; "
            f"choose one of {', '.join(CUDA_CHOICES)}"
        )
    index = CUDA_CHOICES[cuda_choice][1]
    pip = [str(venv_python(venv_dir)), "-m", "pip"]
    quiet = ["--disable-pip-version-check", "--no-input"]
    return [
        [str(python), "-m", "venv", str(venv_dir)],
        [*pip, "install", *quiet, "--upgrade", "pip"],
        [
            *pip,
            "install",
            *quiet,
            "-r",
            str(requirements),
            *(["--extra-index-url", index] if index else []),
        ],
        [*pip, "install", *quiet, "--no-deps", "-r", str(no_deps_requirements)],
    ]


def clean_env() -> dict[str, str]:
    """The environment for the setup commands, free of Blender's Python settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_commands(
    commands: Sequence[Sequence[str]],
    log_path: str | os.PathLike[str],
    on_line: Callable[[str], None] | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Run ``commands`` in turn, every output line to ``log_path`` (and ``on_line``).

    Stops at the first failing command; returns its exit status (0 when all succeed).
    """
    log = Path(log_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as stream:

        def say(line: str) -> None:
            stream.write(line + "\n")
            stream.flush()
            if on_line is not None:
                on_line(line)

        for command in commands:
            say("$ " + subprocess.list2cmdline(list(command)))
            try:
                process = subprocess.Popen(
                    list(command),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    env=clean_env() if env is None else env,
                    creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
                )
            except OSError as error:
                say(f"error: cannot run {command[0]!r}: {error.strerror}")
                return 127
            assert process.stdout is not None
            for line in process.stdout:
                say(line.rstrip("\n"))
            status = process.wait()
            if status != 0:
                say(f"error: the command above failed with exit status {status}")
                return status
        say("done")
    return 0


def check_online_access() -> None:
    """Refuse to download when Blender's online access is off (the extension rules)."""
    if not bpy.app.online_access:
        # The override means the command line forbids it, whatever the preference says.
        fix = (
            "start Blender without --offline-mode"
            if bpy.app.online_access_override
            else "allow it in Preferences > System > Network > Allow Online Access"
        )
        raise DeforumInputError(
            "setting up the worker environment downloads PyTorch and diffusers, but online "
            f"access is off; {fix}"
        )


class EnvironmentSetup:
    """The setup commands run in a background thread; poll :attr:`lines` and :attr:`status`."""

    def __init__(
        self,
        venv_dir: str | os.PathLike[str] | None = None,
        cuda_choice: str = "default",
        python: str | None = None,
        *,
        requirements: str | os.PathLike[str] | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self.venv_dir = Path(venv_dir) if venv_dir else default_venv_dir(create=True)
        self.cuda_choice = cuda_choice
        self.commands = setup_commands(
            python or sys.executable,
            self.venv_dir,
            cuda_choice,
            REQUIREMENTS if requirements is None else requirements,  # looked up now, not at import
            NO_DEPS_REQUIREMENTS,
        )
        self.log_path = self.venv_dir.parent / LOG_NAME
        self.lines: collections.deque[str] = collections.deque(maxlen=200)
        self.on_line = on_line  # also called with every line, in the setup's thread
        self.status: int | None = None  # the exit status once finished
        self.thread = threading.Thread(target=self._run, name="deforum-setup", daemon=True)

    def start(self) -> EnvironmentSetup:
        """Start the commands in the background; returns self."""
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self.status = run_commands(self.commands, self.log_path, self._line)
        except Exception as error:  # never leave the UI waiting on a dead thread
            self._line(f"error: {type(error).__name__}: {error}")
            self.status = 1

    def _line(self, line: str) -> None:
        self.lines.append(line)
        if self.on_line is not None:
            self.on_line(line)

    @property
    def last_line(self) -> str:
        """The newest output line ('' before the first)."""
        lines = self.lines
        return lines[-1] if lines else ""

    @property
    def finished(self) -> bool:
        """True once every command ran or one failed."""
        return self.status is not None
