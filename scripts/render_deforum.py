"""Render a .blend's Deforum animation headless, with Blender or the ``bpy`` module.

    blender -b scene.blend -P scripts/render_deforum.py -- [options]
    python scripts/render_deforum.py -- --blend scene.blend [options]

Run ``… -- --help`` for the options. Exit status: 0 rendered, 2 bad input (one line on
stderr naming the setting and the fix), 1 a failure while rendering (or cancelled).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "deforum_blender"

DESCRIPTION = """\
Render the Deforum animation of a .blend headless: Blender prepares the job (camera,
settings, the scene's depth pass, the init render), the worker renders the frames, and
each frame is added to the scene's Deforum strip in the Video Sequencer.
"""
SET_HELP = """\
change a setting for this render (repeatable). KEY is a Deforum settings key, written
as a Deforum user writes it (--set strength_schedule="0: (0.5)" --set
color_coherence=None --set W=64), or a scene.deforum property name (--set
init_strength=0.6). Where a name is both, the Deforum key wins: --set strength=0.8 is
Deforum's init strength, and the per-frame strength is strength_schedule. W, H,
max_frames, first_frame and last_frame change the scene's render size and frame range
(the camera is read over them); other Deforum keys change this render's job only, and
scene.deforum names change the scene (kept by --save)."""


def script_arguments(argv: list[str]) -> list[str]:
    """The arguments after ``--`` (Blender's own come before it); all of them without it."""
    if "--" in argv:
        return argv[argv.index("--") + 1 :]
    return [] if Path(argv[0]).name.startswith("blender") else argv[1:]


def frame_range(text: str) -> tuple[int, int]:
    """``A-B`` (``-5--1`` for negative frames) as two frame numbers."""
    head, sep, tail = text.strip().partition("-")
    if head == "" and sep:  # a negative first frame: "-5-10"
        number, sep, tail = tail.partition("-")
        head = "-" + number
    try:
        first, last = int(head), int(tail)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write the frames as A-B, e.g. 1-48") from None
    if last < first:
        raise argparse.ArgumentTypeError(f"{text!r}: the last frame is before the first")
    return first, last


def build_parser() -> argparse.ArgumentParser:
    """The script's options (DESIGN.md §4)."""
    parser = argparse.ArgumentParser(
        prog="render_deforum.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--blend", metavar="FILE", help="open this .blend first")
    parser.add_argument("--scene", help="the scene to render (default: the active scene)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: the scene's)")
    parser.add_argument(
        "--frames", type=frame_range, metavar="A-B", help="frame range (default: the scene's)"
    )
    parser.add_argument("--model", help="Stable Diffusion model: Hugging Face id, folder or file")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where the model runs")
    parser.add_argument(
        "--preview", action="store_true", help="motion preview: warp only, no diffusion"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the render in the output folder (without it, a new render replaces "
        "the frames there)",
    )
    parser.add_argument(
        "--init",
        choices=("render", "image", "none"),
        help="what the first frame starts from: Blender's render of it, the init image, or "
        "nothing (default: the scene's Init settings)",
    )
    parser.add_argument(
        "--depth",
        choices=("scene", "estimated", "flat", "files"),
        help="depth source for the 3D warp (files: the maps in depth_path)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    parser.add_argument(
        "--channel",
        type=int,
        default=0,
        help="sequencer channel for a new strip (default: the first free one)",
    )
    parser.add_argument(
        "--import-deforum",
        metavar="FILE",
        help="load an sd-webui-deforum settings file into the scene first (before --set)",
    )
    parser.add_argument(
        "--export-deforum",
        metavar="FILE",
        help="write the render's settings as an sd-webui-deforum settings file",
    )
    parser.add_argument(
        "--no-render",
        action="store_true",
        help="only import, change, export and save: render nothing",
    )
    parser.add_argument(
        "--save", metavar="FILE.blend", help="save the .blend (with the strip) afterwards"
    )
    return parser


# -- the add-on ---------------------------------------------------------------------------


def addon_package() -> ModuleType:
    """The add-on's package: the enabled one (an installed extension), else this checkout's."""
    import bpy

    for name in bpy.context.preferences.addons.keys():  # noqa: SIM118 - iterating yields add-ons
        if name == PACKAGE or name.endswith("." + PACKAGE):
            return importlib.import_module(name)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    package = importlib.import_module(PACKAGE)
    if not hasattr(bpy.types.Scene, "deforum"):
        package.register()
    return package


class Addon:
    """The add-on's modules, imported from whichever package is in use."""

    def __init__(self, package: ModuleType) -> None:
        def module(name: str) -> Any:
            return importlib.import_module(f"{package.__name__}.{name}")

        self.errors = module("core.errors")
        self.job = module("core.job")
        self.schedules = module("core.schedules")
        self.overrides = module("core.overrides")
        self.deforum_settings = module("core.deforum_settings")
        self.camera = module("core.camera")
        self.animation_data = module("blender.animation_data")
        self.properties = module("blender.properties")
        self.render_session = module("blender.render_session")
        self.scene_job = module("blender.scene_job")
        self.settings_files = module("blender.settings_files")
        self.headless = module("blender.headless_settings")


# -- the steps ----------------------------------------------------------------------------


def export_deforum(addon: Addon, scene: Any, deforum: dict[str, str], path: str) -> list[str]:
    """Write the render's settings (the scene with the --set changes) as a Deforum file."""
    losses: list[str] = addon.settings_files.export_scene(scene, path, deforum)
    return losses


def run(args: argparse.Namespace, addon: Addon) -> int:
    """Every step the options ask for, in order; the exit status."""
    import bpy

    error_type = addon.errors.DeforumInputError
    if args.blend:
        if not Path(args.blend).is_file():
            raise error_type(f"--blend {args.blend!r}: no such file; give the path of a .blend")
        try:
            bpy.ops.wm.open_mainfile(filepath=str(Path(args.blend).resolve()))
        except RuntimeError as error:  # not a .blend, or a damaged one
            why = str(error).strip().splitlines()[0].removeprefix("Error: ").strip()
            raise error_type(
                f"--blend {args.blend!r}: Blender cannot open it ({why}); give a .blend file"
            ) from None
    scene = bpy.data.scenes.get(args.scene) if args.scene else bpy.context.scene
    if scene is None:
        names = [s.name for s in bpy.data.scenes]
        raise error_type(
            f"--scene {args.scene!r}: no such scene{addon.job.did_you_mean(args.scene, names)}"
        )
    warnings: list[str] = []
    if args.import_deforum:
        job, imported = addon.deforum_settings.import_settings(args.import_deforum)
        warnings += imported + addon.settings_files.apply_job(scene, job)
    shaping, deforum, own = addon.headless.split_settings(scene, args.set)
    if args.frames:
        addon.headless.set_frames(scene, args.frames)
    addon.headless.shape_scene(scene, shaping)
    warnings += addon.headless.set_scene_properties(scene, own)
    if args.depth:
        addon.properties.deforum_settings(scene).depth_source = args.depth
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.export_deforum:
        for loss in export_deforum(addon, scene, deforum, args.export_deforum):
            print(f"warning: {loss}", file=sys.stderr)
        print(f"Deforum: settings written to {args.export_deforum}")
    status = 0
    if not args.no_render:
        status = render(args, addon, scene, deforum)
    if args.save:
        bpy.ops.wm.save_as_mainfile(filepath=str(Path(args.save).resolve()))
        print(f"Deforum: saved {args.save}")
    return status


def render(args: argparse.Namespace, addon: Addon, scene: Any, deforum: dict[str, str]) -> int:
    """Render with the worker, a progress line per frame; the exit status."""
    session_module = addon.render_session
    request = session_module.RenderRequest(
        preview=args.preview,
        resume=args.resume,
        init=args.init or "settings",
        out_dir=args.out,
        channel=args.channel,
        overrides=deforum,
        model=args.model,
        device=args.device,
    )
    session = session_module.render(
        scene, request, blocking=True, on_line=lambda line: print(line, flush=True)
    )
    for warning in session.progress.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    state = session.progress
    if state.state == "done":
        print(f"Deforum: {state.message} → {state.out_dir}", flush=True)
        return 0
    print(f"error: {state.message}", file=sys.stderr)
    return 2 if state.bad_input else 1


def main(argv: list[str]) -> int:
    """Parse, run, and turn errors into exit statuses (2 bad input, 1 failure)."""
    parser = build_parser()
    try:
        args = parser.parse_args(script_arguments(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0) and 2
    try:
        addon = Addon(addon_package())
    except Exception as error:  # the add-on itself cannot load: nothing else can run
        print(f"error: cannot load the Deforum add-on: {error}", file=sys.stderr)
        return 1
    try:
        return run(args, addon)
    except addon.errors.DeforumInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled: interrupted; finished frames are kept (continue with --resume)")
        return 1
    except Exception as error:  # a failure while running: one line, as the CLI does
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        addon.render_session.shutdown_worker()


if __name__ == "__main__":
    # Blender runs -P scripts as __main__ too; sys.exit sets Blender's exit status.
    sys.exit(main(sys.argv))
