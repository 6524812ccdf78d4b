"""Blender's animation data API in one place: actions, slots, channel bags, F-curves, keys.

Since Blender 4.4 an action is layered: its F-curves live in a channel bag per slot, in
the strips of its layers, and ``action.fcurves`` is gone. That is the most version-fragile
part of Blender's API, so every reader and writer of keyframes goes through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import bpy

LINEAR = 1  # the ``interpolation`` enum's value for 'LINEAR' in ``keyframe_points.foreach_set``


def channelbags(owner: Any) -> list[Any]:
    """The channel bags holding ``owner``'s F-curves (its action's slot, in every strip)."""
    animation = owner.animation_data
    if animation is None or animation.action is None:
        return []
    bags = [
        cast(Any, strip).channelbag(animation.action_slot)
        for layer in animation.action.layers
        for strip in layer.strips
    ]
    return [bag for bag in bags if bag is not None]


def fcurves(owner: Any) -> list[Any]:
    """Every F-curve animating ``owner``."""
    return [fcurve for bag in channelbags(owner) for fcurve in bag.fcurves]


def fcurves_by_path(owner: Any) -> dict[str, Any]:
    """The F-curves that animate ``owner``, by data path (unmuted, array index 0)."""
    found: dict[str, Any] = {}
    for fcurve in fcurves(owner):
        if fcurve.array_index == 0 and not fcurve.mute:
            found.setdefault(fcurve.data_path, fcurve)
    return found


def drop_animation(owner: Any, data_path: str) -> None:
    """Remove the F-curves and drivers animating ``owner``'s ``data_path``."""
    for bag in channelbags(owner):
        for fcurve in [f for f in bag.fcurves if f.data_path == data_path]:
            bag.fcurves.remove(fcurve)
    if owner.animation_data is not None:
        drivers = owner.animation_data.drivers
        for driver in [d for d in drivers if d.data_path == data_path]:
            drivers.remove(driver)


def clear_animation(owner: Any) -> None:
    """Drop the animation of ``owner``, and its action when nothing else uses it."""
    old = owner.animation_data.action if owner.animation_data else None
    owner.animation_data_clear()
    if old is not None and old.users == 0:
        bpy.data.actions.remove(old)


def fresh_action(owner: Any, name: str) -> Any:
    """Replace the animation of ``owner`` with a new, empty action named ``name``."""
    clear_animation(owner)
    action = bpy.data.actions.new(name)
    owner.animation_data_create()
    owner.animation_data.action = action
    return action


def ensure_action(owner: Any, name: str) -> Any:
    """``owner``'s action, made (named ``name``) when it has none."""
    animation = owner.animation_data or owner.animation_data_create()
    if animation.action is None:
        animation.action = bpy.data.actions.new(name)
    return animation.action


def key_series(
    action: Any,
    owner: Any,
    data_path: str,
    frames: Sequence[float],
    values: Sequence[float],
    interpolation: Sequence[int],
    index: int = 0,
) -> Any:
    """Key ``owner``'s ``data_path[index]`` at ``frames`` with ``values`` in one call.

    ``interpolation`` holds the enum's values per key (:data:`LINEAR`, …). Returns the
    F-curve, updated (handles recalculated).
    """
    fcurve = action.fcurve_ensure_for_datablock(owner, data_path, index=index)
    points = fcurve.keyframe_points
    points.add(len(frames))
    points.foreach_set("co", [c for pair in zip(frames, values, strict=True) for c in pair])
    points.foreach_set("interpolation", list(interpolation))
    fcurve.update()
    return fcurve
