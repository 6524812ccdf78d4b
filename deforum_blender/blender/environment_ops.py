"""Set up the render worker's Python from Blender: the ``deforum.setup_environment`` operator.

The operator asks which PyTorch build to install (``environment.CUDA_CHOICES``), refuses
while Blender's online access is off, and runs :class:`environment.EnvironmentSetup` (a
venv made from Blender's Python, then pip) in its background thread. In the UI a
``bpy.app.timers`` tick follows it — each tick only reads the newest log line — and
redraws the add-on's preferences and the Deforum panel, which show that line and the log
file. In background mode (where timers never fire) the operator waits and prints every line.

On success the ``worker_python`` preference is left as it is (normally empty): the worker
client finds the add-on's venv by itself (DESIGN.md §5's order), so nothing has to be saved
in the user's preferences, and a Worker Python set by hand stays an override.

The panel's "worker environment missing" problem comes from :func:`worker_problem`, which
never runs a subprocess and caches its answer, so drawing stays fast.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bpy

from ..core.errors import DeforumInputError
from . import environment, worker_client
from .environment import EnvironmentSetup
from .preferences import ADDON_PACKAGE
from .render_session import active_session
from .scene_problems import Problem
from .ui import OperatorResult, popup, reported, tag_redraw
from .worker_client import ENV_VARIABLE, SETUP_OPERATOR, WorkerPython, WorkerPythonError

TICK_SECONDS = 0.25  # how often the UI timer looks at the setup's newest line
REDRAWN_AREAS = ("PREFERENCES", "PROPERTIES")  # the add-on's preferences, the Deforum panel
WORKER_PACKAGES = ("torch", "diffusers")
FAILED_SUMMARY = "error: the command above failed"  # run_commands' last line on failure
MISSING = "worker environment missing: the render worker needs a Python with torch and diffusers"

# Where the worker Python came from, as the preferences say it.
SOURCES = {
    "preference": "the Worker Python preference",
    "environment": ENV_VARIABLE,
    "venv": "the add-on's environment",
    "blender": "Blender's own Python",
}


# -- running the setup --------------------------------------------------------------------

_SETUPS: list[EnvironmentSetup] = []  # the latest setup of this Blender session


def current_setup() -> EnvironmentSetup | None:
    """The latest setup of this session, running or finished."""
    return _SETUPS[-1] if _SETUPS else None


def running_setup() -> EnvironmentSetup | None:
    """The setup still running, if any."""
    setup = current_setup()
    return setup if setup is not None and not setup.finished else None


def start_setup(
    cuda_choice: str, *, blocking: bool, venv_dir: str | os.PathLike[str] | None = None
) -> EnvironmentSetup:
    """Start the setup (followed by the UI timer), or with ``blocking`` run it to its end here.

    Raises DeforumInputError when online access is off, a setup or a render is running,
    or ``cuda_choice`` is unknown.
    """
    environment.check_online_access()
    if running_setup() is not None:
        raise DeforumInputError("the worker environment is already being set up; wait for it")
    if active_session() is not None:
        raise DeforumInputError(
            "a Deforum render is running; set up the worker environment after it ends"
        )
    # pip may replace the packages an idle worker runs from; the next render starts a new one.
    worker_client.stop_all()
    setup = EnvironmentSetup(venv_dir, cuda_choice, on_line=print if blocking else None)
    _SETUPS[:] = [setup]
    forget_worker_python()
    setup.start()
    if blocking:
        setup.thread.join()
        forget_worker_python()  # the venv may exist now
    else:
        bpy.app.timers.register(tick, first_interval=TICK_SECONDS)
    return setup


def tick() -> float | None:
    """The UI timer: redraw what shows the setup's newest line; None once it has ended."""
    setup = current_setup()
    if setup is None:
        return None
    tag_redraw(REDRAWN_AREAS, status_bar=False)
    if not setup.finished:
        return TICK_SECONDS
    forget_worker_python()  # the venv may exist now
    ok = setup.status == 0
    print(f"Deforum: {outcome(setup)}", file=sys.stdout if ok else sys.stderr)
    popup(outcome(setup), "INFO" if ok else "ERROR")
    return None


def failure(setup: EnvironmentSetup) -> str:
    """The newest line that says why the setup failed (pip's error, not our summary)."""
    lines = [line for line in list(setup.lines) if not line.startswith(FAILED_SUMMARY)]
    return lines[-1] if lines else ""


def outcome(setup: EnvironmentSetup) -> str:
    """One line on where the setup stands."""
    if not setup.finished:
        return f"Setting up the worker environment ({setup.cuda_choice}): {setup.last_line}"
    if setup.status == 0:
        python = environment.venv_python(setup.venv_dir)
        return f"The worker environment is ready: {python}"
    return (
        f"Setting up the worker environment failed (exit status {setup.status}); "
        f"see the log {setup.log_path}"
    )


# -- which Python the worker gets (cheap enough for a panel) ------------------------------


def _has_worker_packages() -> bool:
    """Whether this Python can find torch and diffusers (looked up, not imported)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in WORKER_PACKAGES)
    except (ImportError, ValueError):
        return False


def addon_preferences() -> Any | None:
    """The add-on's preferences, or None when it is not enabled as an add-on."""
    preferences = bpy.context.preferences
    addon = preferences.addons.get(ADDON_PACKAGE) if preferences is not None else None
    return addon.preferences if addon is not None else None


def check_worker_python(
    preference: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    venv_dir: Path | None = None,
    blender_has_packages: bool | None = None,
) -> tuple[WorkerPython | None, Problem | None]:
    """The worker's Python as ``find_worker_python`` picks it, or the problem, without a subprocess.

    Blender's own Python counts when it can find torch and diffusers; the render itself
    still proves it by importing them (``worker_client.can_render``).
    """
    preference = worker_client.preference_python() if preference is None else preference
    variable = (os.environ if environ is None else environ).get(ENV_VARIABLE, "")
    try:
        found = worker_client.find_worker_python(
            preference, environ=environ, venv_dir=venv_dir, current=""
        )
    except WorkerPythonError as error:
        if preference.strip():
            owner = addon_preferences()
            return None, Problem(str(error), ((owner, "worker_python"),) if owner else ())
        if variable.strip():
            return None, Problem(str(error))
        if _has_worker_packages() if blender_has_packages is None else blender_has_packages:
            return WorkerPython(sys.executable, "blender"), None
        return None, Problem(MISSING, operator=SETUP_OPERATOR)
    return found, None


_CHECKED: dict[tuple[str, str, bool], tuple[WorkerPython | None, Problem | None]] = {}


def worker_python_cached() -> tuple[WorkerPython | None, Problem | None]:
    """:func:`check_worker_python` for this Blender, remembered until what it reads changes."""
    preference = worker_client.preference_python()
    venv = environment.venv_python(environment.default_venv_dir())
    key = (preference, os.environ.get(ENV_VARIABLE, ""), venv.is_file())
    if key not in _CHECKED:
        _CHECKED.clear()
        _CHECKED[key] = check_worker_python(preference)
    return _CHECKED[key]


def forget_worker_python() -> None:
    """Check the worker's Python again on the next draw (after a setup, or in tests)."""
    _CHECKED.clear()


def worker_problem() -> Problem | None:
    """What stops the worker from starting, for the Deforum panel; None when nothing does."""
    setup = running_setup()
    if setup is not None:
        return Problem(outcome(setup))
    return worker_python_cached()[1]


# -- drawing ------------------------------------------------------------------------------


def draw_environment(layout: Any) -> None:
    """The add-on preferences' worker section: its Python, the setup button, the progress."""
    box = layout.box()
    box.label(text="Render Worker Environment", icon="CONSOLE")
    found, problem = worker_python_cached()
    if found is not None:
        box.label(text=f"Worker Python ({SOURCES[found.source]}): {found.path}", icon="CHECKMARK")
    elif problem is not None:
        alert = box.row()
        alert.alert = True
        alert.label(text=problem.message, icon="ERROR")
    row = box.row()
    row.operator_context = "EXEC_DEFAULT"  # the menu is the CUDA choice: no dialog on top
    row.operator_menu_enum(SETUP_OPERATOR, "cuda", text="Set Up Environment", icon="IMPORT")
    if not bpy.app.online_access:
        box.label(
            text="Online access is off: Preferences > System > Network > Allow Online Access",
            icon="INFO",
        )
    setup = current_setup()
    log = setup.log_path if setup is not None else environment.default_venv_dir().parent
    if setup is None:
        log = log / environment.LOG_NAME
        if log.is_file():
            box.label(text=f"Log of the last setup: {log}", icon="TEXT")
        return
    column = box.column(align=True)
    column.alert = setup.finished and setup.status != 0
    column.label(text=outcome(setup), icon="SORTTIME" if not setup.finished else "INFO")
    if setup.finished and setup.status != 0:
        column.label(text=failure(setup))
    column.label(text=f"Log: {log}", icon="TEXT")


# -- the operator -------------------------------------------------------------------------


def _cuda_items() -> tuple[tuple[str, str, str], ...]:
    return tuple(
        (key, label, f"Install PyTorch from {index or 'PyPI'}")
        for key, (label, index) in environment.CUDA_CHOICES.items()
    )


class DEFORUM_OT_setup_environment(bpy.types.Operator):
    """Install the render worker's Python: a venv with PyTorch and diffusers (a large download)"""

    bl_idname = SETUP_OPERATOR
    bl_label = "Set Up Environment"
    bl_options = {"REGISTER"}  # noqa: RUF012 - Blender reads a set

    cuda: bpy.props.EnumProperty(
        name="PyTorch Build",
        description=(
            "Which PyTorch build to install: the CUDA version your NVIDIA driver supports, "
            "or CPU only"
        ),
        items=_cuda_items(),
        default="default",
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if running_setup() is not None:
            cls.poll_message_set("The worker environment is being set up")
            return False
        return True

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> OperatorResult:
        manager = context.window_manager
        assert manager is not None
        return manager.invoke_props_dialog(self, width=420, confirm_text="Install")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        assert layout is not None
        layout.prop(self, "cuda")
        layout.label(text=f"Into {environment.default_venv_dir()}")
        if not bpy.app.online_access:
            layout.label(text="Online access is off (Preferences > System > Network)", icon="ERROR")

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        background = bool(bpy.app.background)
        setup = reported(self, lambda: start_setup(str(self.cuda), blocking=background))
        if setup is None:
            return {"CANCELLED"}
        if not background:
            self.report(
                {"INFO"}, f"Deforum: setting up the worker environment; log: {setup.log_path}"
            )
            return {"FINISHED"}
        if setup.status != 0:
            self.report({"ERROR"}, f"Deforum: {outcome(setup)}: {failure(setup)}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Deforum: {outcome(setup)}")
        return {"FINISHED"}


def register() -> None:
    """Register the operator."""
    bpy.utils.register_class(DEFORUM_OT_setup_environment)


def unregister() -> None:
    """Stop following a setup (its pip keeps running to the end) and unregister."""
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    forget_worker_python()
    bpy.utils.unregister_class(DEFORUM_OT_setup_environment)
