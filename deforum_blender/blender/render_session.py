"""One render from Blender, start to end: prepare it, send it to the worker, follow it, finish.

A render runs in three steps. Blender prepares it (reads the scene into a Job — in
Video Input mode without a video, the sequencer's strip is the video — renders the
scene's Z pass into ``<out>/scene_depth`` when the depth source is the scene, its render
of each frame with ``scene_blend`` above 0 into ``<out>/scene_render``, and the first
frame into ``<out>/init/scene_render.png`` for an init from the scene); the worker
process renders the frames (``worker_client.py``); and Blender follows the worker's
events, growing the strip in the sequencer (``image_strip.py``) and the progress in the
panels and the status bar (``progress.py``, runtime state, not .blend data).

In the UI the events are polled by a ``bpy.app.timers`` callback whose every tick only
reads what has arrived (it never waits), so Blender stays responsive; Esc or Cancel
asks the worker to stop. In background mode (``blender -b``, the ``bpy`` module) timers
never fire, so the render is followed in a blocking loop that prints a progress line
per frame. The operators (``operators.py``) and the headless script only call
:func:`render`, :func:`active_session` and :meth:`RenderSession.cancel`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
from bpy.app.handlers import persistent

from ..core.errors import DeforumInputError
from ..core.folder_lock import check_free
from ..core.job import Job
from ..core.output_layout import (
    DEPTH_DIR,
    INTERPOLATED_DIR,
    RUN_FILES,
    UPSCALED_DIR,
    frame_files,
    frames_dir,
    is_temp_name,
    scene_audio_path,
    scene_depth_dir,
    scene_normal_dir,
    scene_render_path,
    scene_renders_dir,
)
from ..core.overrides import apply_overrides
from ..core.protocol import ends_render
from ..core.scene_inputs import scene_depth_frames, scene_normal_frames
from . import image_strip, progress, result_strips
from .depth_pass import depth_file, normal_file, render_scene_depth
from .scene_audio import with_scene_audio
from .scene_job import job_from_scene, output_folder
from .scene_render import kept_frame, render_frame, render_scene_guide
from .ui import popup, push_undo, tag_redraw
from .video_strip import apply_video_strip

TICK_SECONDS = 0.1  # how often the UI timer looks for new events
TICK_EVENTS = 32  # events handled per tick at most: a fast preview never makes a long tick
INIT_CHOICES = ("settings", "render", "image", "none")


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


def clear_previous_render(out: Path) -> None:
    """Delete the files a previous render wrote in ``out`` (only those: the folder may hold more).

    A new render replaces the old one, as Blender's own renders overwrite their frames.
    """
    folders = {
        frames_dir(out): ("frame_", ".png", ".json"),
        out / DEPTH_DIR: ("depth_", ".png"),
        scene_depth_dir(out): ("depth_", ".npy"),
        scene_normal_dir(out): ("normal_", ".npy"),
        scene_renders_dir(out): ("frame_", ".png"),
        # The steps after the frames would otherwise keep the last render's frames.
        out / UPSCALED_DIR: ("frame_", ".png"),
        out / INTERPOLATED_DIR: ("frame_", ".png"),
    }
    for folder, (prefix, *suffixes) in folders.items():
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            ours = path.name.startswith(prefix) and path.suffix in suffixes
            if path.is_file() and (ours or is_temp_name(path.name)):
                path.unlink()
    for name in RUN_FILES:  # job.json, run.json, deforum_settings.txt, video, worker.log
        (out / name).unlink(missing_ok=True)
    scene_render_path(out).unlink(missing_ok=True)
    scene_audio_path(out).unlink(missing_ok=True)


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
        rendered: Path = render_frame(scene, frame, path)
    return rendered


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


def _render_depth(scene: bpy.types.Scene, job: Job, out: Path, resume: bool) -> None:
    """The scene's Z pass (and Normal pass) for every frame the worker needs (missing ones
    when resuming)."""
    folder, normal_folder = scene_depth_dir(out), scene_normal_dir(out)
    frames = scene_depth_frames(job)  # the frames whose Z pass the worker reads
    normal_frames = scene_normal_frames(job)  # and whose normals scene_normal units read
    if resume:
        frames = [f for f in frames if not depth_file(folder, f).is_file()]
        normal_frames = [f for f in normal_frames if not normal_file(normal_folder, f).is_file()]
    if frames or normal_frames:
        render_scene_depth(scene, frames, folder, normal_frames, normal_folder)


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
    check_free(out)  # before this side clears the folder or renders depth into it
    if not request.resume:
        clear_previous_render(out)
    _render_depth(scene, job, out, request.resume)
    render_scene_guide(scene, job, out, resume=request.resume)  # frames with scene_blend > 0
    job = _with_init(scene, job, request, out)
    with_audio = with_scene_audio(scene, job, out)  # the sound strips, for the video
    if with_audio is not job:
        warnings.append("Scene Audio: the video's sound is the scene's sound strips")
    job = with_audio
    finished = [f for f in frame_files(out) if job.first_frame <= f <= job.last_frame]
    return PreparedRender(
        scene.name,
        job,
        out,
        request,
        warnings,
        finished_before=len(finished) if request.resume else 0,
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
                strip=image_strip.strip_name(out),
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
            image_strip.show_finished_frames(
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
        if event.get("type") == "frame":
            scene = self.scene()
            if scene is not None:
                image_strip.add_frame(scene, self.prepared.out, int(event["frame"]))
            if self.on_frame is not None:
                self.on_frame(state)
        elif event.get("type") == "done":
            scene = self.scene()
            if scene is not None:  # the video and the kept step folders beside the frames
                result_strips.show_results(scene, self.prepared.out, self.prepared.job)
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
    # An undo step holding the grown strip: undo then removes the render's strip as a
    # whole (without it the strip would belong to the next edit's step, and undoing that
    # edit would drop the strip too).
    push_undo(f"Deforum Render ({state.state})")
    if state.state == "error":
        print(f"Deforum: {state.message}", file=sys.stderr)
        popup(state.message, "ERROR")
    else:
        print(f"Deforum: {state.message}")


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


# -- registration: a file load stops the render; unregistering stops the worker ------------


@persistent  # type: ignore[untyped-decorator]
def _on_load(*_args: Any) -> None:
    # Another file replaces the scene the render grows a strip in: stop the render.
    session = active_session()
    if session is not None:
        session.cancel()
        session.progress.state = "cancelled"
        session.progress.message = "Cancelled: another file was opened"


def register() -> None:
    """Stop a running render when another file is opened."""
    bpy.app.handlers.load_pre.append(_on_load)


def unregister() -> None:
    """Cancel a running render, stop the worker and its timer, remove the load handler."""
    session = active_session()
    if session is not None:
        session.cancel()
    shutdown_worker()
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    if _on_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load)
