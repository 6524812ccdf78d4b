"""Render the scene's Z pass (and Normal pass) per frame for the worker as float32 ``.npy`` files.

Each frame is rendered with Cycles at one sample and a near-zero pixel filter, so every
pixel holds the depth at its centre: the distance along the camera's −Z in scene units
(Cycles writes 1e10 where a ray hits nothing). The compositor sends the Depth socket
to a File Output node as a single-channel float EXR, which Blender loads back through
its own image API (no EXR reader needed outside Blender); the depth is flipped to
row 0 = top and saved as ``depth_NNNNN.npy`` (the name ``core/output_layout.py`` gives and
``engine/depth.py`` reads; the frames ``core/scene_inputs.py`` lists).
For ``scene_normal`` ControlNet units the same render also writes the Normal pass (Cycles:
world space, 0 where nothing is hit) as an RGB float EXR; it is turned into the camera's
frame of that frame (x right, y up, z toward the camera) and saved as ``normal_NNNNN.npy``
(float32 H×W×3). Every render setting touched is put back afterwards, also on error. The
sequencer is switched off while rendering (otherwise a scene with strips renders the strips).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import bpy
import numpy as np

from ..core.atomic import replacing
from ..core.errors import DeforumInputError
from ..core.output_layout import scene_depth_name, scene_normal_name
from .scene_render import kept_frame

# Scene settings changed for the depth render: (owner path, attribute, depth value).
_RENDER_SETTINGS = (
    ("render", "engine", "CYCLES"),
    ("render", "use_sequencer", False),
    ("render", "use_compositing", True),
    ("cycles", "samples", 1),
    ("cycles", "use_adaptive_sampling", False),
    ("cycles", "use_denoising", False),
    # One sample at the pixel centre: the depth of the centre, not of a jittered point.
    ("cycles", "filter_width", 0.01),
    ("cycles", "max_bounces", 0),
)


def depth_file(folder: str | os.PathLike[str], frame: int) -> Path:
    """``folder/depth_NNNNN.npy``: where the Z pass of ``frame`` goes (engine.depth reads it)."""
    return Path(folder) / scene_depth_name(frame)


def _file_output(tree: Any, folder: str, name: str, color_mode: str, socket: str) -> Any:
    """A File Output node writing one 32-bit float EXR per frame into ``folder``."""
    output: Any = tree.nodes.new("CompositorNodeOutputFile")
    output.format.media_type = "IMAGE"
    output.format.file_format = "OPEN_EXR"
    output.format.color_mode = color_mode
    output.format.color_depth = "32"
    output.directory = folder
    output.file_name = name
    output.file_output_items.new(socket, name)
    return output


@contextmanager
def _depth_setup(scene: bpy.types.Scene, exr_folder: str, normals: bool) -> Iterator[None]:
    """Cycles at one centred sample, compositor Depth (and Normal) → File Output EXRs;
    all undone on exit. The normals go to ``exr_folder/normal``."""
    view_layer = scene.view_layers[0]
    owners = {"render": scene.render, "cycles": scene.cycles}
    saved = [(owners[o], a, getattr(owners[o], a)) for o, a, _ in _RENDER_SETTINGS]
    saved_layers = [(layer, layer.use) for layer in scene.view_layers]
    saved_passes = (view_layer.use_pass_z, view_layer.use_pass_normal)
    saved_tree = scene.compositing_node_group
    tree = bpy.data.node_groups.new(".deforum_depth_pass", "CompositorNodeTree")
    try:
        for owner_name, attribute, value in _RENDER_SETTINGS:
            setattr(owners[owner_name], attribute, value)
        for layer in scene.view_layers:
            layer.use = layer == view_layer
        view_layer.use_pass_z = True
        view_layer.use_pass_normal = normals or saved_passes[1]
        layers_node: Any = tree.nodes.new("CompositorNodeRLayers")
        layers_node.scene = scene
        layers_node.layer = view_layer.name
        output = _file_output(tree, exr_folder, "Z", "BW", "FLOAT")
        tree.links.new(layers_node.outputs["Depth"], output.inputs["Z"])
        if normals:
            output = _file_output(tree, str(Path(exr_folder) / "normal"), "N", "RGB", "VECTOR")
            tree.links.new(layers_node.outputs["Normal"], output.inputs["N"])
        scene.compositing_node_group = tree
        yield
    finally:
        scene.compositing_node_group = saved_tree
        bpy.data.node_groups.remove(tree)
        view_layer.use_pass_z, view_layer.use_pass_normal = saved_passes
        for layer, use in saved_layers:
            layer.use = use
        for owner, attribute, value in reversed(saved):
            setattr(owner, attribute, value)


def _read_exr(path: Path, channels_kept: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The first channels of a float EXR loaded through Blender, rows flipped to top-first."""
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        width, height = int(image.size[0]), int(image.size[1])
        channels = int(image.channels)
        pixels = np.empty(width * height * channels, dtype=np.float32)
        # fake-bpy types Image.pixels as a float; it is a bpy_prop_array of floats.
        cast(Any, image.pixels).foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    kept = pixels.reshape(height, width, channels)[::-1, :, :channels_kept]
    return np.ascontiguousarray(kept, dtype=np.float32)


def _one_exr(folder: Path, frame: int, what: str) -> Path:
    """The one EXR the compositor wrote into ``folder`` for ``frame``."""
    exrs = sorted(folder.glob("*.exr"))
    if len(exrs) != 1:
        raise RuntimeError(
            f"{what} of frame {frame}: expected one EXR from the compositor, "
            f"found {[p.name for p in exrs]}"
        )
    return exrs[0]


def camera_space_normals(
    world: np.ndarray[Any, np.dtype[np.float32]], camera: bpy.types.Object
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """World-space normals (H×W×3) in ``camera``'s frame: x right, y up, z toward the camera."""
    rotation = np.array(camera.matrix_world.to_3x3().normalized(), dtype=np.float64)
    # Row vectors: n_camera = Rᵀ n_world is n_world @ R.
    return np.asarray(world.astype(np.float64) @ rotation, dtype=np.float32)


def _save_npy(target: Path, array: np.ndarray[Any, Any]) -> None:
    with replacing(target) as temp, open(temp, "wb") as stream:
        np.save(stream, array)


def normal_file(folder: str | os.PathLike[str], frame: int) -> Path:
    """``folder/normal_NNNNN.npy``: where the camera-space normals of ``frame`` go."""
    return Path(folder) / scene_normal_name(frame)


def render_scene_depth(
    scene: bpy.types.Scene,
    frames: Iterable[int],
    folder: str | os.PathLike[str],
    normal_frames: Iterable[int] = (),
    normal_folder: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Render the Z pass of each frame into ``folder/depth_NNNNN.npy`` (float32 H×W, top row first)
    and the camera-space normals of each of ``normal_frames`` into ``normal_folder``.

    One render per frame serves both. The scene's current frame and render settings are
    restored afterwards.
    """
    if scene.camera is None:
        raise DeforumInputError(
            f"scene {scene.name!r} has no active camera: set Scene > Camera before rendering depth"
        )
    depth_frames = {int(frame) for frame in frames}
    normal_set = {int(frame) for frame in normal_frames}
    if normal_set and normal_folder is None:
        raise ValueError("normal_frames given without a normal_folder")
    out = Path(folder)
    for target_folder, wanted in ((out, depth_frames), (Path(normal_folder or out), normal_set)):
        if wanted:
            target_folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with (
        tempfile.TemporaryDirectory(prefix="deforum_depth_") as exr_folder,
        kept_frame(scene),
        _depth_setup(scene, exr_folder, normals=bool(normal_set)),
    ):
        for frame in sorted(depth_frames | normal_set):
            scene.frame_set(frame)
            bpy.ops.render.render(write_still=False, scene=scene.name)
            exr = _one_exr(Path(exr_folder), frame, "depth pass")
            if frame in depth_frames:
                written.append(depth_file(out, frame))
                _save_npy(written[-1], _read_exr(exr, 1)[..., 0])
            exr.unlink()
            if normal_set:
                exr = _one_exr(Path(exr_folder) / "normal", frame, "normal pass")
                if frame in normal_set:
                    normals = camera_space_normals(_read_exr(exr, 3), scene.camera)
                    written.append(normal_file(Path(normal_folder or out), frame))
                    _save_npy(written[-1], normals)
                exr.unlink()
    return written
