"""``make demo``: build a small Blender scene, render it with Deforum headless, lay out the results.

    .venv/bin/python scripts/demo.py [--out demo_output] [--frames 24] [--model ID_OR_PATH]

Stages, each timed: choose the model; build the scene with the ``bpy`` module (a
procedural valley with rocks, trees and glowing pillars, an eased camera flight with a
lens change, two prompts on timeline markers, one F-curve-keyed strength) and save
``demo.blend``; render it with the add-on's own headless script
(``scripts/render_deforum.py``, a subprocess, which also puts the image strip in the
sequencer and saves the .blend); then a contact sheet of the frames, one of the scene's
depth, and ``video.mp4``.

The model is ``--model``, else ``DEFORUM_MODEL`` (a Hugging Face id or a local path),
else :data:`DEFAULT_MODEL` when it is in the Hugging Face cache or the hub can be reached.
Otherwise (offline, as on CI machines) it renders with the tiny random-weight model, whose
frames are noise by design, and beside it a motion preview (warp only, no diffusion), so
the camera motion, the depth and the sequencer output are real and visible.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RENDER_SCRIPT = ROOT / "scripts" / "render_deforum.py"

#: A small real model: SD-Turbo renders a useful frame in 1–4 steps (about 5 GB download).
DEFAULT_MODEL = "stabilityai/sd-turbo"
HUB_TIMEOUT_S = 3.0
QUIET = "/deforum_depth_"
CELL_WIDTH = 256  # frames wider than this are scaled down in the contact sheets
SHEET_FRAMES = 12

PROMPTS = (
    (1, "a misty green valley with standing stones and pine trees, oil painting", "blurry"),
    (13, "an alien canyon at dusk, glowing crystal pillars, neon light, concept art", "blurry"),
)
FIRST_FRAME = 1


@dataclass(frozen=True)
class Quality:
    """Render settings that depend on the model: the tiny model is fast but meaningless."""

    width: int
    height: int
    steps: int
    cfg_scale: float
    cadence: int


TINY = Quality(width=128, height=96, steps=8, cfg_scale=7.0, cadence=1)
TURBO = Quality(width=512, height=384, steps=4, cfg_scale=1.0, cadence=2)  # no CFG for turbo
FULL = Quality(width=512, height=384, steps=20, cfg_scale=7.0, cadence=2)


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
                f"download it first (hf download {wanted}) or give a local diffusers folder"
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


# -- the scene ------------------------------------------------------------------------------


def terrain_height(x: float, y: float) -> float:
    """Height of the valley floor at (x, y): a valley along +Y, hills on both sides, noise."""
    import mathutils

    valley = 0.035 * x * x
    bumps = mathutils.noise.fractal(
        mathutils.Vector((x * 0.12, y * 0.12, 0.0)), 1.0, 2.0, 4, noise_basis="PERLIN_ORIGINAL"
    )
    return float(valley + 1.2 * bumps)


def _material(name: str, color: tuple[float, float, float], **inputs: Any) -> Any:
    """A Principled BSDF material of ``color``; ``inputs`` sets other sockets by name."""
    import bpy

    material = bpy.data.materials.new(name)
    shader = material.node_tree.nodes["Principled BSDF"]
    shader.inputs["Base Color"].default_value = (*color, 1.0)
    for socket, value in inputs.items():
        shader.inputs[socket.replace("_", " ")].default_value = value
    material.diffuse_color = (*color, 1.0)  # the viewport colour
    return material


def _terrain_material() -> Any:
    """Grass in the valley, rock on the slopes, snow on the tops: a ramp over height."""

    material = _material("Valley", (0.2, 0.35, 0.12), Roughness=0.9)
    nodes, links = material.node_tree.nodes, material.node_tree.links
    geometry = nodes.new("ShaderNodeNewGeometry")
    split = nodes.new("ShaderNodeSeparateXYZ")
    height = nodes.new("ShaderNodeMapRange")
    height.inputs["From Min"].default_value = -1.0
    height.inputs["From Max"].default_value = 7.0
    ramp = nodes.new("ShaderNodeValToRGB")
    stops = ramp.color_ramp.elements
    stops[0].color = (0.12, 0.3, 0.08, 1.0)
    stops[1].position = 0.6
    stops[1].color = (0.35, 0.28, 0.2, 1.0)
    snow = stops.new(0.85)
    snow.color = (0.9, 0.9, 0.95, 1.0)
    links.new(geometry.outputs["Position"], split.inputs["Vector"])
    links.new(split.outputs["Z"], height.inputs["Value"])
    links.new(height.outputs["Result"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    return material


def _mesh_object(name: str, build: Callable[[Any], None], material: Any) -> Any:
    """A new object whose mesh ``build(bm)`` fills, with ``material``, linked to the scene."""
    import bmesh  # type: ignore[import-not-found]  # Blender's own module, no stubs
    import bpy

    mesh = bpy.data.meshes.new(name)
    bm = bmesh.new()
    build(bm)
    bm.to_mesh(mesh)
    bm.free()
    mesh.materials.append(material)
    for polygon in mesh.polygons:
        polygon.use_smooth = True
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _add_terrain() -> Any:
    import bmesh  # type: ignore[import-not-found]  # Blender's own module, no stubs

    def build(bm: Any) -> None:
        bmesh.ops.create_grid(bm, x_segments=96, y_segments=96, size=30.0)
        for vertex in bm.verts:
            vertex.co.y += 8.0  # the valley runs from y = −22 to y = 38
            vertex.co.z = terrain_height(vertex.co.x, vertex.co.y)

    return _mesh_object("Valley", build, _terrain_material())


# Where the props stand (x, y) along the valley, and how big or which colour they are.
ROCKS = ((-2.6, -8.0, 0.9), (3.2, -2.0, 1.3), (-3.5, 6.0, 1.1))
TREES = ((3.8, -11.0), (-4.2, -4.0), (4.6, 3.0), (-5.0, 12.0))
PILLARS = ((-1.8, 0.0, "orange"), (2.0, 7.0, "cyan"), (-1.2, 14.0, "cyan"), (1.5, 18.0, "orange"))
GLOW = {"orange": (1.0, 0.45, 0.1), "cyan": (0.1, 0.8, 1.0)}


def _cone(radius1: float, radius2: float, depth: float, segments: int, lift: float = 0.0) -> Any:
    """A mesh builder: a cone (a cylinder when the radii match) standing ``lift`` above 0."""
    import bmesh  # type: ignore[import-not-found]  # Blender's own module, no stubs

    def build(bm: Any) -> None:
        bmesh.ops.create_cone(
            bm, segments=segments, radius1=radius1, radius2=radius2, depth=depth, cap_ends=True
        )
        bmesh.ops.translate(bm, vec=(0.0, 0.0, lift + depth / 2), verts=bm.verts)

    return build


def _rock(size: float) -> Any:
    """A mesh builder: a flattened icosphere."""
    import bmesh  # type: ignore[import-not-found]

    def build(bm: Any) -> None:
        bmesh.ops.create_icosphere(bm, subdivisions=2, radius=size)
        bmesh.ops.scale(bm, vec=(1.0, 0.8, 0.6), verts=bm.verts)

    return build


def _add_props() -> list[Any]:
    """Rocks, pine trees and glowing pillars on the valley floor, along the flight."""
    rock = _material("Rock", (0.32, 0.3, 0.28), Roughness=0.8)
    bark = _material("Bark", (0.25, 0.15, 0.08))
    pine = _material("Pine", (0.05, 0.22, 0.08), Roughness=0.7)
    glow = {
        name: _material(f"Glow {name}", rgb, Emission_Color=(*rgb, 1.0), Emission_Strength=2.0)
        for name, rgb in GLOW.items()
    }
    placed: list[tuple[str, Any, Any, float, float, float]] = []
    for index, (x, y, size) in enumerate(ROCKS, start=1):
        placed.append((f"Rock {index}", _rock(size), rock, x, y, 0.3))
    for index, (x, y) in enumerate(TREES, start=1):
        placed.append((f"Trunk {index}", _cone(0.15, 0.12, 1.0, 8), bark, x, y, 0.0))
        placed.append((f"Pine {index}", _cone(0.9, 0.0, 2.6, 12, lift=0.8), pine, x, y, 0.0))
    for index, (x, y, colour) in enumerate(PILLARS, start=1):
        placed.append((f"Pillar {index}", _cone(0.35, 0.3, 3.2, 6), glow[colour], x, y, 0.2))
    objects = []
    for name, build, material, x, y, sink in placed:
        obj = _mesh_object(name, build, material)
        obj.location = (x, y, terrain_height(x, y) - sink)  # standing on the ground
        objects.append(obj)
    return objects


def _add_world_and_sun() -> None:
    import bpy

    world = bpy.data.worlds.new("Sky")
    background = world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (0.3, 0.5, 0.95, 1.0)
    background.inputs["Strength"].default_value = 0.8
    bpy.context.scene.world = world
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy = 3.0
    sun.rotation_euler = (0.9, 0.2, 0.6)
    bpy.context.scene.collection.objects.link(sun)


# (frame, location, rotation in degrees, lens in mm): eased by Bézier keyframes.
CAMERA_KEYS = (
    (1, (0.0, -17.0, 3.4), (82.0, 0.0, 0.0), 24.0),
    (12, (1.0, -13.0, 3.6), (81.0, 0.0, -14.0), 28.0),
    (24, (-0.5, -8.0, 4.0), (79.0, 0.0, 8.0), 35.0),
)


def _add_camera(last_frame: int) -> Any:
    """The camera's eased flight up the valley, zooming from 24 mm to 35 mm."""
    import math

    import bpy

    data = bpy.data.cameras.new("Camera")
    data.sensor_width = 36.0
    data.clip_start, data.clip_end = 0.1, 200.0
    camera = bpy.data.objects.new("Camera", data)
    bpy.context.scene.collection.objects.link(camera)
    bpy.context.scene.camera = camera
    span = CAMERA_KEYS[-1][0] - CAMERA_KEYS[0][0]
    for key_frame, location, rotation, lens in CAMERA_KEYS:
        # The keys keep their place in the flight whatever the frame count.
        frame = FIRST_FRAME + round((key_frame - FIRST_FRAME) * (last_frame - FIRST_FRAME) / span)
        camera.location = location
        camera.rotation_euler = tuple(math.radians(angle) for angle in rotation)
        data.lens = lens
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)
        data.keyframe_insert("lens", frame=frame)
    for owner in (camera, data):
        for fcurve in fcurves_of(owner):
            for point in fcurve.keyframe_points:
                # Bézier with auto-clamped handles: the flight eases in and out of every key.
                point.interpolation = "BEZIER"
                point.handle_left_type = point.handle_right_type = "AUTO_CLAMPED"
            fcurve.update()
    return camera


def fcurves_of(owner: Any) -> list[Any]:
    """The F-curves of ``owner``'s action (Blender 4.4+ layered actions: its slot's curves)."""
    animation = owner.animation_data
    if animation is None or animation.action is None:
        return []
    curves: list[Any] = []
    for layer in animation.action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(animation.action_slot)
            if bag is not None:
                curves.extend(bag.fcurves)
    return curves


def _set_deforum(scene: Any, model: str, quality: Quality, out_dir: str) -> None:
    """Deforum settings: 3D from the scene's depth, two prompts, strength keyed on F-curves."""
    from deforum_blender.blender.prompts import add_prompt

    settings = scene.deforum
    settings.animation_mode = "3D"
    settings.depth_source = "scene"
    settings.model = model
    settings.device = "auto"
    settings.steps = quality.steps
    settings.cfg_scale = quality.cfg_scale
    settings.diffusion_cadence = quality.cadence
    settings.seed = 1234
    settings.seed_behavior = "iter"
    settings.color_coherence = "LAB"
    settings.make_video = True
    settings.save_depth_maps = True
    settings.output_dir = out_dir
    # An F-curve schedule: keep more of the previous frame while the camera eases, less
    # where the prompt changes, so the new prompt takes over.
    switch = PROMPTS[1][0]
    for frame, strength in ((FIRST_FRAME, 0.65), (switch, 0.45), (scene.frame_end, 0.6)):
        settings.strength = strength
        settings.keyframe_insert("strength", frame=min(frame, scene.frame_end))
    for frame, prompt, negative in PROMPTS:
        if frame <= scene.frame_end:
            add_prompt(scene, frame, prompt, negative)


def build_scene(model: str, quality: Quality, frames: int = 24, out_dir: str = "//render/") -> Any:
    """Replace Blender's data with the demo scene and return it (nothing is saved)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    if not hasattr(bpy.types.Scene, "deforum"):
        import deforum_blender

        deforum_blender.register()
    scene = bpy.context.scene
    scene.name = "Deforum Demo"
    scene.frame_start, scene.frame_end = FIRST_FRAME, FIRST_FRAME + frames - 1
    scene.frame_current = FIRST_FRAME
    scene.render.fps = 12
    scene.render.resolution_x, scene.render.resolution_y = quality.width, quality.height
    scene.render.resolution_percentage = 100
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 16
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 3
    scene.view_settings.view_transform = "Standard"  # saturated colours for the sheets
    _add_world_and_sun()
    _add_terrain()
    _add_props()
    _add_camera(scene.frame_end)
    _set_deforum(scene, model, quality, out_dir)
    return scene


# -- rendering and the results --------------------------------------------------------------


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


def render_blend(blend: Path, out: Path, model: str, *, preview: bool) -> None:
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
    run(command)


def _read_rgb(path: Path) -> Any:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"demo: cannot read {path}")
    return image


def _small(image: Any, width: int = CELL_WIDTH) -> Any:
    """``image`` scaled down to ``width`` pixels across (never up)."""
    import cv2

    height, current = image.shape[:2]
    if current <= width:
        return image
    return cv2.resize(image, (width, round(height * width / current)), interpolation=cv2.INTER_AREA)


def _label(image: Any, text: str, corner: tuple[int, int] = (4, 14)) -> None:
    """White text with a dark outline, readable on any frame."""
    import cv2

    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(
            image, text, corner, cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, thickness, cv2.LINE_AA
        )


def save_sheet(image: Any, path: Path) -> None:
    """Write a BGR sheet as a 256-colour PNG: small enough to commit (the README shows them)."""
    import cv2
    from PIL import Image

    rgb = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    rgb.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def pick_frames(frames: Sequence[int], count: int) -> list[int]:
    """``count`` frames spread evenly over ``frames``, the first and the last included."""
    if len(frames) <= count:
        return list(frames)
    step = (len(frames) - 1) / (count - 1)
    return [frames[round(index * step)] for index in range(count)]


def grid(cells: Sequence[Any], columns: int, title: str, gap: int = 4) -> Any:
    """Cells (same-size BGR images) in rows of ``columns`` under a title bar."""
    import numpy as np

    height, width = cells[0].shape[:2]
    rows = (len(cells) + columns - 1) // columns
    sheet = np.full(
        (22 + rows * (height + gap) + gap, columns * (width + gap) + gap, 3), 24, np.uint8
    )
    _label(sheet, title, (gap, 15))
    for index, cell in enumerate(cells):
        top = 22 + gap + (index // columns) * (height + gap)
        left = gap + (index % columns) * (width + gap)
        sheet[top : top + height, left : left + width] = cell
    return sheet


def frame_cells(render: Path, preview: Path | None, frames: Sequence[int]) -> list[Any]:
    """Each frame labelled with its number; beside its motion preview when there is one."""
    import numpy as np

    from deforum_blender.core.output_layout import frame_path

    cells = []
    for frame in frames:
        image = _small(_read_rgb(frame_path(render, frame)))
        _label(image, str(frame))
        if preview is not None:
            image = np.hstack([image, _small(_read_rgb(frame_path(preview, frame)))])
        cells.append(image)
    return cells


def depth_cells(render: Path, frames: Sequence[int]) -> list[Any]:
    """The scene's Z pass, coloured by inverse depth over the whole flight (near = bright)."""
    import cv2
    import numpy as np

    from deforum_blender.blender.depth_pass import depth_file
    from deforum_blender.core.output_layout import scene_depth_dir

    depths = [np.load(depth_file(scene_depth_dir(render), frame)) for frame in frames]
    # Cycles writes 1e10 where a ray hits nothing: the sky is drawn black.
    inverse = [np.where(d < 1e9, 1.0 / np.maximum(d, 1e-3), 0.0) for d in depths]
    seen = np.concatenate([i[i > 0] for i in inverse])
    low, high = np.percentile(seen, [1, 99]) if seen.size else (0.0, 1.0)
    cells = []
    for frame, values in zip(frames, inverse, strict=True):
        scaled = np.clip((values - low) / max(high - low, 1e-9), 0.0, 1.0)
        image = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
        image[values == 0] = 0
        image = _small(image)
        _label(image, str(frame))
        cells.append(image)
    return cells


def side_by_side_video(render: Path, preview: Path, frames: Sequence[int], target: Path) -> None:
    """``target``: the model's frames beside the motion preview's, at the scene's frame rate."""
    import json

    import cv2
    import numpy as np

    from deforum_blender.core.output_layout import JOB_FILE, frame_path
    from deforum_blender.engine.video import write_video

    fps = float(json.loads((render / JOB_FILE).read_text())["fps"])
    folder = target.parent / "side_by_side"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = []
    for frame in frames:
        model, motion = _read_rgb(frame_path(render, frame)), _read_rgb(frame_path(preview, frame))
        _label(model, "tiny model")
        _label(motion, "motion preview")
        path = folder / f"frame_{frame:05d}.png"
        cv2.imwrite(str(path), np.hstack([model, motion]))
        paths.append(path)
    write_video(paths, target, fps)


def make_results(out: Path, choice: ModelChoice) -> dict[str, Path]:
    """Contact sheets and ``video.mp4`` in ``out``; returns what was written."""
    from deforum_blender.core.output_layout import VIDEO_FILE, frame_files

    render = out / "render"
    preview = out / "preview" if choice.tiny else None
    frames = list(frame_files(render))
    shown = pick_frames(frames, SHEET_FRAMES)
    if preview is not None:
        title = "left: tiny random-weight model (noise by design)   right: motion preview"
        sheet = grid(frame_cells(render, preview, shown), 4, title)
    else:
        sheet = grid(frame_cells(render, None, shown), 4, f"model: {choice.model}")
    written = {"contact sheet": out / "contact_sheet.png"}
    save_sheet(sheet, written["contact sheet"])
    depth = grid(depth_cells(render, shown), 6, "scene depth (Cycles Z pass): near is bright")
    written["depth contact sheet"] = out / "depth_contact_sheet.png"
    save_sheet(depth, written["depth contact sheet"])
    written["video"] = out / VIDEO_FILE
    if preview is not None:
        side_by_side_video(render, preview, frames, written["video"])
    else:
        shutil.copyfile(render / VIDEO_FILE, written["video"])
    return written


# -- the whole demo -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The demo's few options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="demo_output", help="output folder (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=24, help="frames (default: %(default)s)")
    parser.add_argument("--model", help="model to use instead of DEFORUM_MODEL or the default")
    args = parser.parse_args(argv)
    if args.frames < 3:
        parser.error("--frames: at least 3 (the flight has three keys)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every stage; print where the results are and how long each stage took."""
    args = parse_args(argv)
    if str(ROOT) not in sys.path:  # the add-on from this checkout, installed or not
        sys.path.insert(0, str(ROOT))
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages()
    with stages.stage("model"):
        choice = choose_model(args.model)
        print(f"model: {choice.reason}", flush=True)
        model = choice.model
        if choice.tiny:
            tiny = out / "tiny_models"
            if not (tiny / "sd" / "model_index.json").is_file():
                run([sys.executable, "-m", "deforum_blender", "make-tiny-models", str(tiny)])
            model = str(tiny / "sd")
        elif model is not None and is_hub_id(model) and not in_hf_cache(model):
            # Running the demo is the consent: fetch here, since the worker Blender starts is
            # offline while Blender's Allow Online Access is off (the bpy module's default).
            from huggingface_hub import snapshot_download

            snapshot_download(model)
    assert model is not None
    quality = quality_for(choice)
    blend = out / "demo.blend"
    with stages.stage("scene"):
        import bpy

        scene = build_scene(model, quality, args.frames)
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
        print(
            f"saved {blend}: {quality.width}×{quality.height}, frames "
            f"{scene.frame_start}–{scene.frame_end}, {len(scene.deforum.prompts)} prompts",
            flush=True,
        )
    label = "tiny model" if choice.tiny else Path(model).name if Path(model).exists() else model
    with stages.stage(f"render ({label})"):
        render_blend(blend, out / "render", model, preview=False)
    if choice.tiny:
        with stages.stage("motion preview"):
            render_blend(blend, out / "preview", model, preview=True)
    with stages.stage("contact sheets and video"):
        written = make_results(out, choice)
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
