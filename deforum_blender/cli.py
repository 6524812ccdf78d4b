"""``python -m deforum_blender``: sub-commands as in DESIGN.md §4.

Each sub-command lives in the module that owns its capability; this file only
wires them into argparse and turns errors into exit statuses (2 bad input,
1 failure while running).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .core.errors import DeforumInputError
from .core.model_catalog import KINDS

Handler = Callable[[argparse.Namespace], int]


def _make_tiny_models(args: argparse.Namespace) -> int:
    from .engine.tiny_models import make_tiny_models

    written = make_tiny_models(Path(args.dir))
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    import json

    from .core import schedules

    values: list[float] | list[str]
    warnings: list[str] = []
    if args.strings:
        values = schedules.evaluate_string_schedule(
            args.text, args.frames, field=args.field, seed=args.seed, warnings=warnings
        )
    else:
        values = schedules.evaluate_schedule(
            args.text,
            args.frames,
            args.seed,
            field=args.field,
            interpolation=args.interpolation,
            warnings=warnings,
        )
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(values))
    return 0


def _import_settings(args: argparse.Namespace) -> int:
    import json

    from .core.deforum_settings import import_settings
    from .core.job import save_job
    from .core.overrides import apply_overrides, parse_set_arguments

    job, warnings = import_settings(args.file)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.set:
        job = apply_overrides(job, parse_set_arguments(args.set))
    if args.output:
        save_job(job, args.output)
    else:
        print(json.dumps(job.to_dict(), indent=2))
    return 0


def _export_settings(args: argparse.Namespace) -> int:
    import json

    from .core.deforum_settings import export_losses, export_settings, write_settings
    from .core.job import load_job
    from .core.overrides import apply_overrides, parse_set_arguments

    job = load_job(args.job)
    if args.set:
        job = apply_overrides(job, parse_set_arguments(args.set))
    for loss in export_losses(job):
        print(f"warning: {loss}", file=sys.stderr)
    if args.output:
        write_settings(job, args.output)
    else:
        print(json.dumps(export_settings(job), indent=4, ensure_ascii=False))
    return 0


def _render(args: argparse.Namespace) -> int:
    import dataclasses

    from .core.deforum_settings import load_job_or_settings
    from .core.overrides import apply_overrides, parse_set_arguments
    from .engine.progress import TerminalProgress
    from .engine.render import Terminated, render

    job, warnings = load_job_or_settings(args.job)
    if job.model.allow_pickle:  # loading a pickle can run code: only the user may allow it
        job = dataclasses.replace(job, model=dataclasses.replace(job.model, allow_pickle=False))
        warnings.append(
            f"allow_pickle: ignored in {args.job!r} (a file cannot allow pickle checkpoints "
            "by itself); pass --set allow_pickle=true if you trust the model"
        )
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.set:
        job = apply_overrides(job, parse_set_arguments(args.set))
    if args.draft:  # the render applies the preset and says what it changed (core/draft.py)
        draft_model = args.model or job.model.draft_model
        model = dataclasses.replace(job.model, draft=True, draft_model=draft_model)
        job = dataclasses.replace(job, model=model)
    if args.model:
        job = dataclasses.replace(job, model=dataclasses.replace(job.model, id=args.model))
    if args.depth_model:
        depth = dataclasses.replace(job.depth, depth_model=args.depth_model)
        job = dataclasses.replace(job, depth=depth)
    if args.device:
        job = dataclasses.replace(job, device=args.device)
    out = Path(args.out) if args.out else Path(f"{Path(args.job).stem}_output")
    try:
        asked = _draft_models(job) if args.draft else ()
        with _downloads_asked_for(args, asked), _sigterm_raises(Terminated):
            progress = TerminalProgress()
            result = render(job, out, preview=args.preview, resume=args.resume, emit=progress)
    except Terminated:
        print("error: terminated (SIGTERM); finished frames are kept (--resume)", file=sys.stderr)
        return 1
    return 1 if result.cancelled else 0


def _finish(args: argparse.Namespace) -> int:
    import dataclasses

    from .core import output_layout as layout
    from .core.job import load_job
    from .core.overrides import apply_overrides, parse_set_arguments
    from .engine.finish import FinishTerminated, finish

    out = Path(args.out)
    job = load_job(layout.job_path(out))
    if job.model.allow_pickle:  # as render: a file cannot allow pickle weights by itself
        job = dataclasses.replace(job, model=dataclasses.replace(job.model, allow_pickle=False))
    if args.set:
        job = apply_overrides(job, parse_set_arguments(args.set))
    changes: dict[str, Any] = {}
    if args.interpolate:
        engine = job.finish.frame_interpolation_engine
        changes["frame_interpolation_engine"] = "RIFE v4.6" if engine == "None" else engine
        changes["frame_interpolation_x_amount"] = args.interpolate
        changes["frame_interpolation_keep_imgs"] = True
    if args.interpolation_model:
        changes["interpolation_model"] = args.interpolation_model
    if args.slow_mo:
        changes["frame_interpolation_slow_mo_enabled"] = True
        changes["frame_interpolation_slow_mo_amount"] = args.slow_mo
    if args.upscale:
        changes.update(r_upscale_video=True, r_upscale_factor=f"x{args.upscale}")
    if args.upscale_model:
        changes["r_upscale_model"] = args.upscale_model
    if args.soundtrack:
        changes.update(add_soundtrack="File", soundtrack_path=args.soundtrack)
    job = dataclasses.replace(job, finish=dataclasses.replace(job.finish, **changes))

    def emit(kind: str, **fields: object) -> None:
        if kind == "warning":
            print(f"warning: {fields['message']}", file=sys.stderr)

    try:
        with _sigterm_raises(FinishTerminated):
            result = finish(job, out, emit=emit, device=args.device or job.device)
    except FinishTerminated:
        print("error: terminated (SIGTERM); what is written is kept: rerun finish", file=sys.stderr)
        return 1
    for name, folder in result.folders.items():
        print(f"{name}: {folder}")
    if result.video is not None:
        print(f"video: {result.video} ({result.fps:g} fps)")
    return 0


@contextlib.contextmanager
def _sigterm_raises(error: type[BaseException]) -> Iterator[None]:
    """SIGTERM raises ``error``, so the render records how it ended and unlocks its folder."""
    import signal

    def terminate(signum: int, frame: object) -> None:
        raise error()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _draft_models(job: Any) -> tuple[str, ...]:
    """The models ``--draft`` asks for by name: its model and the tiny VAEs."""
    from .core.job_fields import TINY_VAE_XL

    return (job.model.draft_model, job.model.tiny_vae, TINY_VAE_XL) if job.model.draft else ()


@contextlib.contextmanager
def _downloads_asked_for(args: argparse.Namespace, asked: Sequence[str] = ()) -> Iterator[None]:
    """Only a model named on the command line (or by ``--draft``: ``asked``) downloads, or
    any with --allow-download."""
    from .core.protocol import OFFLINE_REASON_VARIABLE
    from .engine.diffusion import DownloadPolicy, set_download_policy

    named = frozenset(name.strip() for name in (args.model, args.depth_model, *asked) if name)
    fix = (
        "the command line downloads only a model it names: pass it with --model or "
        "--depth-model, or pass --allow-download"
    )
    set_download_policy(DownloadPolicy(None if args.allow_download else named, fix))
    # Nothing may download: then the hub libraries ask no server anything (not even their
    # telemetry), as they read HF_HUB_OFFLINE when first imported, which is during the render.
    offline = {"HF_HUB_OFFLINE": "1", OFFLINE_REASON_VARIABLE: fix}
    saved = {key: os.environ.get(key) for key in offline}
    if not args.allow_download and not named:
        os.environ.update(offline)
    try:
        yield
    finally:
        set_download_policy(DownloadPolicy())
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _models_list(args: argparse.Namespace) -> int:
    from .engine.models import list_models, model_line

    found = list_models([Path(folder) for folder in args.folder or ()], kind=args.kind)
    for model in found:
        print(model_line(model))
    if not found:
        print("no models found (`models suggested` names some to pull)", file=sys.stderr)
    return 0


def _models_pull(args: argparse.Namespace) -> int:
    from .engine.models import progress_line, pull_model

    def report(done: int, total: int, rate: float, left: float | None) -> None:
        print(f"{args.id}: {progress_line(done, total, rate, left)}", file=sys.stderr, flush=True)

    try:
        pulled = pull_model(
            args.id,
            revision=args.revision,
            kind=args.kind,
            sha256=args.sha256,
            allow_pickle=args.allow_pickle,
            report=report,
            warn=lambda message: print(f"warning: {message}", file=sys.stderr),
        )
    except KeyboardInterrupt:
        print(
            f"error: interrupted; `models pull {args.id}` again resumes (the partial files "
            "are kept and never used as a model)",
            file=sys.stderr,
        )
        return 1
    print(f"{pulled.kind:<12} {pulled.repo_id}  {pulled.path}")
    return 0


def _models_remove(args: argparse.Namespace) -> int:
    from .core.model_cache import human_size
    from .engine.models import remove_model

    freed = remove_model(args.id)
    print(f"removed {args.id} ({human_size(freed)} freed)")
    return 0


def _models_suggested(args: argparse.Namespace) -> int:
    from .core.model_catalog import SUGGESTED

    for model in SUGGESTED:
        if args.kind in (None, model.kind):
            print(f"{model.kind:<12} {model.id:<46} {model.licence:<32} {model.note}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from .engine.worker import main as serve

    return serve(log_level=args.log_level)


def _bench(args: argparse.Namespace) -> int:
    import json

    from .benchmarks import format_table, run_benchmarks

    results = run_benchmarks(args.names)
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0


def _farm_submit(args: argparse.Namespace) -> int:
    import json

    from .farm.submit import ManagerError, Submission, prepare, send

    submission = Submission(
        job_path=args.job,
        manager=args.manager,
        output_root=args.output_root,
        seeds=args.seeds or "",
        seed_count=args.seed_count,
        name=args.name or "",
        priority=args.priority,
        overrides=tuple(args.set or ()),
        make_video=not args.no_video,
    )
    body, warnings = prepare(submission)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.dry_run:
        print(json.dumps(body, indent=2))
        return 0
    try:
        made = send(args.manager, body)
    except ManagerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if error.bad_input else 1
    variants = len(json.loads(body["settings"]["variants"]))
    print(f"submitted job {made.get('id', '?')} ({body['name']}, {variants} variants)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command that exists today."""
    parser = argparse.ArgumentParser(
        prog="deforum-blender",
        description="Deforum-style Stable Diffusion animations driven by a Blender camera.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tiny = commands.add_parser(
        "make-tiny-models",
        help="write tiny random-weight SD and depth models for tests and the offline demo",
    )
    tiny.add_argument("dir", help="output folder; DIR/sd and DIR/depth are written")
    tiny.set_defaults(handler=_make_tiny_models)

    schedule = commands.add_parser(
        "schedule", help="print a Deforum schedule's per-frame values as a JSON list"
    )
    schedule.add_argument("text", help='schedule string, e.g. "0: (0.65), 30: (0.5)"')
    schedule.add_argument("--frames", type=int, required=True, help="number of frames (max_frames)")
    schedule.add_argument("--seed", type=int, default=0, help="the seed, s in expressions")
    schedule.add_argument(
        "--interpolation",
        choices=("linear", "cubic", "step"),
        default="linear",
        help="how numbers between keyframes are filled in (default: linear, as Deforum)",
    )
    schedule.add_argument("--field", help="setting name to use in error messages")
    schedule.add_argument(
        "--strings", action="store_true", help="text values (sampler, checkpoint): hold each"
    )
    schedule.set_defaults(handler=_schedule)

    set_help = 'change a setting, Deforum style: --set W=64 --set strength_schedule="0: (0.5)"'
    imp = commands.add_parser(
        "import-settings", help="read an sd-webui-deforum settings file into a job JSON"
    )
    imp.add_argument("file", help="Deforum settings file (*_settings.txt, JSON)")
    imp.add_argument("-o", "--output", help="job JSON to write (default: print it)")
    imp.add_argument("--set", action="append", metavar="KEY=VALUE", help=set_help)
    imp.set_defaults(handler=_import_settings)

    exp = commands.add_parser(
        "export-settings", help="write a job JSON as an sd-webui-deforum settings file"
    )
    exp.add_argument("job", help="job JSON file")
    exp.add_argument("-o", "--output", help="settings file to write (default: print it)")
    exp.add_argument("--set", action="append", metavar="KEY=VALUE", help=set_help)
    exp.set_defaults(handler=_export_settings)

    ren = commands.add_parser(
        "render", help="render a job JSON or a Deforum settings file into frames and a video"
    )
    ren.add_argument("job", help="job JSON or sd-webui-deforum settings file")
    ren.add_argument("--out", help="output folder (default: <JOB name>_output)")
    ren.add_argument("--model", help="Hugging Face id, diffusers folder or .safetensors file")
    ren.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to run")
    ren.add_argument(
        "--depth-model", help="depth estimation model: Hugging Face id, folder or Deforum name"
    )
    ren.add_argument(
        "--allow-download",
        action="store_true",
        help="let models named in the job or settings file download from the Hugging Face hub "
        "(a model named with --model or --depth-model always may)",
    )
    ren.add_argument(
        "--draft",
        action="store_true",
        help="a quick draft: the draft model (stabilityai/sd-turbo, or --model), the tiny VAE, "
        "2 steps (one per frame above strength 0.5), CFG 0, Euler a; it prints what it changed",
    )
    ren.add_argument("--preview", action="store_true", help="motion preview: no diffusion")
    ren.add_argument("--resume", action="store_true", help="continue an unfinished run")
    ren.add_argument("--set", action="append", metavar="KEY=VALUE", help=set_help)
    ren.set_defaults(handler=_render)

    fin = commands.add_parser(
        "finish",
        help="after the frames: upscale, interpolate and add a soundtrack (Deforum's Output tab)",
    )
    fin.add_argument("out", help="a render's output folder (holding job.json and frames/)")
    fin.add_argument(
        "--interpolate",
        type=int,
        choices=range(2, 11),
        metavar="N",
        help="N× frames (2-10); keeps <out>/interpolated/",
    )
    fin.add_argument(
        "--interpolation-model",
        metavar="PATH",
        help="interpolation network weights (none: the optical-flow fallback)",
    )
    fin.add_argument(
        "--slow-mo",
        type=int,
        choices=range(2, 11),
        metavar="N",
        help="slow motion: N× more in-betweens at the same frame rate",
    )
    fin.add_argument("--upscale", type=int, choices=(2, 3, 4), help="upscale factor")
    fin.add_argument("--upscale-model", metavar="PATH", help="upscaler weights file (spandrel)")
    fin.add_argument("--soundtrack", metavar="FILE", help="sound muxed into video.mp4")
    fin.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        help="where the interpolation and upscaling networks run (default: the job's device)",
    )
    fin.add_argument("--set", action="append", metavar="KEY=VALUE", help=set_help)
    fin.set_defaults(handler=_finish)

    mod = commands.add_parser(
        "models", help="models on this machine: list, pull from the hub, remove, suggested"
    )
    mod_commands = mod.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    kinds = tuple(KINDS)
    mod_list = mod_commands.add_parser(
        "list", help="models in the Hugging Face cache and model folders, by kind"
    )
    mod_list.add_argument("--kind", choices=kinds, help="only this kind")
    mod_list.add_argument(
        "--folder", action="append", metavar="DIR", help="also look in DIR (repeatable)"
    )
    pull = mod_commands.add_parser(
        "pull", help="download a Hugging Face model into the cache (resumes a partial one)"
    )
    pull.add_argument("id", help="Hugging Face id, e.g. stabilityai/sd-turbo")
    pull.add_argument("--kind", choices=kinds, help="warn when the model is not of this kind")
    pull.add_argument("--revision", help="branch, tag or commit (default: main)")
    pull.add_argument("--sha256", metavar="HEX", help="expected sha256 of a one-file checkpoint")
    pull.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also fetch .ckpt/.bin/.pt weights (they can run code when loaded)",
    )
    remove = mod_commands.add_parser("remove", help="delete a model from the Hugging Face cache")
    remove.add_argument("id", help="Hugging Face id as `models list` shows it")
    suggested = mod_commands.add_parser(
        "suggested", help="models we suggest per kind, with their licences"
    )
    suggested.add_argument("--kind", choices=kinds, help="only this kind")
    mod_list.set_defaults(handler=_models_list)
    pull.set_defaults(handler=_models_pull)
    remove.set_defaults(handler=_models_remove)
    suggested.set_defaults(handler=_models_suggested)

    farm = commands.add_parser("farm", help="render farms (Flamenco): submit a seed sweep")
    farm_commands = farm.add_subparsers(dest="farm_command", required=True, metavar="ACTION")
    submit = farm_commands.add_parser(
        "submit",
        help="send a job JSON or Deforum settings file to a Flamenco Manager, one task per seed",
    )
    submit.add_argument("job", help="job JSON or sd-webui-deforum settings file")
    submit.add_argument(
        "--manager", required=True, help="the Manager's address, e.g. http://manager:8080"
    )
    submit.add_argument(
        "--output-root",
        required=True,
        metavar="DIR",
        help="folder on shared storage, the same path on every worker; gets NAME/job.json and a "
        "folder per seed",
    )
    submit.add_argument("--seeds", help="seeds to render, e.g. 1,2,3 (default: --seed-count)")
    submit.add_argument(
        "--seed-count", type=int, default=1, metavar="N", help="N seeds from the job's seed on"
    )
    submit.add_argument("--name", help="the Flamenco job's name (default: the file's name)")
    submit.add_argument("--priority", type=int, default=50, help="Flamenco priority 0-100")
    submit.add_argument("--no-video", action="store_true", help="no video task per seed")
    submit.add_argument("--set", action="append", metavar="KEY=VALUE", help=set_help)
    submit.add_argument(
        "--dry-run", action="store_true", help="print the request instead of sending it"
    )
    submit.set_defaults(handler=_farm_submit)

    work = commands.add_parser(
        "worker", help="serve the JSON-lines render protocol on stdin/stdout (used by Blender)"
    )
    work.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="INFO",
        help="how much to log on stderr and in <out>/worker.log (default: INFO)",
    )
    work.set_defaults(handler=_worker)

    bench = commands.add_parser("bench", help="measure speed; prints each benchmark's figures")
    bench.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.set_defaults(handler=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except DeforumInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except Exception as error:  # a failure while running: one line, not a traceback
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
