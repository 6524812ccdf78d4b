"""Blender's side of the worker: launch it, send requests, read its events without blocking.

The worker is a separate process with its own Python (torch, diffusers); this module
never imports either. Two threads read the worker's stdout (events, onto a queue) and
stderr (the last lines kept for error messages), so :meth:`WorkerClient.poll` only
empties a queue and returns at once: safe in a ``bpy.app.timers`` tick. In background
mode (where timers never fire) :meth:`WorkerClient.wait` blocks instead. A worker that
dies is reported as an ``error`` event with ``crashed: true`` and its last stderr line;
a worker that ignores ``cancel`` is killed after a grace period. Every live worker is
stopped when Blender exits and when the add-on is disabled.
"""

from __future__ import annotations

import atexit
import collections
import os
import queue
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..core.errors import DeforumInputError
from ..core.protocol import (
    EVENTS,
    OFFLINE_REASON_VARIABLE,
    PROTOCOL_VERSION,
    ProtocolError,
    decode,
    encode,
    ends_render,
)
from . import environment
from .preferences import ADDON_PACKAGE

Event = dict[str, Any]
PACKAGE_DIR = Path(__file__).resolve().parent.parent
ENV_VARIABLE = "DEFORUM_WORKER_PYTHON"
CANCEL_GRACE_S = 15.0
STOP_GRACE_S = 3.0
STDERR_LINES = 40
SETUP_OPERATOR = "deforum.setup_environment"

# Loads the add-on folder as the package ``deforum_blender`` whatever it is installed as
# (``bl_ext.user_default.deforum_blender``) without putting its parent folder, full of
# other extensions, on sys.path; then runs its command line (``worker``, ``models pull``…).
BOOTSTRAP = """\
import importlib, importlib.util, sys
if sys.path and sys.path[0] in ("", "."):
    del sys.path[0]
folder = sys.argv[1]
spec = importlib.util.spec_from_file_location(
    "deforum_blender", folder + "/__init__.py", submodule_search_locations=[folder]
)
package = importlib.util.module_from_spec(spec)
sys.modules["deforum_blender"] = package
spec.loader.exec_module(package)
cli = importlib.import_module("deforum_blender.cli")
sys.exit(cli.main(sys.argv[2:]))
"""


def cli_command(python: str, *args: str) -> list[str]:
    """The command line that runs this add-on's ``python -m deforum_blender ARGS`` with
    ``python`` (the worker environment's)."""
    return [python, "-c", BOOTSTRAP, str(PACKAGE_DIR), *args]


class WorkerPythonError(DeforumInputError):
    """No Python that can run the worker was found; the message names the fix."""


@dataclass(frozen=True)
class WorkerPython:
    """The interpreter chosen for the worker, and where the choice came from."""

    path: str
    source: str  # "preference", "environment", "venv" or "blender"


_CAN_RENDER: dict[str, bool] = {}


def can_render(python: str) -> bool:
    """Whether ``python`` can import torch and diffusers (asked once per interpreter)."""
    if python not in _CAN_RENDER:
        try:
            result = subprocess.run(
                [python, "-c", "import torch, diffusers"],
                capture_output=True,
                timeout=120,
                env=environment.clean_env(),
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
            )
            _CAN_RENDER[python] = result.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _CAN_RENDER[python] = False
    return _CAN_RENDER[python]


def preference_python() -> str:
    """The add-on preference ``worker_python`` ('' when unset or the add-on is not enabled)."""
    import bpy

    preferences = bpy.context.preferences
    addon = preferences.addons.get(ADDON_PACKAGE) if preferences is not None else None
    return str(getattr(addon.preferences, "worker_python", "")) if addon else ""


def _existing(path: str, what: str, fix: str) -> str:
    resolved = Path(os.path.expanduser(path.strip()))
    if not resolved.is_file():
        raise WorkerPythonError(f"{what} is {path!r}, which is not a file; {fix}")
    return str(resolved)


def find_worker_python(
    preference: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    venv_dir: Path | None = None,
    current: str | None = None,
) -> WorkerPython:
    """The Python for the worker, in DESIGN.md §5's order (each argument defaults to Blender's).

    The preference, then ``DEFORUM_WORKER_PYTHON``, then the add-on's own venv, then the
    Python running Blender if it can import torch and diffusers; else an error naming the fix.
    """
    preference = preference_python() if preference is None else preference
    if preference.strip():
        fix = "fix or clear Worker Python in the add-on's preferences"
        return WorkerPython(
            _existing(preference, "the Worker Python preference", fix), "preference"
        )
    variable = (os.environ if environ is None else environ).get(ENV_VARIABLE, "")
    if variable.strip():
        fix = f"point {ENV_VARIABLE} at a Python executable, or unset it"
        return WorkerPython(_existing(variable, ENV_VARIABLE, fix), "environment")
    venv = environment.venv_python(environment.default_venv_dir() if venv_dir is None else venv_dir)
    if venv.is_file():
        return WorkerPython(str(venv), "venv")
    current = sys.executable if current is None else current
    if current and can_render(current):
        return WorkerPython(current, "blender")
    raise WorkerPythonError(
        "no Python with torch and diffusers was found for the render worker; set up the "
        f"worker environment (Preferences > Add-ons > Deforum > Set Up Environment, operator "
        f"{SETUP_OPERATOR}), or set Worker Python in the add-on's preferences or "
        f"{ENV_VARIABLE} to a Python that has them"
    )


def worker_command(python: str, log_level: str = "INFO") -> list[str]:
    """The command line that runs this add-on's worker with ``python``."""
    return cli_command(python, "worker", "--log-level", log_level)


def worker_env(*, downloads: bool = False) -> dict[str, str]:
    """The worker's environment: ours, UTF-8, unbuffered, without Blender's PYTHONHOME.

    A render is always offline (HF_HUB_OFFLINE=1): a model missing from the cache is an
    error naming Download and ``models pull``, never a silent download of gigabytes.
    ``downloads`` (the Download button's ``models pull``): online unless Blender's online
    access is off.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHOME"}
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONUNBUFFERED"] = "1"
    reason = offline_reason()
    if reason is None and not downloads:
        reason = (
            f"a render downloads no model; fetch it first with Download in {MODELS_PREFERENCES}"
        )
    if reason:
        env["HF_HUB_OFFLINE"] = "1"
        env[OFFLINE_REASON_VARIABLE] = reason
    return env


MODELS_PREFERENCES = "Preferences > Add-ons > Deforum > Models"  # where Download is


def offline_reason() -> str | None:
    """Why the worker must not go online (Blender's online access is off), with the fix."""
    try:
        import bpy
    except ImportError:  # outside Blender: no such preference to honour
        return None
    if getattr(bpy.app, "online_access", True):
        return None
    fix = (
        "start Blender without --offline-mode"
        if getattr(bpy.app, "online_access_override", False)
        else "allow it in Preferences > System > Network > Allow Online Access "
        "(headless: start Blender with --online-mode)"
    )
    return (
        f"Blender's online access is off, so the worker downloads nothing; {fix}, then fetch "
        f"the model with Download in {MODELS_PREFERENCES}"
    )


_LIVE: weakref.WeakSet[WorkerClient] = weakref.WeakSet()


class WorkerClient:
    """One worker process and the events it sent that nobody has read yet."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        cancel_grace_s: float = CANCEL_GRACE_S,
    ) -> None:
        self.command = list(command)
        self.env = dict(worker_env() if env is None else env)
        self.cwd = cwd
        self.cancel_grace_s = cancel_grace_s
        self.events: queue.Queue[Event] = queue.Queue()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self.process: subprocess.Popen[str] | None = None
        self.ready: Event | None = None  # the worker's ``ready`` event once it arrived
        self.rendering = False  # a render was asked for and has not ended yet
        self.exited = threading.Event()  # set once the process is gone and reported
        self._stopping = False
        self._killed_on_cancel = False
        self._watchdog: threading.Timer | None = None
        self._write_lock = threading.Lock()
        self._stderr_reader: threading.Thread | None = None

    @classmethod
    def launch(cls, python: str | None = None, **options: Any) -> WorkerClient:
        """Start a worker with ``python`` (default: :func:`find_worker_python`)."""
        chosen = python or find_worker_python().path
        return cls(worker_command(chosen), **options).start()

    # -- process ------------------------------------------------------------------------

    def start(self) -> WorkerClient:
        """Start the process and its reader threads; returns self."""
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=self.env,
            cwd=self.cwd,
            # Its own session: Ctrl+C in Blender's terminal must not kill it behind our back.
            start_new_session=sys.platform != "win32",
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
        _LIVE.add(self)
        assert self.process.stdout is not None and self.process.stderr is not None
        self._stderr_reader = threading.Thread(
            target=self._read_stderr, args=(self.process.stderr,), daemon=True
        )
        self._stderr_reader.start()
        threading.Thread(target=self._read_events, args=(self.process.stdout,), daemon=True).start()
        return self

    @property
    def alive(self) -> bool:
        """True while the worker process runs."""
        return self.process is not None and self.process.poll() is None

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            if line.strip():
                self.stderr_tail.append(line.rstrip("\n"))

    def _read_events(self, stream: IO[str]) -> None:
        for line in stream:
            if not line.strip():
                continue
            try:
                event = decode(line, EVENTS)
            except ProtocolError as error:
                event = self._event("warning", message=f"the worker wrote a stray line: {error}")
            self._deliver(event)
        self._report_exit()

    def _event(self, kind: str, **fields: Any) -> Event:
        return {"type": kind, "protocol": PROTOCOL_VERSION, **fields}

    def _deliver(self, event: Event) -> None:
        if event["type"] == "ready":
            self.ready = event
        if ends_render(event):
            self.rendering = False
            if self._watchdog is not None:
                self._watchdog.cancel()
        self.events.put(event)

    def _report_exit(self) -> None:
        """Stdout closed: the worker exited. Unless we asked for it, that is a crash."""
        assert self.process is not None
        try:
            self.process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:  # closed its stdout but lives on: end it
            self.process.kill()
            self.process.wait()
        if self._stderr_reader is not None:
            self._stderr_reader.join(timeout=0.3)
        if self._killed_on_cancel:
            self._deliver(self._event("cancelled", frames=None, killed=True))
        elif not self._stopping:
            self._deliver(self._crash_event())
        self.rendering = False
        self.exited.set()

    def _crash_event(self) -> Event:
        """The ``error`` event for a worker that died, ending with its last stderr line."""
        status = None if self.process is None else self.process.poll()
        last = self.stderr_tail[-1] if self.stderr_tail else "no message"
        return self._event(
            "error",
            message=f"the render worker stopped unexpectedly (exit status {status}): {last}",
            traceback="\n".join(self.stderr_tail),
            bad_input=False,
            request="render",
            crashed=True,
            exit_status=status,
        )

    # -- requests -----------------------------------------------------------------------

    def send(self, kind: str, **fields: Any) -> bool:
        """Write one request; False when the worker is gone (its crash event says why)."""
        if self.process is None or self.process.stdin is None:
            raise RuntimeError("the worker was not started; call start() first")
        with self._write_lock:
            try:
                self.process.stdin.write(encode(kind, **fields) + "\n")
                self.process.stdin.flush()
            except (OSError, ValueError):
                return False
        return True

    def render(
        self,
        job: Mapping[str, Any],
        out_dir: str | os.PathLike[str],
        *,
        resume: bool = False,
        preview: bool = False,
    ) -> bool:
        """Ask for a render of ``job`` (a Job dict) into ``out_dir``; events follow."""
        stale = self.poll()  # events left from an earlier render belong to nobody now
        if self.exited.is_set():
            # Dead before this render: say so again, or the caller would wait forever.
            crash = [e for e in stale if e.get("crashed")]
            self._deliver(crash[-1] if crash else self._crash_event())
            return False
        self.rendering = True
        self._killed_on_cancel = False
        return self.send(
            "render", job=dict(job), out_dir=str(out_dir), resume=resume, preview=preview
        )

    def cancel(self, grace_s: float | None = None) -> None:
        """Ask the worker to stop the render; kill it if it has not stopped after ``grace_s``."""
        self.send("cancel")
        if self._watchdog is not None:
            self._watchdog.cancel()
        grace = self.cancel_grace_s if grace_s is None else grace_s
        self._watchdog = threading.Timer(grace, self._kill_if_still_rendering)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _kill_if_still_rendering(self) -> None:
        if self.rendering and self.alive and self.process is not None:
            self._killed_on_cancel = True
            self.process.kill()

    # -- events -------------------------------------------------------------------------

    def poll(self, limit: int = 256) -> list[Event]:
        """The events that arrived since the last call (at most ``limit``); never blocks."""
        found: list[Event] = []
        while len(found) < limit:
            try:
                found.append(self.events.get_nowait())
            except queue.Empty:
                break
        return found

    def wait(
        self, on_event: Callable[[Event], None] | None = None, timeout: float | None = None
    ) -> Event:
        """Block until the render ends (background mode); returns the event that ended it."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                raise TimeoutError(f"the worker sent no final event within {timeout} s") from None
            if on_event is not None:
                on_event(event)
            if ends_render(event):
                return event

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Shut the worker down (cancelling any render); kill it if it does not exit."""
        if self.process is None:
            return
        self._stopping = True
        if self.alive:
            self.send("shutdown")
            try:
                assert self.process.stdin is not None
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.exited.wait(timeout=1.0)
        _LIVE.discard(self)


def event_timer(
    client: WorkerClient,
    on_event: Callable[[Event], None],
    interval: float = 0.1,
    limit: int = 32,
) -> Callable[[], float | None]:
    """A ``bpy.app.timers`` function feeding ``client``'s events to ``on_event``.

    Each tick handles at most ``limit`` events and returns the next interval, or None (which
    unregisters the timer) once the render ended: done, cancelled, failed or crashed.
    """

    def tick() -> float | None:
        for event in client.poll(limit):
            try:
                on_event(event)
            except Exception:
                # A broken handler must not leave a render running that no one watches.
                import traceback

                traceback.print_exc()
                client.cancel()
                return None
            if ends_render(event):
                return None
        return interval

    return tick


_SHARED: WorkerClient | None = None


def shared_worker(python: str | None = None) -> WorkerClient:
    """The add-on's long-lived worker (its models stay loaded between renders)."""
    global _SHARED
    chosen = python or find_worker_python().path
    # A worker started with the other online access would name the wrong fix.
    reason = worker_env().get(OFFLINE_REASON_VARIABLE)
    if (
        _SHARED is None
        or not _SHARED.alive
        or _SHARED.command[0] != chosen
        or _SHARED.env.get(OFFLINE_REASON_VARIABLE) != reason
    ):
        if _SHARED is not None:
            _SHARED.stop()
        _SHARED = WorkerClient.launch(chosen)
    return _SHARED


def stop_all() -> None:
    """Stop every worker this Blender started (at exit and when the add-on is disabled)."""
    global _SHARED
    for client in list(_LIVE):
        client.stop()
    _SHARED = None


atexit.register(stop_all)


def register() -> None:
    """Nothing to register: workers start on demand."""


def unregister() -> None:
    """Stop the workers when the add-on is disabled."""
    stop_all()
