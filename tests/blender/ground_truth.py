"""Blender as ground truth: the emission-checker scene, render settings and image comparison.

The scene functions run inside a Blender subprocess (``run_python`` puts the repo on
``sys.path``: ``from tests.blender.ground_truth import ...``); ``bpy`` is imported there,
never in the test process. This module must not import the add-on: the extension tests
use these helpers next to the installed ``bl_ext`` copy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

# Camera keys: frame -> (location, rotation in degrees XYZ).
CameraKeys = Mapping[int, tuple[tuple[float, float, float], tuple[float, float, float]]]


def setup_clean_cycles(scene: Any, width: int, height: int, samples: int) -> None:
    """Cycles at ``samples`` with nothing that blurs or adds noise, writing 8-bit RGB PNGs."""
    scene.render.engine = "CYCLES"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.cycles.use_adaptive_sampling = False
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.view_settings.view_transform = "Standard"
    scene.render.dither_intensity = 0.0
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.color_depth = "8"


def _checker(
    name: str, colour1: tuple[float, ...], colour2: tuple[float, ...], scale: float
) -> Any:
    """An emission material of a checker texture (clean at few Cycles samples)."""
    import bpy

    material = bpy.data.materials.new(name)
    material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    nodes.clear()
    coords = nodes.new("ShaderNodeTexCoord")
    texture = nodes.new("ShaderNodeTexChecker")
    texture.inputs["Color1"].default_value = (*colour1, 1.0)
    texture.inputs["Color2"].default_value = (*colour2, 1.0)
    texture.inputs["Scale"].default_value = scale
    emission = nodes.new("ShaderNodeEmission")
    output = nodes.new("ShaderNodeOutputMaterial")
    links.new(coords.outputs["Object"], texture.inputs["Vector"])
    links.new(texture.outputs["Color"], emission.inputs["Color"])
    links.new(emission.outputs["Emission"], output.inputs["Surface"])
    return material


def _add(operator: Any, material: Any, **kwargs: Any) -> None:
    import bpy

    operator(**kwargs)
    bpy.context.active_object.data.materials.append(material)


def build_checker_room() -> None:
    """A floor, a wall 12 m ahead, a cube and a ball, all emission checkers."""
    import bpy

    mesh = bpy.ops.mesh
    _add(
        mesh.primitive_plane_add,
        _checker("floor", (0.8, 0.7, 0.2), (0.1, 0.2, 0.5), 0.3),
        size=40,
        location=(0, 0, 0),
    )
    _add(
        mesh.primitive_plane_add,
        _checker("wall", (0.2, 0.7, 0.3), (0.6, 0.1, 0.4), 0.3),
        size=40,
        location=(0, 12, 0),
        rotation=(math.pi / 2, 0, 0),
    )
    _add(
        mesh.primitive_cube_add,
        _checker("cube", (0.9, 0.3, 0.1), (0.2, 0.2, 0.8), 0.8),
        size=1.5,
        location=(-1.2, 3, 0.75),
        rotation=(0, 0, 0.5),
    )
    _add(
        mesh.primitive_uv_sphere_add,
        _checker("ball", (0.9, 0.9, 0.9), (0.3, 0.5, 0.1), 1.0),
        radius=0.8,
        location=(1.5, 5, 0.8),
    )


def key_camera(camera: Any, keys: CameraKeys) -> None:
    """Keyframe the camera's location and rotation (degrees) at each frame of ``keys``."""
    for frame, (location, rotation) in keys.items():
        camera.location = location
        camera.rotation_euler = tuple(math.radians(angle) for angle in rotation)
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)


def use_tiny_model(settings: Any, model: str, seed: int) -> None:
    """Point ``scene.deforum`` at a tiny model on the CPU, four steps, no video."""
    settings.model = model
    settings.device = "cpu"
    settings.steps = 4
    settings.seed = seed
    settings.make_video = False


def read_rgb(path: Path) -> np.ndarray:
    """An image file as uint8 RGB."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """PSNR in dB of two uint8 images over the pixels ``where`` is true."""
    error = (a.astype(np.float64) - b.astype(np.float64))[where]
    return 10.0 * math.log10(255.0**2 / max(float(np.mean(error**2)), 1e-12))
