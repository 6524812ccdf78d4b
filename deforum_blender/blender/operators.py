"""Render Deforum from Blender: ``deforum.render``, ``deforum.preview``, ``deforum.cancel``.

A render runs in three steps. Blender prepares it (reads the scene into a Job — in
Video Input mode without a video, the sequencer's strip is the video — renders the
scene's Z pass into ``<out>/scene_depth`` when the depth source is the scene, its render
of each frame with ``scene_blend`` above 0 into ``<out>/scene_render``, and the first
frame into ``<out>/init/scene_render.png`` for an init from the scene); the worker
process renders the frames (``worker_client.py``); and Blender
follows the worker's events, growing the strip in the sequencer and the progress in
the panels and the status bar.

In the UI the events are polled by a ``bpy.app.timers`` callback whose every tick only
reads what has arrived (it never waits), so Blender stays responsive; Esc or Cancel
asks the worker to stop. In background mode (``blender -b``, the ``bpy`` module) timers
never fire, so the operator follows the events in a blocking loop and prints a progress
line per frame. The progress lives in ``progress.py`` (runtime state, not .blend data).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Collection
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import bpy
from bpy.app.handlers import persistent

from ..core.errors import DeforumInputError
from ..core.job import Job
from ..core.output_layout import (
    DEPTH_DIR,
    JOB_FILE,
    RUN_FILE,
    SETTINGS_FILE,
    VIDEO_FILE,
    frame_files,
    frames_dir,
    is_temp_name,
    scene_depth_dir,
    scene_render_path,
    scene_renders_dir,
)
from ..core.overrides import apply_overrides
from ..core.protocol import ends_render
from . import progress, sequencer
from .depth_pass import depth_file, render_scene_depth
from .scene_job import job_from_scene, output_folder
from .scene_render import frames_to_render, kept_frame, render_frame, render_scene_guide
from .settings_files import job_settings, write_settings_file
from .video_strip import apply_video_strip

T = TypeVar("T")
OperatorResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]

TICK_SECONDS = 0.1  # how often the UI timer looks for new events
TICK_EVENTS = 32  # events handled per tick at most: a fast preview never makes a long tick
INIT_CHOICES = ("settings", "render", "image", "none")
WORKER_LOG = "worker.log"
RENDER_AREAS = ("SEQUENCE_EDITOR", "PROPERTIES")  # the areas that show a render's progress


# -- preparing a render (Blender's side, before the worker) ---------------------------------


@dataclass
class RenderRequest:
    """What to render and how, beyond the scene's own settings."""

    preview: bool = False
    resume: bool = False
    # "settings": the scene's Init settings; "render": Blender's render of the first
    # frame; "image": the scene's init image (use_init on); "none": no init.
    init: str = "settings"
    out_dir: str | None = None  # None: the scene's output folder
    channel: int = 0  # sequencer channel for a new strip (0: the first free one)
    overrides: dict[str, str] = field(default_factory=dict)  # --set with Deforum keys
    model: str | None = None
    device: str | None = None


@dataclass
class PreparedRender:
    """The Job to send, where it goes, and what the artist should know."""

    scene: str
    job: Job
    out: Path
    request: RenderRequest
    warnings: list[str] = field(default_factory=list)
    finished_before: int = 0  # frames already on disk (resume)
    # The render as a Deforum settings file, its camera motion at the scene's translation
    # scale (the worker knows only the default): written over the worker's at the end.
    settings: dict[str, Any] | None = None


def clear_previous_render(out: Path) -> None:
    """Delete the files a previous render wrote in ``out`` (only those: the folder may hold more).

    A new render replaces the old one, as Blender's own renders overwrite their frames.
    """
    folders = {
        frames_dir(out): ("frame_", ".png", ".json"),
        out / DEPTH_DIR: ("depth_", ".png"),
        scene_depth_dir(out): ("depth_", ".npy"),
        scene_renders_dir(out): ("frame_", ".png"),
    }
    for folder, (prefix, *suffixes) in folders.items():
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            ours = path.name.startswith(prefix) and path.suffix in suffixes
            if path.is_file() and (ours or is_temp_name(path.name)):
                path.unlink()
    for name in (JOB_FILE, RUN_FILE, SETTINGS_FILE, VIDEO_FILE, WORKER_LOG):
        (out / name).unlink(missing_ok=True)
    scene_render_path(out).unlink(missing_ok=True)


def render_scene_frame(scene: bpy.types.Scene, frame: int, path: Path) -> Path:
    """Blender's own render of ``frame`` as an 8-bit RGB PNG at ``path`` (the init image).

    The scene's render engine, samples and colour management are used as they are; the
    sequencer is off (a scene with the Deforum strip would render the strip instead).
    """
    if scene.camera is None:
        raise DeforumInputError(
            f"init 'render': scene {scene.name!r} has no active camera; set Scene > Camera"
        )
    with kept_frame(scene):
        return render_frame(scene, frame, path)


def _with_init(scene: bpy.types.Scene, job: Job, request: RenderRequest, out: Path) -> Job:
    """The job with the init the request asks for."""
    choice = request.init
    if choice not in INIT_CHOICES:
        raise DeforumInputError(f"init {choice!r}: use one of {', '.join(INIT_CHOICES)}")
    if choice == "settings":
        return job
    if choice == "none":
        init = dataclasses.replace(job.init, use_init=False)
    elif choice == "image":
        if not job.init.init_image:
            raise DeforumInputError(
                "init 'image': no init image is set; choose one in Deforum > Init & Mask "
                "(or --set init_image=FILE)"
            )
        init = dataclasses.replace(job.init, use_init=True)
    else:
        target = scene_render_path(out)
        if not (request.resume and target.is_file()):
            render_scene_frame(scene, job.first_frame, target)
        init = dataclasses.replace(job.init, use_init=True, init_image=str(target))
    return dataclasses.replace(job, init=init)


def _depth_frames(job: Job) -> list[int]:
    """Frames whose Z pass the worker reads: all for scene depth in 3D, the guided ones
    when ``scene_blend_max_depth`` masks the scene guide by depth."""
    if job.animation_mode == "3D" and job.depth.depth_source == "scene":
        return list(range(job.first_frame, job.last_frame + 1))
    if job.scene_guide.scene_blend_max_depth > 0:
        return [int(frame) for frame in frames_to_render(job)]
    return []


def _render_depth(scene: bpy.types.Scene, job: Job, out: Path, resume: bool) -> None:
    """The scene's Z pass for every frame the worker needs (missing ones when resuming)."""
    folder = scene_depth_dir(out)
    frames = _depth_frames(job)
    if resume:
        frames = [f for f in frames if not depth_file(folder, f).is_file()]
    if frames:
        render_scene_depth(scene, frames, folder)


def prepare_render(scene: bpy.types.Scene, request: RenderRequest) -> PreparedRender:
    """Everything Blender does before the worker starts; raises DeforumInputError on bad input."""
    warnings: list[str] = []
    strip = apply_video_strip(scene)  # Video Input without a video: the sequencer's strip
    if strip is not None:
        warnings.append(f"Video Input: the video is the sequencer strip {strip.name!r}")
    # A motion preview needs no prompt; a render asks for one (the error says how).
    job = job_from_scene(scene, warnings=warnings, need_prompts=not request.preview)
    if request.overrides:
        job = apply_overrides(job, request.overrides)
    if request.model:
        job = dataclasses.replace(job, model=dataclasses.replace(job.model, id=request.model))
    if request.device:
        job = dataclasses.replace(job, device=request.device)
    out = Path(request.out_dir) if request.out_dir else Path(output_folder(scene))
    out = out.resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DeforumInputError(
            f"output folder {str(out)!r} cannot be made ({error.strerror}); choose another "
            "Output Folder"
        ) from None
    if not request.resume:
        clear_previous_render(out)
    _render_depth(scene, job, out, request.resume)
    render_scene_guide(scene, job, out, resume=request.resume)  # frames with scene_blend > 0
    job = _with_init(scene, job, request, out)
    finished = [f for f in frame_files(out) if job.first_frame <= f <= job.last_frame]
    return PreparedRender(
        scene.name,
        job,
        out,
        request,
        warnings,
        finished_before=len(finished) if request.resume else 0,
        settings=job_settings(scene, job),
    )


# -- following a render -------------------------------------------------------------------


class RenderSession:
    """One render in the worker: sends it, and turns its events into progress and the strip."""

    def __init__(self, prepared: PreparedRender, client: Any) -> None:
        self.prepared = prepared
        self.client = client
        out = prepared.out
        self.progress = progress.begin(
            progress.RenderProgress(
                scene=prepared.scene,
                out_dir=str(out),
                strip=sequencer.strip_name(out),
                preview=prepared.request.preview,
                first_frame=prepared.job.first_frame,
                total=prepared.job.max_frames,
                finished=prepared.finished_before,
            )
        )
        self.progress.warnings.extend(prepared.warnings)
        self.on_frame: Callable[[progress.RenderProgress], None] | None = None

    def start(self) -> None:
        """Show the strip (the frames already there when resuming) and send the render."""
        scene = self.scene()
        job, request = self.prepared.job, self.prepared.request
        if scene is not None:
            sequencer.show_finished_frames(
                scene, self.prepared.out, job.first_frame, job.last_frame, channel=request.channel
            )
        # A worker that is gone already reports itself as an ``error`` event (crashed).
        self.client.render(
            job.to_dict(), str(self.prepared.out), resume=request.resume, preview=request.preview
        )

    def scene(self) -> bpy.types.Scene | None:
        """The scene rendered (looked up each time: undo and reloads free the old object)."""
        return bpy.data.scenes.get(self.prepared.scene)

    def handle(self, event: dict[str, Any]) -> bool:
        """Take one event; True when the render has ended."""
        state = self.progress
        state.update(event)  # frames finished before a resume were counted at the start
        if event.get("type") == "done" and self.prepared.settings is not None:
            write_settings_file(self.prepared.settings, self.prepared.out / SETTINGS_FILE)
        if event.get("type") == "frame":
            scene = self.scene()
            if scene is not None:
                sequencer.add_frame(scene, self.prepared.out, int(event["frame"]))
            if self.on_frame is not None:
                self.on_frame(state)
        return ends_render(event)

    def poll(self) -> bool:
        """Handle what has arrived, without waiting; True when the render has ended."""
        return any([self.handle(event) for event in self.client.poll(TICK_EVENTS)])

    def cancel(self) -> None:
        """Ask the worker to stop after the current step."""
        if self.progress.running:
            self.progress.state = "cancelling"
            self.client.cancel()


_SESSION: list[RenderSession] = []


def active_session() -> RenderSession | None:
    """The render running in this Blender session, if any."""
    session = _SESSION[-1] if _SESSION else None
    return session if session is not None and session.progress.running else None


def _worker_client() -> Any:
    """The worker process, started when needed and kept between renders (models stay loaded)."""
    from .worker_client import shared_worker

    return shared_worker()


def shutdown_worker() -> None:
    """Stop the worker process (the headless script calls this before it exits)."""
    from .worker_client import stop_all

    stop_all()


def tag_redraw(area_types: Collection[str] = RENDER_AREAS, *, status_bar: bool = True) -> None:
    """Redraw the areas (and the status bar) that show the progress."""
    manager = bpy.context.window_manager
    if manager is None:
        return
    for window in manager.windows:
        screen = window.screen
        if screen is None:
            continue
        for area in screen.areas:
            if area.type in area_types:
                area.tag_redraw()
        workspace = window.workspace
        if status_bar and workspace is not None:
            with bpy.context.temp_override(window=window):
                workspace.status_text_set_internal(None)  # also redraws the status bar


def tick() -> float | None:
    """The UI timer: handle the events that arrived, never wait; None stops the timer."""
    session = active_session()
    if session is None:
        return None
    try:
        ended = session.poll()
    except Exception as error:  # a broken tick must not leave a timer firing forever
        session.progress.state, session.progress.message = "error", f"Deforum: {error}"
        session.client.cancel()  # nobody follows the worker any more
        ended = True
    tag_redraw()
    if ended:
        _finished_in_ui(session)
        return None
    return TICK_SECONDS


def _finished_in_ui(session: RenderSession) -> None:
    state = session.progress
    _push_undo(f"Deforum Render ({state.state})")
    if state.state == "error":
        print(f"Deforum: {state.message}", file=sys.stderr)
        popup(state.message, "ERROR")
    else:
        print(f"Deforum: {state.message}")


def _push_undo(message: str) -> None:
    """An undo step holding the grown strip: undo then removes the render's strip as a whole.

    Without it the strip would belong to the next edit's step, and undoing that edit
    would drop the strip too.
    """
    manager = bpy.context.window_manager
    if manager is None or not manager.windows:
        return
    with bpy.context.temp_override(window=manager.windows[0]), suppress(RuntimeError):
        bpy.ops.ed.undo_push(message=message)


def popup(message: str, icon: str) -> None:
    """Show ``message`` in a popup (a timer has no operator to report through)."""
    manager = bpy.context.window_manager
    # Background mode has a window but no screen to show it on (popup_menu crashes there).
    if bpy.app.background or manager is None or not manager.windows:
        return

    def draw(menu: Any, _context: Any) -> None:
        menu.layout.label(text=message)

    with bpy.context.temp_override(window=manager.windows[0]):
        manager.popup_menu(draw, title="Deforum", icon=cast(Any, icon))


def run_blocking(
    session: RenderSession, on_line: Callable[[str], None] | None = print
) -> progress.RenderProgress:
    """Follow the render to its end in this thread (background mode: timers never fire)."""
    if on_line is not None:
        session.on_frame = lambda state: on_line(state.line())
    session.client.wait(on_event=session.handle)
    return session.progress


def render(
    scene: bpy.types.Scene,
    request: RenderRequest,
    *,
    blocking: bool,
    on_line: Callable[[str], None] | None = print,
) -> RenderSession:
    """Prepare and start a render; with ``blocking``, follow it to its end here."""
    if active_session() is not None:
        raise DeforumInputError("a Deforum render is already running; cancel it first")
    prepared = prepare_render(scene, request)
    session = RenderSession(prepared, _worker_client())
    _SESSION[:] = [session]
    try:
        session.start()
    except Exception:
        session.progress.state = "error"
        raise
    if blocking:
        run_blocking(session, on_line)
    else:
        bpy.app.timers.register(tick, first_interval=TICK_SECONDS)
    return session


# -- operators ----------------------------------------------------------------------------


def reported(operator: bpy.types.Operator, action: Callable[[], T]) -> T | None:
    """``action()``, or None once its error is reported (bad input as it is, others typed)."""
    try:
        return action()
    except DeforumInputError as error:
        operator.report({"ERROR"}, str(error))
    except Exception as error:
        operator.report({"ERROR"}, f"Deforum: {type(error).__name__}: {error}")
    return None


def _init_items() -> tuple[tuple[str, str, str], ...]:
    return (
        ("settings", "Settings", "The first frame starts as the Init & Mask settings say"),
        ("render", "Scene Render", "The first frame starts from Blender's own render of it"),
        ("image", "Init Image", "The first frame starts from the init image"),
        ("none", "None", "The first frame is generated from the prompt alone"),
    )


class _RenderOperator(bpy.types.Operator):
    """Shared by Render and Preview (never registered itself)."""

    bl_options = {"REGISTER"}  # noqa: RUF012 - Blender reads a set
    preview_only = False

    resume: bpy.props.BoolProperty(
        name="Resume",
        description="Continue the render in the output folder instead of starting over",
        default=False,
    )
    init: bpy.props.EnumProperty(
        name="Init",
        description="What the first frame starts from",
        items=_init_items(),
        default="settings",
    )
    channel: bpy.props.IntProperty(
        name="Channel",
        description=(
            "Sequencer channel for a new strip; 0 keeps the strip's channel or picks "
            "the first free one"
        ),
        default=0,
        min=0,
        max=sequencer.MAX_CHANNEL,
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return (
            context.scene is not None
            and hasattr(context.scene, "deforum")
            and active_session() is None
        )

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        scene = context.scene
        assert scene is not None
        request = RenderRequest(
            preview=self.preview_only,
            resume=bool(self.resume),
            init=str(self.init),
            channel=int(self.channel),
        )
        background = bool(bpy.app.background)
        session = reported(self, lambda: render(scene, request, blocking=background))
        if session is None:
            return {"CANCELLED"}
        for warning in session.prepared.warnings:
            self.report({"WARNING"}, warning)
        state = session.progress
        if not background:
            self.report({"INFO"}, f"Deforum: rendering {state.total} frames into {state.out_dir}")
            return {"FINISHED"}
        if state.state == "error":
            self.report({"ERROR"}, f"Deforum: {state.message}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Deforum: {state.message}")
        return {"FINISHED"} if state.state == "done" else {"CANCELLED"}


class DEFORUM_OT_render(_RenderOperator):
    """Render the Deforum animation of this scene; the frames grow as a sequencer strip"""

    bl_idname = "deforum.render"
    bl_label = "Render Deforum"


class DEFORUM_OT_preview(_RenderOperator):
    """Motion preview: warp the frames with the camera's motion, without diffusion (fast)"""

    bl_idname = "deforum.preview"
    bl_label = "Preview Deforum Motion"
    preview_only = True


class DEFORUM_OT_cancel(bpy.types.Operator):
    """Stop the running Deforum render after the current step (frames so far are kept)"""

    bl_idname = "deforum.cancel"
    bl_label = "Cancel Deforum Render"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        session = active_session()
        return session is not None and session.progress.state != "cancelling"

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        session = active_session()
        if session is None:
            return {"CANCELLED"}
        session.cancel()
        self.report({"INFO"}, "Deforum: cancelling after the current step")
        return {"FINISHED"}


# -- the status bar, Esc, and file loading ------------------------------------------------


def draw_status(header: Any, _context: Any) -> None:
    """The status bar: the running render's progress bar."""
    state = progress.current()
    if state is None or not state.running:
        return
    header.layout.progress(factor=state.fraction, type="BAR", text=f"Deforum {state.text()}")


@persistent  # type: ignore[untyped-decorator]
def _on_load(*_args: Any) -> None:
    # Another file replaces the scene the render grows a strip in: stop the render.
    session = active_session()
    if session is not None:
        session.cancel()
        session.progress.state = "cancelled"
        session.progress.message = "Cancelled: another file was opened"


_CLASSES = (DEFORUM_OT_render, DEFORUM_OT_preview, DEFORUM_OT_cancel)
_KEYMAPS: list[tuple[Any, Any]] = []


def register() -> None:
    """Register the operators, the status bar progress, Esc to cancel, the load handler."""
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.STATUSBAR_HT_header.append(draw_status)
    bpy.app.handlers.load_pre.append(_on_load)
    keyconfig = bpy.context.window_manager.keyconfigs.addon if bpy.context.window_manager else None
    if keyconfig is not None:
        # Esc anywhere cancels a running render; with none running the key passes on.
        keymap = keyconfig.keymaps.new(name="Window", space_type="EMPTY")
        _KEYMAPS.append((keymap, keymap.keymap_items.new("deforum.cancel", "ESC", "PRESS")))


def unregister() -> None:
    """Cancel a running render, stop the worker, then remove everything register added."""
    session = active_session()
    if session is not None:
        session.cancel()
    shutdown_worker()
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    for keymap, item in _KEYMAPS:
        keymap.keymap_items.remove(item)
    _KEYMAPS.clear()
    if _on_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load)
    bpy.types.STATUSBAR_HT_header.remove(draw_status)
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
