"""The demo's scene (``make demo``): a procedural valley, an eased camera flight, Deforum settings.

Built with the ``bpy`` module: a valley with rocks, trees and glowing pillars, a camera
flying up it on Bézier keys while zooming from 24 to 35 mm, two prompts on timeline
markers and one F-curve-keyed strength; optionally ControlNet units fed by the scene's
passes. Nothing is saved here (``demo.py`` saves it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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


# -- the scene --------------------------------------------------------------


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
    from deforum_blender.blender.animation_data import fcurves

    for owner in (camera, data):
        for fcurve in fcurves(owner):
            for point in fcurve.keyframe_points:
                # Bézier with auto-clamped handles: the flight eases in and out of every key.
                point.interpolation = "BEZIER"
                point.handle_left_type = point.handle_right_type = "AUTO_CLAMPED"
            fcurve.update()
    return camera


def _set_controlnet(settings: Any, controlnets: Mapping[str, str]) -> None:
    """One ControlNet unit per ``module: model`` (cn_1, cn_2, …); their control images saved."""
    for n, (module, model) in enumerate(controlnets.items(), start=1):
        setattr(settings, f"cn_{n}_enabled", True)
        setattr(settings, f"cn_{n}_module", module)
        setattr(settings, f"cn_{n}_model", model)
    settings.save_controlnet_inputs = bool(controlnets)


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


def build_scene(
    model: str,
    quality: Quality,
    frames: int = 24,
    out_dir: str = "//render/",
    controlnets: Mapping[str, str] | None = None,
) -> Any:
    """Replace Blender's data with the demo scene and return it (nothing is saved).

    ``controlnets`` maps a scene module (``scene_depth``, …) to the ControlNet model of its unit.
    """
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
    _set_controlnet(scene.deforum, controlnets or {})
    return scene
