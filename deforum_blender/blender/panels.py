"""The Deforum panel in the Properties editor's Output tab, with one sub-panel per topic.

``DEFORUM_PT_main`` shows the frame range, the size and every problem that would stop
a render, each with the property that fixes it. The sub-panels follow Deforum's grouping
and names. Per-frame values are drawn with their schedule field when one is set (or when
"Schedules" is on); a schedule that cannot be read is drawn in red.

The Motion sub-panel shows this frame's camera motion in Deforum's units and the vertical
FOV. The motion into frame f needs the camera at f−1, which the panel cannot evaluate
while drawing, so a ``frame_change_post`` handler remembers each frame's evaluated camera
pose as frames are played or stepped; any edit drops what it remembered.
"""

from __future__ import annotations

import math
from typing import Any, cast

import bpy
import numpy as np
import numpy.typing as npt
from bpy.app.handlers import persistent

from ..core import controlnet
from ..core.camera import (
    motion_to_deforum,
    relative_pose,
    vertical_fov,
)
from ..core.errors import DeforumInputError
from .camera_track import camera_data_of, render_size_of, scene_translation_scale
from .environment_ops import worker_problem
from .model_manager import draw_picker
from .progress_ui import draw_progress, draw_render_buttons
from .properties import deforum_settings, schedule_property_name
from .scene_job import MOTION_MODES, render_size, scene_fps, seed_text_problem
from .scene_problems import scene_problems, schedule_problem, seed_keys_unused

# -- remembered camera poses (for the Motion sub-panel) ------------------------------------

# scene name → frame → (camera name, evaluated world matrix)
_POSES: dict[str, dict[int, tuple[str, npt.NDArray[np.float64]]]] = {}
_MAX_POSES = 10_000  # per scene; a long timeline is still small (128 bytes a pose)


def remember_pose(scene: bpy.types.Scene, depsgraph: Any = None) -> None:
    """Remember the scene camera's evaluated pose at the current frame."""
    camera = scene.camera
    if camera is None:
        return
    evaluated = camera.evaluated_get(depsgraph) if depsgraph is not None else camera
    poses = _POSES.setdefault(scene.name, {})
    if len(poses) >= _MAX_POSES:
        poses.clear()
    poses[scene.frame_current] = (camera.name, np.array(evaluated.matrix_world, dtype=np.float64))


_SCALES: dict[str, tuple[tuple[float, ...], float]] = {}


def _automatic_scale(scene: bpy.types.Scene, camera_matrix: np.ndarray[Any, Any]) -> float:
    """``scene_translation_scale`` (ray casts, ~2 ms), redone only when the camera moves."""
    key = (*np.round(camera_matrix, 5).ravel().tolist(), float(scene.frame_current))
    cached = _SCALES.get(scene.name)
    if cached is None or cached[0] != key:
        cached = (key, scene_translation_scale(scene))
        _SCALES[scene.name] = cached
    return cached[1]


@persistent  # type: ignore[untyped-decorator]
def _on_frame_change(scene: bpy.types.Scene, depsgraph: Any = None) -> None:
    remember_pose(scene, depsgraph)


@persistent  # type: ignore[untyped-decorator]
def _on_edit(scene: bpy.types.Scene, depsgraph: Any) -> None:
    # Frame changes do not come here; edits do. An edit of anything but the scene's own
    # settings may move the camera on any frame, so the remembered poses are stale.
    if any(not isinstance(update.id, bpy.types.Scene) for update in depsgraph.updates):
        _POSES.pop(scene.name, None)


@persistent  # type: ignore[untyped-decorator]
def _on_load(*_args: Any) -> None:
    _POSES.clear()


def camera_motion(scene: bpy.types.Scene) -> dict[str, float] | None:
    """Deforum's 3D values for the motion into the current frame, or None if not known yet.

    An empty dict on the first frame and at a camera cut (they carry no motion).
    """
    camera = scene.camera
    frame = scene.frame_current
    if camera is None:
        return None
    if frame <= scene.frame_start:
        return {}
    previous = _POSES.get(scene.name, {}).get(frame - 1)
    if previous is None:
        return None
    if previous[0] != camera.name:
        return {}
    settings = deforum_settings(scene)
    current = np.array(camera.matrix_world, dtype=np.float64)
    scale = settings.translation_scale or _automatic_scale(scene, current)
    return motion_to_deforum(relative_pose(previous[1], current), scale)


# -- drawing helpers ----------------------------------------------------------------------


def _draw_per_frame(layout: Any, settings: Any, name: str, overridden: bool = False) -> Any:
    """A per-frame value, and its schedule field when set or when schedules are shown.

    Returns the column, for what belongs under the value.
    """
    schedule = schedule_property_name(name)
    text = str(getattr(settings, schedule)).strip()
    column = layout.column(align=True)
    value = column.row()
    value.active = not text and not overridden  # a schedule overrides the value and its keys
    value.prop(settings, name)
    if text or settings.show_schedules:
        row = column.row()
        row.alert = schedule_problem(settings, name) is not None
        row.prop(settings, schedule, text="Schedule")
    return column


def _draw_problem(layout: Any, problem: Any) -> None:
    box = layout.box()
    box.alert = True
    box.label(text=problem.message, icon="ERROR")
    for owner, name in problem.fixes:
        box.prop(owner, name)
    if problem.operator:
        box.operator(problem.operator)


class _DeforumPanel(bpy.types.Panel):
    """Shared placement: Properties editor, Output tab (never registered itself)."""

    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and hasattr(context.scene, "deforum")

    def parts(self, context: bpy.types.Context) -> tuple[Any, bpy.types.Scene, Any]:
        """The layout, the scene and its Deforum settings (poll made sure they exist)."""
        scene = context.scene
        assert scene is not None and self.layout is not None
        return self.layout, scene, deforum_settings(scene)


class DEFORUM_PT_main(_DeforumPanel):
    """Deforum: frame range, size and the problems that would stop a render"""

    bl_label = "Deforum"

    def draw(self, context: bpy.types.Context) -> None:
        layout, scene, settings = self.parts(context)
        width, height, _ = render_size(scene)
        fps = scene_fps(scene) if settings.use_scene_fps else settings.fps
        frames = scene.frame_end - scene.frame_start + 1
        column = layout.column(align=True)
        column.label(
            text=f"Frames {scene.frame_start}–{scene.frame_end} ({max(frames, 0)})",
            icon="SEQUENCE",
        )
        column.label(text=f"{width}×{height} at {fps:g} fps", icon="IMAGE_DATA")
        state = draw_render_buttons(layout)
        if state is not None and state.scene == scene.name:
            draw_progress(layout, state)
        worker = worker_problem()  # cached: no subprocess while drawing
        for problem in [*scene_problems(scene), *([worker] if worker else [])]:
            _draw_problem(layout, problem)


class _DeforumSubPanel(_DeforumPanel):
    bl_parent_id = "DEFORUM_PT_main"


class DEFORUM_PT_model(_DeforumSubPanel):
    """Model, device and output"""

    bl_label = "Model & Output"

    def draw(self, context: bpy.types.Context) -> None:
        layout, _, settings = self.parts(context)
        layout.use_property_split = True
        files = layout.row(align=True)
        files.operator("deforum.import_settings", icon="IMPORT", text="Import Settings")
        files.operator("deforum.export_settings", icon="EXPORT", text="Export Settings")
        layout.prop(settings, "animation_mode")
        # Only the current mode's own settings are active (greyed out otherwise).
        stills = layout.row()
        stills.active = settings.animation_mode == "None"
        stills.prop(settings, "n_batch")
        morph = layout.column(align=True)
        morph.active = settings.animation_mode == "Interpolation"
        morph.prop(settings, "interpolate_key_frames")
        spacing = morph.row()
        spacing.active = morph.active and not settings.interpolate_key_frames
        spacing.prop(settings, "interpolate_x_frames")
        # Draft: a quick look at the shot (turbo model, tiny VAE, one step); the render
        # reports what it changed.
        draft = layout.column(heading="Draft", align=True)
        draft.prop(settings, "draft", text="Quick Draft")
        draft_model = draft.row(align=True)
        draft_model.active = settings.draft
        draft_model.prop(settings, "draft_model")
        draw_picker(draft_model, "draft_model")
        model = layout.row(align=True)
        model.active = not settings.draft
        model.prop(settings, "model")
        # The models on this machine, in a popup (Preferences > Add-ons > Deforum lists all).
        draw_picker(model, "model")
        layout.prop(settings, "model_sha256")
        layout.prop(settings, "allow_pickle")
        layout.prop(settings, "lora_dir")
        layout.prop(settings, "embeddings_dir")
        layout.prop(settings, "checkpoint_schedule")
        layout.prop(settings, "device")
        layout.prop(settings, "compile")
        layout.prop(settings, "vae")
        tiny = layout.row(align=True)
        tiny.active = settings.vae == "tiny" or settings.draft
        tiny.prop(settings, "tiny_vae")
        draw_picker(tiny, "tiny_vae")
        memory = layout.column(heading="GPU Memory", align=True)
        memory.prop(settings, "attention_slicing")
        memory.prop(settings, "vae_tiling")
        memory.prop(settings, "cpu_offload")
        layout.separator()
        layout.prop(settings, "output_dir")
        layout.prop(settings, "use_scene_fps")
        fps = layout.row()
        fps.active = not settings.use_scene_fps
        fps.prop(settings, "fps")
        layout.prop(settings, "make_video")
        layout.prop(settings, "save_depth_maps")


class DEFORUM_PT_prompts(_DeforumSubPanel):
    """Prompts keyed to frames, each labelled by a timeline marker"""

    bl_label = "Prompts"

    def draw(self, context: bpy.types.Context) -> None:
        layout, _, settings = self.parts(context)
        row = layout.row()
        row.template_list(
            "DEFORUM_UL_prompts", "", settings, "prompts", settings, "prompt_index", rows=4
        )
        buttons = row.column(align=True)
        buttons.operator("deforum.prompt_add", icon="ADD", text="")
        buttons.operator("deforum.prompt_remove", icon="REMOVE", text="")
        if 0 <= settings.prompt_index < len(settings.prompts):
            item = settings.prompts[settings.prompt_index]
            column = layout.column(align=True)
            column.prop(item, "frame")
            column.prop(item, "prompt", text="")
            column.prop(item, "negative_prompt", text="", icon="REMOVE")
        layout.separator()
        layout.use_property_split = True
        layout.prop(settings, "positive_prompts")
        layout.prop(settings, "negative_prompts")
        layout.prop(settings, "blend_prompts")


_MOTION_LABELS = (
    ("translation_x", "Translation X"),
    ("translation_y", "Translation Y"),
    ("translation_z", "Translation Z"),
    ("rotation_3d_x", "Rotation 3D X"),
    ("rotation_3d_y", "Rotation 3D Y"),
    ("rotation_3d_z", "Rotation 3D Z"),
)


class DEFORUM_PT_motion(_DeforumSubPanel):
    """This frame's camera motion in Deforum's units, and the field of view"""

    bl_label = "Motion"

    def draw(self, context: bpy.types.Context) -> None:
        layout, scene, settings = self.parts(context)
        layout.use_property_split = True
        if settings.animation_mode not in MOTION_MODES:
            layout.label(text=f"No motion in {settings.animation_mode} mode", icon="INFO")
            return
        if settings.animation_mode == "2D":
            layout.prop(settings, "border")
        layout.prop(settings, "translation_scale")
        camera = scene.camera
        if camera is None or camera.type != "CAMERA":
            layout.label(text="No scene camera", icon="ERROR")
            return
        try:
            data = camera_data_of(cast(bpy.types.Camera, camera.data), camera.name)
        except DeforumInputError as error:
            layout.label(text=str(error), icon="ERROR")
            return
        column = layout.column(align=True)
        fov = math.degrees(vertical_fov(data, render_size_of(scene)))
        column.label(text=f"FOV (vertical): {fov:.3f}°")
        motion = camera_motion(scene)
        if motion is None:
            column.label(text="Step back a frame and forward again to see the motion")
            return
        if not motion:
            column.label(text="No motion into this frame (first frame or a cut)")
            return
        for key, label in _MOTION_LABELS:
            column.label(text=f"{label}: {motion[key]:.4f}")


class DEFORUM_PT_depth(_DeforumSubPanel):
    """Where depth comes from and how the 3D warp samples"""

    bl_label = "Depth"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 - Blender reads a set

    def draw(self, context: bpy.types.Context) -> None:
        layout, _, settings = self.parts(context)
        layout.use_property_split = True
        layout.prop(settings, "depth_source")
        files = layout.row()
        files.active = settings.depth_source == "files"
        files.prop(settings, "depth_path")
        model = layout.row(align=True)
        # Depth files go through the same normalisation as the model's predictions.
        model.active = settings.depth_source in ("estimated", "files")
        model.prop(settings, "depth_model")
        draw_picker(model, "depth_model")
        layout.prop(settings, "padding_mode")
        layout.prop(settings, "sampling_mode")


class DEFORUM_PT_diffusion(_DeforumSubPanel):
    """Sampler, steps, guidance, strength, noise and seeds"""

    bl_label = "Diffusion"

    def draw(self, context: bpy.types.Context) -> None:
        layout, scene, settings = self.parts(context)
        layout.use_property_split = True
        layout.prop(settings, "show_schedules")
        layout.prop(settings, "sampler")
        layout.prop(settings, "sampler_schedule")
        layout.prop(settings, "tiling")
        for name in ("steps", "cfg_scale", "strength", "noise", "noise_multiplier", "clip_skip"):
            _draw_per_frame(layout, settings, name)
        layout.operator("deforum.bake_sound", icon="SOUND", text="Bake Sound to Setting…")
        layout.separator()
        full_seed = settings.seed_text.strip()
        column = _draw_per_frame(layout, settings, "seed", overridden=bool(full_seed))
        if full_seed or settings.show_schedules:
            # Seeds above 2**31 - 1 (Deforum's reach 2**32 - 1) live in this text field.
            row = column.row()
            row.alert = seed_text_problem(settings) is not None
            row.prop(settings, "seed_text")
        layout.prop(settings, "seed_behavior")
        iter_n = layout.row()
        iter_n.active = settings.seed_behavior == "iter"
        iter_n.prop(settings, "seed_iter_N")
        if seed_keys_unused(scene):
            layout.label(text="Seed keys are used only with Seed Behavior 'Schedule'", icon="INFO")


class DEFORUM_PT_coherence(_DeforumSubPanel):
    """Colour coherence, contrast, noise, anti-blur, cadence and scene blend"""

    bl_label = "Coherence & Cadence"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 - Blender reads a set

    def draw(self, context: bpy.types.Context) -> None:
        layout, _, settings = self.parts(context)
        layout.use_property_split = True
        layout.prop(settings, "color_coherence")
        if settings.color_coherence == "Image":
            layout.prop(settings, "color_coherence_image_path")
        matching = layout.column(align=True)
        matching.active = settings.color_coherence != "None"
        matching.prop(settings, "legacy_colormatch")
        video = matching.row()
        video.active = matching.active and settings.color_coherence == "Video Input"
        video.prop(settings, "color_coherence_video_every_N_frames")
        layout.prop(settings, "color_force_grayscale")
        _draw_per_frame(layout, settings, "contrast")
        layout.prop(settings, "noise_type")
        perlin = layout.column(align=True)
        perlin.active = settings.noise_type == "perlin"
        perlin.prop(settings, "perlin_octaves")
        perlin.prop(settings, "perlin_persistence")
        layout.separator()
        for name in ("antiblur_amount", "antiblur_kernel", "antiblur_sigma", "antiblur_threshold"):
            _draw_per_frame(layout, settings, name)
        layout.separator()
        layout.prop(settings, "diffusion_cadence")
        layout.prop(settings, "optical_flow_cadence")
        _draw_per_frame(layout, settings, "cadence_flow_factor")
        layout.separator()
        _draw_per_frame(layout, settings, "scene_blend")
        layout.prop(settings, "scene_blend_max_depth")


class DEFORUM_PT_init(_DeforumSubPanel):
    """Init image for the first frame, and an inpainting mask"""

    bl_label = "Init & Mask"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 - Blender reads a set

    def draw(self, context: bpy.types.Context) -> None:
        layout, _, settings = self.parts(context)
        layout.use_property_split = True
        layout.prop(settings, "use_init")
        init = layout.column()
        init.active = settings.use_init
        init.prop(settings, "init_image")
        init.prop(settings, "init_strength")
        layout.separator()
        layout.prop(settings, "use_mask")
        mask = layout.column()
        mask.active = settings.use_mask
        for name in (
            "mask_file",
            "invert_mask",
            "mask_contrast_adjust",
            "mask_brightness_adjust",
            "overlay_mask",
            "mask_overlay_blur",
        ):
            mask.prop(settings, name)


class DEFORUM_PT_video_input(_DeforumSubPanel):
    """The video whose frames are the init images (Animation Mode 'Video Input')"""

    bl_label = "Video Input"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 - Blender reads a set

    def draw(self, context: bpy.types.Context) -> None:
        layout, _, settings = self.parts(context)
        layout.use_property_split = True
        layout.active = settings.animation_mode == "Video Input"
        for name in ("video_init_path", "extract_nth_frame", "extract_from_frame"):
            layout.prop(settings, name)
        layout.prop(settings, "extract_to_frame")
        layout.prop(settings, "use_mask_video")
        mask = layout.row()
        mask.active = settings.use_mask_video
        mask.prop(settings, "video_mask_path")


# A unit's fields below its Enabled box, in Deforum's order; each drawn as "ControlNet <N>
# <label>" would repeat the unit's number, so the short label is shown.
_UNIT_DETAILS = (
    "module",
    "model",
    "weight",
    "guidance_start",
    "guidance_end",
    "control_mode",
    "resize_mode",
    "processor_res",
    "threshold_a",
    "threshold_b",
    "loopback_mode",
)


def _draw_unit(layout: Any, settings: Any, n: int) -> None:
    """ControlNet unit ``n``: its switch, and its details only while it is on."""
    box = layout.box()
    box.prop(settings, f"cn_{n}_enabled", text=f"Unit {n}")
    if not getattr(settings, f"cn_{n}_enabled"):
        return
    for name in _UNIT_DETAILS:
        if name == "weight":  # the animatable Weight, greyed out while a schedule is typed
            weight = box.row()
            weight.active = not str(getattr(settings, f"cn_{n}_weight")).strip()
            weight.prop(settings, controlnet.weight_property(n), text="Weight")
        row = box.row(align=True) if name == "model" else box
        row.prop(settings, f"cn_{n}_{name}", text=controlnet.UNIT_LABELS[name][0])
        if name == "model":  # the ControlNet models on this machine
            draw_picker(row, f"cn_{n}_model")
    module = controlnet.canonical_module(str(getattr(settings, f"cn_{n}_module")))
    path = box.row()
    # The image modules read the Image Path unless loopback gives them the frame's init.
    path.active = module not in controlnet.SCENE_MODULES and not getattr(
        settings, f"cn_{n}_loopback_mode"
    )
    path.prop(settings, f"cn_{n}_vid_path", text=controlnet.UNIT_LABELS["vid_path"][0])


class DEFORUM_PT_controlnet(_DeforumSubPanel):
    """ControlNet units cn_1 … cn_5: control images from the scene's passes or from files"""

    bl_label = "ControlNet"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 - Blender reads a set

    def draw(self, context: bpy.types.Context) -> None:
        layout, _, settings = self.parts(context)
        layout.use_property_split = True
        for n in range(1, controlnet.UNIT_COUNT + 1):
            _draw_unit(layout, settings, n)
        layout.prop(settings, "save_controlnet_inputs")


class DEFORUM_PT_finish(_DeforumSubPanel):
    """After the frames (Deforum's Output tab): interpolation, upscaling and the soundtrack"""

    bl_label = "Interpolation, Upscaling & Soundtrack"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 - Blender reads a set

    def draw(self, context: bpy.types.Context) -> None:
        layout, _, settings = self.parts(context)
        layout.use_property_split = True
        layout.prop(settings, "frame_interpolation_engine")
        frames = layout.column()
        frames.active = settings.frame_interpolation_engine != "None"
        for name in (
            "interpolation_model",
            "frame_interpolation_x_amount",
            "frame_interpolation_slow_mo_enabled",
        ):
            frames.prop(settings, name)
        slow = frames.row()
        slow.active = frames.active and settings.frame_interpolation_slow_mo_enabled
        slow.prop(settings, "frame_interpolation_slow_mo_amount")
        upscaled = frames.row()
        upscaled.active = frames.active and settings.r_upscale_video
        upscaled.prop(settings, "frame_interpolation_use_upscaled")
        frames.prop(settings, "frame_interpolation_keep_imgs")
        layout.separator()
        layout.prop(settings, "r_upscale_video")
        upscale = layout.column()
        upscale.active = settings.r_upscale_video
        upscale_model = upscale.row(align=True)
        upscale_model.prop(settings, "r_upscale_model")
        draw_picker(upscale_model, "r_upscale_model")
        for name in ("r_upscale_factor", "r_upscale_keep_imgs"):
            upscale.prop(settings, name)
        layout.separator()
        layout.prop(settings, "add_soundtrack")
        sound = layout.row()
        sound.active = settings.add_soundtrack == "File"
        sound.prop(settings, "soundtrack_path")
        scene_sound = layout.row()  # used when no soundtrack file is set
        scene_sound.active = settings.add_soundtrack != "Init Video"
        scene_sound.prop(settings, "use_scene_audio")


class DEFORUM_PT_farm(_DeforumSubPanel):
    """Render farm (Flamenco): the seeds and prompt sets to render, the shot's segments"""

    bl_label = "Render Farm"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 - Blender reads a set

    def draw(self, context: bpy.types.Context) -> None:
        layout, _, settings = self.parts(context)
        layout.use_property_split = True
        layout.prop(settings, "farm_seeds")
        count = layout.row()
        count.active = not settings.farm_seeds.strip()
        count.prop(settings, "farm_seed_count")
        layout.label(text="Prompt Sets")
        row = layout.row()
        row.template_list(
            "DEFORUM_UL_prompt_sets",
            "",
            settings,
            "farm_prompt_sets",
            settings,
            "farm_prompt_set_index",
            rows=2,
        )
        buttons = row.column(align=True)
        buttons.operator("deforum.farm_prompt_set_add", icon="ADD", text="")
        buttons.operator("deforum.farm_prompt_set_remove", icon="REMOVE", text="")
        if 0 <= settings.farm_prompt_set_index < len(settings.farm_prompt_sets):
            item = settings.farm_prompt_sets[settings.farm_prompt_set_index]
            column = layout.column(align=True)
            column.prop(item, "name")
            column.prop(item, "positive")
            column.prop(item, "negative")
        # Read-only: what the Flamenco job type reads at submission (docs/farm.md).
        layout.prop(settings, "farm_segments")
        layout.prop(settings, "farm_variants")


# Drawn in this order; sub-panels after their parent.
PANELS = (
    DEFORUM_PT_main,
    DEFORUM_PT_model,
    DEFORUM_PT_prompts,
    DEFORUM_PT_motion,
    DEFORUM_PT_depth,
    DEFORUM_PT_diffusion,
    DEFORUM_PT_coherence,
    DEFORUM_PT_init,
    DEFORUM_PT_video_input,
    DEFORUM_PT_controlnet,
    DEFORUM_PT_finish,
    DEFORUM_PT_farm,
)
_HANDLERS = (
    (bpy.app.handlers.frame_change_post, _on_frame_change),
    (bpy.app.handlers.depsgraph_update_post, _on_edit),
    (bpy.app.handlers.load_post, _on_load),
)


def register() -> None:
    """Register the panels and the pose-remembering handlers."""
    for cls in PANELS:
        bpy.utils.register_class(cls)
    for handlers, handler in _HANDLERS:
        handlers.append(handler)


def unregister() -> None:
    """Remove the handlers and the panels."""
    for handlers, handler in _HANDLERS:
        if handler in handlers:
            handlers.remove(handler)
    for cls in reversed(PANELS):
        bpy.utils.unregister_class(cls)
    _POSES.clear()
