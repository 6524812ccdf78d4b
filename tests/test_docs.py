"""The README and docs/ stay true to the code: every setting documented, every link alive."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from deforum_blender.core import settings_doc
from deforum_blender.core.settings_doc import render_page
from deforum_blender.core.settings_registry import BY_KEY
from tests.helpers import ROOT, run_python

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) links that are not web addresses, without their #anchor.
LOCAL_LINK = re.compile(r"\]\((?!https?://)([^)#\s]+)(?:#[^)]*)?\)")
# [text](target#anchor) and [text](#anchor): the page (empty: this one) and the anchor.
ANCHOR_LINK = re.compile(r"\]\((?!https?://)([^)#\s]*)#([^)\s]+)\)")

# The names of scene.deforum's properties (argv: the repository root).
PROPERTY_NAMES = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import bpy, deforum_blender
deforum_blender.register()
print(json.dumps([p.identifier for p in bpy.context.scene.deforum.bl_rna.properties]))
"""
# Not settings: the list's selection, Blender's own name property, the schedule siblings
# (documented with their value as "schedule field `<name>_schedule`").
NOT_SETTINGS = {"rna_type", "name", "prompt_index"}


@pytest.mark.parametrize("page", DOCS, ids=lambda page: page.name)
def test_local_links_point_at_files_that_exist(page: Path) -> None:
    missing = [
        target
        for target in LOCAL_LINK.findall(page.read_text(encoding="utf-8"))
        if not (page.parent / target).exists()
    ]
    assert missing == []


def anchors(page: Path) -> set[str]:
    """The anchors GitHub makes for the page's headings (lower case, punctuation dropped)."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", DOCS, ids=lambda page: page.name)
def test_anchor_links_point_at_headings_that_exist(page: Path) -> None:
    broken = [
        f"{target}#{anchor}"
        for target, anchor in ANCHOR_LINK.findall(page.read_text(encoding="utf-8"))
        if anchor not in anchors(page.parent / target if target else page)
    ]
    assert broken == []


@pytest.mark.slow
def test_every_scene_setting_is_in_the_settings_page() -> None:
    result = run_python(PROPERTY_NAMES, str(ROOT))
    assert result.returncode == 0, result.stderr[-3000:]
    names = set(json.loads(result.stdout.strip().splitlines()[-1])) - NOT_SETTINGS
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    undocumented = sorted(name for name in names if f"`{name}`" not in page)
    assert undocumented == []


def test_readme_shows_the_committed_contact_sheets() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for sheet in ("docs/demo_contact_sheet.png", "docs/demo_depth_contact_sheet.png"):
        assert f"]({sheet})" in readme
        assert (ROOT / sheet).stat().st_size < 300_000  # small enough to keep in git


def test_controlnet_page_shows_the_committed_control_images_sheet() -> None:
    page = (ROOT / "docs" / "controlnet.md").read_text(encoding="utf-8")
    assert "](controlnet_contact_sheet.png)" in page
    assert (ROOT / "docs" / "controlnet_contact_sheet.png").stat().st_size < 300_000


def test_the_settings_tables_are_current() -> None:
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert render_page(page) == page, "run python scripts/settings_doc.py"


def test_a_registry_change_shows_in_the_settings_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    setting = BY_KEY["perlin_octaves"]
    changed = replace(setting, spec=replace(setting.spec, tooltip="Octaves, retold"))
    monkeypatch.setitem(BY_KEY, "perlin_octaves", changed)  # the dict settings_doc reads
    assert "| Octaves, retold. |" in settings_doc.tables()
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert settings_doc.render_page(page) != page


def test_a_page_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        render_page("# Settings\n")
