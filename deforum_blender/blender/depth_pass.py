"""Render the scene's Z pass per frame and hand it to the worker as float32 ``.npy`` files.

Each frame is rendered with Cycles at one sample and a near-zero pixel filter, so every
pixel holds the depth at its centre: the distance along the camera's −Z in scene units
(Cycles writes 1e10 where a ray hits nothing). The compositor sends the Depth socket
to a File Output node as a single-channel float EXR, which Blender loads back through
its own image API (no EXR reader needed outside Blender); the depth is flipped to
row 0 = top and saved as ``depth_NNNNN.npy`` (the name ``core/output_layout.py`` gives and
``engine/depth.py`` reads; the frames ``core/scene_inputs.py`` lists).
Every render setting touched is put back afterwards, also on error. The sequencer is
switched off while rendering (otherwise a scene with strips renders the strips).
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
from ..core.output_layout import scene_depth_name
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


@contextmanager
def _depth_setup(scene: bpy.types.Scene, exr_folder: str) -> Iterator[None]:
    """Cycles at one centred sample, compositor Depth → File Output EXR; all undone on exit."""
    view_layer = scene.view_layers[0]
    owners = {"render": scene.render, "cycles": scene.cycles}
    saved = [(owners[o], a, getattr(owners[o], a)) for o, a, _ in _RENDER_SETTINGS]
    saved_layers = [(layer, layer.use) for layer in scene.view_layers]
    saved_pass_z = view_layer.use_pass_z
    saved_tree = scene.compositing_node_group
    tree = bpy.data.node_groups.new(".deforum_depth_pass", "CompositorNodeTree")
    try:
        for owner_name, attribute, value in _RENDER_SETTINGS:
            setattr(owners[owner_name], attribute, value)
        for layer in scene.view_layers:
            layer.use = layer == view_layer
        view_layer.use_pass_z = True
        layers_node: Any = tree.nodes.new("CompositorNodeRLayers")
        layers_node.scene = scene
        layers_node.layer = view_layer.name
        output: Any = tree.nodes.new("CompositorNodeOutputFile")
        output.format.media_type = "IMAGE"
        output.format.file_format = "OPEN_EXR"
        output.format.color_mode = "BW"
        output.format.color_depth = "32"
        output.directory = exr_folder
        output.file_name = "depth"
        output.file_output_items.new("FLOAT", "Z")
        tree.links.new(layers_node.outputs["Depth"], output.inputs["Z"])
        scene.compositing_node_group = tree
        yield
    finally:
        scene.compositing_node_group = saved_tree
        bpy.data.node_groups.remove(tree)
        view_layer.use_pass_z = saved_pass_z
        for layer, use in saved_layers:
            layer.use = use
        for owner, attribute, value in reversed(saved):
            setattr(owner, attribute, value)


def _read_exr_depth(path: Path) -> np.ndarray[Any, np.dtype[np.float32]]:
    """First channel of a float EXR loaded through Blender, rows flipped to top-first."""
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        width, height = int(image.size[0]), int(image.size[1])
        channels = int(image.channels)
        pixels = np.empty(width * height * channels, dtype=np.float32)
        # fake-bpy types Image.pixels as a float; it is a bpy_prop_array of floats.
        cast(Any, image.pixels).foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    depth = pixels.reshape(height, width, channels)[::-1, :, 0]
    return np.ascontiguousarray(depth, dtype=np.float32)


def render_scene_depth(
    scene: bpy.types.Scene, frames: Iterable[int], folder: str | os.PathLike[str]
) -> list[Path]:
    """Render the Z pass of each frame into ``folder/depth_NNNNN.npy`` (float32 H×W, top row first).

    The scene's current frame and render settings are restored afterwards.
    """
    if scene.camera is None:
        raise DeforumInputError(
            f"scene {scene.name!r} has no active camera: set Scene > Camera before rendering depth"
        )
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with (
        tempfile.TemporaryDirectory(prefix="deforum_depth_") as exr_folder,
        kept_frame(scene),
        _depth_setup(scene, exr_folder),
    ):
        for frame in frames:
            scene.frame_set(int(frame))
            bpy.ops.render.render(write_still=False, scene=scene.name)
            exrs = sorted(Path(exr_folder).glob("*.exr"))
            if len(exrs) != 1:
                raise RuntimeError(
                    f"depth pass of frame {frame}: expected one EXR from the "
                    f"compositor, found {[p.name for p in exrs]}"
                )
            depth = _read_exr_depth(exrs[0])
            exrs[0].unlink()
            target = depth_file(out, int(frame))
            with replacing(target) as temp, open(temp, "wb") as stream:
                np.save(stream, depth)
            written.append(target)
    return written
