"""What the Flamenco job type reads from ``scene.deforum``: variants and segments.

The farm settings are Blender-only (not Job settings in the registry): a Job is one
render, while seeds and prompt sets say how many renders the farm makes of it; each
variant reaches its Job through ``--set``. ``farm_segments`` and ``farm_variants`` are
read-only texts that Flamenco's add-on evaluates at submission (the job type's ``eval``).
"""

from __future__ import annotations

import json
from typing import Any

import bpy

from ..core.errors import DeforumInputError
from ..core.farm_plan import PromptSet, seed_list, segments, segments_text, variants, variants_json


class DeforumPromptSet(bpy.types.PropertyGroup):
    """A prompt variant for the farm: its name (``name``) and the texts it adds."""

    positive: bpy.props.StringProperty(
        name="Positive",
        description="Put before every prompt in this variant (before the scene's own Positive)",
        default="",
    )
    negative: bpy.props.StringProperty(
        name="Negative",
        description="Put after every negative prompt in this variant",
        default="",
    )


def camera_at(scene: bpy.types.Scene, frame: int) -> str:
    """The camera Blender makes active at ``frame`` from timeline markers (scene's if none).

    Blender's rule: the bound marker latest at or before the frame; before every marker,
    the earliest one's camera. Cameras hidden from rendering are skipped, as Blender does.
    """
    bound = sorted(
        (m.frame, m.camera.name)
        for m in scene.timeline_markers
        if m.camera is not None and not m.camera.hide_render
    )
    if not bound:
        return scene.camera.name if scene.camera else ""
    before = [name for marker_frame, name in bound if marker_frame <= frame]
    return before[-1] if before else bound[0][1]


def cut_frames(scene: bpy.types.Scene) -> list[int]:
    """Frames of the scene's range where a marker switches the active camera (hard cuts)."""
    start, end = scene.frame_start, scene.frame_end
    candidates = sorted({m.frame for m in scene.timeline_markers if m.camera is not None})
    return [
        f for f in candidates if start < f <= end and camera_at(scene, f) != camera_at(scene, f - 1)
    ]


def _segments(self: Any) -> str:
    scene = self.id_data
    return segments_text(segments(scene.frame_start, scene.frame_end, cut_frames(scene)))


def scene_variants(settings: Any) -> str:
    """The variants as the job type reads them (JSON); raises DeforumInputError."""
    full_seed = settings.seed_text.strip()
    base = int(full_seed) if full_seed.isdigit() else int(settings.seed)
    seeds = seed_list(settings.farm_seeds, settings.farm_seed_count, base, "Farm Seeds")
    sets = [PromptSet(s.name, s.positive, s.negative) for s in settings.farm_prompt_sets]
    found = variants(
        seeds, sets, positive=settings.positive_prompts, negative=settings.negative_prompts
    )
    return variants_json(found)


def _variants(self: Any) -> str:
    try:
        return scene_variants(self)
    except DeforumInputError as error:  # the job type refuses the job with this message
        return json.dumps({"error": str(error)})


# Through Any: the type stubs declare the property functions as returning None.
_props: Any = bpy.props

FARM_PROPERTIES: dict[str, Any] = {
    "farm_seeds": _props.StringProperty(
        name="Farm Seeds",
        description=(
            "Seeds the farm renders the shot with, separated by commas (e.g. 1, 2, 3); "
            "empty: Seed Count seeds from the scene's Seed on"
        ),
        default="",
    ),
    "farm_seed_count": _props.IntProperty(
        name="Seed Count",
        description="Without a seed list: how many seeds, from the scene's Seed on",
        default=1,
        min=1,
        soft_max=64,
    ),
    "farm_prompt_sets": _props.CollectionProperty(
        type=DeforumPromptSet,
        name="Prompt Sets",
        description="Prompt variants: the farm renders every seed with each of them",
    ),
    "farm_prompt_set_index": _props.IntProperty(
        name="Active Prompt Set",
        description="The prompt set selected in the list",
        default=0,
        min=0,
    ),
    "farm_segments": _props.StringProperty(
        name="Farm Segments",
        description=(
            "The shot's independent pieces, cut where a timeline marker switches the camera "
            "(read-only)"
        ),
        get=_segments,
    ),
    "farm_variants": _props.StringProperty(
        name="Farm Variants",
        description="The seeds and prompt sets the farm renders, as JSON (read-only)",
        get=_variants,
    ),
}
