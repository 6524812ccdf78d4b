"""``make demo``: build a small Blender scene, render it with Deforum headless, lay out the results.

    .venv/bin/python scripts/demo.py [--out demo_output] [--frames 24] [--model ID_OR_PATH]

Stages, each timed: choose the model; build the scene with the ``bpy`` module
(``demo_scene.py``: a procedural valley with rocks, trees and glowing pillars, an eased
camera flight with a lens change, two prompts on timeline markers, one F-curve-keyed
strength) and save ``demo.blend``; render it with the add-on's own headless script
(``scripts/render_deforum.py``, a subprocess, which also puts the image strip in the
sequencer and saves the .blend); then (``demo_sheets.py``) a contact sheet of the frames,
one of the scene's depth, one of the ControlNet units' control images, and ``video.mp4``.

The model is ``--model``, else ``DEFORUM_MODEL`` (a Hugging Face id or a local path),
else :data:`DEFAULT_MODEL` when it is in the Hugging Face cache or the hub can be reached.
Otherwise (offline, as on CI machines) it renders with the tiny random-weight model, whose
frames are noise by design, and beside it a motion preview (warp only, no diffusion), so
the camera motion, the depth and the sequencer output are real and visible.

ControlNet: the tiny model renders with a unit per module of :data:`CONTROL_MODULES`, each
fed by the scene's own passes and running the tiny ControlNet; a real model with the units
``--controlnet MODULE=MODEL`` names (a ControlNet of the model's family), none otherwise.
The control images are saved (``save_controlnet_inputs``) and laid out in a sheet.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the demo's modules beside it

from demo_scene import FULL, TINY, TURBO, Quality, build_scene
from demo_sheets import make_results

ROOT = Path(__file__).resolve().parent.parent
RENDER_SCRIPT = ROOT / "scripts" / "render_deforum.py"

#: A small real model: SD-Turbo renders a useful frame in 1–4 steps (about 5 GB download).
DEFAULT_MODEL = "stabilityai/sd-turbo"
HUB_TIMEOUT_S = 3.0
QUIET = "/deforum_depth_"
#: The tiny model's ControlNet units: the Z pass and the Normal pass, which Blender renders
#: together, so the units add no render of their own.
CONTROL_MODULES = ("scene_depth", "scene_normal")


@dataclass(frozen=True)
class ModelChoice:
    """The model to render with, why, and whether it is the tiny stand-in."""

    model: str | None  # None: the tiny model, made by this script
    reason: str
    tiny: bool = False


# -- choosing the model ---------------------------------------------------------------------


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def in_hf_cache(repo_id: str) -> bool:
    """Whether the local Hugging Face cache holds ``repo_id``'s pipeline index."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "model_index.json"), str)


def hub_reachable(timeout: float = HUB_TIMEOUT_S) -> bool:
    """Whether the Hugging Face hub answers within ``timeout`` (never when HF_HUB_OFFLINE)."""
    from huggingface_hub import constants

    if _truthy("HF_HUB_OFFLINE") or constants.HF_HUB_OFFLINE:
        return False

    answered: list[bool] = []

    def ask() -> None:
        url = f"{constants.ENDPOINT}/api/models/{DEFAULT_MODEL}"
        request = urllib.request.Request(url, method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                answered.append(True)
        except urllib.error.HTTPError:
            answered.append(True)  # the hub answered, even if with an error status
        except (OSError, ValueError):
            answered.append(False)

    # A thread bounds the wait: name resolution ignores urlopen's timeout.
    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return bool(answered and answered[0])


def is_hub_id(model: str) -> bool:
    """A Hugging Face ``owner/name``, not a local folder or file."""
    return not Path(model).expanduser().exists() and model.count("/") == 1


def choose_model(explicit: str | None) -> ModelChoice:
    """``--model``, ``DEFORUM_MODEL``, the cached or downloadable default, else the tiny model."""
    wanted = explicit or os.environ.get("DEFORUM_MODEL", "").strip()
    if wanted:
        source = f"--model {wanted}" if explicit else f"DEFORUM_MODEL={wanted}"
        if is_hub_id(wanted) and not in_hf_cache(wanted) and not hub_reachable():
            # Fail now, not after Blender has rendered the depth of every frame.
            raise SystemExit(
                f"demo: {source}: not in the Hugging Face cache and the hub cannot be reached; "
                f"download it first (python -m deforum_blender models pull {wanted}) or give a "
                "local diffusers folder"
            )
        return ModelChoice(wanted, f"{wanted} (from {source})")
    if in_hf_cache(DEFAULT_MODEL):
        return ModelChoice(DEFAULT_MODEL, f"{DEFAULT_MODEL} (found in the Hugging Face cache)")
    if hub_reachable():
        return ModelChoice(
            DEFAULT_MODEL, f"{DEFAULT_MODEL} (downloading about 5 GB into the Hugging Face cache)"
        )
    return ModelChoice(
        None,
        f"no DEFORUM_MODEL, {DEFAULT_MODEL} is not in the Hugging Face cache and the hub "
        "cannot be reached: rendering with the tiny random-weight model (its frames are "
        "noise) beside a motion preview",
        tiny=True,
    )


def quality_for(choice: ModelChoice) -> Quality:
    """Settings that suit the model: tiny and fast, turbo with few steps, or a full model."""
    if choice.tiny:
        return TINY
    return TURBO if "turbo" in (choice.model or "").lower() else FULL


# -- rendering -----------------------------------------------------------------------------


@dataclass
class Stages:
    """How long each stage took, printed at the end."""

    seconds: list[tuple[str, float]] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as stage ``name`` and announce it."""
        print(f"\n== {name}", flush=True)
        start = time.perf_counter()
        yield
        self.seconds.append((name, time.perf_counter() - start))

    def table(self) -> str:
        """One line per stage, then the total."""
        width = max(len(name) for name, _ in self.seconds)
        lines = [f"  {name:<{width}}  {seconds:7.1f} s" for name, seconds in self.seconds]
        total = sum(seconds for _, seconds in self.seconds)
        return "\n".join([*lines, f"  {'total':<{width}}  {total:7.1f} s"])


def run(command: Sequence[str]) -> None:
    """Run ``command``, its output indented under the stage; stop the demo if it fails."""
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if QUIET not in line:  # Blender logs every temporary depth EXR it saves
            print(f"   {line.rstrip()}", flush=True)
    status = process.wait()
    if status != 0:
        raise SystemExit(f"demo: exit status {status} from: {shlex.join(command)}")


def controlnets_for(
    choice: ModelChoice, tiny_controlnet: Path, wanted: Sequence[str]
) -> dict[str, str]:
    """Module -> ControlNet model of each unit: the tiny ControlNet for every module of
    :data:`CONTROL_MODULES` with the tiny model, else what ``--controlnet`` names."""
    if choice.tiny:
        return {module: str(tiny_controlnet) for module in CONTROL_MODULES}
    return parse_controlnets(wanted)


def parse_controlnets(items: Sequence[str]) -> dict[str, str]:
    """``--controlnet MODULE=MODEL`` items as a mapping; a bad item stops the demo."""
    from deforum_blender.core.controlnet import SCENE_MODULES

    units: dict[str, str] = {}
    for item in items:
        module, _, model = item.partition("=")
        if module not in SCENE_MODULES or not model:
            raise SystemExit(
                f"demo: --controlnet {item!r}: give MODULE=MODEL with MODULE one of "
                f"{', '.join(SCENE_MODULES)}, e.g. "
                "scene_depth=lllyasviel/control_v11f1p_sd15_depth"
            )
        units[module] = model
    return units


def render_blend(blend: Path, out: Path, model: str, *, preview: bool, units: int = 0) -> None:
    """Render ``blend`` into ``out`` with the add-on's headless script; save the strip in it."""
    command = [sys.executable, str(RENDER_SCRIPT), "--", "--blend", str(blend)]
    command += ["--out", str(out), "--model", model, "--init", "render", "--save", str(blend)]
    if preview:
        # Without diffusion to clean it up, the noise and sharpening added before each
        # diffusion would pile up from frame to frame: the preview shows the warp alone.
        command += [
            "--preview",
            "--set",
            "noise_schedule=0: (0)",
            "--set",
            "amount_schedule=0: (0)",
        ]
        # A preview does not diffuse: the ControlNet units would only cost Blender passes.
        for n in range(1, units + 1):
            command += ["--set", f"cn_{n}_enabled=false"]
    run(command)


# -- the whole demo -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The demo's few options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="demo_output", help="output folder (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=24, help="frames (default: %(default)s)")
    parser.add_argument("--model", help="model to use instead of DEFORUM_MODEL or the default")
    parser.add_argument(
        "--controlnet",
        action="append",
        default=[],
        metavar="MODULE=MODEL",
        help="a ControlNet unit for a real model, e.g. "
        "scene_depth=lllyasviel/control_v11f1p_sd15_depth (repeatable; the tiny model "
        f"always has {', '.join(CONTROL_MODULES)})",
    )
    args = parser.parse_args(argv)
    if args.frames < 3:
        parser.error("--frames: at least 3 (the flight has three keys)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every stage; print where the results are and how long each stage took."""
    args = parse_args(argv)
    if str(ROOT) not in sys.path:  # the add-on from this checkout, installed or not
        sys.path.insert(0, str(ROOT))
    parse_controlnets(args.controlnet)  # a bad --controlnet stops the demo before any work
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages()
    with stages.stage("model"):
        choice = choose_model(args.model)
        print(f"model: {choice.reason}", flush=True)
        model = choice.model
        if choice.tiny:
            tiny = out / "tiny_models"
            made = (tiny / "sd" / "model_index.json", tiny / "controlnet" / "config.json")
            if not all(path.is_file() for path in made):
                run([sys.executable, "-m", "deforum_blender", "make-tiny-models", str(tiny)])
            model = str(tiny / "sd")
        elif model is not None and is_hub_id(model) and not in_hf_cache(model):
            # Running the demo is the consent: fetch here, since the worker Blender starts is
            # offline while Blender's Allow Online Access is off (the bpy module's default).
            from huggingface_hub import snapshot_download

            snapshot_download(model)
    assert model is not None
    quality = quality_for(choice)
    controlnets = controlnets_for(choice, out / "tiny_models" / "controlnet", args.controlnet)
    blend = out / "demo.blend"
    with stages.stage("scene"):
        import bpy

        scene = build_scene(model, quality, args.frames, controlnets=controlnets)
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
        units = ", ".join(controlnets) or "none"
        print(
            f"saved {blend}: {quality.width}×{quality.height}, frames "
            f"{scene.frame_start}–{scene.frame_end}, {len(scene.deforum.prompts)} prompts, "
            f"ControlNet units: {units}",
            flush=True,
        )
    label = "tiny model" if choice.tiny else Path(model).name if Path(model).exists() else model
    with stages.stage(f"render ({label})"):
        render_blend(blend, out / "render", model, preview=False)
    if choice.tiny:
        with stages.stage("motion preview"):
            render_blend(blend, out / "preview", model, preview=True, units=len(controlnets))
    with stages.stage("contact sheets and video"):
        written = make_results(out, choice.model, tiny=choice.tiny)
    print(f"\nmodel: {choice.reason}")
    print(f"frames:   {out / 'render' / 'frames'}")
    if choice.tiny:
        print(f"preview:  {out / 'preview' / 'frames'}")
    for name, path in written.items():
        print(f"{name + ':':<21}{path}")
    print(f"{'blend file:':<21}{blend} (the strips are in its Video Sequencer)")
    print("\ntime per stage:\n" + stages.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
