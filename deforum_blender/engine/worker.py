"""``python -m deforum_blender worker``: the long-lived render process Blender talks to.

Requests arrive as JSON lines on stdin and events leave as JSON lines on stdout, as
``core/protocol.py`` documents. A reader thread answers ``ping`` and ``cancel`` at once
(so both work while a frame is diffusing) and queues the rest; the main thread renders,
one job at a time, keeping the loaded models between jobs. Anything else that writes to
stdout (a library's print) is sent to stderr so it cannot break the protocol. Logs go
to stderr and, during a render, to ``<out>/worker.log``.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import IO, Any

from ..core.errors import DeforumInputError
from ..core.job import Job
from ..core.output_layout import worker_log_path
from ..core.protocol import FINAL_EVENTS, REQUESTS, ProtocolError, decode, encode

LOG = logging.getLogger("deforum_blender.worker")
_LOG_FORMAT = "%(asctime)s %(levelname)s worker[%(process)d]: %(message)s"


class Worker:
    """Serves protocol requests from ``requests`` and writes events to ``events``."""

    def __init__(self, requests: IO[bytes] | IO[str], events: IO[str]) -> None:
        self.requests = requests
        self.events = events
        self.write_lock = threading.Lock()
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue()
        # One cancel flag per render asked for and not yet finished: a cancel sent just
        # after a render request must stop it even if it has not started yet.
        self.pending: list[threading.Event] = []
        self.pending_lock = threading.Lock()
        self.busy = False
        self.client_gone = False
        # What the last renders used: a different model drops the old one first, so the
        # worker holds one diffusion model and one depth model at most (GPU memory).
        self.diffusion_model: tuple[object, ...] | None = None
        self.depth_model: tuple[object, ...] | None = None

    # -- output -------------------------------------------------------------------------

    def emit(self, kind: str, **fields: Any) -> None:
        """Write one event line, flushed; a vanished client cancels everything."""
        line = encode(kind, **fields)
        level = logging.DEBUG if kind in ("progress", "pong") else logging.INFO
        LOG.log(level, "event %s", line if kind != "error" else f"error: {fields.get('message')}")
        with self.write_lock:
            if self.client_gone:
                return
            try:
                self.events.write(line + "\n")
                self.events.flush()
            except (BrokenPipeError, ValueError, OSError):
                # Nobody reads us any more (Blender quit or killed the pipe): stop working.
                self.client_gone = True
                self.cancel_all()

    def fail(self, error: BaseException, request: str | None) -> None:
        """An ``error`` event for ``error``, with its traceback."""
        bad_input = isinstance(error, DeforumInputError)
        trace = "".join(traceback.format_exception(error))
        if bad_input:
            LOG.warning("bad input: %s", error)
        else:
            LOG.error("failed: %s", trace)
        message = str(error) if bad_input else f"{type(error).__name__}: {error}"
        self.emit("error", message=message, traceback=trace, bad_input=bad_input, request=request)

    # -- requests -----------------------------------------------------------------------

    def cancel_all(self) -> None:
        with self.pending_lock:
            for flag in self.pending:
                flag.set()

    def read_requests(self) -> None:
        """The reader thread: answer ping/cancel now, queue the rest; EOF means shutdown.

        Every line gets an answer and no line stops the reading: a worker that stopped
        reading would never see its stdin close, and would hold its models forever.
        """
        try:
            for raw in self.requests:
                try:
                    self.handle_line(raw)
                except Exception as error:  # answered; the next line is read all the same
                    self.fail(error, None)
        except Exception as error:  # the stream itself broke: treat it as closed
            LOG.error("reading requests failed: %s", error)
        finally:
            LOG.info("stdin closed: shutting down")
            self.cancel_all()
            self.queue.put({"type": "shutdown"})

    def handle_line(self, raw: str | bytes) -> None:
        """Answer one request line (or queue it for the main thread)."""
        line = raw.strip()
        if not line:
            return
        try:
            message = decode(line, REQUESTS)
        except ProtocolError as error:
            self.fail(error, None)
            return
        kind = message["type"]
        LOG.debug("request %s", kind)
        if kind == "ping":
            self.emit("pong", models=loaded_models(), busy=self.busy)
        elif kind == "cancel":
            LOG.info("cancel asked")
            self.cancel_all()
        else:
            if kind == "render":
                message["_cancel"] = threading.Event()
                with self.pending_lock:
                    self.pending.append(message["_cancel"])
            elif kind == "shutdown":
                self.cancel_all()
            self.queue.put(message)

    def serve(self) -> int:
        """Announce readiness, then run queued requests until ``shutdown``; exit status."""
        from .render import versions

        package = str(Path(__file__).resolve().parent.parent)
        self.emit("ready", pid=os.getpid(), versions=versions(), package=package)
        threading.Thread(target=self.read_requests, name="requests", daemon=True).start()
        while True:
            message = self.queue.get()
            kind = message["type"]
            if kind == "shutdown":
                LOG.info("shutdown")
                return 0
            if kind == "release":
                self.emit("released", models=release_models())
            elif kind == "render":
                self.render(message)

    def render(self, message: dict[str, Any]) -> None:
        """Run one render request to its end: done, cancelled or an error event."""
        cancel: threading.Event = message.pop("_cancel")
        self.busy = True
        log_file: logging.Handler | None = None
        try:
            out = message.get("out_dir")
            if not isinstance(out, str) or not out:
                raise DeforumInputError("render: out_dir is missing; give the output folder")
            job_data = message.get("job")
            if not isinstance(job_data, dict):
                raise DeforumInputError("render: job is missing; give the Job as a JSON object")
            log_file = open_log_file(Path(out))
            from .render import Renderer

            job = Job.from_dict(job_data)
            preview = bool(message.get("preview", False))
            self.drop_other_models(job, preview)
            LOG.info("render %s frames into %s", job.max_frames, out)
            Renderer(
                job,
                out,
                preview=preview,
                resume=bool(message.get("resume", False)),
                emit=self.render_event,
                cancel=cancel,
            ).run()
        except Exception as error:  # reported to the client; the worker keeps serving
            self.busy = False  # before the client hears of the end (a ping may follow at once)
            self.fail(error, "render")
        finally:
            self.busy = False
            with self.pending_lock:
                self.pending.remove(cancel)
            if log_file is not None:
                logging.getLogger().removeHandler(log_file)
                log_file.close()

    def render_event(self, kind: str, **fields: Any) -> None:
        """A render's event; the worker is idle again before its last event goes out."""
        if kind in FINAL_EVENTS:
            self.busy = False
        self.emit(kind, **fields)

    def drop_other_models(self, job: Job, preview: bool) -> None:
        """Release a loaded model this job replaces; keep the ones it uses again."""
        from . import depth, diffusion

        if not preview:
            model = (job.model, job.device)
            if self.diffusion_model not in (None, model):
                LOG.info("model changed: releasing %s", self.diffusion_model[0])
                diffusion.clear_model_cache()
            self.diffusion_model = model
        if job.depth.depth_source == "estimated" and job.animation_mode == "3D":
            depth_model = (job.depth.depth_model, job.device)
            if self.depth_model not in (None, depth_model):
                LOG.info("depth model changed: releasing %s", self.depth_model[0])
                depth._ESTIMATORS.clear()
            self.depth_model = depth_model


def open_log_file(out: Path) -> logging.Handler | None:
    """Also log to ``<out>/worker.log`` for this render (None if the folder is unusable)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(worker_log_path(out), encoding="utf-8")
    except OSError:
        return None  # the renderer reports the unwritable folder with the fix
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    return handler


def loaded_models() -> list[str]:
    """Names of the models this process holds now (diffusion and depth)."""
    from . import depth, diffusion

    # The caches belong to their modules; reading their keys is the cheapest honest answer.
    names = [key[0].partition(":")[2] for key in diffusion._CACHE]
    names += [key[0] for key in depth._ESTIMATORS]
    return sorted(names)


def release_models() -> int:
    """Drop every loaded model (diffusion and depth) and free GPU memory; how many."""
    from . import depth, diffusion

    count = len(diffusion._CACHE) + len(depth._ESTIMATORS)
    depth._ESTIMATORS.clear()
    diffusion.clear_model_cache()  # also collects garbage and empties the CUDA cache
    LOG.info("released %d models", count)
    return count


def _terminate(signum: int, frame: object) -> None:
    from .render import Terminated

    raise Terminated()


def main(log_level: str = "INFO") -> int:
    """Serve the protocol on this process's stdin/stdout until shutdown or end of input."""
    # Keep the real stdout for protocol lines only; everything else printing to stdout
    # (libraries, stray prints) lands on stderr instead.
    events = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", newline="\n")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    logging.basicConfig(level=log_level, format=_LOG_FORMAT, stream=sys.stderr, force=True)
    LOG.info("worker starting (Python %s)", sys.version.split()[0])
    # Never closed: the reader thread may still be blocked reading it when we exit. Read as
    # bytes: a line that is not UTF-8 is then one bad request, not the end of reading.
    requests = open(sys.stdin.fileno(), "rb", closefd=False)  # noqa: SIM115
    # SIGTERM raises in the main thread, which runs the renders: the render records
    # "terminated" in run.json and unlocks its folder before the worker exits.
    from .render import Terminated

    signal.signal(signal.SIGTERM, _terminate)
    try:
        status = Worker(requests, events).serve()
    except Terminated:
        LOG.info("terminated (SIGTERM)")
        status = 128 + signal.SIGTERM
    # Exit now, without waiting on the reader thread or the interpreter's teardown of
    # a stdin that thread still holds (either can hang); flush what we wrote first.
    logging.shutdown()
    events.flush()
    sys.stderr.flush()
    os._exit(status)
