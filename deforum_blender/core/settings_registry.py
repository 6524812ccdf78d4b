"""Every plain setting of the Job, once: its place in the Job, its spec and its other names.

One entry per plain Job field, read from the Job's own dataclass fields (their
:class:`~.job_fields.FieldSpec` metadata), so a setting is declared in one place: its
field in ``core/job.py``, typed for readers and mypy. Deforum import and export, ``--set``
and the Blender layer take their tables from here; the per-frame parameters have their
own table, ``job_fields.PARAMS``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .job import GROUPS, Job
from .job_fields import FieldSpec


@dataclass(frozen=True)
class Setting:
    """One plain Job field: ``group`` ("" for the Job's top level), name, default and spec."""

    group: str
    name: str
    default: Any
    spec: FieldSpec

    @property
    def path(self) -> str:
        """Its dotted path in the job JSON (``init.strength``; ``W`` at the top level)."""
        return f"{self.group}.{self.name}" if self.group else self.name

    @property
    def key(self) -> str:
        """Our flat name, used by ``--set`` and ``scene.deforum`` (``init_strength``)."""
        return self.spec.key or self.name

    def value(self, job: Job) -> Any:
        """Its value in ``job``."""
        return getattr(getattr(job, self.group) if self.group else job, self.name)

    @property
    def deforum_key(self) -> str | None:
        """Its key in a Deforum settings file, or None where Deforum has none."""
        return self.spec.deforum_key or (self.name if self.spec.copied else None)


def _default(item: dataclasses.Field[Any]) -> Any:
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return item.default


def _settings() -> tuple[Setting, ...]:
    top = [("", item) for item in dataclasses.fields(Job) if "spec" in item.metadata]
    grouped = [(g, item) for g, cls in GROUPS.items() for item in dataclasses.fields(cls)]
    return tuple(
        Setting(group, item.name, _default(item), item.metadata["spec"])
        for group, item in (*top, *grouped)
        if item.name != "version" or group
    )


SETTINGS: tuple[Setting, ...] = _settings()
BY_PATH: dict[str, Setting] = {setting.path: setting for setting in SETTINGS}
BY_KEY: dict[str, Setting] = {setting.key: setting for setting in SETTINGS}
BY_DEFORUM_KEY: dict[str, Setting] = {
    key: setting for setting in SETTINGS if (key := setting.deforum_key)
}
COPIED: tuple[Setting, ...] = tuple(setting for setting in SETTINGS if setting.spec.copied)


def deforum_keys(kind: str) -> set[str]:
    """The Deforum keys of the settings of ``kind`` (``int``, ``bool``, ``choice``, …)."""
    return {key for key, setting in BY_DEFORUM_KEY.items() if setting.spec.kind == kind}


def old_values(deforum_key: str) -> dict[Any, Any]:
    """Deforum's older values of ``deforum_key`` and what they mean today."""
    setting = BY_DEFORUM_KEY.get(deforum_key)
    return dict(setting.spec.old_values) if setting else {}
