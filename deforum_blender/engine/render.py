"""The render loop: a Job in, frames out, in Deforum's order.

Frames are grouped in *spans* of the diffusion cadence N: a key frame every N-th
index (and the first) is diffused; the frames between two keys are tweens, both keys
warped to the tween's camera and blended; frames after the last key are the last key
warped forward. Per key frame, as Deforum does it: warp the previous key, colour-match
to Deforum's colour sample, contrast, anti-blur, noise, img2img with denoise
``1 − strength``, and (legacy_colormatch off) colour-match the generated frame to the
sample again. So ``diffusion_calls`` is ``ceil(frames / N)``. The sample is what
Deforum's loop keeps (``color_matcher``): frame 0 with legacy_colormatch off and no init
image, else the first warped key frame; the coherence image; the video frame.

The modes without motion: None renders stills (``core/prompt_layout.py``), Video Input
takes each frame's init from a video (``video_input.py``), Interpolation morphs between the
prompts (``prompt_morph.py``); every frame of those is a key frame (no cadence). In any
mode ``scene_blend`` mixes Blender's render of the frame into the init (``scene_guide.py``).

Determinism, which makes resume lossless (DESIGN.md §2): every random draw derives
from (seed, frame, purpose), and a span only reads frames as decoded from their PNGs
(the previous key and the colour reference), so a resumed run writes exactly the
frames an uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core import atomic
from ..core import output_layout as layout
from ..core.deforum_settings import write_settings
from ..core.draft import draft_message, drafted
from ..core.errors import DeforumInputError
from ..core.folder_lock import folder_lock
from ..core.job import Job
from ..core.output_layout import frame_files as finished_frames
from ..core.output_layout import frame_path
from ..core.prompt_layout import stills_keyframes
from ..core.prompt_weights import composable_parts, prompt_record
from ..core.prompts import FramePrompt, prompts_for_frames
from ..core.seeds import seeds_for_frames
from . import compiled as compiled_parts
from . import frames as frame_files
from .adjust import adjust_contrast, grayscale, unsharp_mask
from .coherence import ColorMatcher
from .controlnet import ControlNets
from .depth import resolve_depth_model
from .diffusion import (
    Cancelled,
    Diffuser,
    ModelOptions,
    load_diffuser,
    resolve_device,
    resolve_source,
)
from .flow import flow_tween
from .masks import Mask, composite, load_init_mask
from .motion import FrameWarper, check_depth_files, job_camera_track
from .noise import add_noise
from .prompt_morph import PromptMorph
from .resident import ResidentChain, choose_resident
from .resume import claim_folder
from .scene_guide import SceneGuide
from .video_input import VIDEO_COHERENCE_SPACE, VideoInput, probe

Image = NDArray[np.uint8]
Emit = Callable[..., None]
"""``emit(kind, **fields)``: the events of ``core.protocol`` (started, progress, frame…)."""

STAGES = (
    "load",
    "warp",
    "coherence",
    "contrast",
    "antiblur",
    "noise",
    "diffusion",
    "tween",
    "write",
    "video",
)
#: The engine's own work on the critical path (everything but the networks); the PNG
#: "write" runs on the writer thread beside it and is reported on its own.
ENGINE_STAGES = ("warp", "coherence", "contrast", "antiblur", "noise", "tween")
SUPPORTED_MODES = ("None", "2D", "3D", "Video Input", "Interpolation")
#: PNG encoder threads beside the ordered writer when key frames are resident (GPU).
PNG_ENCODERS = 3


class Terminated(BaseException):
    """SIGTERM asked the process to end (raised by the CLI's signal handler)."""


#: How a run that raised ended, for run.json's ``status`` (anything else: "failed").
END_STATUS: dict[type[BaseException], str] = {
    KeyboardInterrupt: "cancelled",
    Terminated: "terminated",
    Cancelled: "cancelled",
}


@dataclass(frozen=True)
class Span:
    """A key frame index, the key it is warped from (None: generated fresh), the tweens."""

    previous: int | None
    key: int | None  # None for the frames after the last key
    tweens: tuple[int, ...]

    @property
    def indices(self) -> tuple[int, ...]:
        return self.tweens + (() if self.key is None else (self.key,))


def plan_spans(frames: int, cadence: int) -> list[Span]:
    """Spans covering frame indices ``0 … frames−1`` with a key every ``cadence`` frames."""
    keys = list(range(0, frames, cadence))
    spans = [Span(None, 0, ())]
    spans += [Span(p, d, tuple(range(p + 1, d))) for p, d in itertools.pairwise(keys)]
    if keys[-1] < frames - 1:
        spans.append(Span(keys[-1], None, tuple(range(keys[-1] + 1, frames))))
    return spans


@dataclass
class RenderResult:
    """What a render did: frames written this run, diffusion calls, cancelled or not."""

    out_dir: Path
    written: list[int] = field(default_factory=list)
    diffusion_calls: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))


def placeholder_pattern(width: int, height: int) -> Image:
    """A colourful checkerboard: what the motion preview warps when there is no init image."""
    y, x = np.mgrid[0:height, 0:width]
    cells = ((x * 8 // max(width, 1)) + (y * 8 // max(height, 1))) % 2
    image = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), cells * 255], -1)
    return np.asarray(image, dtype=np.uint8)


def load_rgb(path: str, width: int, height: int, field_name: str) -> Image:
    """An image file as RGB uint8 at the job's size (a clear error when it is missing)."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8) if Path(path).is_file() else None
    decoded = None if data is None or data.size == 0 else cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:
        raise DeforumInputError(
            f"{field_name}: cannot read an image at {path!r}; give the path of a PNG or JPEG"
        )
    rgb = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    if rgb.shape[:2] != (height, width):
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return np.asarray(rgb, dtype=np.uint8)


class Renderer:
    """Renders one job into one output folder; :meth:`run` does the work."""

    def __init__(
        self,
        job: Job,
        out_dir: str | os.PathLike[str],
        *,
        preview: bool = False,
        resume: bool = False,
        emit: Emit | None = None,
        cancel: threading.Event | None = None,
        resident: bool | None = None,
    ) -> None:
        """``resident``: key frames stay on the torch device (``resident.py``); None: on
        CUDA where the job allows it."""
        job, draft_changes = drafted(job)  # Draft: the preset's settings, said out loud
        self.job = job
        self.resident_wanted = resident
        self.resident: ResidentChain | None = None
        self.out = Path(out_dir)
        self.preview = preview
        self.resume = resume
        self.emit: Emit = emit or (lambda kind, **fields: None)
        if draft_changes:
            self.emit("warning", message=draft_message(draft_changes))
        self.cancel = cancel or threading.Event()
        self.result = RenderResult(self.out)
        self.compile_mark = len(compiled_parts.compiling_calls())  # this run's compiles follow
        self.n = job.max_frames
        mode = job.animation_mode
        self.cadence = job.cadence.diffusion_cadence if mode in ("2D", "3D") else 1
        self.diffuser: Diffuser | None = None
        self.model_in_use = ""  # the model self.diffuser is (checkpoint_schedule switches it)
        self.init_mask: Mask | None = None

    # -- checks before the first frame --------------------------------------------------

    def check(self) -> None:
        """Refuse a job this loop cannot render, before any frame (names the field)."""
        job = self.job
        if job.animation_mode not in SUPPORTED_MODES:
            raise DeforumInputError(
                f"animation_mode {job.animation_mode!r}: this engine renders "
                f"{', '.join(SUPPORTED_MODES)}"
            )
        if job.init.use_init and not job.init.init_image:
            raise DeforumInputError("init_image: use_init is on but no init image is given")
        self.check_input_files()
        check_depth_files(job, self.out)  # before any model loads
        from . import finish as finish_steps

        if finish_steps.wanted(job):
            finish_steps.check(job)  # not after the last frame
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            # A name of this process's own: two renders started at once must not remove each
            # other's probe (the loser must hear of the lock, not of an unwritable folder).
            probe = self.out / f".write_test.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise DeforumInputError(
                f"output folder {str(self.out)!r} is not writable ({error.strerror}); "
                "choose another folder with --out"
            ) from None

    def check_input_files(self) -> None:
        """Read or probe every file the job names, before any model loads or file is written."""
        job = self.job
        if job.init.use_init and job.init.init_image:
            load_rgb(job.init.init_image, job.W, job.H, "init_image")
        self.init_mask = load_init_mask(job) if job.init.use_mask else None
        if job.coherence.color_coherence == "Image":
            self.coherence_image()
        video = job.video_input
        reads = {  # Job.from_dict requires these paths where they are read
            "video_init_path": VideoInput(job, self.out).folder is not None,
            "video_mask_path": VideoInput.needed(job) and video.use_mask_video,
        }
        for name, read in reads.items():
            if read:
                probe(getattr(video, name), name)
        if job.animation_mode == "3D" and job.depth.depth_source == "estimated":
            resolve_depth_model(job.depth.depth_model)  # a local folder that is not a model
        if job.model.checkpoint_schedule is not None and not self.preview:
            for model in sorted(set(job.frame_models())):
                try:
                    resolve_source(model, allow_pickle=job.model.allow_pickle)
                except DeforumInputError as error:
                    raise DeforumInputError(
                        f"model.checkpoint_schedule: {model!r}: {error}; a webui checkpoint "
                        "name must be given as its file's path"
                    ) from None
        # ControlNet units: their modules and vid_path files (scene files once keys are known).
        ControlNets(job, self.out, job.max_frames, job.seeds.seed).check([])

    # -- the loop ----------------------------------------------------------------------

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.result.timings[stage] += time.perf_counter() - start

    def run(self) -> RenderResult:
        """Render every missing frame; returns what was done (cancelled or complete).

        The output folder is locked meanwhile; if the run raises (Ctrl+C, SIGTERM, a
        failure) after run.json said "running", run.json says how it ended."""
        started = time.perf_counter()
        self.check()
        self.running_on: str | None = None  # the device, once run.json says "running"
        with folder_lock(self.out, lambda message: self.emit("warning", message=message)):
            try:
                return self.render_locked(started)
            except BaseException as error:
                if self.running_on is not None:
                    status = END_STATUS.get(type(error), "failed")
                    self.write_run_record(self.running_on, status=status, started=started)
                raise

    def render_locked(self, started: float) -> RenderResult:
        """:meth:`run`'s work, with the folder locked."""
        self.seed = claim_folder(self.out, self.job, resume=self.resume, preview=self.preview)
        job = self.job
        self.track = job_camera_track(job)
        device = resolve_device(job.device)
        if not self.preview:
            device = self.use_model(job.frame_models(seed=self.seed)[0]).device
        self.warper = None if self.track is None else FrameWarper(job, self.track, self.out, device)
        self.video = VideoInput(job, self.out) if VideoInput.needed(job) else None
        if self.video is not None:
            self.n = self.video.prepare()
            if self.n < job.max_frames:
                self.emit(
                    "warning",
                    message=f"video_init_path: the video has {self.n} frames; rendering "
                    f"{self.n} of {job.max_frames} (frames {job.first_frame}–"
                    f"{self.frame(self.n - 1)}), as Deforum does",
                )
        # Deforum reads the schedules at the frame count it renders (a shorter video's).
        timeline = job
        if self.n < job.max_frames:
            timeline = dataclasses.replace(job, last_frame=job.first_frame + self.n - 1)
        for message in timeline.schedule_warnings(seed=self.seed):
            self.emit("warning", message=message)
        self.series = {
            name: timeline.series(name, seed=self.seed)
            for name in (
                "strength",
                "noise",
                "contrast",
                "cfg_scale",
                "steps",
                "antiblur_amount",
                "antiblur_kernel",
                "antiblur_sigma",
                "antiblur_threshold",
                "scene_blend",
                "cadence_flow_factor",
                "noise_multiplier",
                "clip_skip",
            )
        }
        self.samplers = timeline.frame_samplers(seed=self.seed)
        self.checkpoints = timeline.frame_models(seed=self.seed)
        self.warn_ignored_mask_video()
        self.prompts = self.frame_prompts()
        self.warn_composable_prompts()
        spans = plan_spans(self.n, self.cadence)
        keys = [s.key for s in spans if s.key is not None]
        self.keys = keys
        schedule = (
            timeline.series("seed", seed=self.seed)
            if job.seeds.seed_behavior == "schedule"
            else None
        )
        self.seeds = seeds_for_frames(
            keys,
            seed=self.seed,
            behavior=job.seeds.seed_behavior,
            iter_n=job.seeds.seed_iter_N,
            schedule=schedule,
        )
        self.morph = PromptMorph(job, self.seed) if job.animation_mode == "Interpolation" else None
        if self.morph is not None:
            self.seeds = self.morph.frame_seeds()
        done = self.prepare_resume()
        # A morph is pure text-to-image: there is no init to mix a scene render into.
        blend = self.series["scene_blend"] if self.morph is None else [0.0] * self.n
        self.scene = SceneGuide(job, self.out, blend)
        self.scene.check([k for k in keys if k not in done])
        self.prepare_controlnets([k for k in keys if k not in done])
        self.write_run_record(device, status="running", started=started)
        self.running_on = device
        missing = set(range(self.n)) - done
        resumed_from = self.frame(min(missing)) if done and missing else None
        self.emit("started", frames=self.n, first_frame=job.first_frame, resumed_from=resumed_from)
        self.images: dict[int, Image] = {}
        self.matcher: ColorMatcher | None = None
        # One writer thread: PNG encoding leaves the critical path, frames stay in order.
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deforum-writer")
        self.pending: list[Future[None]] = []
        self.resident = choose_resident(self, device, self.resident_wanted)
        # Frames come faster than one thread encodes PNGs on a GPU: encode in parallel (the
        # writer still writes and emits in order). On the CPU one writer is enough.
        self.encoders = (
            None
            if self.resident is None
            else ThreadPoolExecutor(max_workers=PNG_ENCODERS, thread_name_prefix="deforum-png")
        )
        try:
            for span in spans:
                if set(span.indices) <= done:
                    continue
                self.render_span(span, done)
        except Cancelled:
            self.result.cancelled = True
        finally:
            self.flush_writes()
            self.writer.shutdown()
            if self.resident is not None:
                self.resident.close()
            if self.encoders is not None:
                self.encoders.shutdown()
        self.result.seconds = time.perf_counter() - started
        if self.result.cancelled:
            self.write_run_record(device, status="cancelled", started=started)
            self.emit("cancelled", frames=len(finished_frames(self.out)))
            return self.result
        write_settings(job, layout.settings_path(self.out))
        from .finish import finish, wanted

        if wanted(job):  # the steps after the frames write the video themselves
            with self.timed("video"):
                steps = finish(job, self.out, emit=self.emit, cancel=self.cancel, device=device)
            if steps.cancelled:  # the frames are all kept; a resume runs the steps again
                self.result.cancelled = True
                self.write_run_record(device, status="cancelled", started=started)
                self.emit("cancelled", frames=len(finished_frames(self.out)))
                return self.result
        elif job.output.make_video:
            from .video import write_video

            with self.timed("video"):
                paths = [frame_path(self.out, self.frame(i)) for i in range(self.n)]
                write_video(paths, layout.video_path(self.out), job.fps)
        self.result.seconds = time.perf_counter() - started
        self.write_run_record(device, status="done", started=started)
        self.emit("done", frames=self.n, out_dir=str(self.out), seconds=self.result.seconds)
        return self.result

    def frame(self, index: int) -> int:
        return self.job.first_frame + index

    def use_model(self, model: str) -> Diffuser:
        """Make ``model`` the one that diffuses (loaded once: the model cache keeps it)."""
        job = self.job
        if self.diffuser is not None and self.model_in_use == model:
            return self.diffuser
        options = ModelOptions(
            device=job.device,
            allow_pickle=job.model.allow_pickle,
            attention_slicing=job.model.attention_slicing,
            vae_tiling=job.model.vae_tiling,
            cpu_offload=job.model.cpu_offload,
            sha256=job.model.sha256 if model == job.model.id else None,
            tiny_vae=job.model.tiny_vae if job.model.vae == "tiny" else None,
            compile=job.model.compile,
        )
        with self.timed("load"):
            diffuser = load_diffuser(model, options)
        diffuser.on_warning(lambda message: self.emit("warning", message=message))
        diffuser.set_tiling(job.tiling)
        diffuser.lora_dir = job.model.lora_dir
        diffuser.embeddings_dir = job.model.embeddings_dir
        diffuser.allow_pickle_embeddings = job.model.allow_pickle
        self.diffuser, self.model_in_use = diffuser, model
        return diffuser

    def frame_choices(self) -> dict[str, dict[str, str]]:
        """Per diffused frame, the sampler and model its schedule gave (when scheduled)."""
        job, seeds = self.job, getattr(self, "seeds", {})
        scheduled = {
            "samplers": getattr(self, "samplers", None) if job.sampler_schedule else None,
            "checkpoints": getattr(self, "checkpoints", None)
            if job.model.checkpoint_schedule
            else None,
        }
        return {
            name: {str(self.frame(i)): values[i] for i in sorted(seeds) if i < len(values)}
            for name, values in scheduled.items()
            if values is not None
        }

    def controlnet_record(self) -> dict[str, dict[str, Any]]:
        """What each ControlNet unit used on the diffused frames (none in a preview or a
        morph, where no unit acts)."""
        units: ControlNets | None = getattr(self, "controlnets", None)
        if not units or self.preview or self.morph is not None:
            return {}
        return units.record(sorted(self.seeds))

    def prompts_read(self) -> dict[str, object]:
        """Per diffused frame, the weights and LoRAs its prompt was read as (plain: left out);
        job.json keeps the text as written."""
        read: dict[str, object] = {}
        for index in sorted(self.seeds):
            if index < len(self.prompts):
                prompt = self.prompts[index]
                record = prompt_record(prompt.positive, prompt.negative)
                if record is not None:
                    read[str(self.frame(index))] = record
        return read

    def warn_composable_prompts(self) -> None:
        """The webui's ``AND`` (composable diffusion) is not run here: say where it is read."""
        frames = [
            self.frame(i)
            for i, p in enumerate(self.prompts)
            if composable_parts(p.positive) > 1 or composable_parts(p.negative) > 1
        ]
        if frames:
            self.emit(
                "warning",
                message=f"prompts: AND (composable diffusion) from frame {frames[0]} is read as "
                "plain text; use prompt keyframes with Blend Prompts to mix prompts",
            )

    def frame_prompts(self) -> list[FramePrompt]:
        """Each frame's prompt: the prompt schedule, or Deforum's n_batch stills in None mode."""
        job = self.job
        n_batch = job.stills.n_batch
        if job.animation_mode != "None" or n_batch == 0:
            return job.frame_prompts(seed=self.seed)
        keyframes = stills_keyframes(job.prompts.keyframes, n_batch, self.n, self.seed)
        if len(keyframes) * n_batch != self.n:
            self.emit(
                "warning",
                message=f"n_batch {n_batch} × {len(keyframes)} prompts = "
                f"{len(keyframes) * n_batch} stills, but the range has {self.n} frames; "
                "the range wins (the last prompt fills it, or the last stills are left out)",
            )
        return prompts_for_frames(
            keyframes,
            self.n,
            seed=self.seed,
            positive=job.prompts.positive_prompts,
            negative=job.prompts.negative_prompts,
        )

    def prepare_resume(self) -> set[int]:
        """Indices of frames already finished here; broken leftovers are deleted first."""
        for leftover in frame_files.clean_partial_files(self.out):
            self.emit("warning", message=f"removed a partial file from a killed run: {leftover}")
        scan = frame_files.scan_frames(self.out, (self.job.H, self.job.W))
        for number, why in sorted(scan.corrupt.items()):
            frame_path(self.out, number).unlink(missing_ok=True)
            self.emit("warning", message=f"frame {number} did not decode ({why}); redoing it")
        return {
            n - self.job.first_frame for n in scan.valid if 0 <= n - self.job.first_frame < self.n
        }

    def image(self, index: int) -> Image:
        """A finished frame as decoded from its PNG (held in memory once read)."""
        if index not in self.images:
            self.images[index] = frame_files.read_frame(frame_path(self.out, self.frame(index)))
        return self.images[index]

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def render_span(self, span: Span, done: set[int]) -> None:
        """Produce and write every missing frame of one span, tweens first."""
        self.check_cancel()
        previous = span.previous
        key_image = None if span.key is None else self.key_frame(span.key, previous)
        for t in span.tweens:
            if t in done:
                continue
            with self.timed("tween"):
                image = self.tween(t, previous, span.key, key_image)
                if self.job.coherence.color_force_grayscale:
                    image = grayscale(image)
            self.write(t, image, kind="tween")
            self.check_cancel()
        if span.key is not None and key_image is not None and span.key not in done:
            self.write(span.key, key_image, kind="key")
        # Only the newest key is needed again (as the next span's source).
        keep = {0, span.key if span.key is not None else previous}
        self.images = {i: im for i, im in self.images.items() if i in keep}

    def key_frame(self, key: int, previous: int | None) -> Image:
        """The key frame image: fresh generation, or the previous key warped and diffused."""
        warper = self.warper
        if previous is None or warper is None or warper.crosses_cut(previous, key):
            return self.generate(key)
        if self.resident is not None:
            return self.resident.key_frame(key, previous)
        with self.timed("warp"):
            warped = warper.warp(self.image(previous), previous, key)
        if self.job.output.save_depth_maps:
            warper.save_depth(key, warped.target_depth)
        mixed = self.scene.mix(key, np.asarray(warped.image, dtype=np.uint8))
        assert mixed is not None
        with self.timed("coherence"):
            matcher, match_now = self.color_matcher(key, mixed)
            image = matcher.apply(mixed) if matcher is not None and match_now else mixed
            if self.job.coherence.color_force_grayscale:  # as Deforum: after the match
                image = grayscale(image)
        # Off legacy_colormatch, Deforum matches the generated frame to the sample again.
        after = None if self.job.coherence.legacy_colormatch else matcher
        with self.timed("contrast"):
            image = adjust_contrast(image, self.series["contrast"][key])
        with self.timed("antiblur"):
            amount = self.series["antiblur_amount"][key]
            if amount > 0:
                image = unsharp_mask(
                    image,
                    amount,
                    kernel=round(self.series["antiblur_kernel"][key]),
                    sigma=self.series["antiblur_sigma"][key],
                    threshold=self.series["antiblur_threshold"][key],
                )
        with self.timed("noise"):
            coherence = self.job.coherence
            image = add_noise(
                image,
                self.series["noise"][key],
                self.seeds[key],
                self.frame(key),
                noise_type=coherence.noise_type,
                perlin_octaves=coherence.perlin_octaves,
                perlin_persistence=coherence.perlin_persistence,
            )
        if self.preview:
            return image
        return self.diffuse(key, image, 1.0 - self.series["strength"][key], match_after=after)

    def prepare_controlnets(self, keys: list[int]) -> None:
        """The ControlNet units: inputs of frames ``keys`` checked, then their models loaded."""
        self.controlnets = ControlNets(self.job, self.out, self.n, self.seed)
        if not self.controlnets:
            return
        self.controlnets.check(keys)
        if self.morph is not None:
            self.emit(
                "warning",
                message="ControlNet units: not applied in animation_mode 'Interpolation' "
                "(its frames are morphs of prompt embeddings)",
            )
        if self.diffuser is not None:
            with self.timed("load"):
                self.controlnets.load(self.diffuser.device, self.diffuser.dtype)

    def color_matcher(self, key: int, warped: Image) -> tuple[ColorMatcher | None, bool]:
        """Deforum's colour sample for key frame ``key`` (whose warped image is ``warped``),
        and whether to match ``warped`` to it (False where ``warped`` becomes the sample).

        The sample, as Deforum's loop keeps it: the coherence image; the key's video frame
        (refreshed every N frames); frame 0 as written when Deforum keeps the first
        generation (no init image and legacy_colormatch off, or legacy at strength 0);
        otherwise the first warped key frame, left unmatched. It is never carried in memory
        only: frame 0 is read from its PNG and the first warped key is warped again from
        it, so a resumed run matches to the same sample.
        """
        coherence = self.job.coherence
        if coherence.color_coherence == "None":
            return None, False
        if coherence.color_coherence == "Video Input":
            assert self.video is not None
            sample = self.video.color_sample(key, self.keys)
            return ColorMatcher(sample, VIDEO_COHERENCE_SPACE), True
        if self.matcher is not None:
            return self.matcher, True
        first_warped = self.keys[1] if len(self.keys) > 1 else None
        if coherence.color_coherence == "Image":
            reference = self.coherence_image()
        elif self.sample_is_first_frame() or first_warped is None:
            reference = self.image(0)
        elif key == first_warped:
            self.matcher = ColorMatcher(warped, coherence.color_coherence)
            return self.matcher, False
        else:
            reference = self.first_warped_key(first_warped)
        self.matcher = ColorMatcher(reference, coherence.color_coherence)
        return self.matcher, True

    def sample_is_first_frame(self) -> bool:
        """Deforum keeps the first generation as the sample only without an init image
        (legacy_colormatch off) or at strength 0 on frame 0 (legacy on)."""
        job = self.job
        if job.coherence.legacy_colormatch:
            return self.series["strength"][0] == 0.0
        return not (job.init.use_init and job.init.init_image)

    def first_warped_key(self, key: int) -> Image:
        """Frame 0 warped to ``key`` (the first key after it), as ``key_frame`` mixes it."""
        warper = self.warper
        if warper is None or warper.crosses_cut(0, key):
            return self.image(0)
        with self.timed("warp"):
            if self.resident is not None:  # the sample is warped as the key frames are
                image = self.resident.warp_host(self.image(0), 0, key)
            else:
                image = np.asarray(warper.warp(self.image(0), 0, key).image, dtype=np.uint8)
        mixed = self.scene.mix(key, image)
        assert mixed is not None
        return mixed

    def coherence_image(self) -> Image:
        coherence = self.job.coherence
        path = coherence.color_coherence_image_path
        return load_rgb(path, self.job.W, self.job.H, "color_coherence_image_path")

    def warn_ignored_mask_video(self) -> None:
        """Say where a mask video does nothing, or replaces the mask file."""
        job = self.job
        if not job.video_input.use_mask_video:
            return
        if job.animation_mode in ("None", "Interpolation"):
            self.emit(
                "warning",
                message=f"use_mask_video: ignored in animation_mode {job.animation_mode!r} "
                "(it masks 2D, 3D and Video Input frames)",
            )
        elif job.init.use_mask:
            self.emit(
                "warning",
                message="use_mask_video: each frame is masked by its mask video frame, not "
                "by mask_file (Deforum's default mask_schedule, {video_mask})",
            )

    def generate(self, key: int) -> Image:
        """A key frame with nothing to warp from: a video frame, a morph, the init image or
        the scene render (img2img), text-to-image, or the pattern."""
        job = self.job
        if job.animation_mode == "Video Input":
            return self.video_input_frame(key)
        if self.morph is not None:
            return self.morph_frame(key)
        init = (
            load_rgb(job.init.init_image, job.W, job.H, "init_image")
            if job.init.use_init and job.init.init_image and key == 0
            else None
        )
        base = self.scene.mix(key, init)
        if self.preview:
            return base if base is not None else placeholder_pattern(job.W, job.H)
        # Deforum matches its first generation to the coherence image after diffusion.
        after = None
        if key == 0 and job.coherence.color_coherence == "Image":
            after = ColorMatcher(self.coherence_image(), "Image")
        if init is not None:
            return self.diffuse(key, base, 1.0 - job.init.strength, match_after=after)
        if base is not None:  # the scene render alone
            return self.diffuse(key, base, 1.0 - self.series["strength"][key], match_after=after)
        return self.diffuse(key, None, 1.0, match_after=after)

    def video_input_frame(self, key: int) -> Image:
        """Video Input mode: img2img of the frame's video frame (see video_input.py)."""
        assert self.video is not None
        init = self.video.frame(key)
        base = self.scene.mix(key, init)
        assert base is not None
        if self.preview:
            return base
        diffused = self.diffuse(key, base, denoise=1.0 - self.series["strength"][key])
        return self.video.finish(key, diffused, init)

    def morph_frame(self, key: int) -> Image:
        """Interpolation mode: text-to-image from mixed embeddings and slerped noise."""
        assert self.morph is not None
        if self.preview:
            return placeholder_pattern(self.job.W, self.job.H)
        morph, diffuser = self.morph, self.use_model(self.checkpoints[key])
        steps = max(1, round(self.series["steps"][key]))
        cfg = self.series["cfg_scale"][key]
        with self.diffusion_call(key) as on_step:
            return np.asarray(
                morph.generate(diffuser, key, steps, cfg, on_step, sampler=self.samplers[key]),
                dtype=np.uint8,
            )

    @contextmanager
    def diffusion_call(self, key: int) -> Iterator[Callable[[int, int], None]]:
        """Counts and times one diffusion call; yields its step callback (progress, cancel)."""
        frame = self.frame(key)

        def on_step(step: int, total: int) -> None:
            self.emit("progress", frame=frame, step=step, steps=total, stage="diffusion")
            if self.cancel.is_set():
                raise Cancelled()

        self.result.diffusion_calls += 1
        with self.timed("diffusion"):
            yield on_step

    def diffuse(
        self,
        key: int,
        image: Image | None,
        denoise: float,
        match_after: ColorMatcher | None = None,
    ) -> Image:
        """One diffusion call: img2img from ``image``, or text-to-image when it is None;
        then the colour match ``match_after`` and the frame's mask, in Deforum's order."""
        diffused = self.generate_image(key, image, denoise)
        if match_after is not None:
            with self.timed("coherence"):
                diffused = match_after.apply(diffused)
        mask = self.frame_mask(key)
        if image is None or mask is None:
            return diffused
        return composite(image, diffused, mask)

    def frame_mask(self, key: int) -> Mask | None:
        """The mask of a 2D/3D (or stills) frame: its mask video frame, else the init mask.

        Video Input mode applies its own mask (video_input.py)."""
        if self.job.animation_mode == "Video Input":
            return None
        if self.video is not None and self.video.mask_folder is not None:
            return self.video.mask(key)
        return self.init_mask

    def generate_image(self, key: int, image: Image | None, denoise: float) -> Image:
        """The diffusion call itself (counted, timed, cancellable)."""
        self.use_model(self.checkpoints[key])  # checkpoint_schedule: switch between frames
        assert self.diffuser is not None
        job = self.job
        prompt = self.prompts[key]
        steps = max(1, round(self.series["steps"][key]))
        clip_skip = max(1, round(self.series["clip_skip"][key]))
        sampler = self.samplers[key]
        # Blend Prompts: the neighbouring keyframes' embeddings, mixed by the frame's weights.
        embeddings = (
            None
            if prompt.blend is None
            else self.diffuser.blend(
                [(p.positive, p.negative, p.weight) for p in prompt.blend], clip_skip
            )
        )
        control = (
            self.controlnets.frame_control(key, image, job.output.save_controlnet_inputs)
            if self.controlnets
            else None
        )
        with self.diffusion_call(key) as on_step:
            if image is None:
                return self.diffuser.txt2img(
                    prompt.positive,
                    prompt.negative,
                    self.seeds[key],
                    steps,
                    self.series["cfg_scale"][key],
                    job.W,
                    job.H,
                    sampler,
                    step_callback=on_step,
                    embeddings=embeddings,
                    clip_skip=clip_skip,
                    control=control,
                )
            return self.diffuser.img2img(
                image,
                prompt.positive,
                prompt.negative,
                self.seeds[key],
                steps,
                self.series["cfg_scale"][key],
                min(max(denoise, 0.0), 1.0),
                sampler,
                step_callback=on_step,
                noise_multiplier=self.series["noise_multiplier"][key],
                embeddings=embeddings,
                clip_skip=clip_skip,
                control=control,
            )

    def tween(
        self, t: int, previous: int | None, key: int | None, key_image: Image | None
    ) -> Image:
        """A cadence frame: both neighbouring keys warped to it and blended by distance."""
        assert previous is not None, "every tween follows a key"
        sources = [(self.image(previous), previous, 1.0)]
        if key is not None and key_image is not None:
            weight = (t - previous) / (key - previous)
            sources = [(self.image(previous), previous, 1.0 - weight), (key_image, key, weight)]
        # Never blend across a camera cut: keep the sources in the tween's own shot.
        in_shot = [s for s in sources if not self.crosses_cut(s[1], t)] or sources[:1]
        warped = [self.warped_or_held(image, source, t) for image, source, _ in in_shot]
        method = self.job.cadence.optical_flow_cadence
        if len(warped) == 2 and method != "None":
            factor = self.series["cadence_flow_factor"][t]
            return flow_tween(warped[0], warped[1], in_shot[1][2], method, factor)
        total = sum(weight for *_, weight in in_shot) or 1.0
        blended = sum(
            image.astype(np.float32) * (weight / total)
            for image, (*_, weight) in zip(warped, in_shot, strict=True)
        )
        return np.asarray(np.clip(np.rint(blended), 0, 255), dtype=np.uint8)

    def crosses_cut(self, source: int, target: int) -> bool:
        return self.warper is not None and self.warper.crosses_cut(source, target)

    def warped_or_held(self, image: Image, source: int, target: int) -> Image:
        if self.warper is None or self.warper.crosses_cut(source, target):
            return image
        return np.asarray(self.warper.warp(image, source, target).image, dtype=np.uint8)

    def write(self, index: int, image: Image, *, kind: str) -> None:
        """Queue a finished frame: encoded and written atomically by the writer, in order."""
        self.images[index] = image
        for finished in [f for f in self.pending if f.done()]:
            finished.result()  # a failed write stops the run here, not later
            self.pending.remove(finished)
        png = None if self.encoders is None else self.encoders.submit(frame_files.encode_png, image)
        self.pending.append(self.writer.submit(self.write_now, index, image, kind, png))

    def write_now(
        self, index: int, image: Image, kind: str, png: Future[bytes] | None = None
    ) -> None:
        """On the writer thread: PNG + sidecar (atomic), then the ``frame`` event; ``png``:
        the frame already being encoded by an encoder thread."""
        frame = self.frame(index)
        sidecar = {"index": index, "kind": kind, "seed": self.seeds.get(index)}
        with self.timed("write"):
            encoded = None if png is None else png.result()
            path = frame_files.write_frame(self.out, frame, image, sidecar=sidecar, encoded=encoded)
        self.result.written.append(frame)
        self.emit("frame", frame=frame, index=index, path=str(path))

    def flush_writes(self) -> None:
        """Wait for every queued frame to be on disk (raises a failed write's error)."""
        pending, self.pending = self.pending, []
        for future in pending:
            future.result()

    # -- records -------------------------------------------------------------------------

    def write_run_record(self, device: str, *, status: str, started: float) -> None:
        """``run.json``: what ran (model, device, versions, seeds, calls, stage timings)."""
        diffused = max(self.result.diffusion_calls, 1)
        record: dict[str, Any] = {
            "status": status,
            "seed": self.seed,
            "preview": self.preview,
            "model": None if self.diffuser is None else self.job.model.id,
            "architecture": None if self.diffuser is None else self.diffuser.architecture,
            "device": device,
            "dtype": None if self.diffuser is None else str(self.diffuser.dtype),
            "resident_key_frames": self.resident is not None,  # resident.py's tensor chain
            "versions": versions(),
            "frames": self.n,
            "cadence": self.cadence,
            "diffusion_calls": self.result.diffusion_calls,
            "written_this_run": len(self.result.written),
            "seeds": {str(self.frame(i)): s for i, s in sorted(self.seeds.items())},
            "prompts_read": self.prompts_read(),
            **self.frame_choices(),
            "controlnet": self.controlnet_record(),
            "seconds": round(time.perf_counter() - started, 4),
            "timings_s": {k: round(v, 4) for k, v in self.result.timings.items()},
            "engine_ms_per_frame": round(
                1000
                * sum(self.result.timings[s] for s in ENGINE_STAGES)
                / max(len(self.result.written), 1),
                3,
            ),
            "write_ms_per_frame_in_background": round(
                1000 * self.result.timings["write"] / max(len(self.result.written), 1), 3
            ),
            "diffusion_ms_per_call": round(1000 * self.result.timings["diffusion"] / diffused, 3),
            # First calls of compiled parts (compile included), also inside timings_s.
            "compile_s": compiled_parts.spent_since(self.compile_mark),
        }
        atomic.write_text(layout.run_path(self.out), json.dumps(record, indent=2) + "\n")


# The packages that shape the frames, by module, with the distributions that install them.
_VERSIONED = {
    "numpy": ("numpy",),
    "torch": ("torch",),
    "diffusers": ("diffusers",),
    "transformers": ("transformers",),
    "cv2": ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless"),
}


def versions() -> dict[str, str]:
    """Versions of the packages that shape the frames (for run.json and the worker's ready
    line): a module's own where it is loaded, else its installed metadata, so a motion
    preview never imports diffusers (seconds) just to name its version."""
    import platform
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name, distributions in _VERSIONED.items():
        module = sys.modules.get(name)
        if module is not None:
            found[name] = str(getattr(module, "__version__", "?"))
            continue
        for distribution in distributions:
            try:
                found[name] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return found


def render(job: Job, out_dir: str | os.PathLike[str], **options: Any) -> RenderResult:
    """Render ``job`` into ``out_dir`` (see :class:`Renderer` for the options)."""
    return Renderer(job, out_dir, **options).run()
