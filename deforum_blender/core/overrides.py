"""``--set KEY=VALUE``: change a Job with Deforum settings keys, written as a Deforum user would.

Keys are Deforum's (``strength_schedule``, ``color_coherence``, ``W``, ``max_frames``, …),
our own field names where Deforum has none (``device``, ``depth_source``, ``model``,
``scene_blend``, …), the short names of per-frame parameters (``noise``, ``cfg_scale``;
where a short name is also a Deforum key, Deforum's meaning wins: ``strength`` is the init
strength, ``seed`` the master seed), or a dotted path into the job JSON
(``depth.padding_mode``, ``interpolation.strength``). An unknown key suggests the closest.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from . import job_fields as jf
from . import settings_registry as registry
from .errors import DeforumInputError
from .job import GROUPS, JOB_VERSION, Job, JobError, did_you_mean, field_spec


def _targets() -> dict[str, tuple[str | None, str]]:
    """Flat key → (group or None for the top level or "params", attribute)."""
    targets: dict[str, tuple[str | None, str]] = {}
    for name, spec in jf.PARAMS.items():
        targets[name] = ("params", name)
        if spec.deforum_key:
            targets[spec.deforum_key] = ("params", name)
    for setting in registry.SETTINGS:  # a Deforum key copied 1:1 is the field's own name
        place = (setting.group or None, setting.name)
        if setting.spec.copied:
            targets[setting.name] = place
        targets[setting.key] = place
    return targets


TARGETS = _targets()
KEYS = sorted([*TARGETS, "max_frames"])
# Flat names of settings that Deforum calls by another key (``init_strength``, Deforum's
# ``strength``): the headless script sets the scene.deforum property of that name.
SCENE_ALIASES = frozenset(s.key for s in registry.SETTINGS if s.spec.copied and s.key != s.name)


def parse_bool(text: str) -> bool:
    folded = text.strip().lower()
    if folded in ("true", "1", "yes", "on"):
        return True
    if folded in ("false", "0", "no", "off"):
        return False
    raise ValueError("use true or false")


def parse_number(text: str) -> float:
    stripped = text.strip()
    _refuse_decimal_comma(stripped)
    number = float(stripped)
    if not math.isfinite(number):
        raise ValueError("use a finite number")
    return number


def _refuse_decimal_comma(text: str) -> None:
    if re.fullmatch(r"[+-]?\d+,\d+", text):
        raise ValueError(f"decimal comma: write {text.replace(',', '.')}")


def _parse(kind: str, text: str) -> Any:
    """A ``--set`` text as the JSON value a field of ``kind`` holds."""
    if kind == "bool":
        return parse_bool(text)
    if kind in ("int", "float"):
        number = parse_number(text)
        return int(number) if kind == "int" and number.is_integer() else number
    if kind == "optional_str":
        return None if text.strip() in ("", "None", "null") else text
    if kind in ("prompts", "track"):
        if kind == "track" and text.strip() in ("", "None", "null"):
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON ({error.msg} at column {error.colno})") from None
    return text  # str, choice, sampler: checked by Job.from_dict


def _parse_param(text: str) -> Any:
    """A number, a JSON list of per-frame numbers, or a schedule string kept as written."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as error:
            raise ValueError(f"not a JSON list ({error.msg})") from None
    _refuse_decimal_comma(stripped)
    try:
        return parse_number(stripped)
    except ValueError:
        return text


def _set_path(data: dict[str, Any], path: str, text: str) -> None:
    """Set a dotted path (``depth.padding_mode``) in the job dict."""
    head, _, attr = path.partition(".")
    if head == "params":
        data["params"][attr] = _parse_param(text)
    elif head == "interpolation":
        data["interpolation"][attr] = text
    elif head in GROUPS and attr in {f.name for f in dataclasses.fields(GROUPS[head])}:
        data[head][attr] = _parse(field_spec(GROUPS[head], attr).kind, text)
    else:
        raise KeyError(path)


def apply_overrides(job: Job, overrides: Mapping[str, str]) -> Job:
    """``job`` with each ``KEY=VALUE`` applied, validated as a whole (one JobError)."""
    data = job.to_dict()
    problems: list[str] = []
    for key, text in overrides.items():
        try:
            if key == "max_frames":
                number = parse_number(text)
                if not number.is_integer():  # never rounded: 2.5 is not 2 frames
                    raise ValueError("write a whole number of frames")
                frames = int(number)
                data["last_frame"] = data["first_frame"] + frames - 1
            elif key in TARGETS:
                group, attr = TARGETS[key]
                if group is None:
                    data[attr] = _parse(field_spec(Job, attr).kind, text)
                else:
                    _set_path(data, f"{group}.{attr}", text)
            elif "." in key:
                _set_path(data, key, text)
            else:
                raise KeyError(key)
        except KeyError:
            problems.append(f"--set {key}: unknown key{did_you_mean(key, KEYS)}")
        except ValueError as error:
            problems.append(f"--set {key}={text}: {error}")
    data["version"] = JOB_VERSION
    try:
        job = Job.from_dict(data)
    except JobError as error:
        problems.extend(error.problems)
    if problems:
        raise JobError(problems)
    return job


def parse_set_arguments(items: list[str]) -> dict[str, str]:
    """``["W=64", "color_coherence=None"]`` → ``{"W": "64", "color_coherence": "None"}``."""
    result: dict[str, str] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise DeforumInputError(f"--set {item!r}: write KEY=VALUE, e.g. --set W=64")
        result[key.strip()] = value
    return result
