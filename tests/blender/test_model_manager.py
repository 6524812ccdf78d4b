"""The model manager in real Blender (the ``bpy`` module): the preferences list the tiny
models in a model folder and in the Hugging Face cache; Download refuses while online access
is off and otherwise runs ``models pull`` against a hub served on localhost while the UI
timer ticks; Remove deletes a cached model; the Model & Output picker sets the scene's model.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

import addon_utils  # type: ignore[import-not-found]  # noqa: E402 - bpy's own module

from deforum_blender.blender import environment_ops, model_manager, panels  # noqa: E402
from deforum_blender.blender.preferences import ADDON_PACKAGE  # noqa: E402
from deforum_blender.blender.worker_client import ENV_VARIABLE  # noqa: E402
from tests.blender.test_environment_ops import PreferencesLayout  # noqa: E402
from tests.engine.test_models import safetensors_bytes  # noqa: E402
from tests.fake_hub import ServingHub, _Handler, serving_hub  # noqa: E402
from tests.helpers import ROOT, draw  # noqa: E402

HUB_SD = "fakeorg/tiny-sd"
UNET_WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


class GatedHandler(_Handler):
    """Sends half of the UNet's weights, sets ``server.halfway``, then waits for
    ``server.gate`` before the rest."""

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        gate = getattr(self.server, "gate", None)
        if gate is None or self.command != "GET" or not self.path.endswith(UNET_WEIGHTS):
            super()._send(status, body, headers)
            return
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        half = len(body) // 2
        self.wfile.write(body[:half])
        self.wfile.flush()
        self.server.halfway.set()  # type: ignore[attr-defined]
        gate.wait(timeout=120)
        self.wfile.write(body[half:])


class ManagerLayout(PreferencesLayout):
    """The preferences' recording layout, plus the buttons' settings and progress bars."""

    def _child(self, function: str, **kwargs: Any) -> ManagerLayout:
        self._check(function, kwargs)
        child = ManagerLayout(self.record)
        self.record.setdefault("containers", []).append(child)
        return child

    def operator(self, idname: str, **kwargs: Any) -> Any:
        super().operator(idname, **kwargs)
        button = SimpleNamespace(idname=idname)
        self.record.setdefault("buttons", []).append(button)
        return button

    def progress(self, **kwargs: Any) -> None:
        self._check("progress", kwargs)
        self.record.setdefault("progress", []).append(kwargs.get("text", ""))


def draw_preferences() -> dict[str, list[Any]]:
    record: dict[str, list[Any]] = {}
    preferences = bpy.context.preferences.addons[ADDON_PACKAGE].preferences
    type(preferences).draw(SimpleNamespace(layout=ManagerLayout(record)), bpy.context)
    return record


def buttons(record: dict[str, list[Any]], idname: str) -> list[Any]:
    return [b for b in record.get("buttons", []) if b.idname == idname]


@pytest.fixture
def hub(tiny_models: Path) -> Iterator[ServingHub]:
    with serving_hub() as server:
        server.add_folder(HUB_SD, tiny_models / "sd")
        yield server


@pytest.fixture
def manager(hub: ServingHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The add-on enabled, with a fresh Hugging Face cache and the local hub; yields HF_HOME."""
    for name in [n for n in __import__("os").environ if n.startswith(("HF_", "HUGGINGFACE_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("BLENDER_USER_DATAFILES", str(tmp_path / "datafiles"))  # no add-on venv
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert addon_utils.enable(ADDON_PACKAGE, default_set=True, handle_error=None) is not None
    environment_ops.forget_worker_python()
    model_manager.forget_models()
    try:
        yield tmp_path / "hf_home"
    finally:
        bpy.context.preferences.system.use_online_access = False
        addon_utils.disable(ADDON_PACKAGE, default_set=True)
        environment_ops.forget_worker_python()
        bpy.ops.wm.read_factory_settings(use_empty=True)


def add_model_folder(folder: Path) -> None:
    preferences = bpy.context.preferences.addons[ADDON_PACKAGE].preferences
    assert bpy.ops.deforum.add_model_folder() == {"FINISHED"}
    preferences.model_folders[-1].path = str(folder)
    model_manager.forget_models()


def file_downloads(hub: ServingHub) -> list[str]:
    return [r for r in hub.requests if r.startswith("GET") and "/resolve/" in r]


def test_download_refuses_while_online_access_is_off(manager: Path, hub: ServingHub) -> None:
    bpy.context.preferences.system.use_online_access = False
    assert not bpy.app.online_access
    with pytest.raises(RuntimeError, match="Preferences > System > Network > Allow Online"):
        bpy.ops.deforum.download_model(repo_id=HUB_SD)
    assert model_manager.current_download() is None
    assert hub.requests == [] and not manager.exists()
    labels = draw_preferences()["labels"]
    assert any(label.startswith("Online access is off") for label in labels)


def test_in_the_ui_a_download_runs_while_the_timer_ticks_and_the_model_is_listed(
    manager: Path, hub: ServingHub, tiny_models: Path
) -> None:
    add_model_folder(tiny_models)
    before = {m.name: m.kind for m in model_manager.listed_models()[0]}
    assert (
        before.items()
        >= {
            str(tiny_models / "controlnet"): "controlnet",
            str(tiny_models / "depth"): "depth",
            str(tiny_models / "embeddings" / "tinyword.safetensors"): "other",
            str(tiny_models / "lora" / "tiny.safetensors"): "lora",
            str(tiny_models / "sd"): "sd",
        }.items()
    )  # make-tiny-models may write more kinds
    bpy.context.preferences.system.use_online_access = True
    download = model_manager.start_download(HUB_SD, blocking=False)
    assert bpy.app.timers.is_registered(model_manager.tick)
    # Timers never fire in background mode: drive the tick as Blender's UI would.
    ticks = [model_manager.tick()]
    assert not download.finished  # the operator returned while the download runs
    running = draw_preferences()
    status: dict[str, list[Any]] = {}
    model_manager.draw_status(SimpleNamespace(layout=ManagerLayout(status)), bpy.context)
    assert not bpy.ops.deforum.download_model.poll()  # one download at a time
    assert bpy.ops.deforum.cancel_download.poll()
    deadline = time.monotonic() + 300
    while ticks[-1] is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        ticks.append(model_manager.tick())
    assert download.succeeded, "\n".join(download.lines)
    assert ticks[0] == model_manager.TICK_SECONDS and ticks[-1] is None
    assert all(tick == model_manager.TICK_SECONDS for tick in ticks[:-1])
    assert any(f"Downloading {HUB_SD}" in text for text in running["progress"])
    assert buttons(running, "deforum.cancel_download")
    assert status["progress"] and status["progress"][0].startswith(f"Downloading {HUB_SD}")
    # The CLI's progress lines came through: bytes, rate, ETA, and the end.
    assert download.fraction == 1.0 and download.progress.endswith("/s, done")
    assert any(r.endswith("/unet/diffusion_pytorch_model.safetensors") for r in file_downloads(hub))

    after = {m.name: m for m in model_manager.listed_models()[0]}
    cached = after[HUB_SD]
    assert (cached.kind, cached.source, cached.complete) == ("sd", "hf-cache", True)
    assert cached.path.parent == manager / "hub" / "models--fakeorg--tiny-sd" / "snapshots"
    record = draw_preferences()
    assert "Stable Diffusion (2)" in record["labels"]
    assert any(
        label.startswith(f"{HUB_SD}   ") and "[hf-cache]" in label for label in record["labels"]
    )
    assert any(label.startswith(f"{tiny_models / 'sd'}   ") for label in record["labels"])
    assert f"Downloaded {HUB_SD}" in record["labels"]
    assert [b.repo_id for b in buttons(record, "deforum.remove_model")] == [HUB_SD]
    suggested = [
        b.repo_id for b in buttons(record, "deforum.download_model") if "repo_id" in vars(b)
    ]
    assert "stabilityai/sd-turbo" in suggested


def test_a_background_download_waits_and_remove_deletes_it(
    manager: Path, hub: ServingHub, capsys: pytest.CaptureFixture[str]
) -> None:
    bpy.context.preferences.system.use_online_access = True
    preferences = bpy.context.preferences.addons[ADDON_PACKAGE].preferences
    preferences.download_id = HUB_SD
    assert bpy.ops.deforum.download_model() == {"FINISHED"}  # the id typed in the preferences
    assert f"{HUB_SD}: " in capsys.readouterr().out  # background mode prints the progress
    assert [m.name for m in model_manager.listed_models()[0]] == [HUB_SD]
    assert bpy.ops.deforum.remove_model(repo_id=HUB_SD) == {"FINISHED"}
    assert model_manager.listed_models()[0] == []
    assert not (manager / "hub" / "models--fakeorg--tiny-sd").exists()
    with pytest.raises(RuntimeError, match="'fakeorg/tiny-sd' is not in the Hugging Face cache"):
        bpy.ops.deforum.remove_model(repo_id=HUB_SD)


def test_a_failed_download_shows_the_commands_error_line(manager: Path, hub: ServingHub) -> None:
    bpy.context.preferences.system.use_online_access = True
    with pytest.raises(RuntimeError, match="the hub has no model 'fakeorg/nope'"):
        bpy.ops.deforum.download_model(repo_id="fakeorg/nope")
    record = draw_preferences()
    assert any(box.alert for box in record["containers"])
    assert any(label.startswith("Download of fakeorg/nope failed: ") for label in record["labels"])


def test_the_picker_sets_the_scenes_model(manager: Path, tiny_models: Path) -> None:
    add_model_folder(tiny_models)
    scene = bpy.context.scene
    model_record = draw(panels.DEFORUM_PT_model, scene)
    assert "deforum.pick_model" in model_record["operators"]
    menu: dict[str, list[Any]] = {}
    model_manager.draw_picker_menu(SimpleNamespace(layout=ManagerLayout(menu)), bpy.context)
    offered = [b.name for b in buttons(menu, "deforum.pick_model")]
    assert offered == [str(tiny_models / "sd")]  # Stable Diffusion models only
    assert bpy.ops.deforum.pick_model(name=offered[0]) == {"FINISHED"}
    assert scene.deforum.model == str(tiny_models / "sd")
    with pytest.raises(RuntimeError, match="the name is empty"):
        bpy.ops.deforum.pick_model(name="")


def tick_until_finished(download: Any) -> list[float | None]:
    ticks = [model_manager.tick()]
    deadline = time.monotonic() + 300
    while ticks[-1] is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        ticks.append(model_manager.tick())
    assert download.finished, "\n".join(download.lines)
    return ticks


def test_a_cancelled_download_is_marked_incomplete_and_download_again_finishes_it(
    manager: Path, hub: ServingHub, tiny_models: Path
) -> None:
    gate, halfway = threading.Event(), threading.Event()
    hub.gate, hub.halfway = gate, halfway  # type: ignore[attr-defined]
    hub.RequestHandlerClass = GatedHandler
    bpy.context.preferences.system.use_online_access = True
    try:
        download = model_manager.start_download(HUB_SD, blocking=False)
        deadline = time.monotonic() + 120
        # Cancelled inside the UNet's weights: the small files alone already move the bar.
        while (
            (download.fraction == 0 or not halfway.is_set())
            and not download.finished
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
            assert model_manager.tick() == model_manager.TICK_SECONDS
        assert halfway.is_set() and 0 < download.fraction < 1, "\n".join(download.lines)
        midway = draw_preferences()["progress"]
        assert bpy.ops.deforum.cancel_download() == {"FINISHED"}
        tick_until_finished(download)
    finally:
        gate.set()
    assert download.cancelled and not download.succeeded
    # Bytes of the total, the share, the rate and the time left, as the CLI prints them.
    bar = rf"Downloading {HUB_SD}: [\d.]+ [kM]?B of [\d.]+ MB \(\d+%\), [\d.]+ [kM]?B/s, "
    assert any(re.match(bar + r"(\d+ s left|…)$", text) for text in midway), midway
    (partial,) = [m for m in model_manager.listed_models()[0] if m.name == HUB_SD]
    assert not partial.complete and "unfinished downloads" in partial.missing
    assert HUB_SD not in [m.name for m in model_manager.pickable_models()]  # never a model
    record = draw_preferences()
    assert any(label.startswith(f"Download of {HUB_SD} cancelled") for label in record["labels"])
    (finish,) = [
        b for b in buttons(record, "deforum.download_model") if vars(b).get("repo_id") == HUB_SD
    ]

    again = model_manager.start_download(finish.repo_id, blocking=False)
    tick_until_finished(again)
    assert again.succeeded, "\n".join(again.lines)
    (whole,) = [m for m in model_manager.listed_models()[0] if m.name == HUB_SD]
    assert whole.complete
    fetched = (whole.path / UNET_WEIGHTS).read_bytes()
    assert fetched == (tiny_models / "sd" / UNET_WEIGHTS).read_bytes()


def test_without_a_worker_environment_download_names_the_setup(
    manager: Path, hub: ServingHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    bpy.context.preferences.system.use_online_access = True
    monkeypatch.setitem(sys.modules, "torch", None)  # a Python without torch, like Blender's
    environment_ops.forget_worker_python()
    with pytest.raises(RuntimeError, match="downloaded by the worker's Python: worker environ"):
        bpy.ops.deforum.download_model(repo_id=HUB_SD)
    assert model_manager.current_download() is None and hub.requests == []


def draw_panel(panel: Any, scene: Any) -> dict[str, list[Any]]:
    """Run a panel's draw with the recording layout that keeps the buttons' settings."""
    record: dict[str, list[Any]] = {}
    stand_in = SimpleNamespace(layout=ManagerLayout(record))
    stand_in.parts = lambda ctx: panels._DeforumPanel.parts(stand_in, ctx)  # type: ignore[arg-type]
    panel.draw(stand_in, SimpleNamespace(scene=scene))
    return record


def offered(target: str, kind: str) -> list[str]:
    menu: dict[str, list[Any]] = {}
    model_manager.draw_picker_menu(
        SimpleNamespace(layout=ManagerLayout(menu)), bpy.context, target, kind
    )
    buttons_ = buttons(menu, "deforum.pick_model")
    assert all((b.target, b.kind) == (target, kind) for b in buttons_)
    return [b.name for b in buttons_]


def test_the_controlnet_and_depth_pickers_offer_their_kind_and_set_their_field(
    manager: Path, tiny_models: Path, tmp_path: Path
) -> None:
    add_model_folder(tiny_models)
    scene = bpy.context.scene
    scene.deforum.cn_2_enabled = True
    pickers = [
        (b.target, b.kind)
        for panel in (panels.DEFORUM_PT_controlnet, panels.DEFORUM_PT_depth)
        for b in buttons(draw_panel(panel, scene), "deforum.pick_model")
    ]
    assert pickers == [("cn_2_model", "controlnet"), ("depth_model", "depth")]

    controlnets = offered("cn_2_model", "controlnet")
    assert controlnets == [str(tiny_models / "controlnet")]  # ControlNet models only
    assert bpy.ops.deforum.pick_model(
        name=controlnets[0], target="cn_2_model", kind="controlnet"
    ) == {"FINISHED"}
    assert scene.deforum.cn_2_model == str(tiny_models / "controlnet")
    assert scene.deforum.model != str(tiny_models / "controlnet")  # no other field changed

    depths = offered("depth_model", "depth")
    assert depths == [str(tiny_models / "depth")]
    assert bpy.ops.deforum.pick_model(name=depths[0], target="depth_model") == {"FINISHED"}
    assert scene.deforum.depth_model == str(tiny_models / "depth")

    model_pickers = [
        (b.target, b.kind)
        for b in buttons(draw_panel(panels.DEFORUM_PT_model, scene), "deforum.pick_model")
    ]
    assert model_pickers == [("draft_model", "sd"), ("model", "sd"), ("tiny_vae", "tiny-vae")]
    assert offered("tiny_vae", "tiny-vae") == [str(tiny_models / "taesd")]
    taesd_file = tmp_path / "more" / "taesd.safetensors"  # a tiny VAE, but not a folder
    taesd_file.parent.mkdir()
    taesd_file.write_bytes(b"")
    add_model_folder(taesd_file.parent)
    assert str(taesd_file) in [m.name for m in model_manager.pickable_models("tiny-vae")]
    assert offered("tiny_vae", "tiny-vae") == [str(tiny_models / "taesd")]  # Tiny VAE: folders
    assert bpy.ops.deforum.pick_model(name=str(tiny_models / "sd"), target="draft_model") == {
        "FINISHED"
    }
    assert scene.deforum.draft_model == str(tiny_models / "sd")

    with pytest.raises(RuntimeError, match="'seed' is not a model field; use one of model, "):
        bpy.ops.deforum.pick_model(name="x", target="seed")
    with pytest.raises(RuntimeError, match="kind 'vae' is unknown"):
        bpy.ops.deforum.pick_model(name="x", target="depth_model", kind="vae")


def test_the_upscale_picker_offers_the_weights_file_of_a_cached_upscaler(manager: Path) -> None:
    snapshot = manager / "hub" / "models--fakeorg--esrgan" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "RealESRGAN_x2plus.pth").write_bytes(b"weights")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc")
    model_manager.forget_models()
    assert offered("r_upscale_model", "upscaler") == [str(snapshot / "RealESRGAN_x2plus.pth")]
    assert offered("model", "sd") == []


def test_a_wrong_sha256_typed_beside_the_id_is_refused_with_the_commands_error(
    manager: Path, hub: ServingHub
) -> None:
    data = safetensors_bytes(["model.diffusion_model.out.0.weight"])
    hub.add_repo("fakeorg/one-file", {"model.safetensors": data})
    right = hashlib.sha256(data).hexdigest()
    bpy.context.preferences.system.use_online_access = True
    preferences = bpy.context.preferences.addons[ADDON_PACKAGE].preferences
    preferences.download_id, preferences.download_sha256 = "fakeorg/one-file", "0" * 64
    assert any(name == "download_sha256" for _, name, _ in draw_preferences()["props"])
    expected = rf"--sha256: fakeorg/one-file/model.safetensors has sha256 {right}, expected 0+;"
    with pytest.raises(RuntimeError, match=expected):
        bpy.ops.deforum.download_model()
    (failed,) = [
        label
        for label in draw_preferences()["labels"]
        if label.startswith("Download of fakeorg/one-file failed: --sha256: ")
    ]
    assert right in failed and "the download was removed" in failed and "\n" not in failed
    assert model_manager.listed_models()[0] == []  # the mismatch is not kept
    preferences.download_sha256 = f"  {right.upper()} "  # as pasted from a model page
    assert bpy.ops.deforum.download_model() == {"FINISHED"}
    assert [m.name for m in model_manager.listed_models()[0]] == ["fakeorg/one-file"]


def test_the_list_shows_a_model_pulled_by_another_process_without_rereading_every_draw(
    manager: Path, hub: ServingHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    listings: list[object] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        listings.append(args)
        return local_models(*args, **kwargs)

    local_models = model_manager.local_models
    monkeypatch.setattr(model_manager, "local_models", counted)
    assert "No models yet: download one below" in draw_preferences()["labels"]
    draw_preferences()
    assert len(listings) == 1  # drawing again reads no folder while nothing changed
    pulled = subprocess.run(  # `models pull` in a terminal: Blender is not told
        [sys.executable, "-m", "deforum_blender", "models", "pull", HUB_SD],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert pulled.returncode == 0, pulled.stderr
    labels = draw_preferences()["labels"]
    assert any(label.startswith(f"{HUB_SD}   ") for label in labels), labels
    assert "Stable Diffusion (1)" in labels
    draw_preferences()
    assert len(listings) == 2


@pytest.mark.parametrize("online", [False, True])
def test_render_with_a_model_not_in_the_cache_names_the_fetch_and_downloads_nothing(
    manager: Path,
    hub: ServingHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    online: bool,
) -> None:
    from deforum_blender.blender.prompts import add_prompt

    monkeypatch.setenv(ENV_VARIABLE, sys.executable)  # a worker Python with torch
    environment_ops.forget_worker_python()
    bpy.context.preferences.system.use_online_access = online
    assert bpy.app.online_access == online
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = 64
    scene.frame_start, scene.frame_end = 1, 2
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    settings = scene.deforum
    settings.model, settings.device, settings.make_video = "fakeorg/not-here", "cpu", False
    settings.depth_source, settings.output_dir = "flat", str(tmp_path / "out")
    add_prompt(scene, 1, "a valley")
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.deforum.render(init="none")
    (message,) = str(raised.value).strip().splitlines()  # one error line
    assert message.startswith("Error: Deforum: model: 'fakeorg/not-here' is not a local"), message
    # Off, the fix also says what lets the button download; on, a render still fetches nothing.
    assert ("Allow Online Access" in message) != online
    assert "Download in Preferences > Add-ons > Deforum > Models" in message
    assert "`python -m deforum_blender models pull fakeorg/not-here`" in message
    assert hub.requests == [] and not (manager / "hub" / "models--fakeorg--not-here").exists()
