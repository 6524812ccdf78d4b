"""The render's strip in the Video Sequencer, and the Sequencer sidebar panel (real bpy)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

from deforum_blender.blender import image_strip, progress, progress_ui, sequencer_panel  # noqa: E402
from deforum_blender.core.output_layout import frame_name, frame_path  # noqa: E402
from tests.helpers import RecordingLayout  # noqa: E402


class SidebarLayout(RecordingLayout):
    """The panels' recording layout plus the widgets the sidebar and status bar use."""

    def _child(self, function: str, **kwargs: Any) -> SidebarLayout:
        self._check(function, kwargs)
        child = SidebarLayout(self.record)
        self.record.setdefault("containers", []).append(child)
        return child

    def progress(self, **kwargs: Any) -> None:
        self._check("progress", kwargs)
        self.record.setdefault("progress", []).append(kwargs)

    def template_icon(self, **kwargs: Any) -> None:
        self._check("template_icon", kwargs)

    def operator(self, idname: str, **kwargs: Any) -> Any:
        self._check("operator", kwargs)
        self.record.setdefault("operators", []).append(idname)
        return SimpleNamespace()  # the operator's properties, set by the panel

    def label(self, **kwargs: Any) -> None:
        super().label(**kwargs)
        self.record.setdefault("icons", []).append(kwargs.get("icon"))


@pytest.fixture
def scene(registered_scene: Any) -> Iterator[Any]:
    """The registered add-on in an empty scene with frames 1-5."""
    scene = registered_scene
    scene.frame_start, scene.frame_end = 1, 5
    try:
        yield scene
    finally:
        progress.CURRENT.clear()


def _write_frames(out: Path, frames: range) -> None:
    for frame in frames:
        path = frame_path(out, frame)
        path.parent.mkdir(parents=True, exist_ok=True)
        image = bpy.data.images.new("frame", 8, 8)
        image.filepath_raw = str(path)
        image.file_format = "PNG"
        image.save()
        bpy.data.images.remove(image)


def _names(strip: Any) -> list[str]:
    return [element.filename for element in strip.elements]


def test_a_render_gets_a_strip_named_after_its_folder_at_the_first_frame(
    scene: Any, tmp_path: Path
) -> None:
    out = tmp_path / "forest run"
    strip = image_strip.prepare_strip(scene, out, 1, 5)
    assert strip.name == "forest run" and strip.type == "IMAGE"
    assert strip.frame_final_start == 1 and _names(strip) == [frame_name(1)]
    assert Path(bpy.path.abspath(strip.directory)) == out / "frames"


def test_the_strip_grows_by_one_element_per_arriving_frame(scene: Any, tmp_path: Path) -> None:
    out = tmp_path / "render"
    image_strip.prepare_strip(scene, out, 1, 5)
    for frame in (1, 2, 3):
        image_strip.add_frame(scene, out, frame)
    strip = image_strip.find_strip(scene, out)
    assert _names(strip) == [frame_name(f) for f in (1, 2, 3)]
    assert (strip.frame_final_start, strip.frame_final_end) == (1, 4)
    image_strip.add_frame(scene, out, 5)  # a gap fills up to the frame that arrived
    assert _names(image_strip.find_strip(scene, out)) == [frame_name(f) for f in range(1, 6)]


def test_a_rerender_replaces_the_elements_and_keeps_the_strip_where_the_artist_put_it(
    scene: Any, tmp_path: Path
) -> None:
    out = tmp_path / "render"
    image_strip.prepare_strip(scene, out, 1, 5)
    for frame in range(1, 6):
        image_strip.add_frame(scene, out, frame)
    image_strip.find_strip(scene, out).channel = 7
    scene.frame_start = 2
    strip = image_strip.prepare_strip(scene, out, 2, 5)
    assert len(scene.sequence_editor.strips) == 1
    assert strip.channel == 7 and strip.frame_final_start == 2
    assert _names(strip) == [frame_name(2)]


def test_a_new_strip_takes_a_channel_that_is_free_over_the_whole_range(
    scene: Any, tmp_path: Path
) -> None:
    editor = scene.sequence_editor_create()
    editor.strips.new_effect("busy", "COLOR", 1, frame_start=3, length=10)
    editor.strips.new_effect("later", "COLOR", 2, frame_start=20, length=5)
    first = image_strip.prepare_strip(scene, tmp_path / "a", 1, 5)
    assert first.channel == 2  # above channel 1, busy from frame 3; channel 2 is free then
    asked = image_strip.prepare_strip(scene, tmp_path / "b", 1, 5, channel=1)
    assert asked.channel == 3  # channel 1 is busy: the next free one above it


def test_the_strip_shows_the_frames_already_rendered_when_resuming(
    scene: Any, tmp_path: Path
) -> None:
    out = tmp_path / "render"
    _write_frames(out, range(1, 4))
    strip = image_strip.show_finished_frames(scene, out, 1, 5)
    assert _names(strip) == [frame_name(f) for f in (1, 2, 3)]


def test_the_strip_survives_save_and_reopen_relative_to_the_blend(
    scene: Any, tmp_path: Path
) -> None:
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    scene.deforum.output_dir = "//deforum/"
    out = tmp_path / "deforum"
    _write_frames(out, range(1, 4))
    image_strip.show_finished_frames(scene, out, 1, 5)
    assert image_strip.find_strip(scene, out).directory.startswith("//")
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    strip = image_strip.find_strip(bpy.context.scene, out)
    assert strip is not None and _names(strip) == [frame_name(f) for f in (1, 2, 3)]
    assert Path(bpy.path.abspath(strip.directory)).resolve() == (out / "frames").resolve()


def test_a_deleted_strip_is_not_brought_back_by_arriving_frames(scene: Any, tmp_path: Path) -> None:
    out = tmp_path / "render"
    strip = image_strip.prepare_strip(scene, out, 1, 5)
    scene.sequence_editor.strips.remove(strip)
    assert image_strip.add_frame(scene, out, 2) is None
    assert len(scene.sequence_editor.strips) == 0


# -- the sidebar panel and the status bar -------------------------------------------------


def _draw_sidebar(scene: Any) -> dict[str, list[Any]]:
    record: dict[str, list[Any]] = {}
    context = SimpleNamespace(scene=scene)
    assert sequencer_panel.DEFORUM_PT_sequencer.poll(context)
    stand_in = SimpleNamespace(layout=SidebarLayout(record))
    sequencer_panel.DEFORUM_PT_sequencer.draw(stand_in, context)
    return record


def _state(scene: Any, out: Path, **fields: Any) -> progress.RenderProgress:
    return progress.begin(
        progress.RenderProgress(scene=scene.name, out_dir=str(out), strip="render", **fields)
    )


def test_the_sidebar_offers_render_preview_and_cancel_before_any_render(scene: Any) -> None:
    record = _draw_sidebar(scene)
    assert record["operators"] == ["deforum.render", "deforum.preview", "deforum.cancel"]
    assert all(name in data.bl_rna.properties for data, name, _ in record["props"])
    assert "progress" not in record


def test_the_sidebar_shows_progress_channel_and_newest_frame_while_rendering(
    scene: Any, tmp_path: Path
) -> None:
    out = tmp_path / "render"
    image_strip.prepare_strip(scene, out, 1, 5)
    state = _state(scene, out, total=5)
    for event in (
        {"type": "started", "frames": 5, "first_frame": 1},
        {"type": "frame", "frame": 1, "index": 0, "path": str(frame_path(out, 1))},
        {"type": "progress", "frame": 2, "step": 2, "steps": 4},
    ):
        state.update(event)
    record = _draw_sidebar(scene)
    (bar,) = record["progress"]
    assert bar["text"].startswith("Frame 2/5 · step 2/4")
    assert bar["factor"] == pytest.approx((1 + 0.5) / 5)
    assert ("channel" in {name for _, name, _ in record["props"]}) is True
    assert "Newest: frame 1" in record["labels"]
    assert all(name in data.bl_rna.properties for data, name, _ in record["props"])


def test_a_failed_render_shows_its_message_in_red_and_offers_to_resume(
    scene: Any, tmp_path: Path
) -> None:
    state = _state(scene, tmp_path, total=5)
    state.update({"type": "error", "message": "model not found: /nowhere", "bad_input": True})
    record = _draw_sidebar(scene)
    assert "model not found: /nowhere" in record["labels"]
    assert "ERROR" in record["icons"]
    assert any(box.alert for box in record["containers"])
    assert record["operators"].count("deforum.render") == 2  # Render and Resume


def test_the_status_bar_shows_a_running_render_only(scene: Any, tmp_path: Path) -> None:
    record: dict[str, list[Any]] = {}
    header = SimpleNamespace(layout=SidebarLayout(record))
    progress_ui.draw_status(header, None)
    assert "progress" not in record
    _state(scene, tmp_path, total=4).update({"type": "started", "frames": 4, "first_frame": 1})
    progress_ui.draw_status(header, None)
    assert record["progress"][0]["text"].startswith("Deforum Frame 1/4")
